/* The image's syscalls from before the agent's constructor, recorded by the LD_AUDIT stage
 * (libbpftime-early.so, see bpftime/early.h) and delivered to the syscall tracepoints in their
 * order, right after the exec's exit and before anything else of the image (syscall_tp.c).
 *
 * Left out is what the agent's presence added: the loader's work on the agent's own object and on
 * the libraries only the agent needs (libZydis): the syscalls the loader made for an object are
 * those between the previous object's la_objopen marker and its own; calls after the last object
 * (relocation: mprotect of RELRO) are left out when they name memory of such an object. */
#include "agent.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpftime/early.h"

static struct bpftime_early_hdr *g_hdr;
static const struct bpftime_early_rec **g_keep; /* the records to deliver, in order */
static size_t g_nkeep;

#define MAX_OBJS 256

struct obj {
	const char *name, *soname;
	struct link_map *map;
	uintptr_t lo, hi; /* its PT_LOAD range */
	int ours, needed;
};

static const char *base_of(const char *p)
{
	const char *s = strrchr(p, '/');
	return s ? s + 1 : p;
}

/* The string table and the DT_NEEDED/DT_SONAME entries of a loaded object. */
static const char *dyn_str(struct link_map *m, ElfW(Sxword) tag, int index)
{
	const ElfW(Dyn) *d = m->l_ld;
	const char *strtab = NULL;
	for (const ElfW(Dyn) *e = d; e && e->d_tag != DT_NULL; e++)
		if (e->d_tag == DT_STRTAB)
			strtab = (const char *)(e->d_un.d_ptr < m->l_addr ? e->d_un.d_ptr + m->l_addr : e->d_un.d_ptr);
	if (!strtab)
		return NULL;
	for (const ElfW(Dyn) *e = d; e && e->d_tag != DT_NULL; e++)
		if (e->d_tag == tag && index-- == 0)
			return strtab + e->d_un.d_val;
	return NULL;
}

static struct obj *find_by_needed(struct obj *o, int n, const char *want)
{
	for (int i = 0; i < n; i++)
		if ((o[i].soname && !strcmp(o[i].soname, want)) || !strcmp(base_of(o[i].name), want))
			return &o[i];
	return NULL;
}

/* Marks `flag` on every object reachable from o through DT_NEEDED. */
static void mark_closure(struct obj *all, int n, struct obj *o, int *flag_of_first, size_t flag_off)
{
	(void)flag_of_first;
	int *flag = (int *)((char *)o + flag_off);
	if (*flag)
		return;
	*flag = 1;
	const char *need;
	for (int k = 0; (need = dyn_str(o->map, DT_NEEDED, k)); k++) {
		struct obj *d = find_by_needed(all, n, need);
		if (d)
			mark_closure(all, n, d, NULL, flag_off);
	}
}

static int range_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	struct obj *o = arg;
	if (info->dlpi_addr != o->map->l_addr || strcmp(info->dlpi_name ? info->dlpi_name : "", o->map->l_name ? o->map->l_name : ""))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_LOAD) {
			uintptr_t lo = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr, hi = lo + info->dlpi_phdr[i].p_memsz;
			if (!o->lo || lo < o->lo)
				o->lo = lo & ~(uintptr_t)4095;
			if (hi > o->hi)
				o->hi = hi;
		}
	return 1;
}

/* Which loaded objects are there only for the agent. */
static int classify(struct obj *o)
{
	int n = 0;
	for (struct link_map *m = _r_debug.r_map; m && n < MAX_OBJS; m = m->l_next, n++) {
		o[n] = (struct obj){ .name = m->l_name ? m->l_name : "", .map = m };
		o[n].soname = dyn_str(m, DT_SONAME, 0);
	}
	Dl_info self;
	struct obj *agent = NULL;
	if (dladdr((void *)classify, &self))
		for (int i = 0; i < n; i++)
			if (o[i].map->l_addr == (uintptr_t)self.dli_fbase)
				agent = &o[i];
	if (!agent || n == 0)
		return -1;
	/* What the program needs: from the executable and every other preloaded object. */
	const char *preload = getenv("LD_PRELOAD");
	mark_closure(o, n, &o[0], NULL, offsetof(struct obj, needed));
	for (int i = 1; i < n; i++) {
		if (&o[i] == agent || !preload)
			continue;
		const char *b = base_of(o[i].name);
		if (*b && strstr(preload, b))
			mark_closure(o, n, &o[i], NULL, offsetof(struct obj, needed));
	}
	mark_closure(o, n, agent, NULL, offsetof(struct obj, ours));
	for (int i = 0; i < n; i++) {
		if (o[i].needed && &o[i] != agent)
			o[i].ours = 0;
		if (o[i].ours)
			dl_iterate_phdr(range_cb, &o[i]);
	}
	return n;
}

static int names_ours(const struct obj *o, int n, uint64_t addr)
{
	for (int i = 0; i < n; i++)
		if (o[i].ours && addr >= o[i].lo && addr < o[i].hi)
			return 1;
	return 0;
}

static int obj_is_ours(const struct obj *o, int n, const char *name, uint64_t l_addr)
{
	for (int i = 0; i < n; i++)
		if (o[i].map->l_addr == l_addr && !strcmp(o[i].name, name))
			return o[i].ours;
	return 0;
}

