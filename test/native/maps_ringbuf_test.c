/* BPF_MAP_TYPE_RINGBUF: creation errors (ringbuf_map_alloc), the syscall side (ENOTSUPP), the
 * tool's view built from the mmap plan (consumer page read-write, producer page and data mapped
 * twice read-only, the kernel's mmap errors), records consumed the way libbpf consumes them
 * (single producer, wrap-around, discard, full ring -> NULL/-EAGAIN, query), the wakeup rule
 * through the eventfd and the consumer's waiting flag, the helpers through the helper table and
 * a program run by the interpreter, many producer threads and processes interleaving, producers
 * SIGKILLed between reserve and submit or inside the writer lock never wedging the others, and
 * the cost of a record.
 *
 * Build and run: test/native/run.sh maps_ringbuf_test
 */
#include <errno.h>
#include <linux/bpf.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bpftime/helpers.h"
#include "bpftime/map.h"
#include "bpftime/ringbuf.h"
#include "bpftime/vm.h"
#include "../../src-native/core/maps/map_ringbuf.h"

#define PAGE 4096u


#include "check.h"

/* A ring as the server makes it (a memfd holding the region), this process's handle on it, and
 * the tool's view (what the shim builds for libbpf's two mmaps). */
struct ring {
	int fd;
	uint8_t *region;
	uint64_t region_size, size;
	struct bpftime_map *m;
	/* the tool's view */
	uint64_t *consumer_pos;
	const uint64_t *producer_pos;
	const uint8_t *data;
};

static int create_spec(uint32_t ks, uint32_t vs, uint32_t max, uint32_t flags, uint64_t extra)
{
	struct bpftime_map_spec spec = { BPF_MAP_TYPE_RINGBUF, ks, vs, max, flags, extra };
	int64_t size = bpftime_map_region_size(&spec);
	return size < 0 ? (int)size : 0;
}

/* mmap(map_fd, len, prot, MAP_SHARED, off) as the shim does it: reserve, then the pieces. */
static void *view_mmap(struct ring *r, uint64_t off, uint64_t len, int prot, int flags, int *err)
{
	struct bpftime_ringbuf_piece pc[2];
	int n = bpftime_ringbuf_mmap_plan(r->m, off, len, prot, flags, pc);
	if (n < 0) {
		*err = n;
		return NULL;
	}
	len = (len + PAGE - 1) / PAGE * PAGE;
	uint8_t *base = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		*err = -errno;
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		void *p = mmap(base + pc[i].view_off, pc[i].len, prot, MAP_SHARED | MAP_FIXED, r->fd, (off_t)pc[i].region_off);
		if (p == MAP_FAILED) {
			*err = -errno;
			return NULL;
		}
	}
	*err = 0;
	return base;
}

static int ring_create(struct ring *r, uint32_t size)
{
	struct bpftime_map_spec spec = { BPF_MAP_TYPE_RINGBUF, 0, 0, size, 0, 0 };
	int64_t rsize = bpftime_map_region_size(&spec);
	if (rsize < 0)
		return (int)rsize;
	memset(r, 0, sizeof(*r));
	r->fd = memfd_create("bpftime-test-ringbuf", MFD_CLOEXEC);
	if (r->fd < 0 || ftruncate(r->fd, rsize) < 0)
		return -errno;
	r->region_size = (uint64_t)rsize;
	r->size = size;
	r->region = mmap(NULL, r->region_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (r->region == MAP_FAILED)
		return -errno;
	int rc = bpftime_map_region_init(r->region, r->region_size, &spec);
	if (!rc)
		rc = bpftime_map_open(&r->m, r->region, r->region_size, 7);
	if (rc)
		return rc;
	int err;
	r->consumer_pos = view_mmap(r, 0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, &err);
	uint8_t *pv = view_mmap(r, PAGE, PAGE + 2 * (uint64_t)size, PROT_READ, MAP_SHARED, &err);
	if (!r->consumer_pos || !pv)
		return err;
	r->producer_pos = (const uint64_t *)pv;
	r->data = pv + PAGE;
	return 0;
}

static void ring_destroy(struct ring *r)
{
	munmap(r->consumer_pos, PAGE);
	munmap((void *)r->producer_pos, PAGE + 2 * r->size);
	bpftime_map_close(r->m);
	munmap(r->region, r->region_size);
	close(r->fd);
}

/* libbpf's ringbuf_process_ring, on the tool's view: calls cb for each committed record, skips
 * discarded ones, stops at a busy one. Returns records delivered. */
typedef void (*sample_fn)(void *ctx, const void *data, uint32_t len);

static long consume(struct ring *r, sample_fn cb, void *ctx)
{
	long n = 0;
	uint64_t cons = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
	int got;
	do {
		got = 0;
		uint64_t prod = __atomic_load_n(r->producer_pos, __ATOMIC_ACQUIRE);
		while (cons < prod) {
			const uint32_t *lp = (const uint32_t *)(r->data + (cons & (r->size - 1)));
			uint32_t len = __atomic_load_n(lp, __ATOMIC_ACQUIRE);
			if (len & BPF_RINGBUF_BUSY_BIT)
				goto done;
			got = 1;
			uint32_t plen = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
			cons += (plen + BPF_RINGBUF_HDR_SZ + 7) / 8 * 8;
			if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
				if (cb)
					cb(ctx, (const uint8_t *)lp + BPF_RINGBUF_HDR_SZ, plen);
				n++;
			}
			__atomic_store_n(r->consumer_pos, cons, __ATOMIC_RELEASE);
		}
	} while (got);
done:
	return n;
}

