/* Executable memory within +-2 GiB of a probe site, for the stubs a `jmp rel32` can reach.
 *
 * W^X without ever flipping live code: a chunk is a memfd mapped twice, r-x near the sites and
 * rw- wherever the kernel likes; stubs are written through the rw alias into free space, so stubs
 * other threads are executing are never made non-executable. If memfds cannot be executable
 * (vm.memfd_noexec, seccomp, ...), each stub gets its own anonymous page: written rw-, then sealed
 * r-x before the site's jmp publishes it.
 *
 * Free address ranges come from /proc/self/maps gaps; mmap with MAP_FIXED_NOREPLACE claims one
 * without clobbering a mapping another thread created meanwhile. Gaps below the site are tried
 * first (above an executable lies its heap, whose brk growth we would block), and in a gap above
 * the site the highest reachable address is taken for the same reason.
 *
 * Called under the attach lock only. */
#include "attach_internal.h"
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MFD_CLOEXEC
#define MFD_CLOEXEC 1U
#endif

#define CHUNK_SIZE (64 * 1024)
#define PAGE 4096UL
#define USER_TOP (1UL << 47)
#define MAX_CANDIDATES 64

struct chunk {
	uintptr_t rx;
	uint8_t *rw;
	size_t size, used;
	struct chunk *next;
};
static struct chunk *chunks;
static int memfd_broken; /* fall back to page-per-stub */

/* ---- finding free addresses ---- */
struct cand {
	uintptr_t addr;
	uintptr_t score; /* lower is tried first */
};
struct gap_arg {
	uintptr_t lo, hi, prefer, size, prev_end;
	struct cand c[MAX_CANDIDATES];
	int n;
};

static void consider_gap(struct gap_arg *a, uintptr_t gs, uintptr_t ge)
{
	if (gs < a->lo)
		gs = a->lo;
	if (ge > a->hi)
		ge = a->hi;
	gs = (gs + PAGE - 1) & ~(PAGE - 1);
	ge &= ~(PAGE - 1);
	if (ge <= gs || ge - gs < a->size)
		return;
	/* Highest address in the gap: closest to the site when below it, farthest from a heap
	 * that might grow upwards into the gap when above it. */
	uintptr_t addr = ge - a->size;
	uintptr_t score = addr < a->prefer ? a->prefer - addr : USER_TOP + (addr - a->prefer);
	if (a->n < MAX_CANDIDATES) {
		a->c[a->n].addr = addr;
		a->c[a->n].score = score;
		a->n++;
		return;
	}
	int worst = 0;
	for (int i = 1; i < a->n; i++)
		if (a->c[i].score > a->c[worst].score)
			worst = i;
	if (score < a->c[worst].score) {
		a->c[worst].addr = addr;
		a->c[worst].score = score;
	}
}

static int gap_cb(const struct map_region *r, void *arg)
{
	struct gap_arg *a = arg;
	if (r->start > a->prev_end)
		consider_gap(a, a->prev_end, r->start);
	if (r->end > a->prev_end)
		a->prev_end = r->end;
	return a->prev_end >= a->hi;
}

static int cand_cmp(const void *x, const void *y)
{
	const struct cand *a = x, *b = y;
	return a->score < b->score ? -1 : a->score > b->score;
}

/* Map `size` bytes inside [lo, hi) with mapper(); returns the address or 0. */
static uintptr_t map_near(uintptr_t lo, uintptr_t hi, uintptr_t prefer, size_t size,
			  void *(*mapper)(uintptr_t at, size_t size, void *ctx), void *ctx)
{
	struct gap_arg a = {.lo = lo, .hi = hi, .prefer = prefer, .size = size, .n = 0};
	/* mmap_min_addr is usually 64 KiB; starting the scan at 1 MiB keeps clear of it. */
	a.prev_end = 1UL << 20;
	if (attach_maps_foreach(gap_cb, &a) < 0)
		return 0;
	if (a.prev_end < a.hi)
		consider_gap(&a, a.prev_end, USER_TOP - PAGE);
	qsort(a.c, (size_t)a.n, sizeof(a.c[0]), cand_cmp);
	for (int i = 0; i < a.n; i++) {
		void *p = mapper(a.c[i].addr, size, ctx);
		if (p != MAP_FAILED && p != NULL)
			return (uintptr_t)p;
	}
	return 0;
}