static int on_our_memory(const struct bpftime_early_rec *r, const struct obj *o, int n)
{
	return (r->nr == SYS_mprotect || r->nr == SYS_munmap || r->nr == SYS_madvise ||
		(r->nr == SYS_mmap && r->args[0])) && names_ours(o, n, r->args[0]);
}

/* Filters the run of calls that loaded an object of the agent's (file name `name`) in place;
 * returns how many stay. */
static size_t drop_loading(const struct bpftime_early_rec **run, size_t len, const char *name,
			   const struct obj *o, int n)
{
	size_t out = 0;
	long fd = -1;
	for (size_t i = 0; i < len; i++) {
		const struct bpftime_early_rec *r = run[i];
		int path = r->nr == SYS_open ? 0 : r->nr == SYS_openat ? 1 : -1;
		if (path >= 0 && r->str_arg == path && !strcmp(base_of(r->str), name)) {
			if (r->ret >= 0)
				fd = r->ret;
			continue;
		}
		int on_fd = fd >= 0 && ((r->nr == SYS_mmap && (long)r->args[4] == fd) ||
					((r->nr == SYS_read || r->nr == SYS_pread64 || r->nr == SYS_fstat ||
					  r->nr == SYS_newfstatat || r->nr == SYS_close) && (long)r->args[0] == fd));
		if (on_fd) {
			if (r->nr == SYS_close)
				fd = -1;
			continue;
		}
		if (on_our_memory(r, o, n))
			continue;
		run[out++] = r;
	}
	return out;
}

/* The records of a recording that ended before the agent asked (a fork, a signal handler of the
 * program, a full buffer): the mapping of the module's memfd, by its name. */
static struct bpftime_early_hdr *find_ended_recording(void)
{
	const char *audit = getenv("LD_AUDIT");
	if (!audit || !strstr(audit, "libbpftime-early.so"))
		return NULL;
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return NULL;
	char line[4096];
	struct bpftime_early_hdr *h = NULL;
	while (!h && fgets(line, sizeof(line), f)) {
		unsigned long start;
		if (strstr(line, "/memfd:" BPFTIME_EARLY_MEMFD) && sscanf(line, "%lx-", &start) == 1)
			h = (struct bpftime_early_hdr *)start;
	}
	fclose(f);
	return h && h->magic == BPFTIME_EARLY_MAGIC && h->stopped ? h : NULL;
}

void agent_early_take(void)
{
	struct bpftime_early_hdr *h = NULL;
	/* Ends the recording (the module answers; without it the kernel says EINVAL). Nothing of
	 * the agent's may run before this: it would be recorded as the program's. */
	if (syscall(SYS_prctl, BPFTIME_EARLY_PRCTL, &h, 0, 0, 0) != 0 || !h)
		h = find_ended_recording();
	if (!h || h->magic != BPFTIME_EARLY_MAGIC)
		return;
	static struct obj objs[MAX_OBJS];
	int n = classify(objs);
	if (n < 0)
		return;
	size_t cap = 0, nrec = 0;
	const char *p = (const char *)(h + 1), *end = p + h->used;
	for (const char *q = p; q < end; q += ((const struct bpftime_early_rec *)q)->size)
		cap++;
	g_keep = calloc(cap ? cap : 1, sizeof(*g_keep));
	if (!g_keep)
		return;
	/* Each object's run of calls ends at its marker; in the run of an object of the agent's,
	 * what loaded that object goes: the open of its file, every call on the fd it returned
	 * (read, fstat, mmap, close), and calls on the object's memory. The rest (the loader's
	 * access of /etc/ld.so.preload, say) is the program's. */
	size_t run_start = 0;
	for (const char *q = p; q < end; q += ((const struct bpftime_early_rec *)q)->size) {
		const struct bpftime_early_rec *r = (const void *)q;
		if (r->size < sizeof(*r))
			break;
		if (r->kind == BPFTIME_EARLY_OBJOPEN) {
			if (obj_is_ours(objs, n, r->str, r->args[0]))
				nrec = run_start + drop_loading(g_keep + run_start, nrec - run_start, base_of(r->str), objs, n);
			run_start = nrec;
			continue;
		}
		if (r->kind != BPFTIME_EARLY_SYSCALL)
			continue;
		/* After the objects are mapped: relocation (mprotect of RELRO...) and the constructors that
		 * ran before the agent's. Calls on the memory of the agent's objects are its own. */
		if (on_our_memory(r, objs, n))
			continue;
		g_keep[nrec++] = r;
	}
	g_nkeep = nrec;
	g_hdr = h;
}

void agent_early_replay(void (*fn)(void *arg, long nr, const uint64_t args[6], long ret), void *arg)
{
	const struct bpftime_early_rec **keep = __atomic_exchange_n(&g_keep, NULL, __ATOMIC_ACQ_REL);
	if (!keep)
		return;
	for (size_t i = 0; i < g_nkeep; i++) {
		uint64_t args[6];
		memcpy(args, keep[i]->args, sizeof(args));
		if (keep[i]->str_arg >= 0 && keep[i]->str_arg < 6)
			args[keep[i]->str_arg] = (uint64_t)(uintptr_t)keep[i]->str; /* the copy: the loader's is gone */
		fn(arg, keep[i]->nr, args, keep[i]->ret);
	}
	/* The records stay mapped: a program may have kept a path pointer (they are small). */
}