/* ---- creation and the syscall side ---- */

static void test_create(void)
{
	EQ(create_spec(0, 0, PAGE, 0, 0), 0);
	EQ(create_spec(0, 0, 1u << 24, 0, 0), 0);
	EQ(create_spec(0, 0, PAGE, BPF_F_NUMA_NODE, 0), 0);
	EQ(create_spec(4, 0, PAGE, 0, 0), -EINVAL);
	EQ(create_spec(0, 4, PAGE, 0, 0), -EINVAL);
	EQ(create_spec(0, 0, 0, 0, 0), -EINVAL);
	EQ(create_spec(0, 0, 3 * PAGE, 0, 0), -EINVAL);  /* not a power of 2 */
	EQ(create_spec(0, 0, PAGE / 2, 0, 0), -EINVAL);  /* not page aligned */
	EQ(create_spec(0, 0, PAGE, BPF_F_RDONLY, 0), -EINVAL);
	EQ(create_spec(0, 0, PAGE, BPF_F_NO_PREALLOC, 0), -EINVAL);
	EQ(create_spec(0, 0, PAGE, BPF_F_MMAPABLE, 0), -EINVAL);
	EQ(create_spec(0, 0, PAGE, 0, 1), -EINVAL);      /* map_extra */
}

static void test_sys(void)
{
	struct ring r;
	EQ(ring_create(&r, PAGE), 0);
	uint8_t buf[8];
	EQ(bpftime_map_sys_lookup(r.m, NULL, buf, 0), -BPFTIME_ENOTSUPP);
	EQ(bpftime_map_sys_update(r.m, NULL, buf, 0), -BPFTIME_ENOTSUPP);
	EQ(bpftime_map_sys_delete(r.m, NULL), -BPFTIME_ENOTSUPP);
	EQ(bpftime_map_sys_get_next_key(r.m, NULL, buf), -BPFTIME_ENOTSUPP);
	EQ(bpftime_map_sys_lookup_and_delete(r.m, NULL, buf, 0), -BPFTIME_ENOTSUPP);
	CHECK(bpftime_map_lookup_elem(r.m, NULL) == NULL);
	EQ(bpftime_map_mmap_offset(r.m), PAGE);
	EQ(bpftime_map_mmap_len(r.m), 2 * PAGE + PAGE);
	EQ(bpftime_ringbuf_is(r.m), 1);
	ring_destroy(&r);
}

/* ---- the mmap view ---- */

static void test_mmap_plan(void)
{
	struct ring r;
	const uint64_t S = 4 * PAGE;
	EQ(ring_create(&r, S), 0);
	struct bpftime_ringbuf_piece pc[2];
	EQ(bpftime_ringbuf_mmap_plan(r.m, 0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, pc), 1);
	EQ(pc[0].region_off, PAGE);
	EQ(pc[0].len, PAGE);
	EQ(bpftime_ringbuf_mmap_plan(r.m, PAGE, PAGE + 2 * S, PROT_READ, MAP_SHARED, pc), 2);
	EQ(pc[0].view_off, 0);
	EQ(pc[0].region_off, 2 * PAGE);
	EQ(pc[0].len, PAGE + S);
	EQ(pc[1].view_off, PAGE + S);
	EQ(pc[1].region_off, 3 * PAGE);
	EQ(pc[1].len, S);
	/* only the second copy */
	EQ(bpftime_ringbuf_mmap_plan(r.m, 2 * PAGE + S + PAGE, PAGE, PROT_READ, MAP_SHARED, pc), 1);
	EQ(pc[0].region_off, 3 * PAGE + PAGE);
	/* the whole view, read-only */
	EQ(bpftime_ringbuf_mmap_plan(r.m, 0, 2 * PAGE + 2 * S, PROT_READ, MAP_SHARED, pc), 2);
	/* the kernel's refusals */
	EQ(bpftime_ringbuf_mmap_plan(r.m, 0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, pc), -EPERM);
	EQ(bpftime_ringbuf_mmap_plan(r.m, PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, pc), -EPERM);
	EQ(bpftime_ringbuf_mmap_plan(r.m, 0, PAGE, PROT_READ, MAP_PRIVATE, pc), -EINVAL);
	EQ(bpftime_ringbuf_mmap_plan(r.m, 0, 2 * PAGE + 2 * S + PAGE, PROT_READ, MAP_SHARED, pc), -EINVAL);
	EQ(bpftime_ringbuf_mmap_plan(r.m, 2 * PAGE + 2 * S, PAGE, PROT_READ, MAP_SHARED, pc), -EINVAL);
	EQ(bpftime_ringbuf_mmap_plan(r.m, 100, PAGE, PROT_READ, MAP_SHARED, pc), -EINVAL);
	/* len is rounded up to pages */
	EQ(bpftime_ringbuf_mmap_plan(r.m, 0, 100, PROT_READ | PROT_WRITE, MAP_SHARED, pc), 1);
	EQ(pc[0].len, PAGE);

	/* The view shows the same bytes twice, and the handle's own mapping does too. */
	struct rb_map *rm = (struct rb_map *)r.m;
	rm->data[5] = 0xab;
	rm->data[S - 1] = 0xcd;
	EQ(r.data[5], 0xab);
	EQ(r.data[S + 5], 0xab);
	EQ(r.data[2 * S - 1], 0xcd);
	EQ(rm->data[S + 5], 0xab);
	rm->data[S + 6] = 0xef; /* written through the second view of the producer's mapping */
	EQ(r.data[6], 0xef);
	rm->data[5] = rm->data[6] = rm->data[S - 1] = 0;
	/* positions */
	EQ((uint8_t *)rm->cons - r.region, PAGE);
	EQ((uint8_t *)rm->prod - r.region, 2 * PAGE);
	ring_destroy(&r);
}

