/* Lazy rewriting: a syscall site that trapped becomes a jump to a per-site stub, so its next
 * execution costs two jumps and a call instead of a signal.
 *
 * Only rewrites that no thread can observe half-done and that no jump can land inside are done;
 * both keep every instruction boundary where it was:
 *  A. The instruction just before the `syscall`, when it is >= 5 bytes (glibc's `mov $nr, %eax` in
 *     nearly every wrapper), is replaced as a whole by `jmp stub`; the stub runs it, then the
 *     syscall. The `syscall` itself stays: a branch straight to it, or a thread that already ran
 *     the old instruction (preempted between the two, or in a signal handler), still finds it and
 *     traps. Correct either way.
 *  B. Otherwise (glibc's read() is `xor %eax,%eax; syscall`) the `syscall` itself becomes
 *     `jmp rel8` to 5 bytes of dead padding within 127 bytes, which becomes `jmp stub`. Dead means:
 *     a run of nop/int3 right after an unconditional jmp/ret (alignment before a label) that no
 *     direct branch of the function targets, or the gap between the function's end (when it ends
 *     with an unconditional transfer) and the next function. Padding is written first (nobody runs
 *     it), then the 2 bytes of the syscall.
 * Either write is one locked cmpxchg inside one cache line, compared against the bytes analysed
 * (a concurrent change, e.g. by the uprobe engine, is detected), so a fetching core sees the old or
 * the new instruction, each correct. No quiescence is needed.
 *
 * Knowing where instructions start needs a known boundary to decode forward from: the function
 * start from the unwind tables (funcs.c), decoded with Zydis. The decoder sees the original bytes of
 * what we patched (we keep them); code that someone else patched (a rel32 jump or call out of the
 * file's text, int3 outside padding, `jmp .`) is left alone rather than decoded wrongly. Sites with
 * no function (JIT code, the vDSO), signal trampolines (unwinders recognise them by their bytes),
 * and sites with neither form possible keep trapping: correct, ~2.5 us each.
 *
 * The stub:   [the instruction A replaced, RIP-relative displacement adjusted]
 *             lea -128(%rsp),%rsp          skip the caller's red zone
 *             push resume(%rip)            [rsp] = address after the syscall
 *             call *common(%rip)           syshook_common (entry.S)
 *             lea 136(%rsp),%rsp
 *             jmp *resume(%rip)
 *   resume:   .quad site + 2
 *   common:   .quad syshook_common
 *
 * Pages are made rwx for a write (never non-executable: other threads run there) and restored.
 * One thread rewrites at a time (a try-lock: a trapping thread never waits; the lock is the text
 * lock shared with the uprobe engine, so the two never write one page at once), with signals other
 * than SIGSYS blocked so a handler cannot longjmp out holding the lock. A table of sites already
 * handled (with the code bytes seen, so a library unloaded and another mapped at the same address
 * is looked at again) keeps repeated traps cheap. Tables are reserved (mmap) on first use; all of it
 * is private memory, copied by fork. */
#include "syshook_internal.h"
#include "../text_lock.h"
#include <Zydis/Zydis.h>
#include <errno.h>
#include <linux/membarrier.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#define PAGE 4096UL
#define LINE 64UL
#define JMP_LEN 5

