/* Executable memory for stubs, within +-2 GiB of the sites that jump to them (jmp rel32).
 *
 * Chunks of anonymous private memory, r-x, claimed with MAP_FIXED_NOREPLACE in a gap of
 * /proc/self/maps near the site (never clobbering a mapping another thread just made). A stub is
 * copied in with the chunk briefly rwx: other threads may be executing earlier stubs of the same
 * chunk, so it must never lose exec; it is never writable at any other time. Private anonymous
 * memory is copied by fork, so a child keeps its stubs and owns its copy (nothing shared to race on).
 *
 * Gaps below the site are preferred, the nearest first: above an executable lies its brk heap, which
 * a chunk there would stop from growing. Called under the rewrite lock only. */
#include "syshook_internal.h"
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define CHUNK (64 * 1024UL)
#define PAGE 4096UL
#define MAX_CHUNKS 256
#define LOWEST (1UL << 20) /* keep clear of mmap_min_addr and page zero */
#define USER_TOP (1UL << 47)

struct chunk {
	uintptr_t start;
	size_t used;
};
static struct chunk chunks[MAX_CHUNKS];
static int nchunks;

struct gap_search {
	uintptr_t lo, hi, near, prev_end;
	uintptr_t best;
	uintptr_t best_score;
};

static void consider(struct gap_search *g, uintptr_t gs, uintptr_t ge)
{
	if (gs < g->lo)
		gs = g->lo;
	if (ge > g->hi)
		ge = g->hi;
	gs = (gs + PAGE - 1) & ~(PAGE - 1);
	ge &= ~(PAGE - 1);
	if (ge <= gs || ge - gs < CHUNK)
		return;
	uintptr_t at = ge - CHUNK; /* highest: nearest when below, farthest from a heap when above */
	uintptr_t score = at < g->near ? g->near - at : USER_TOP + (at - g->near);
	if (!g->best || score < g->best_score) {
		g->best = at;
		g->best_score = score;
	}
}

static int gap_cb(const struct syshook_map *m, void *arg)
{
	struct gap_search *g = arg;
	if (m->start > g->prev_end)
		consider(g, g->prev_end, m->start);
	if (m->end > g->prev_end)
		g->prev_end = m->end;
	return 0;
}

static uintptr_t new_chunk(uintptr_t lo, uintptr_t hi, uintptr_t near)
{
	if (nchunks == MAX_CHUNKS)
		return 0;
	for (int attempt = 0; attempt < 4; attempt++) {
		struct gap_search g = {.lo = lo < LOWEST ? LOWEST : lo, .hi = hi, .near = near, .prev_end = LOWEST};
		if (syshook_maps_foreach(gap_cb, &g) < 0)
			return 0;
		consider(&g, g.prev_end, USER_TOP - PAGE);
		if (!g.best)
			return 0;
		long p = raw6(SYS_mmap, g.best, CHUNK, PROT_READ | PROT_EXEC,
			      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == (long)g.best) {
			chunks[nchunks].start = g.best;
			chunks[nchunks].used = 0;
			nchunks++;
			return g.best;
		}
		if (p > 0 && p < (long)USER_TOP)
			raw2(SYS_munmap, p, CHUNK); /* a kernel that took the address as a hint only */
		/* -EEXIST: another thread mapped there meanwhile; look again. */
	}
	return 0;
}

static int copy_in(uintptr_t at, const uint8_t *code, size_t size)
{
	uintptr_t p0 = at & ~(PAGE - 1), p1 = (at + size + PAGE - 1) & ~(PAGE - 1);
	if (raw3(SYS_mprotect, p0, p1 - p0, PROT_READ | PROT_WRITE | PROT_EXEC) < 0)
		return -1;
	memcpy((void *)at, code, size);
	raw3(SYS_mprotect, p0, p1 - p0, PROT_READ | PROT_EXEC);
	return 0;
}

uintptr_t syshook_stub_alloc(uintptr_t lo, uintptr_t hi, uintptr_t near, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < nchunks; i++) {
			struct chunk *c = &chunks[i];
			uintptr_t at = c->start + c->used;
			if (c->used + size <= CHUNK && at >= lo && at + size <= hi) {
				c->used += size;
				return at;
			}
		}
		if (pass == 0 && !new_chunk(lo, hi, near))
			return 0;
	}
	return 0;
}

int syshook_stub_write(uintptr_t at, const uint8_t *code, size_t size)
{
	return copy_in(at, code, size);
}