/* ---- records ---- */

struct collect {
	int n;
	uint32_t lens[1024];
	uint64_t first[1024];
};

static void collect_cb(void *ctx, const void *data, uint32_t len)
{
	struct collect *c = ctx;
	if (c->n < 1024) {
		c->lens[c->n] = len;
		memcpy(&c->first[c->n], data, len >= 8 ? 8 : len);
		c->n++;
	}
}

static void test_single_producer(void)
{
	struct ring r;
	EQ(ring_create(&r, PAGE), 0);
	/* reserve/submit, output, discard; the consumer sees the committed ones in order */
	uint64_t *a = bpftime_ringbuf_reserve(r.m, 16);
	CHECK(a != NULL);
	const struct rb_hdr *ha = (const void *)((uint8_t *)a - 8);
	EQ(ha->len, 16 | BPF_RINGBUF_BUSY_BIT);
	EQ(ha->pg_off, 3); /* the kernel's: header page index counted from the ring's start */
	EQ(consume(&r, NULL, NULL), 0); /* busy: the consumer waits */
	a[0] = 111;
	bpftime_ringbuf_commit(a, 0, 0);
	EQ(ha->len, 16);
	uint64_t v = 222;
	EQ(bpftime_ringbuf_output(r.m, &v, 8, 0), 0);
	uint64_t *d = bpftime_ringbuf_reserve(r.m, 24);
	bpftime_ringbuf_commit(d, 0, 1);
	EQ(((const struct rb_hdr *)((uint8_t *)d - 8))->len, 24 | BPF_RINGBUF_DISCARD_BIT);
	uint8_t odd[5] = { 1, 2, 3, 4, 5 };
	EQ(bpftime_ringbuf_output(r.m, odd, 5, 0), 0); /* padded to 8 */
	EQ(bpftime_ringbuf_output(r.m, odd, 0, 0), 0); /* empty records exist */
	EQ(bpftime_ringbuf_query(r.m, BPF_RB_PROD_POS), 24 + 16 + 32 + 16 + 8);
	EQ(bpftime_ringbuf_query(r.m, BPF_RB_AVAIL_DATA), 96);
	struct collect c = { 0 };
	EQ(consume(&r, collect_cb, &c), 4);
	EQ(c.lens[0], 16);
	EQ(c.first[0], 111);
	EQ(c.lens[1], 8);
	EQ(c.first[1], 222);
	EQ(c.lens[2], 5);
	EQ(c.first[2] & 0xffffffffff, 0x0504030201);
	EQ(c.lens[3], 0);
	EQ(bpftime_ringbuf_query(r.m, BPF_RB_CONS_POS), 96);
	EQ(bpftime_ringbuf_query(r.m, BPF_RB_AVAIL_DATA), 0);
	EQ(bpftime_ringbuf_query(r.m, BPF_RB_RING_SIZE), PAGE);
	EQ(bpftime_ringbuf_query(r.m, 99), 0);
	/* bad flags, bad sizes */
	EQ(bpftime_ringbuf_output(r.m, &v, 8, 4), -EINVAL);
	CHECK(bpftime_ringbuf_reserve(r.m, PAGE) == NULL);        /* record + header > ring */
	CHECK(bpftime_ringbuf_reserve(r.m, 1ull << 32) == NULL);  /* > RINGBUF_MAX_RECORD_SZ */
	CHECK(bpftime_ringbuf_reserve(r.m, PAGE - 16) != NULL ? 1 : 0); /* fits when empty */
	ring_destroy(&r);
}

