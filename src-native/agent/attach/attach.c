/* Public API of the hooking engine: sites, probes, handler vectors.
 *
 * A site is one patched address. It owns a stub (a copy of the entry template plus the relocated
 * instructions) and two handler vectors, entry and return, that the dispatchers read without locks.
 * A site enters its stub through a jmp rel32 whenever one can be placed; when the kernel would
 * still probe the address but a jmp cannot go there (a function shorter than 5 bytes such as
 * bpftrace's `BEGIN_trigger: ret`, a branch back into the first 5 bytes, another site in the way,
 * no memory within +-2 GiB) it is an int3 site: the first instruction alone is relocated, an int3
 * replaces it and the SIGTRAP handler (patch.c) sends each hit to the same kind of stub.
 * Vectors are immutable: attach and detach build a new one, publish it, and free the old one after
 * a grace period (threads.c). Sites and stubs are never freed: a thread may be executing a stub or
 * hold a shadow frame pointing at a site long after its last probe went; a detached site keeps its
 * stub and is re-armed by the next attach at the same address (if the code there is unchanged).
 *
 * Attach and detach take one mutex; the hot path takes none. */
#include "attach_internal.h"
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "../text_lock.h"

struct site *volatile attach_sites;
struct bpftime_probe_stats attach_stats;

static pthread_mutex_t attach_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static struct handler_vec *retired; /* waiting for a grace period; under attach_lock */