static void *reserve(size_t size)
{
	long p = raw6(SYS_mmap, 0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p < 0 && p > -4096 ? NULL : (void *)p;
}

/* ---- table of handled sites ---- */
enum { SITE_REWRITTEN = 1, SITE_UNREWRITABLE = 2 };
struct site_rec {
	uintptr_t site;
	uint64_t code; /* the aligned 8 bytes holding the syscall, as last seen */
	long state;
};
#define SITE_TAB 16384 /* power of two */
static struct site_rec *sites;
static unsigned sites_used;

static uint64_t code_at(uintptr_t site) { return *(const volatile uint64_t *)(site & ~7UL); }

static struct site_rec *site_lookup(uintptr_t site, int insert)
{
	unsigned h = (unsigned)((site * 0x9E3779B97F4A7C15ULL) >> 40) & (SITE_TAB - 1);
	for (unsigned i = 0; i < SITE_TAB; i++, h = (h + 1) & (SITE_TAB - 1)) {
		if (sites[h].site == site)
			return &sites[h];
		if (sites[h].site == 0) {
			/* Unrewritable sites of generated code could fill it: stay at 3/4. */
			if (!insert || sites_used >= SITE_TAB / 4 * 3)
				return NULL;
			sites_used++;
			sites[h].site = site;
			return &sites[h];
		}
	}
	return NULL;
}

/* ---- bytes we changed, with their original values (for decoding) ---- */
struct patch_rec {
	uintptr_t at;
	uint8_t len;
	uint8_t orig[7];  /* what was there */
	uint8_t wrote[8]; /* what we put there: a record whose bytes changed since (the library was
			   * unloaded and something else mapped there) no longer applies */
};
#define MAX_PATCHES 16384
static struct patch_rec *patches;
static unsigned npatches;

/* Padding runs we took slots from: the run (as originally decoded) and how much is used. */
struct pad_run {
	uintptr_t start, end, used;
};
#define MAX_PADS 4096
static struct pad_run *pads;
static unsigned npads;

/* ---- decoding with our patches undone ---- */
#define MAX_LOCAL_PATCHES 64
struct view {
	const struct patch_rec *p[MAX_LOCAL_PATCHES];
	int n;
};

/* The patches overlapping [lo, hi); -1 when there are too many to track. */
static int view_init(struct view *v, uintptr_t lo, uintptr_t hi)
{
	v->n = 0;
	for (unsigned i = 0; i < npatches; i++) {
		if (patches[i].at < hi && patches[i].at + patches[i].len > lo &&
		    memcmp((const void *)patches[i].at, patches[i].wrote, patches[i].len) == 0) {
			if (v->n == MAX_LOCAL_PATCHES)
				return -1;
			v->p[v->n++] = &patches[i];
		}
	}
	return 0;
}

/* n original bytes at a. */
static void view_fetch(const struct view *v, uintptr_t a, uint8_t *buf, size_t n)
{
	memcpy(buf, (const void *)a, n);
	for (int i = 0; i < v->n; i++) {
		const struct patch_rec *r = v->p[i];
		for (unsigned k = 0; k < r->len; k++)
			if (r->at + k >= a && r->at + k < a + n)
				buf[r->at + k - a] = r->orig[k];
	}
}

static int view_touches(const struct view *v, uintptr_t lo, uintptr_t hi)
{
	for (int i = 0; i < v->n; i++)
		if (v->p[i]->at < hi && v->p[i]->at + v->p[i]->len > lo)
			return 1;
	return 0;
}

static ZydisDecoder decoder;
static int decoder_ready;

static int decode(const struct view *v, uintptr_t at, uintptr_t end, ZydisDecodedInstruction *in)
{
	uint8_t buf[ZYDIS_MAX_INSTRUCTION_LENGTH];
	size_t n = end - at < sizeof(buf) ? end - at : sizeof(buf);
	view_fetch(v, at, buf, n);
	return ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&decoder, NULL, buf, n, in)) ? 0 : -1;
}

static int is_control_flow(const ZydisDecodedInstruction *in)
{
	if (in->meta.branch_type != ZYDIS_BRANCH_TYPE_NONE)
		return 1;
	switch (in->meta.category) {
	case ZYDIS_CATEGORY_COND_BR:
	case ZYDIS_CATEGORY_UNCOND_BR:
	case ZYDIS_CATEGORY_CALL:
	case ZYDIS_CATEGORY_RET:
	case ZYDIS_CATEGORY_SYSCALL:
	case ZYDIS_CATEGORY_SYSRET:
	case ZYDIS_CATEGORY_INTERRUPT:
	case ZYDIS_CATEGORY_SYSTEM:
		return 1;
	default:
		return 0;
	}
}

/* Execution never falls through it. */
static int is_unconditional(const ZydisDecodedInstruction *in)
{
	return in->meta.category == ZYDIS_CATEGORY_UNCOND_BR || in->meta.category == ZYDIS_CATEGORY_RET ||
	       in->mnemonic == ZYDIS_MNEMONIC_UD2 || in->mnemonic == ZYDIS_MNEMONIC_HLT;
}

static int is_padding(const ZydisDecodedInstruction *in)
{
	return in->mnemonic == ZYDIS_MNEMONIC_NOP || in->mnemonic == ZYDIS_MNEMONIC_INT3;
}

/* Target of a relative branch, or 0. */
static uintptr_t branch_target(const ZydisDecodedInstruction *in, uintptr_t at)
{
	for (int i = 0; i < 2; i++)
		if (in->raw.imm[i].is_relative)
			return at + in->length + (uintptr_t)in->raw.imm[i].value.s;
	return 0;
}