static void test_full(void)
{
	struct ring r;
	EQ(ring_create(&r, PAGE), 0);
	uint64_t v = 0;
	/* 16-byte records: the producer may run at most size - 1 bytes ahead, so 255 fit (4080),
	 * and one 8-byte empty record after them (4088); nothing more. */
	int n = 0;
	while (bpftime_ringbuf_output(r.m, &v, 8, 0) == 0)
		n++;
	EQ(n, 255);
	EQ(bpftime_ringbuf_output(r.m, &v, 8, 0), -EAGAIN);
	EQ(bpftime_ringbuf_output(r.m, &v, 0, 0), 0);
	CHECK(bpftime_ringbuf_reserve(r.m, 0) == NULL);
	EQ(bpftime_ringbuf_query(r.m, BPF_RB_AVAIL_DATA), 4088);
	EQ(consume(&r, NULL, NULL), 256);
	EQ(bpftime_ringbuf_output(r.m, &v, 8, 0), 0);
	/* An uncommitted record blocks reuse of its bytes even when the consumer claims to be past
	 * it (the consumer position is the tool's to write): pending_pos. */
	struct ring r2;
	EQ(ring_create(&r2, PAGE), 0);
	void *busy = bpftime_ringbuf_reserve(r2.m, 8);
	int k = 0;
	while (bpftime_ringbuf_output(r2.m, &v, 8, 0) == 0)
		k++;
	EQ(k, 254);
	__atomic_store_n(r2.consumer_pos, bpftime_ringbuf_query(r2.m, BPF_RB_PROD_POS), __ATOMIC_RELEASE);
	CHECK(bpftime_ringbuf_reserve(r2.m, 8) == NULL);
	bpftime_ringbuf_commit(busy, 0, 0);
	CHECK(bpftime_ringbuf_reserve(r2.m, 8) != NULL);
	ring_destroy(&r2);
	ring_destroy(&r);
}

/* Records of varying sizes across the end of the ring many times: each one contiguous. */
static void test_wrap(void)
{
	struct ring r;
	EQ(ring_create(&r, PAGE), 0);
	uint8_t buf[700];
	int bad = 0, wrapped = 0;
	for (int round = 0; round < 200; round++) {
		uint32_t sz = 1 + (uint32_t)(round * 97) % 699;
		uint8_t *p = bpftime_ringbuf_reserve(r.m, sz);
		if (!p) {
			bad++;
			break;
		}
		if ((uint64_t)(p - ((struct rb_map *)r.m)->data) + sz > PAGE)
			wrapped++;
		for (uint32_t i = 0; i < sz; i++)
			p[i] = (uint8_t)(round + i);
		bpftime_ringbuf_commit(p, 0, 0);
		const uint8_t *got = NULL;
		uint32_t glen = 0;
		uint64_t cons = *r.consumer_pos;
		const uint32_t *lp = (const uint32_t *)(r.data + (cons & (PAGE - 1)));
		glen = *lp;
		got = (const uint8_t *)lp + 8;
		memcpy(buf, got, glen < sizeof(buf) ? glen : sizeof(buf));
		for (uint32_t i = 0; i < sz && glen == sz; i++)
			if (buf[i] != (uint8_t)(round + i)) {
				bad++;
				break;
			}
		if (glen != sz)
			bad++;
		consume(&r, NULL, NULL);
	}
	EQ(bad, 0);
	CHECK(wrapped > 10);
	ring_destroy(&r);
}

/* ---- wakeups ---- */

static int eventfd_count(int efd)
{
	uint64_t v = 0;
	return read(efd, &v, sizeof(v)) == sizeof(v) ? (int)v : 0;
}

static void test_wakeup(void)
{
	struct ring r;
	EQ(ring_create(&r, PAGE), 0);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	EQ(bpftime_ringbuf_set_wake_fd(r.m, efd), 0);
	int other = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	EQ(bpftime_ringbuf_set_wake_fd(r.m, other), 0); /* the first one stays; this one is closed */
	uint64_t v = 1;

	/* A consumer that does not sleep is never woken: no syscalls for a busy ring. */
	EQ(bpftime_ringbuf_output(r.m, &v, 8, 0), 0);
	EQ(bpftime_ringbuf_output(r.m, &v, 8, BPF_RB_FORCE_WAKEUP), 0);
	EQ(eventfd_count(efd), 0);
	consume(&r, NULL, NULL);

	/* Sleeping and caught up: the record at consumer_pos wakes it, once. */
	bpftime_ringbuf_set_waiting(r.m, 1);
	EQ(bpftime_ringbuf_readable(r.m), 0);
	EQ(bpftime_ringbuf_output(r.m, &v, 8, 0), 0);
	EQ(eventfd_count(efd), 1);
	EQ(bpftime_ringbuf_readable(r.m), 1);
	consume(&r, NULL, NULL);

	/* NO_WAKEUP: not woken, even though caught up. */
	bpftime_ringbuf_set_waiting(r.m, 1);
	EQ(bpftime_ringbuf_output(r.m, &v, 8, BPF_RB_NO_WAKEUP), 0);
	EQ(eventfd_count(efd), 0);
	/* A record behind another one: the consumer is not at it, no wakeup (the kernel's rule)... */
	EQ(bpftime_ringbuf_output(r.m, &v, 8, 0), 0);
	EQ(eventfd_count(efd), 0);
	/* ...unless forced. */
	EQ(bpftime_ringbuf_output(r.m, &v, 8, BPF_RB_FORCE_WAKEUP), 0);
	EQ(eventfd_count(efd), 1);
	consume(&r, NULL, NULL);

	/* Out-of-order commits: the second record commits first (no wakeup: the consumer is at
	 * the first); the first one's commit wakes. */
	bpftime_ringbuf_set_waiting(r.m, 1);
	void *a = bpftime_ringbuf_reserve(r.m, 8), *b = bpftime_ringbuf_reserve(r.m, 8);
	bpftime_ringbuf_commit(b, 0, 0);
	EQ(eventfd_count(efd), 0);
	bpftime_ringbuf_commit(a, 0, 1); /* a discard wakes too */
	EQ(eventfd_count(efd), 1);
	EQ(consume(&r, NULL, NULL), 1);

	/* Pointers that are not reservations are ignored. */
	uint64_t junk[4] = { 0 };
	bpftime_ringbuf_commit(&junk[1], BPF_RB_FORCE_WAKEUP, 0);
	bpftime_ringbuf_commit(NULL, 0, 0);
	EQ(junk[0], 0);
	ring_destroy(&r);
	close(efd);
}