int attach_err(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* ---- fork ---- */
static void fork_prepare(void) { pthread_mutex_lock(&attach_lock); }
static void fork_parent(void) { pthread_mutex_unlock(&attach_lock); }
static void fork_child(void)
{
	pthread_mutex_unlock(&attach_lock);
	text_lock_reset_after_fork(); /* a rewriting thread of the syscall engine may have held it */
	attach_threads_after_fork_child();
	attach_nearmem_after_fork_child();
}
static void init(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

/* ---- handler vectors ---- */
static int build_vec(struct site *s, int is_return, struct handler_vec **out)
{
	unsigned n = 0;
	for (struct bpftime_probe *p = s->probes; p; p = p->next)
		n += p->is_return == is_return;
	*out = NULL;
	if (!n)
		return 0;
	struct handler_vec *v = malloc(sizeof(*v) + n * sizeof(v->e[0]));
	if (!v)
		return -ENOMEM;
	v->retired_next = NULL;
	v->n = 0;
	for (struct bpftime_probe *p = s->probes; p; p = p->next)
		if (p->is_return == is_return)
			v->e[v->n++] = (struct probe_entry){p->h, p->data};
	*out = v;
	return 0;
}

static void retire_locked(struct handler_vec *v)
{
	if (v) {
		v->retired_next = retired;
		retired = v;
	}
}

/* Rebuild both vectors from s->probes and publish them; the old ones are retired. */
static int publish_vecs(struct site *s)
{
	struct handler_vec *e, *r;
	if (build_vec(s, 0, &e))
		return -ENOMEM;
	if (build_vec(s, 1, &r)) {
		free(e);
		return -ENOMEM;
	}
	retire_locked(__atomic_exchange_n(&s->entry_vec, e, __ATOMIC_RELEASE));
	retire_locked(__atomic_exchange_n(&s->ret_vec, r, __ATOMIC_RELEASE));
	__atomic_store_n(&s->ret_only, (uintptr_t)(!e && r), __ATOMIC_RELEASE);
	return 0;
}

_Static_assert(offsetof(struct site, entry_vec) == SITE_ENTRY_VEC && offsetof(struct site, ret_vec) == SITE_RET_VEC &&
		       offsetof(struct site, ret_only) == SITE_RET_ONLY && offsetof(struct thread_state, seq) == TS_SEQ &&
		       offsetof(struct thread_state, excluded) == TS_EXCLUDED &&
		       offsetof(struct thread_state, top) == TS_TOP && offsetof(struct thread_state, frames) == TS_FRAMES &&
		       sizeof(struct shadow_frame) == SHADOW_FRAME_SIZE && offsetof(struct shadow_frame, ret_addr) == 0 &&
		       offsetof(struct shadow_frame, entry_sp) == 8 && offsetof(struct shadow_frame, site) == 16,
	       "offsets used by trampoline.S");

/* attach_tls's offset from the thread pointer: the same in every thread (initial-exec). */
static uintptr_t attach_tls_offset(void)
{
	uintptr_t off;
	__asm__("mov attach_tls@gottpoff(%%rip), %0" : "=r"(off));
	return off;
}

/* Wait for a grace period, then free the vectors retired before it. Called without the lock,
 * after publishing. 0: no thread can still be running a handler of a vector retired so far;
 * 1: some may (called from a handler, or one ran for seconds); they are freed later. */
static int reclaim(void)
{
	struct thread_state *self = attach_tls;
	if (self && (self->seq & 1))
		return 1; /* called from a handler: our own dispatcher may be walking one of them */
	pthread_mutex_lock(&attach_lock);
	struct handler_vec *batch = retired;
	retired = NULL;
	pthread_mutex_unlock(&attach_lock);
	/* Even with an empty batch (another thread took ours and frees it), the caller's
	 * guarantee needs a grace period that began after its publish. */
	if (attach_grace_period() < 0) {
		/* Some thread has sat in a handler for seconds: keep the batch for next time. */
		pthread_mutex_lock(&attach_lock);
		struct handler_vec **tail = &batch;
		while (*tail)
			tail = &(*tail)->retired_next;
		*tail = retired;
		retired = batch;
		pthread_mutex_unlock(&attach_lock);
		return 1;
	}
	while (batch) {
		struct handler_vec *next = batch->retired_next;
		free(batch);
		batch = next;
	}
	return 0;
}

/* ---- sites ---- */
static struct site *site_find(uintptr_t addr)
{
	for (struct site *s = attach_sites; s; s = s->next)
		if (!s->dead && s->addr == addr)
			return s;
	return NULL;
}

/* Another armed site's bytes within [a, a + len)? Its jmp would be decoded as code, or ours
 * would overwrite bytes its stub copied. */
static struct site *overlapping(uintptr_t a, unsigned len, const struct site *self)
{
	for (struct site *s = attach_sites; s; s = s->next)
		if (s != self && !s->dead && s->armed && a < s->patch_addr + s->len && s->patch_addr < a + len)
			return s;
	return NULL;
}

/* What the stub's return-only path calls (trampoline.S) from the entry rsp + 8: the function's
 * code from its entry. The 1-byte pushes the jmp was placed after ran before the stub and were
 * dropped (the call goes where the return address was), so they come first, copied (nops
 * too: nothing else is skipped), then a jmp to the relocated code. Without pushes: that code.
 * Emitted at rx (written at rw) after the relocated code at reloc. */
#define BODY_MAX (RELOC_MAX_SKIP + JMP_LEN)
static uintptr_t emit_body(const struct attach_reloc_plan *plan, uintptr_t reloc, uintptr_t rx, uint8_t *rw)
{
	if (!plan->sp_adj)
		return reloc;
	static const uint8_t endbr64[4] = {0xf3, 0x0f, 0x1e, 0xfa};
	const uint8_t *from = (const uint8_t *)plan->addr;
	unsigned skip = plan->patch_addr - plan->addr;
	if (skip >= 4 && memcmp(from, endbr64, 4) == 0) {
		from += 4;
		skip -= 4;
	}
	memcpy(rw, from, skip);
	int32_t rel = (int32_t)(reloc - (rx + skip + JMP_LEN)); /* within one block */
	rw[skip] = 0xe9;
	memcpy(rw + skip + 1, &rel, 4);
	return rx;
}

static int site_build(uintptr_t addr, int trap, const struct attach_sym *sym, struct site **out, char *err,
		      size_t errlen)
{
	struct attach_reloc_plan plan;
	int rc = attach_reloc_plan(addr, trap, sym, &plan, err, errlen);
	if (rc)
		return rc;
	struct site *o = overlapping(plan.patch_addr, plan.len, NULL);
	if (o)
		return attach_err(err, errlen, -EBUSY, "%#lx overlaps the probe site at %#lx",
				  (unsigned long)addr, (unsigned long)o->addr);

	size_t tpl = (size_t)(bpftime_attach_entry_tpl_end - bpftime_attach_entry_tpl);
	struct near_block b;
	rc = attach_nearmem_alloc(plan.lo, plan.hi, plan.patch_addr, tpl + RELOC_MAX_OUT + BODY_MAX, &b);
	if (rc)
		return attach_err(err, errlen, rc, "no memory for a trampoline within reach of %#lx",
				  (unsigned long)addr);
	struct site *s = calloc(1, sizeof(*s));
	if (!s)
		return attach_err(err, errlen, -ENOMEM, "out of memory");
	int n = attach_reloc_emit(&plan, b.rx + tpl, b.rw + tpl, b.size - tpl, err, errlen);
	if (n < 0) {
		free(s); /* the near block is lost: rare, and only a few hundred bytes */
		return n;
	}
	uintptr_t body = emit_body(&plan, b.rx + tpl, b.rx + tpl + n, b.rw + tpl + n);
	memcpy(b.rw, bpftime_attach_entry_tpl, tpl);
	struct entry_tpl_slots slots = {s, (void *)bpftime_attach_entry_dispatch, addr, plan.sp_adj, attach_tls_offset(),
					(void *)bpftime_attach_ret_tramp, body, (void *)bpftime_attach_ret_tramp_call};
	memcpy(b.rw, &slots, sizeof(slots));
	rc = attach_nearmem_seal(&b);
	if (rc) {
		free(s);
		return attach_err(err, errlen, rc, "cannot make the trampoline executable");
	}

	s->addr = addr;
	s->patch_addr = plan.patch_addr;
	s->trap = plan.trap;
	s->len = plan.len;
	s->first_len = plan.first_len;
	s->sp_adj = plan.sp_adj;
	memcpy(s->orig, plan.orig, plan.len);
	memcpy(s->prefix, (const void *)addr, plan.patch_addr - addr);
	s->stub = b.rx + (size_t)(bpftime_attach_entry_tpl_entry - bpftime_attach_entry_tpl);
	s->reloc = b.rx + tpl;
	s->call_ret = b.rx + (size_t)(bpftime_attach_entry_tpl_call_ret - bpftime_attach_entry_tpl);
	if (s->trap) {
		s->patch_len = 1;
		s->patch[0] = INT3;
	} else {
		int64_t rel = (int64_t)(s->stub - (s->patch_addr + JMP_LEN));
		if (rel < INT32_MIN || rel > INT32_MAX) { /* nearmem honours plan.lo/hi: cannot happen */
			free(s);
			return attach_err(err, errlen, -ERANGE, "trampoline out of reach");
		}
		int32_t rel32 = (int32_t)rel;
		s->patch_len = JMP_LEN;
		s->patch[0] = 0xe9;
		memcpy(s->patch + 1, &rel32, 4);
	}
	/* Published before any patching: the SIGTRAP handler walks this list. */
	s->next = attach_sites;
	__atomic_store_n(&attach_sites, s, __ATOMIC_RELEASE);
	*out = s;
	return 0;
}

/* A jmp site when one can be placed; else, when the first instruction alone can be moved, an int3
 * site. The jmp plan's refusals that an int3 lifts: -EINVAL (short function, branch into the 5
 * bytes, call returning into them), -EBUSY (another site within them), -ERANGE (no stub memory or
 * no placement within +-2 GiB). When both fail, the int3 attempt's reason is reported. */
static int site_create(uintptr_t addr, const struct attach_sym *sym, struct site **out, char *err, size_t errlen)
{
	int rc = site_build(addr, 0, sym, out, err, errlen);
	if (rc == -EINVAL || rc == -EBUSY || rc == -ERANGE) {
		rc = site_build(addr, 1, sym, out, err, errlen);
		if (rc == 0 && err && errlen)
			err[0] = 0; /* the jmp plan's refusal is no error any more */
	}
	return rc;
}

/* Is the code a disarmed site was built from still there? */
static int site_code_unchanged(const struct site *s)
{
	struct map_region r;
	if (attach_maps_find(s->addr, &r) < 0 || !(r.prot & PROT_EXEC) || s->patch_addr + s->len > r.end)
		return 0;
	return memcmp((const void *)s->patch_addr, s->orig, s->len) == 0 &&
	       memcmp((const void *)s->addr, s->prefix, s->patch_addr - s->addr) == 0;
}

static int site_arm(struct site *s, char *err, size_t errlen)
{
	struct site *o = overlapping(s->patch_addr, s->len, s);
	if (o)
		return attach_err(err, errlen, -EBUSY, "%#lx overlaps the probe site at %#lx",
				  (unsigned long)s->addr, (unsigned long)o->addr);
	s->armed = 1; /* before the write: a thread trapping on an int3 of ours goes to the stub */
	int rc = attach_patch_write(s, s->patch, s->orig, s->patch_len, s->first_len, err, errlen);
	if (rc) {
		s->armed = 0;
		return rc;
	}
	attach_stats.sites_patched++;
	attach_stats.int3_sites += s->trap;
	return 0;
}

static int site_disarm(struct site *s)
{
	s->armed = 0; /* trapping threads now skip the probe */
	/* The jmp (or int3) is one instruction: no thread can be inside it, no waiting needed. */
	int rc = attach_patch_write(s, s->orig, s->patch, s->patch_len, s->patch_len, NULL, 0);
	if (rc) {
		s->armed = 1; /* still patched: handlers are empty, the stub just runs the original */
		return rc;
	}
	attach_stats.sites_patched--;
	attach_stats.int3_sites -= s->trap;
	return 0;
}

/* ---- API ---- */
void bpftime_probe_engine_init(void) { pthread_once(&init_once, init); }

static unsigned ret_probes; /* return probes attached, under attach_lock */

int bpftime_probe_attach(void *addr, int is_return, bpftime_probe_handler h, void *data,
			 struct bpftime_probe **out, char *errbuf, size_t errlen)
{
	if (errbuf && errlen)
		errbuf[0] = 0;
	if (!addr || !h || !out)
		return attach_err(errbuf, errlen, -EINVAL, "addr, handler and out are required");
	pthread_once(&init_once, init);
	struct bpftime_probe *p = calloc(1, sizeof(*p));
	if (!p)
		return attach_err(errbuf, errlen, -ENOMEM, "out of memory");
	struct attach_sym sym; /* outside attach_lock: see attach_symbol_lookup */
	attach_symbol_lookup((uintptr_t)addr, &sym);
	pthread_mutex_lock(&attach_lock);
	int rc = 0;
	struct site *s = site_find((uintptr_t)addr);
	if (s && !s->armed && !site_code_unchanged(s)) {
		/* Library unloaded, maybe something else mapped there: the stub is stale. */
		s->dead = 1;
		s = NULL;
	}
	if (!s)
		rc = site_create((uintptr_t)addr, &sym, &s, errbuf, errlen);
	if (rc)
		goto fail;
	p->site = s;
	p->is_return = !!is_return;
	p->h = h;
	p->data = data;
	struct bpftime_probe **tail = &s->probes;
	while (*tail)
		tail = &(*tail)->next;
	*tail = p;
	/* Handlers are visible before the jmp is, so the first hit already runs them. */
	rc = publish_vecs(s);
	if (rc == 0 && !s->armed)
		rc = site_arm(s, errbuf, errlen);
	if (rc) {
		*tail = NULL;
		if (publish_vecs(s))
			rc = -ENOMEM;
		if (rc == -ENOMEM && errbuf && !errbuf[0])
			attach_err(errbuf, errlen, rc, "out of memory");
		goto fail;
	}
	if (p->is_return)
		ret_probes++;
	pthread_mutex_unlock(&attach_lock);
	*out = p;
	reclaim();
	if (p->is_return)
		attach_unwind_hooks_install(); /* C++ exceptions through its pending frames (unwind.c) */
	return 0;
fail:
	pthread_mutex_unlock(&attach_lock);
	free(p);
	reclaim();
	return rc;
}

int bpftime_probe_detach(struct bpftime_probe *p)
{
	if (!p)
		return -EINVAL;
	pthread_mutex_lock(&attach_lock);
	struct site *s = p->site;
	struct bpftime_probe **pp = &s->probes;
	while (*pp && *pp != p)
		pp = &(*pp)->next;
	if (!*pp) {
		pthread_mutex_unlock(&attach_lock);
		return -ENOENT;
	}
	*pp = p->next;
	int rc = publish_vecs(s);
	if (rc) {
		p->next = *pp; /* keep the probe: failing is better than a half-detached state */
		*pp = p;
		pthread_mutex_unlock(&attach_lock);
		return rc;
	}
	/* If restoring fails (the code changed under us) the site stays patched with no handlers,
	 * which is harmless; the probe itself is gone either way, so detach succeeds. */
	if (!s->probes && s->armed)
		site_disarm(s);
	int last_ret = p->is_return && --ret_probes == 0;
	pthread_mutex_unlock(&attach_lock);
	free(p);
	if (last_ret)
		attach_unwind_hooks_remove();
	return reclaim();
}

void bpftime_probe_thread_exclude(int excluded)
{
	struct thread_state *t = attach_thread_state();
	if (t)
		t->excluded = !!excluded;
}

void bpftime_probe_get_stats(struct bpftime_probe_stats *st)
{
	pthread_mutex_lock(&attach_lock);
	*st = attach_stats;
	st->ret_missed = __atomic_load_n(&attach_stats.ret_missed, __ATOMIC_RELAXED);
	st->int3_hits = __atomic_load_n(&attach_stats.int3_hits, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&attach_lock);
}
