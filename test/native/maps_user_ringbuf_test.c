/* BPF_MAP_TYPE_USER_RINGBUF: creation errors (ringbuf_map_alloc, shared with RINGBUF), the
 * syscall side (ENOTSUPP), the mmap rule turned around (consumer page read-only, producer page
 * and data writable), records produced the way libbpf's user_ring_buffer__reserve/submit/discard
 * write them through that view and drained by bpf_user_ringbuf_drain (count, discarded records
 * skipped and not counted, a busy record ends the drain, wrap-around, the callback's 1 stops
 * after its record, -EINVAL for flags and for headers beyond producer_pos or a misaligned
 * producer_pos, -E2BIG for a record larger than the ring, -EBUSY for a nested drain or one in
 * another live process, but not for a drainer killed in its callback), the
 * producer's poll (room left) and wakeup through the eventfd, and a program run by the
 * interpreter whose callback reads each record with bpf_dynptr_read; bpf_dynptr_data bounds.
 *
 * Build and run: test/native/run.sh maps_user_ringbuf_test
 */
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include "bpftime/helpers.h"
#include "bpftime/map.h"
#include "bpftime/ringbuf.h"
#include "bpftime/vm.h"
#include "check.h"

#define PAGE 4096u

/* A ring as the server makes it (a memfd holding the region), this process's handle, and the
 * producer's view as libbpf maps it: consumer page read-only, producer page + data (twice)
 * read-write. */
struct uring {
	int fd;
	uint8_t *region;
	uint64_t region_size, size;
	struct bpftime_map *m;
	const uint64_t *consumer_pos;
	uint64_t *producer_pos;
	uint8_t *data;
	uint64_t reserved; /* libbpf's private producer position */
};

static int create_spec(uint32_t ks, uint32_t vs, uint32_t max, uint32_t flags)
{
	struct bpftime_map_spec spec = { BPF_MAP_TYPE_USER_RINGBUF, ks, vs, max, flags, 0 };
	int64_t size = bpftime_map_region_size(&spec);
	return size < 0 ? (int)size : 0;
}

/* mmap(map_fd, len, prot, MAP_SHARED, off) as the shim builds it. */
static void *view_mmap(struct uring *r, uint64_t off, uint64_t len, int prot, int *err)
{
	struct bpftime_ringbuf_piece pc[2];
	int n = bpftime_ringbuf_mmap_plan(r->m, off, len, prot, MAP_SHARED, pc);
	if (n < 0) {
		*err = n;
		return NULL;
	}
	len = (len + PAGE - 1) / PAGE * PAGE;
	uint8_t *base = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (int i = 0; i < n; i++)
		if (mmap(base + pc[i].view_off, pc[i].len, prot, MAP_SHARED | MAP_FIXED, r->fd, (off_t)pc[i].region_off) ==
		    MAP_FAILED) {
			*err = -errno;
			return NULL;
		}
	*err = 0;
	return base;
}