/* ---- helpers and a program ---- */

static uint64_t call_helper(int id, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4)
{
	return bpftime_helper_table[id](a1, a2, a3, a4, 0);
}

static void test_helpers(void)
{
	struct ring r;
	EQ(ring_create(&r, PAGE), 0);
	uint64_t m = (uint64_t)(uintptr_t)r.m, v = 42;
	CHECK(bpftime_helper_table[BPF_FUNC_ringbuf_output] != NULL);
	EQ(call_helper(BPF_FUNC_ringbuf_output, m, (uintptr_t)&v, 8, 0), 0);
	EQ((int64_t)call_helper(BPF_FUNC_ringbuf_output, m, (uintptr_t)&v, 8, 8), -EINVAL);
	EQ(call_helper(BPF_FUNC_ringbuf_reserve, m, 8, 1, 0), 0); /* flags: NULL */
	uint64_t p = call_helper(BPF_FUNC_ringbuf_reserve, m, 8, 0, 0);
	CHECK(p != 0);
	*(uint64_t *)(uintptr_t)p = 43;
	EQ(call_helper(BPF_FUNC_ringbuf_submit, p, 0, 0, 0), 0);
	p = call_helper(BPF_FUNC_ringbuf_reserve, m, 8, 0, 0);
	EQ(call_helper(BPF_FUNC_ringbuf_discard, p, 0, 0, 0), 0);
	EQ(call_helper(BPF_FUNC_ringbuf_query, m, BPF_RB_PROD_POS, 0, 0), 48);
	EQ(call_helper(BPF_FUNC_ringbuf_query, m, BPF_RB_RING_SIZE, 0, 0), PAGE);
	struct collect c = { 0 };
	EQ(consume(&r, collect_cb, &c), 2);
	EQ(c.first[0], 42);
	EQ(c.first[1], 43);

	/* r6 = r1; r0 = reserve(map, 16, 0); if !r0 return 1; r0[0] = r6; r0[8] = 7; submit(r0, 0) */
	struct bpf_insn prog[] = {
		{ BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0 },
		{ BPF_LD | BPF_IMM | BPF_DW, 1, 0, 0, (int32_t)(uint32_t)m },
		{ 0, 0, 0, 0, (int32_t)(uint32_t)(m >> 32) },
		{ BPF_ALU64 | BPF_MOV | BPF_K, 2, 0, 0, 16 },
		{ BPF_ALU64 | BPF_MOV | BPF_K, 3, 0, 0, 0 },
		{ BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_ringbuf_reserve },
		{ BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 7, 0 },
		{ BPF_STX | BPF_MEM | BPF_DW, 0, 6, 0, 0 },
		{ BPF_ST | BPF_MEM | BPF_DW, 0, 0, 8, 7 },
		{ BPF_ALU64 | BPF_MOV | BPF_X, 1, 0, 0, 0 },
		{ BPF_ALU64 | BPF_MOV | BPF_K, 2, 0, 0, 0 },
		{ BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_ringbuf_submit },
		{ BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0 },
		{ BPF_JMP | BPF_EXIT, 0, 0, 0, 0 },
		{ BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 1 },
		{ BPF_JMP | BPF_EXIT, 0, 0, 0, 0 },
	};
	struct bpftime_vm_prog vp = { prog, sizeof(prog) / sizeof(prog[0]), bpftime_helper_table, bpftime_helper_table_len, 0 };
	uint64_t ret = 99;
	EQ(bpftime_vm_exec(&vp, 1234, 0, &ret), 0);
	EQ(ret, 0);
	c.n = 0;
	EQ(consume(&r, collect_cb, &c), 1);
	EQ(c.lens[0], 16);
	EQ(c.first[0], 1234);
	ring_destroy(&r);
}