/* ---- analysis ---- */
struct run {
	uintptr_t start, end;
};
#define MAX_RUNS 64
#define MAX_TARGETS 4096

struct plan {
	int kind;	   /* 'A' or 'B' */
	uintptr_t site;
	uintptr_t insn;	   /* A: the instruction before the syscall; B: the pad slot */
	unsigned len;	   /* A: its length */
	int riprel;	   /* A: it has a RIP-relative memory operand */
	unsigned disp_off; /* A: where its disp32 sits */
	uintptr_t target;  /* A: the absolute address that operand refers to */
	int prot;	   /* protection of the text mapping */
	struct pad_run *pad; /* B: the run the slot comes from (NULL: a new one, see new_pad) */
	struct run new_pad;
};

/* Large: used under the lock only. */
static struct {
	struct run runs[MAX_RUNS];
	int nruns;
	uintptr_t targets[MAX_TARGETS];
	int ntargets;
	struct view view;
} scan;

static int targeted(uintptr_t lo, uintptr_t hi)
{
	for (int i = 0; i < scan.ntargets; i++)
		if (scan.targets[i] >= lo && scan.targets[i] < hi)
			return 1;
	return 0;
}

static void add_run(uintptr_t start, uintptr_t end)
{
	if (end - start >= JMP_LEN && scan.nruns < MAX_RUNS) {
		scan.runs[scan.nruns].start = start;
		scan.runs[scan.nruns].end = end;
		scan.nruns++;
	}
}

/* A 5-byte slot in dead padding that a jmp rel8 at site can reach. */
static int find_pad(uintptr_t site, struct plan *pl)
{
	uintptr_t from = site + 2;
	uintptr_t best = 0;
	for (int i = 0; i < scan.nruns; i++) {
		struct run r = scan.runs[i];
		if (targeted(r.start, r.end))
			continue; /* a branch lands in it: executed, not padding */
		struct pad_run *known = NULL;
		for (unsigned k = 0; k < npads; k++)
			if (pads[k].start == r.start)
				known = &pads[k];
		uintptr_t slot = r.start + (known ? known->used : 0);
		if (slot + JMP_LEN > r.end)
			continue;
		int64_t rel = (int64_t)slot - (int64_t)from;
		if (rel < -128 || rel > 127)
			continue;
		uintptr_t dist = rel < 0 ? (uintptr_t)-rel : (uintptr_t)rel;
		uintptr_t bdist = best > from ? best - from : from - best;
		if (!best || dist < bdist) {
			best = slot;
			pl->pad = known;
			pl->new_pad = r;
		}
	}
	if (!best)
		return -ENOSPC;
	pl->kind = 'B';
	pl->insn = best;
	return 0;
}