static int uring_create(struct uring *r, uint32_t size)
{
	struct bpftime_map_spec spec = { BPF_MAP_TYPE_USER_RINGBUF, 0, 0, size, 0, 0 };
	int64_t rsize = bpftime_map_region_size(&spec);
	if (rsize < 0)
		return (int)rsize;
	memset(r, 0, sizeof(*r));
	r->fd = memfd_create("bpftime-test-user-ringbuf", MFD_CLOEXEC);
	if (r->fd < 0 || ftruncate(r->fd, rsize) < 0)
		return -errno;
	r->region_size = (uint64_t)rsize;
	r->size = size;
	r->region = mmap(NULL, r->region_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	int rc = bpftime_map_region_init(r->region, r->region_size, &spec);
	if (!rc)
		rc = bpftime_map_open(&r->m, r->region, r->region_size, 9);
	if (rc)
		return rc;
	int err;
	r->consumer_pos = view_mmap(r, 0, PAGE, PROT_READ, &err);
	uint8_t *pv = view_mmap(r, PAGE, PAGE + 2 * (uint64_t)size, PROT_READ | PROT_WRITE, &err);
	if (!r->consumer_pos || !pv)
		return err;
	r->producer_pos = (uint64_t *)pv;
	r->data = pv + PAGE;
	return 0;
}

static void uring_destroy(struct uring *r)
{
	munmap((void *)r->consumer_pos, PAGE);
	munmap(r->producer_pos, PAGE + 2 * r->size);
	bpftime_map_close(r->m);
	munmap(r->region, r->region_size);
	close(r->fd);
}

/* libbpf's user_ring_buffer__reserve: header {size | BUSY}, then producer_pos published. */
static void *produce(struct uring *r, uint32_t size)
{
	uint64_t total = (size + BPF_RINGBUF_HDR_SZ + 7) & ~7ull;
	uint64_t cons = __atomic_load_n(r->consumer_pos, __ATOMIC_ACQUIRE);
	if (r->reserved + total - cons > r->size)
		return NULL;
	uint32_t *hdr = (uint32_t *)(r->data + (r->reserved & (r->size - 1)));
	hdr[0] = size | BPF_RINGBUF_BUSY_BIT;
	hdr[1] = 0;
	r->reserved += total;
	__atomic_store_n(r->producer_pos, r->reserved, __ATOMIC_RELEASE);
	return hdr + 2;
}

/* user_ring_buffer__submit / __discard */
static void commit(void *sample, int discard)
{
	uint32_t *hdr = (uint32_t *)sample - 2;
	uint32_t len = hdr[0] & ~BPF_RINGBUF_BUSY_BIT;
	__atomic_store_n(hdr, discard ? len | BPF_RINGBUF_DISCARD_BIT : len, __ATOMIC_RELEASE);
}

static void produce_u64(struct uring *r, uint64_t v, int discard)
{
	uint64_t *p = produce(r, 8);
	if (p) {
		*p = v;
		commit(p, discard);
	}
}

/* A drain callback in C: sums u64 records, stops after `stop_at` records (0: never). */
struct sum {
	uint64_t total;
	uint32_t seen, stop_at, last_size;
	struct bpftime_map *nest; /* drain this map again from inside the callback */
	long nested_rc;
};

static int sum_cb(void *sample, uint32_t size, void *arg)
{
	struct sum *s = arg;
	uint64_t v = 0;
	memcpy(&v, sample, size < 8 ? size : 8);
	s->total += v;
	s->last_size = size;
	s->seen++;
	if (s->nest)
		s->nested_rc = bpftime_user_ringbuf_drain(s->nest, 0, sum_cb, s);
	return s->stop_at && s->seen == s->stop_at;
}

static void test_create_and_sys(void)
{
	EQ(create_spec(0, 0, PAGE, 0), 0);
	EQ(create_spec(4, 0, PAGE, 0), -EINVAL);
	EQ(create_spec(0, 4, PAGE, 0), -EINVAL);
	EQ(create_spec(0, 0, 3 * PAGE, 0), -EINVAL);
	EQ(create_spec(0, 0, PAGE / 2, 0), -EINVAL);
	EQ(create_spec(0, 0, PAGE, BPF_F_MMAPABLE), -EINVAL);
	struct uring r;
	EQ(uring_create(&r, PAGE), 0);
	uint8_t buf[8];
	EQ(bpftime_map_sys_lookup(r.m, NULL, buf, 0), -BPFTIME_ENOTSUPP);
	EQ(bpftime_map_sys_update(r.m, NULL, buf, 0), -BPFTIME_ENOTSUPP);
	EQ(bpftime_map_sys_get_next_key(r.m, NULL, buf), -BPFTIME_ENOTSUPP);
	EQ(bpftime_user_ringbuf_is(r.m), 1);
	EQ(bpftime_ringbuf_is(r.m), 0); /* bpf_ringbuf_* helpers refuse it */
	uring_destroy(&r);
}

static void test_mmap_rule(void)
{
	struct uring r;
	EQ(uring_create(&r, 4 * PAGE), 0);
	struct bpftime_ringbuf_piece pc[2];
	/* ringbuf_map_mmap_user: the consumer page never writable, everything else may be */
	EQ(bpftime_ringbuf_mmap_plan(r.m, 0, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, pc), -EPERM);
	EQ(bpftime_ringbuf_mmap_plan(r.m, 0, 2 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, pc), -EPERM);
	EQ(bpftime_ringbuf_mmap_plan(r.m, 0, PAGE, PROT_READ, MAP_SHARED, pc), 1);
	EQ(bpftime_ringbuf_mmap_plan(r.m, PAGE, PAGE + 8 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, pc), 2);
	EQ(bpftime_ringbuf_mmap_plan(r.m, PAGE, PAGE + 8 * PAGE + PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, pc), -EINVAL);
	EQ(bpftime_ringbuf_mmap_plan(r.m, PAGE, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, pc), -EINVAL);
	/* what the producer writes through its view is what the ring holds, and the data is
	 * mapped twice back to back */
	*r.producer_pos = 8;
	EQ(bpftime_ringbuf_query(r.m, BPF_RB_PROD_POS), 0); /* not a RINGBUF: query answers 0 */
	r.data[5] = 0x5a;
	EQ(r.data[4 * PAGE + 5], 0x5a);
	*r.producer_pos = 0;
	uring_destroy(&r);
}

static void test_drain(void)
{
	struct uring r;
	EQ(uring_create(&r, PAGE), 0);
	struct sum s = { 0 };
	EQ(bpftime_user_ringbuf_drain(r.m, 0, sum_cb, &s), 0); /* empty */
	EQ(bpftime_user_ringbuf_drain(r.m, 4, sum_cb, &s), -EINVAL);
	for (uint64_t i = 1; i <= 10; i++)
		produce_u64(&r, i, i == 3 || i == 7); /* two discarded */
	EQ(bpftime_user_ringbuf_drain(r.m, 0, sum_cb, &s), 8);
	EQ(s.total, 55 - 3 - 7);
	EQ(*r.consumer_pos, 10 * 16);

	/* a record still being written ends the drain; it is delivered once submitted */
	produce_u64(&r, 100, 0);
	uint64_t *busy = produce(&r, 8);
	*busy = 1000;
	produce_u64(&r, 10000, 0);
	s = (struct sum){ 0 };
	EQ(bpftime_user_ringbuf_drain(r.m, BPF_RB_NO_WAKEUP, sum_cb, &s), 1);
	commit(busy, 0);
	EQ(bpftime_user_ringbuf_drain(r.m, BPF_RB_FORCE_WAKEUP, sum_cb, &s), 2);
	EQ(s.total, 11100);

	/* the callback's 1 stops after its own record, which counts and is consumed */
	for (uint64_t i = 0; i < 5; i++)
		produce_u64(&r, 1, 0);
	s = (struct sum){ .stop_at = 2 };
	EQ(bpftime_user_ringbuf_drain(r.m, 0, sum_cb, &s), 2);
	s = (struct sum){ 0 };
	EQ(bpftime_user_ringbuf_drain(r.m, 0, sum_cb, &s), 3);

	/* wrap-around: records cross the end of the data and arrive whole */
	s = (struct sum){ 0 };
	for (int round = 0; round < 50; round++) {
		uint8_t *p = produce(&r, 200);
		CHECK(p != NULL);
		for (int k = 0; k < 200; k++)
			p[k] = (uint8_t)(round + k);
		commit(p, 0);
		EQ(bpftime_user_ringbuf_drain(r.m, 0, sum_cb, &s), 1);
		EQ(s.last_size, 200);
	}
	CHECK(*r.consumer_pos > 2 * PAGE);

	/* a nested drain of the same ring: -EBUSY */
	produce_u64(&r, 1, 0);
	s = (struct sum){ .nest = r.m };
	EQ(bpftime_user_ringbuf_drain(r.m, 0, sum_cb, &s), 1);
	EQ(s.nested_rc, -EBUSY);
	uring_destroy(&r);
}

/* What a producer can write that no libbpf producer would: the drain refuses it. */
static void test_bad_producer(void)
{
	struct uring r;
	EQ(uring_create(&r, PAGE), 0);
	struct sum s = { 0 };
	/* producer_pos not 8-aligned */
	*r.producer_pos = 12;
	EQ(bpftime_user_ringbuf_drain(r.m, 0, sum_cb, &s), -EINVAL);
	/* a header longer than what producer_pos published */
	*r.producer_pos = 16;
	*(uint32_t *)r.data = 100;
	EQ(bpftime_user_ringbuf_drain(r.m, 0, sum_cb, &s), -EINVAL);
	/* a record larger than the ring, with producer_pos far enough ahead */
	*r.producer_pos = 2 * PAGE;
	*(uint32_t *)r.data = PAGE;
	EQ(bpftime_user_ringbuf_drain(r.m, 0, sum_cb, &s), -E2BIG);
	EQ(s.seen, 0);
	EQ(*r.consumer_pos, 0);
	/* the drain still works once the producer behaves */
	*(uint32_t *)r.data = 8;
	*r.producer_pos = 16;
	EQ(bpftime_user_ringbuf_drain(r.m, 0, sum_cb, &s), 1);
	uring_destroy(&r);
}

/* The producer's side of poll and the wakeup the drain sends. */
static void test_poll_and_wake(void)
{
	struct uring r;
	EQ(uring_create(&r, PAGE), 0);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	EQ(bpftime_ringbuf_set_wake_fd(r.m, efd), 0);
	EQ(bpftime_user_ringbuf_writable(r.m), 1);
	while (produce(&r, PAGE / 2 - 8)) /* two records fill the ring */
		;
	EQ(bpftime_user_ringbuf_writable(r.m), 0);
	/* the producer sleeps; a drain of committed records wakes it */
	bpftime_ringbuf_set_waiting(r.m, 1);
	struct sum s = { 0 };
	EQ(bpftime_user_ringbuf_drain(r.m, 0, sum_cb, &s), 0); /* both busy: nothing drained, no wake */
	uint64_t v = 0;
	EQ(read(efd, &v, 8), -1);
	uint8_t *first = r.data + BPF_RINGBUF_HDR_SZ;
	commit(first, 0);
	EQ(bpftime_user_ringbuf_drain(r.m, 0, sum_cb, &s), 1);
	EQ(read(efd, &v, 8), 8);
	EQ(bpftime_user_ringbuf_writable(r.m), 1);
	/* BPF_RB_NO_WAKEUP: no eventfd write even though a record was drained */
	commit(first + PAGE / 2, 1);
	bpftime_ringbuf_set_waiting(r.m, 1);
	produce_u64(&r, 5, 0);
	EQ(bpftime_user_ringbuf_drain(r.m, BPF_RB_NO_WAKEUP, sum_cb, &s), 1);
	EQ(read(efd, &v, 8), -1);
	/* BPF_RB_FORCE_WAKEUP: written even with nothing drained */
	EQ(bpftime_user_ringbuf_drain(r.m, BPF_RB_FORCE_WAKEUP, sum_cb, &s), 0);
	EQ(read(efd, &v, 8), 8);
	uring_destroy(&r);
}

/* Drainers in other processes: a live one makes the ring busy (-EBUSY), one killed inside its
 * callback (still a zombie, then reaped) does not. */
static int pipe_fds[2];

static int block_cb(void *sample, uint32_t size, void *arg)
{
	char c;
	if (write(pipe_fds[1], "x", 1) != 1 || read(pipe_fds[0], &c, 1) != 1) /* wait for the parent */
		_exit(3);
	return 0;
}

static int die_cb(void *sample, uint32_t size, void *arg)
{
	kill(getpid(), SIGKILL);
	return 0;
}

static void test_other_drainers(void)
{
	struct uring r;
	EQ(uring_create(&r, PAGE), 0);
	produce_u64(&r, 5, 0);
	int to_child[2];
	CHECK(pipe(pipe_fds) == 0 && pipe(to_child) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		pipe_fds[0] = to_child[0]; /* the child reads the parent's go, writes "inside" */
		_exit(bpftime_user_ringbuf_drain(r.m, 0, block_cb, NULL) == 1 ? 0 : 2);
	}
	char c;
	EQ(read(pipe_fds[0], &c, 1), 1); /* the child is inside its callback */
	struct sum s = { 0 };
	EQ(bpftime_user_ringbuf_drain(r.m, 0, sum_cb, &s), -EBUSY);
	EQ(write(to_child[1], "g", 1), 1);
	int st = 0;
	EQ(waitpid(pid, &st, 0), pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	EQ(*r.consumer_pos, 16);

	produce_u64(&r, 6, 0);
	pid = fork();
	if (pid == 0)
		_exit(bpftime_user_ringbuf_drain(r.m, 0, die_cb, NULL) == 1 ? 0 : 2);
	siginfo_t si;
	EQ(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0); /* dead, not reaped: a zombie */
	EQ(si.si_status, SIGKILL);
	s = (struct sum){ 0 };
	EQ(bpftime_user_ringbuf_drain(r.m, 0, sum_cb, &s), 1); /* its record was never released */
	EQ(s.total, 6);
	EQ(waitpid(pid, &st, 0), pid);
	EQ(bpftime_user_ringbuf_drain(r.m, 0, sum_cb, &s), 0);
	close(to_child[0]);
	close(to_child[1]);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	uring_destroy(&r);
}

static struct bpf_insn I(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm)
{
	struct bpf_insn i = { .code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm };
	return i;
}
#define MOV_IMM(d, v) I(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, v)
#define MOV_REG(d, s) I(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define ADD_IMM(d, v) I(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, v)
#define ADD_REG(d, s) I(BPF_ALU64 | BPF_ADD | BPF_X, d, s, 0, 0)
#define LDX64(d, s, o) I(BPF_LDX | BPF_MEM | BPF_DW, d, s, o, 0)
#define STX64(d, s, o) I(BPF_STX | BPF_MEM | BPF_DW, d, s, o, 0)
#define CALL(id) I(BPF_JMP | BPF_CALL, 0, 0, 0, id)
#define EXIT() I(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define LD64(d, v) I(BPF_LD | BPF_IMM | BPF_DW, d, 0, 0, (int32_t)(uint32_t)(uint64_t)(v)), \
		   I(0, 0, 0, 0, (int32_t)(uint32_t)((uint64_t)(v) >> 32))
#define N(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

/* A program: drain(map, cb, ctx, ctx[1]) and return its answer; cb(dynptr, ctx) reads 8 bytes
 * with bpf_dynptr_read and adds them to ctx[0]; a read error lands in ctx[2] and stops; else
 * it returns ctx[3]. */
static void test_program(void)
{
	struct uring r;
	EQ(uring_create(&r, PAGE), 0);
	uint64_t m = (uint64_t)(uintptr_t)r.m;
	struct bpf_insn p[] = {
		MOV_REG(6, 1),
		LD64(1, m),
		LD64(2, 9), /* the callback's instruction index */
		MOV_REG(3, 6),
		LDX64(4, 6, 8),
		CALL(BPF_FUNC_user_ringbuf_drain),
		EXIT(),
		/* 9: */ STX64(10, 2, -16),
		MOV_REG(3, 1),
		MOV_REG(1, 10),
		ADD_IMM(1, -8),
		MOV_IMM(2, 8),
		MOV_IMM(4, 0),
		MOV_IMM(5, 0),
		CALL(BPF_FUNC_dynptr_read),
		LDX64(2, 10, -16),
		I(BPF_JMP | BPF_JNE | BPF_K, 0, 0, 6, 0),
		LDX64(1, 10, -8),
		LDX64(3, 2, 0),
		ADD_REG(3, 1),
		STX64(2, 3, 0),
		LDX64(0, 2, 24),
		EXIT(),
		/* 25: */ STX64(2, 0, 16),
		MOV_IMM(0, 1),
		EXIT(),
	};
	struct bpftime_vm_prog vp = { p, N(p), bpftime_helper_table, bpftime_helper_table_len, 0 };
	uint64_t ctx[4] = { 0 }, ret = 99;
	for (uint64_t i = 1; i <= 100; i++)
		produce_u64(&r, i, i % 10 == 0);
	EQ(bpftime_vm_exec(&vp, (uintptr_t)ctx, 0, &ret), 0);
	EQ(ret, 90);
	EQ(ctx[0], 5050 - 550);
	EQ(ctx[2], 0);
	/* flags the helper refuses */
	ctx[1] = 8;
	EQ(bpftime_vm_exec(&vp, (uintptr_t)ctx, 0, &ret), 0);
	EQ((int64_t)ret, -EINVAL);
	/* a 4-byte record: the 8-byte read is out of the dynptr's bounds */
	ctx[1] = 0;
	uint32_t *small = produce(&r, 4);
	*small = 7;
	commit(small, 0);
	EQ(bpftime_vm_exec(&vp, (uintptr_t)ctx, 0, &ret), 0);
	EQ(ret, 1);
	EQ((int64_t)ctx[2], -E2BIG);

	/* bpf_dynptr_data and bpf_dynptr_read on a dynptr as the drain builds it */
	uint8_t buf[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	struct {
		void *data;
		uint32_t size, offset;
	} d = { buf, 16 | 1u << 28, 0 }, rd = { buf, 16 | 1u << 28 | 1u << 31, 0 };
	bpftime_helper_fn h = bpftime_helper_table[BPF_FUNC_dynptr_data];
	EQ(h((uintptr_t)&d, 4, 8, 0, 0), (uintptr_t)(buf + 4));
	EQ(h((uintptr_t)&d, 8, 9, 0, 0), 0);
	EQ(h((uintptr_t)&d, 17, 0, 0, 0), 0);
	EQ(h((uintptr_t)&rd, 0, 4, 0, 0), 0); /* read-only: no direct pointer */
	uint8_t out[4];
	bpftime_helper_fn rdh = bpftime_helper_table[BPF_FUNC_dynptr_read];
	EQ(rdh((uintptr_t)out, 4, (uintptr_t)&rd, 12, 0), 0);
	EQ(out[0], 13);
	EQ((int64_t)rdh((uintptr_t)out, 4, (uintptr_t)&rd, 13, 0), -E2BIG);
	EQ((int64_t)rdh((uintptr_t)out, 4, (uintptr_t)&rd, 0, 1), -EINVAL);
	bpftime_helper_fn wrh = bpftime_helper_table[BPF_FUNC_dynptr_write];
	EQ((int64_t)wrh((uintptr_t)&rd, 0, (uintptr_t)out, 4, 0), -EINVAL);
	EQ(wrh((uintptr_t)&d, 0, (uintptr_t)out, 4, 0), 0);
	EQ(buf[0], 13);
	uring_destroy(&r);
}

int main(void)
{
	test_create_and_sys();
	test_mmap_rule();
	test_drain();
	test_bad_producer();
	test_poll_and_wake();
	test_other_drainers();
	test_program();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