/* bpf_ringbuf_reserve_dynptr / submit_dynptr / discard_dynptr and bpf_dynptr_from_mem, with
 * bpf_dynptr_read/write/data on what they make (the kernel's answers: see
 * test/e2e/ringbuf-dynptr-differential.test.ts). A dynptr is 16 bytes: data, size word, offset. */
static void test_dynptr_helpers(void)
{
	struct ring r;
	EQ(ring_create(&r, PAGE), 0);
	uint64_t m = (uint64_t)(uintptr_t)r.m;
	uint64_t d[2], junk[2] = { 1, 2 }, v[2] = { 0x1111, 0x2222 }, back = 0;
	uintptr_t dp = (uintptr_t)d;
	EQ(call_helper(BPF_FUNC_ringbuf_reserve_dynptr, m, 16, 0, dp), 0);
	EQ(call_helper(BPF_FUNC_dynptr_write, dp, 0, (uintptr_t)v, 16), 0);
	EQ((int64_t)call_helper(BPF_FUNC_dynptr_write, dp, 8, (uintptr_t)v, 16), -E2BIG);
	EQ(call_helper(BPF_FUNC_dynptr_read, (uintptr_t)&back, 8, dp, 8), 0);
	EQ(back, 0x2222);
	EQ((uint32_t)(d[1] >> 28) & 7, 2); /* BPF_DYNPTR_TYPE_RINGBUF */
	EQ(call_helper(BPF_FUNC_ringbuf_submit_dynptr, dp, 0, 0, 0), 0);
	EQ(d[0], 0); /* nulled once committed */
	EQ(call_helper(BPF_FUNC_ringbuf_submit_dynptr, dp, 0, 0, 0), 0); /* null: nothing */
	/* failures leave a null dynptr every helper refuses */
	memcpy(d, junk, sizeof(d));
	EQ((int64_t)call_helper(BPF_FUNC_ringbuf_reserve_dynptr, m, 8, 1, dp), -EINVAL);
	CHECK(d[0] == 0 && d[1] == 0);
	EQ(call_helper(BPF_FUNC_dynptr_data, dp, 0, 8, 0), 0);
	EQ((int64_t)call_helper(BPF_FUNC_dynptr_read, (uintptr_t)&back, 8, dp, 0), -EINVAL);
	EQ((int64_t)call_helper(BPF_FUNC_ringbuf_reserve_dynptr, m, 2 * PAGE, 0, dp), -EINVAL);
	EQ((int64_t)call_helper(BPF_FUNC_ringbuf_reserve_dynptr, m, 1u << 24, 0, dp), -E2BIG);
	EQ(call_helper(BPF_FUNC_ringbuf_discard_dynptr, dp, 0, 0, 0), 0);
	/* a discarded record is never seen; data pointers stay in bounds */
	EQ(call_helper(BPF_FUNC_ringbuf_reserve_dynptr, m, 24, 0, dp), 0);
	CHECK(call_helper(BPF_FUNC_dynptr_data, dp, 8, 16, 0) != 0);
	EQ(call_helper(BPF_FUNC_dynptr_data, dp, 16, 16, 0), 0);
	EQ(call_helper(BPF_FUNC_ringbuf_discard_dynptr, dp, 0, 0, 0), 0);
	/* bpf_dynptr_from_mem */
	uint8_t mem[32] = { 0 };
	EQ(call_helper(BPF_FUNC_dynptr_from_mem, (uintptr_t)mem, 32, 0, dp), 0);
	EQ((uint32_t)(d[1] >> 28) & 7, 1); /* BPF_DYNPTR_TYPE_LOCAL */
	EQ(call_helper(BPF_FUNC_dynptr_write, dp, 4, (uintptr_t)v, 8), 0);
	EQ(mem[4], 0x11);
	EQ((int64_t)call_helper(BPF_FUNC_dynptr_from_mem, (uintptr_t)mem, 16, 2, dp), -EINVAL);
	CHECK(d[0] == 0 && d[1] == 0);
	EQ((int64_t)call_helper(BPF_FUNC_dynptr_from_mem, (uintptr_t)mem, 1u << 24, 0, dp), -E2BIG);
	struct collect c = { 0 };
	EQ(consume(&r, collect_cb, &c), 1);
	EQ(c.lens[0], 16);
	EQ(c.first[0], 0x1111);
	ring_destroy(&r);
}

/* ---- many producers ---- */

struct rec {
	uint32_t producer, seq;
	uint64_t check;
};

#define NPROD 4
#define PER_PROD 200000

struct tally {
	uint32_t next[64];
	long bad, total;
};