/* MAP_FIXED_NOREPLACE is only a hint on kernels before 4.17: check we got what we asked. */
static void *checked(void *p, uintptr_t at, size_t size)
{
	if (p == MAP_FAILED)
		return MAP_FAILED;
	if ((uintptr_t)p != at) {
		munmap(p, size);
		return MAP_FAILED;
	}
	return p;
}

static void *map_memfd_rx(uintptr_t at, size_t size, void *ctx)
{
	int fd = *(int *)ctx;
	return checked(mmap((void *)at, size, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED_NOREPLACE, fd, 0),
		       at, size);
}

static void *map_anon_rw(uintptr_t at, size_t size, void *ctx)
{
	(void)ctx;
	return checked(mmap((void *)at, size, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0),
		       at, size);
}

/* ---- chunks ---- */
static int new_chunk(uintptr_t lo, uintptr_t hi, uintptr_t prefer, struct chunk **out)
{
	int fd = memfd_create("bpftime-trampolines", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, CHUNK_SIZE) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	/* Probe once whether this memfd may be executable at all. */
	void *test = mmap(NULL, PAGE, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
	if (test == MAP_FAILED) {
		int e = -errno;
		close(fd);
		return e == -ENOMEM ? e : -EACCES;
	}
	munmap(test, PAGE);
	uintptr_t rx = map_near(lo, hi, prefer, CHUNK_SIZE, map_memfd_rx, &fd);
	if (!rx) {
		close(fd);
		return -ERANGE;
	}
	void *rw = mmap(NULL, CHUNK_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (rw == MAP_FAILED) {
		munmap((void *)rx, CHUNK_SIZE);
		return -ENOMEM;
	}
	struct chunk *c = calloc(1, sizeof(*c));
	if (!c) {
		munmap((void *)rx, CHUNK_SIZE);
		munmap(rw, CHUNK_SIZE);
		return -ENOMEM;
	}
	c->rx = rx;
	c->rw = rw;
	c->size = CHUNK_SIZE;
	c->next = chunks;
	chunks = c;
	*out = c;
	return 0;
}

int attach_nearmem_alloc(uintptr_t lo, uintptr_t hi, uintptr_t prefer, size_t size, struct near_block *b)
{
	size = (size + 63) & ~(size_t)63;
	if (!memfd_broken) {
		for (struct chunk *c = chunks; c; c = c->next) {
			uintptr_t at = c->rx + c->used;
			if (c->used + size <= c->size && at >= lo && at + size <= hi) {
				b->rx = at;
				b->rw = c->rw + c->used;
				b->size = size;
				b->needs_seal = 0;
				c->used += size;
				return 0;
			}
		}
		struct chunk *c;
		int rc = new_chunk(lo, hi, prefer, &c);
		if (rc == 0)
			return attach_nearmem_alloc(lo, hi, prefer, size, b);
		if (rc == -ERANGE || rc == -ENOMEM)
			return rc;
		memfd_broken = 1; /* memfd unusable here: every later stub takes the fallback */
	}
	size_t len = (size + PAGE - 1) & ~(PAGE - 1);
	uintptr_t at = map_near(lo, hi, prefer, len, map_anon_rw, NULL);
	if (!at)
		return -ERANGE;
	b->rx = at;
	b->rw = (uint8_t *)at;
	b->size = len;
	b->needs_seal = 1;
	return 0;
}

int attach_nearmem_seal(struct near_block *b)
{
	if (!b->needs_seal)
		return 0;
	if (mprotect((void *)b->rx, b->size, PROT_READ | PROT_EXEC) < 0)
		return -errno;
	b->needs_seal = 0;
	return 0;
}

/* After fork the memfd chunks are shared with the parent: both writing new stubs into the same
 * free space would overwrite each other's. The child keeps executing the existing stubs but puts
 * new ones into chunks of its own. */
void attach_nearmem_after_fork_child(void)
{
	for (struct chunk *c = chunks; c; c = c->next)
		c->used = c->size;
}