static int analyze(uintptr_t site, struct plan *pl)
{
	struct syshook_func fn;
	if (syshook_find_function(site, &fn) < 0)
		return -ENOENT;
	if (!(fn.text.prot & PROT_READ) || fn.text.shared || site + 2 > fn.end)
		return -EINVAL;
	/* Unwinders and debuggers recognise a signal trampoline (__restore_rt) by its bytes: leave
	 * it alone; it costs a trap per signal handler return. */
	if (fn.signal_frame)
		return -EINVAL;
	if (!decoder_ready) {
		ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
		decoder_ready = 1;
	}
	if (view_init(&scan.view, fn.start, fn.next_start) < 0)
		return -EINVAL;
	memset(pl, 0, sizeof(*pl));
	pl->site = site;
	pl->prot = fn.text.prot;
	scan.nruns = 0;
	scan.ntargets = 0;

	/* One pass over the whole function: the instruction before the site, padding runs, branch
	 * targets, and signs that someone else patched it. */
	static ZydisDecodedInstruction in, prev_in;
	uintptr_t at = fn.start, prev = 0, run_start = 0;
	int dead = 0, seen_site = 0;
	while (at < fn.end) {
		if (decode(&scan.view, at, fn.end, &in) < 0)
			return -EINVAL;
		if (at < site && at + in.length > site)
			return -EINVAL; /* the site is not an instruction boundary */
		if (at == site) {
			if (in.meta.category != ZYDIS_CATEGORY_SYSCALL || in.length != 2)
				return -EINVAL;
			seen_site = 1;
		}
		uintptr_t t = branch_target(&in, at);
		if (t) {
			if (in.raw.imm[0].size == 8 && in.length == 2 && t == at)
				return -EINVAL; /* `jmp .`: someone is patching here right now */
			if (t < fn.text.start || t >= fn.text.end)
				return -EINVAL; /* a jump out of the file's code: someone's trampoline */
			if (t >= fn.start && t < fn.next_start) {
				if (scan.ntargets == MAX_TARGETS)
					return -EINVAL;
				scan.targets[scan.ntargets++] = t;
			}
		}
		if (is_padding(&in) && (dead || run_start)) {
			if (!run_start)
				run_start = at;
		} else {
			if (run_start)
				add_run(run_start, at);
			run_start = 0;
			if (in.mnemonic == ZYDIS_MNEMONIC_INT3)
				return -EINVAL; /* int3 in code: a breakpoint, not ours to decode past */
		}
		dead = is_unconditional(&in) || run_start;
		if (at < site) {
			prev = at;
			prev_in = in;
		}
		at += in.length;
	}
	if (!seen_site || at != fn.end)
		return -EINVAL;
	if (run_start)
		add_run(run_start, at);
	/* The gap up to the next function, when nothing can fall through into it. */
	if (dead && fn.next_start > fn.end) {
		uintptr_t g = fn.end;
		while (g < fn.next_start && decode(&scan.view, g, fn.next_start, &in) == 0 && is_padding(&in) &&
		       g + in.length <= fn.next_start)
			g += in.length;
		add_run(fn.end, g);
	}

	/* A: the instruction before the site, replaced whole. */
	if (prev && prev + prev_in.length == site && prev_in.length >= JMP_LEN && !is_control_flow(&prev_in) &&
	    (prev & (LINE - 1)) + JMP_LEN <= LINE) {
		int ok = 1;
		if (view_touches(&scan.view, prev, site + 2))
			return -EEXIST; /* ours already */
		if (prev_in.attributes & ZYDIS_ATTRIB_IS_RELATIVE) {
			/* Not a branch, so a RIP-relative memory operand: disp32 relative to its end. */
			if (!(prev_in.attributes & ZYDIS_ATTRIB_HAS_MODRM) || prev_in.raw.modrm.mod != 0 ||
			    prev_in.raw.modrm.rm != 5 || prev_in.raw.disp.size != 32)
				ok = 0;
			pl->riprel = 1;
			pl->disp_off = prev_in.raw.disp.offset;
			pl->target = prev + prev_in.length + (uintptr_t)(int64_t)prev_in.raw.disp.value;
		}
		if (ok) {
			pl->kind = 'A';
			pl->insn = prev;
			pl->len = prev_in.length;
			return 0;
		}
		pl->riprel = 0;
	}
	/* B: the syscall itself becomes a jmp rel8 into padding. */
	if ((site & (LINE - 1)) == LINE - 1)
		return -EINVAL;
	if (view_touches(&scan.view, site, site + 2))
		return -EEXIST;
	return find_pad(site, pl);
}

/* ---- writing ---- */
static void sync_cores(void)
{
	/* Other cores may run stale bytes for a while: both forms are correct, so this only speeds
	 * up the switch. Registration is per mm, hence again after fork. */
	long rc = raw2(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0);
	if (rc == -EPERM && raw2(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0) == 0)
		raw2(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0);
}

static int make_writable(uintptr_t at, size_t n, int prot, int on)
{
	uintptr_t p0 = at & ~(PAGE - 1), p1 = (at + n + PAGE - 1) & ~(PAGE - 1);
	return raw3(SYS_mprotect, p0, p1 - p0, on ? prot | PROT_READ | PROT_WRITE | PROT_EXEC : prot) < 0 ? -EPERM : 0;
}

static int record(uintptr_t at, const uint8_t *orig, const uint8_t *wrote, unsigned len)
{
	if (npatches == MAX_PATCHES)
		return -ENOSPC;
	patches[npatches].at = at;
	patches[npatches].len = (uint8_t)len;
	memcpy(patches[npatches].orig, orig, len);
	memcpy(patches[npatches].wrote, wrote, len);
	npatches++;
	return 0;
}