static void tally_cb(void *ctx, const void *data, uint32_t len)
{
	struct tally *t = ctx;
	const struct rec *rc = data;
	t->total++;
	if (len < sizeof(*rc) || rc->producer >= 64 || rc->check != ((uint64_t)rc->producer << 32 | rc->seq) * 2654435761u) {
		t->bad++;
		return;
	}
	/* each producer's records arrive in its order, none missing, none twice */
	if (rc->seq != t->next[rc->producer])
		t->bad++;
	t->next[rc->producer] = rc->seq + 1;
}

/* Produces `count` records, retrying while the ring is full; sizes vary so records wrap at
 * every offset. */
static void produce(struct bpftime_map *m, uint32_t id, uint32_t count)
{
	for (uint32_t s = 0; s < count; s++) {
		uint32_t extra = (s * 8u) % 56u;
		struct rec *p;
		while (!(p = bpftime_ringbuf_reserve(m, sizeof(struct rec) + extra)))
			sched_yield();
		p->producer = id;
		p->seq = s;
		p->check = ((uint64_t)id << 32 | s) * 2654435761u;
		bpftime_ringbuf_commit(p, 0, 0);
	}
}

struct thread_arg {
	struct bpftime_map *m;
	uint32_t id;
};

static void *producer_thread(void *arg)
{
	struct thread_arg *a = arg;
	produce(a->m, a->id, PER_PROD);
	return NULL;
}

/* Consumes until `expect` records arrived (or a deadline), sleeping on the eventfd with the
 * shim's protocol: announce, look again, block. */
static void consume_all(struct ring *r, int efd, struct tally *t, long expect, double secs)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (t->total < expect) {
		if (consume(r, tally_cb, t) > 0)
			continue;
		bpftime_ringbuf_set_waiting(r->m, 1);
		if (!bpftime_ringbuf_readable(r->m)) {
			struct pollfd pfd = { efd, POLLIN, 0 };
			poll(&pfd, 1, 50);
			eventfd_count(efd);
		}
		bpftime_ringbuf_set_waiting(r->m, 0);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9 > secs)
			break;
	}
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return t1.tv_sec - t0->tv_sec + (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_threads(void)
{
	struct ring r;
	EQ(ring_create(&r, 64 * 1024), 0);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	bpftime_ringbuf_set_wake_fd(r.m, efd);
	pthread_t th[NPROD];
	struct thread_arg args[NPROD];
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < NPROD; i++) {
		args[i] = (struct thread_arg){ r.m, (uint32_t)i };
		pthread_create(&th[i], NULL, producer_thread, &args[i]);
	}
	struct tally t = { { 0 }, 0, 0 };
	consume_all(&r, efd, &t, (long)NPROD * PER_PROD, 60);
	for (int i = 0; i < NPROD; i++)
		pthread_join(th[i], NULL);
	double s = seconds_since(&t0);
	EQ(t.total, (long)NPROD * PER_PROD);
	EQ(t.bad, 0);
	for (int i = 0; i < NPROD; i++)
		EQ(t.next[i], PER_PROD);
	printf("threads: %d producers x %d records through a 64 KiB ring: %.2f M records/s\n", NPROD, PER_PROD,
	       NPROD * PER_PROD / s / 1e6);
	ring_destroy(&r);
	close(efd);
}

/* Producers in other processes, each with its own handle (its own double mapping) on the same
 * region, and a consumer here. */
static void test_processes(void)
{
	struct ring r;
	EQ(ring_create(&r, 64 * 1024), 0);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	bpftime_ringbuf_set_wake_fd(r.m, efd);
	pid_t kids[NPROD];
	for (int i = 0; i < NPROD; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			/* a fresh mapping of the memfd, as an agent maps it */
			uint8_t *reg = mmap(NULL, r.region_size, PROT_READ | PROT_WRITE, MAP_SHARED, r.fd, 0);
			struct bpftime_map *m;
			if (reg == MAP_FAILED || bpftime_map_open(&m, reg, r.region_size, 7))
				_exit(2);
			bpftime_ringbuf_set_wake_fd(m, dup(efd));
			produce(m, 10 + (uint32_t)i, PER_PROD / 4);
			_exit(0);
		}
	}
	struct tally t = { { 0 }, 0, 0 };
	consume_all(&r, efd, &t, (long)NPROD * (PER_PROD / 4), 60);
	int ok = 0;
	for (int i = 0; i < NPROD; i++) {
		int st;
		waitpid(kids[i], &st, 0);
		ok += WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	EQ(ok, NPROD);
	EQ(t.total, (long)NPROD * (PER_PROD / 4));
	EQ(t.bad, 0);
	for (int i = 0; i < NPROD; i++)
		EQ(t.next[10 + i], PER_PROD / 4);
	ring_destroy(&r);
	close(efd);
}

/* ---- producers that die ---- */

static void test_killed_producers(void)
{
	struct ring r;
	EQ(ring_create(&r, 16 * 1024), 0);
	/* 1. A producer SIGKILLed between reserve and submit: its record is busy at the consumer's
	 * position. The consumer's poll discards it once it sees its producer is gone; the records
	 * reserved after it by live producers are delivered. */
	int go[2];
	CHECK(pipe(go) == 0);
	pid_t kid = fork();
	if (kid == 0) {
		void *p = bpftime_ringbuf_reserve(r.m, 8);
		(void)!write(go[1], "x", 1);
		(void)p;
		pause();
		_exit(0);
	}
	char x;
	CHECK(read(go[0], &x, 1) == 1);
	uint64_t v = 5;
	EQ(bpftime_ringbuf_output(r.m, &v, 8, 0), 0);
	EQ(consume(&r, NULL, NULL), 0); /* stuck behind the busy record */
	EQ(bpftime_ringbuf_readable(r.m), 1);
	kill(kid, SIGKILL);
	usleep(20000); /* dead, not reaped: a zombie */
	long got = 0;
	for (int i = 0; i < 100 && got == 0; i++) {
		bpftime_ringbuf_readable(r.m);
		got = consume(&r, NULL, NULL);
		usleep(5000);
	}
	EQ(got, 1);
	EQ(bpftime_ringbuf_reaped(r.m), 1);
	waitpid(kid, NULL, 0);

	/* 2. The same with nobody polling: producers that find the ring full discard the dead
	 * record themselves, and once the consumer catches up, the ring takes records again. */
	kid = fork();
	if (kid == 0) {
		bpftime_ringbuf_reserve(r.m, 100);
		raise(SIGKILL);
		_exit(0);
	}
	waitpid(kid, NULL, 0);
	int n = 0;
	while (bpftime_ringbuf_output(r.m, &v, 8, 0) == 0)
		n++;
	CHECK(n > 0);
	EQ(consume(&r, NULL, NULL), n);
	usleep(5000);
	EQ(bpftime_ringbuf_output(r.m, &v, 8, 0), 0);
	EQ(bpftime_ringbuf_reaped(r.m), 2);
	EQ(consume(&r, NULL, NULL), 1);

	/* 3. A producer killed while it holds the writer lock: the next one takes it over. */
	kid = fork();
	if (kid == 0) {
		bpftime_shlock_lock(&((struct rb_map *)r.m)->priv->lock, NULL, NULL);
		raise(SIGKILL);
		_exit(0);
	}
	waitpid(kid, NULL, 0);
	EQ(bpftime_ringbuf_output(r.m, &v, 8, 0), 0);
	EQ(consume(&r, NULL, NULL), 1);

	/* 4. Producer processes killed at random points while others keep going: every record of
	 * the survivors arrives, in order, exactly once. */
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	bpftime_ringbuf_set_wake_fd(r.m, efd);
	pid_t victims[3], workers[2];
	for (int i = 0; i < 3; i++) {
		victims[i] = fork();
		if (victims[i] == 0) {
			for (uint32_t s = 0;; s++) {
				struct rec *p = bpftime_ringbuf_reserve(r.m, sizeof(struct rec));
				if (p) {
					p->producer = 40 + (uint32_t)i;
					p->seq = s;
					p->check = 0; /* counted as bad: only the workers' records are checked */
					bpftime_ringbuf_commit(p, 0, 1); /* discarded: never delivered */
				}
			}
		}
	}
	for (int i = 0; i < 2; i++) {
		workers[i] = fork();
		if (workers[i] == 0) {
			produce(r.m, 20 + (uint32_t)i, 50000);
			_exit(0);
		}
	}
	usleep(30000);
	for (int i = 0; i < 3; i++)
		kill(victims[i], SIGKILL);
	struct tally t = { { 0 }, 0, 0 };
	consume_all(&r, efd, &t, 2 * 50000, 60);
	for (int i = 0; i < 3; i++)
		waitpid(victims[i], NULL, 0);
	for (int i = 0; i < 2; i++)
		waitpid(workers[i], NULL, 0);
	EQ(t.total, 2 * 50000);
	EQ(t.bad, 0);
	EQ(t.next[20], 50000);
	EQ(t.next[21], 50000);
	ring_destroy(&r);
	close(efd);
	close(go[0]);
	close(go[1]);
}

/* ---- cost ---- */

static void test_cost(void)
{
	struct ring r;
	EQ(ring_create(&r, 1 << 20), 0);
	const int N = 2000000;
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long total = 0;
	for (int i = 0; i < N; i++) {
		struct rec *p;
		while (!(p = bpftime_ringbuf_reserve(r.m, sizeof(*p))))
			total += consume(&r, NULL, NULL);
		p->seq = (uint32_t)i;
		bpftime_ringbuf_commit(p, 0, 0);
	}
	total += consume(&r, NULL, NULL);
	double s = seconds_since(&t0);
	EQ(total, N);
	printf("cost: reserve+submit+consume of a 16-byte record: %.0f ns\n", s / N * 1e9);
	ring_destroy(&r);
}

int main(void)
{
	test_create();
	test_sys();
	test_mmap_plan();
	test_single_producer();
	test_full();
	test_wrap();
	test_wakeup();
	test_helpers();
	test_dynptr_helpers();
	test_threads();
	test_processes();
	test_killed_producers();
	test_cost();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