/* Replace n <= 8 bytes at `at` (inside one cache line) that must still equal `expect`. */
static int store_in_line(uintptr_t at, const uint8_t *bytes, const uint8_t *expect, size_t n, int prot)
{
	uintptr_t line_end = (at & ~(LINE - 1)) + LINE;
	uintptr_t w = at + 8 <= line_end ? at : line_end - 8;
	if (make_writable(w, 8, prot, 1) < 0)
		return -EPERM;
	uint64_t old, new;
	memcpy(&old, (const void *)w, 8);
	int rc = 0;
	if (memcmp((const uint8_t *)&old + (at - w), expect, n) != 0) {
		rc = -EBUSY; /* someone else (the uprobe engine?) changed it meanwhile */
	} else {
		new = old;
		memcpy((uint8_t *)&new + (at - w), bytes, n);
		if (!__atomic_compare_exchange_n((uint64_t *)w, &old, new, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			rc = -EBUSY;
	}
	make_writable(w, 8, prot, 0);
	return rc;
}

static void put32(uint8_t *p, int64_t v)
{
	int32_t x = (int32_t)v;
	memcpy(p, &x, 4);
}

static int fits32(int64_t v) { return v >= INT32_MIN && v <= INT32_MAX; }

static int rewrite(const struct plan *pl)
{
	uint8_t code[64], orig[JMP_LEN];
	unsigned k = pl->kind == 'A' ? pl->len : 0;
	memcpy(code, (const void *)pl->insn, k);
	static const uint8_t body[] = {
		0x48, 0x8d, 0x64, 0x24, 0x80,			/* lea -0x80(%rsp),%rsp */
		0xff, 0x35, 0, 0, 0, 0,				/* push resume(%rip) */
		0xff, 0x15, 0, 0, 0, 0,				/* call *common(%rip) */
		0x48, 0x8d, 0xa4, 0x24, 0x88, 0x00, 0x00, 0x00, /* lea 0x88(%rsp),%rsp */
		0xff, 0x25, 0, 0, 0, 0,				/* jmp *resume(%rip) */
	};
	memcpy(code + k, body, sizeof(body));
	unsigned data = (k + sizeof(body) + 7) & ~7U;
	for (unsigned i = k + sizeof(body); i < data; i++)
		code[i] = 0xcc;
	put32(code + k + 7, (int64_t)data - (int64_t)(k + 11));
	put32(code + k + 13, (int64_t)(data + 8) - (int64_t)(k + 17));
	put32(code + k + 27, (int64_t)data - (int64_t)(k + 31));
	uint64_t resume = pl->site + 2, common = (uintptr_t)syshook_common;
	memcpy(code + data, &resume, 8);
	memcpy(code + data + 8, &common, 8);
	size_t size = data + 16;

	/* The jmp rel32 (at the instruction, or in the pad) must reach the stub, and so must the moved
	 * instruction its operand. */
	const int64_t reach = INT32_MAX - 2 * 4096;
	uintptr_t from = pl->insn + JMP_LEN;
	uintptr_t lo = from > (uintptr_t)reach ? from - (uintptr_t)reach : 0, hi = from + (uintptr_t)reach;
	if (pl->riprel) {
		uintptr_t tlo = pl->target > (uintptr_t)reach ? pl->target - (uintptr_t)reach : 0;
		uintptr_t thi = pl->target + (uintptr_t)reach;
		lo = tlo > lo ? tlo : lo;
		hi = thi < hi ? thi : hi;
		if (lo >= hi)
			return -ERANGE;
	}
	if (npatches + 2 > MAX_PATCHES || (pl->kind == 'B' && !pl->pad && npads == MAX_PADS))
		return -ENOSPC;
	uintptr_t stub = syshook_stub_alloc(lo, hi, pl->insn, size);
	if (!stub)
		return -ENOMEM;
	memcpy(orig, (const void *)pl->insn, JMP_LEN);
	if (pl->riprel) {
		int64_t disp = (int64_t)pl->target - (int64_t)(stub + k);
		if (!fits32(disp))
			return -ERANGE;
		put32(code + pl->disp_off, disp);
	}
	if (syshook_stub_write(stub, code, size) < 0)
		return -EPERM;
	uint8_t jmp[JMP_LEN] = {0xe9};
	int64_t rel = (int64_t)stub - (int64_t)(pl->insn + JMP_LEN);
	if (!fits32(rel))
		return -ERANGE;
	put32(jmp + 1, rel);

	if (pl->kind == 'A') {
		int rc = store_in_line(pl->insn, jmp, orig, JMP_LEN, pl->prot);
		if (rc == 0)
			record(pl->insn, orig, jmp, JMP_LEN);
		return rc;
	}
	/* B: the pad first (dead: a plain copy), then the syscall's 2 bytes. */
	if (make_writable(pl->insn, JMP_LEN, pl->prot, 1) < 0)
		return -EPERM;
	memcpy((void *)pl->insn, jmp, JMP_LEN);
	make_writable(pl->insn, JMP_LEN, pl->prot, 0);
	record(pl->insn, orig, jmp, JMP_LEN);
	struct pad_run *pr = pl->pad;
	if (!pr) {
		pr = &pads[npads++];
		pr->start = pl->new_pad.start;
		pr->end = pl->new_pad.end;
		pr->used = 0;
	}
	pr->used = pl->insn + JMP_LEN - pr->start;
	static const uint8_t sys[2] = {0x0f, 0x05};
	uint8_t j8[2] = {0xeb, (uint8_t)(int8_t)((int64_t)pl->insn - (int64_t)(pl->site + 2))};
	int rc = store_in_line(pl->site, j8, sys, 2, pl->prot);
	if (rc == 0)
		record(pl->site, sys, j8, 2);
	return rc; /* on failure the pad stays written: dead bytes, never reached */
}

/* ---- entry point ---- */
/* The rewrite lock is the text lock shared with the uprobe engine (../text_lock.h): it also keeps
 * the tables below to one writer. */

/* Called by start(): the first call of a library function through the PLT runs the dynamic
 * linker's resolver; better here than inside a SIGSYS handler that interrupted the loader. */
void syshook_rewrite_init(void)
{
	text_lock_acquire(); /* not in a handler: waiting (for a probe patch) is fine */
	if (!decoder_ready) {
		ZydisDecoderInit(&decoder, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
		decoder_ready = 1;
	}
	static const uint8_t nop = 0x90;
	ZydisDecodedInstruction in;
	ZydisDecoderDecodeInstruction(&decoder, NULL, &nop, 1, &in);
	uint8_t a[8] = {0}, b[8] = {0};
	memcpy(a, &nop, 1);
	(void)memcmp(a, b, sizeof(a));
	memset(b, 0, sizeof(b));
	text_lock_release();
}

/* Another thread may have held the lock when the process forked: its half-done work is either
 * unpublished (a stub nobody jumps to, a pad nobody reaches) or a table entry that is looked at
 * again, so the child may go on. */
void syshook_rewrite_after_fork_child(void) { text_lock_reset_after_fork(); }

void syshook_rewrite_site(uintptr_t site)
{
	if (!text_lock_try())
		return; /* another rewrite, or a probe patch: this syscall traps, a later one rewrites */
	uint64_t all_but_sigsys = ~SYSHOOK_SIGSYS_BIT, old_mask;
	raw4(SYS_rt_sigprocmask, SIG_BLOCK, &all_but_sigsys, &old_mask, 8);
	if (!sites) {
		sites = reserve(SITE_TAB * sizeof(struct site_rec));
		patches = reserve(MAX_PATCHES * sizeof(struct patch_rec));
		pads = reserve(MAX_PADS * sizeof(struct pad_run));
	}
	if (sites && patches && pads) {
		uint64_t code = code_at(site);
		struct site_rec *r = site_lookup(site, 0);
		if (!r || r->code != code) {
			struct plan pl;
			int rc = analyze(site, &pl);
			if (rc == 0) {
				rc = rewrite(&pl);
				if (rc == 0)
					sync_cores();
			}
			/* -EBUSY: the bytes moved under us; no record, so the next trap looks again. */
			if (rc != -EBUSY) {
				if (!r)
					r = site_lookup(site, 1);
				if (r) {
					r->state = rc == 0 || rc == -EEXIST ? SITE_REWRITTEN : SITE_UNREWRITABLE;
					r->code = code_at(site);
				}
				if (rc != -EEXIST)
					__atomic_fetch_add(rc == 0 ? &syshook_stats.sites_rewritten
								   : &syshook_stats.sites_unrewritable,
							   1, __ATOMIC_RELAXED);
			}
		}
	}
	raw4(SYS_rt_sigprocmask, SIG_SETMASK, &old_mask, NULL, 8);
	text_lock_release();
}
