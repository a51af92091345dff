/* BPF_MAP_TYPE_STACK_TRACE (core/maps/map_stack_trace.c) and the user stack walk
 * (core/helpers/helper_stack.c): ids are the kernel's jhash2 bucket, -EEXIST/-ENOMEM,
 * FAST_STACK_CMP/REUSE_STACKID, the syscall side, and writers SIGKILLed at every step of an
 * update or delete leave a map whose every element is still usable. (The kernel differential is
 * test/e2e/stack-differential.test.ts.) */
#include <errno.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <asm/ptrace.h>

#include "bpftime/map.h"
#include "bpftime/stack_trace.h"
#include "../../src-native/core/maps/map_internal.h"
#include "../../src-native/core/maps/map_jhash.h"

#include "check.h"

static struct bpftime_map *create(uint32_t vs, uint32_t max)
{
	struct bpftime_map_spec spec = {BPF_MAP_TYPE_STACK_TRACE, 4, vs, max, 0, 0};
	int64_t size = bpftime_map_region_size(&spec);
	if (size < 0)
		return NULL;
	void *region = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct bpftime_map *m = NULL;
	if (region == MAP_FAILED || bpftime_map_region_init(region, (uint64_t)size, &spec) ||
	    bpftime_map_open(&m, region, (uint64_t)size, 7))
		return NULL;
	return m;
}

static uint32_t kernel_id(const uint64_t *ips, uint32_t nr, uint32_t n_buckets)
{
	return map_jhash_words(ips, nr * 2, 0) & (n_buckets - 1);
}

/* A stack of `nr` frames whose id in a map of n_buckets is `want` (frames vary in the last). */
static void stack_for_id(uint64_t *ips, uint32_t nr, uint32_t want, uint32_t n_buckets, uint64_t seed)
{
	for (uint64_t x = seed;; x++) {
		for (uint32_t i = 0; i < nr; i++)
			ips[i] = 0x400000 + 0x10 * i + (i == nr - 1 ? x : 0);
		if (kernel_id(ips, nr, n_buckets) == want)
			return;
	}
}

static void semantics(void)
{
	struct bpftime_spec_check { uint32_t vs, max; long want; } bad[] = {
		{12, 4, -EINVAL}, {4, 4, -EINVAL}, {32, 0, -EINVAL}, {8 * (bpftime_perf_event_max_stack() + 1), 4, -EINVAL},
	};
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct bpftime_map_spec s = {BPF_MAP_TYPE_STACK_TRACE, 4, bad[i].vs, bad[i].max, 0, 0};
		EQ(bpftime_map_region_size(&s), bad[i].want);
	}
	struct bpftime_map_spec bid = {BPF_MAP_TYPE_STACK_TRACE, 4, 40, 4, BPF_F_STACK_BUILD_ID, 0};
	EQ(bpftime_map_region_size(&bid), -EINVAL); /* not whole struct bpf_stack_build_id frames */
	bid.value_size = 8 * sizeof(struct bpf_stack_build_id); /* 256 bytes: past 127 * 8 is fine too */
	CHECK(bpftime_map_region_size(&bid) > 0);

	struct bpftime_map *m = create(32, 5); /* 8 buckets */
	CHECK(m != NULL);
	uint64_t a[4] = {0x401000, 0x402000, 0x403000, 0x404000}, b[4], out[4];
	long id = bpftime_stackmap_get_id(m, a, 4, 0);
	EQ(id, kernel_id(a, 4, 8));
	EQ(bpftime_stackmap_get_id(m, a, 4, 0), id); /* same stack, same id */
	/* another stack in the same bucket */
	stack_for_id(b, 4, (uint32_t)id, 8, 1);
	EQ(bpftime_stackmap_get_id(m, b, 4, 0), -EEXIST);
	EQ(bpftime_stackmap_get_id(m, b, 4, BPF_F_FAST_STACK_CMP), -EEXIST); /* hashes differ */
	EQ(bpftime_stackmap_get_id(m, b, 4, BPF_F_REUSE_STACKID), id);
	uint32_t key = (uint32_t)id;
	EQ(bpftime_map_sys_lookup(m, &key, out, 0), 0);
	CHECK(memcmp(out, b, sizeof(b)) == 0);
	/* fewer frames: the rest reads as zeros */
	uint64_t c[2] = {0x501000, 0x502000};
	long cid = bpftime_stackmap_get_id(m, c, 2, BPF_F_REUSE_STACKID);
	uint32_t ckey = (uint32_t)cid;
	EQ(bpftime_map_sys_lookup(m, &ckey, out, 0), 0);
	CHECK(out[0] == c[0] && out[1] == c[1] && out[2] == 0 && out[3] == 0);
	/* syscall side */
	EQ(bpftime_map_sys_update(m, &key, a, 0), -EINVAL);
	uint32_t big = 8, nk = 99;
	EQ(bpftime_map_sys_lookup(m, &big, out, 0), -ENOENT);
	EQ(bpftime_map_sys_delete(m, &big), -E2BIG);
	EQ(bpftime_map_sys_get_next_key(m, NULL, &nk), 0);
	CHECK(nk == (uint32_t)(id < cid ? id : cid));
	EQ(bpftime_map_sys_get_next_key(m, &big, &nk), 0); /* out of range: from the start */
	EQ(bpftime_map_sys_lookup_and_delete(m, &ckey, out, 0), 0);
	CHECK(out[0] == c[0]);
	EQ(bpftime_map_sys_lookup(m, &ckey, out, 0), -ENOENT);
	EQ(bpftime_map_sys_delete(m, &key), 0);
	EQ(bpftime_map_sys_delete(m, &key), -ENOENT);
	EQ(bpftime_map_sys_get_next_key(m, NULL, &nk), -ENOENT);
	/* a one-entry map: a replacement needs a free element first, as the kernel's freelist */
	struct bpftime_map *one = create(32, 1);
	EQ(bpftime_stackmap_get_id(one, a, 4, 0), 0);
	EQ(bpftime_stackmap_get_id(one, b, 4, BPF_F_REUSE_STACKID), -ENOMEM);
	/* not a stack map */
	struct bpftime_map_spec arr = {BPF_MAP_TYPE_ARRAY, 4, 8, 1, 0, 0};
	int64_t asz = bpftime_map_region_size(&arr);
	void *areg = mmap(NULL, (size_t)asz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct bpftime_map *am = NULL;
	EQ(bpftime_map_region_init(areg, (uint64_t)asz, &arr), 0);
	EQ(bpftime_map_open(&am, areg, (uint64_t)asz, 8), 0);
	EQ(bpftime_stackmap_get_id(am, a, 4, 0), -EINVAL);
}

static const char *die_op;
static int die_step;
static void die_at(const char *op, int step)
{
	if (!strcmp(op, die_op) && step == die_step)
		raise(SIGKILL);
}

/* Every bucket of a 4-entry map can be filled: no element was lost. */
static int fill_all(struct bpftime_map *m, uint64_t seed)
{
	uint64_t ips[4];
	for (uint32_t b = 0; b < 4; b++) {
		uint32_t key = b;
		bpftime_map_sys_delete(m, &key); /* 0 or -ENOENT */
	}
	for (uint32_t b = 0; b < 4; b++) {
		stack_for_id(ips, 4, b, 4, seed + 1000 * b);
		if (bpftime_stackmap_get_id(m, ips, 4, 0) != (long)b)
			return 0;
	}
	return 1;
}

static void crashes(void)
{
	struct { const char *op; int step; } points[] = {{"stackid", 1}, {"stackid", 2}, {"stack_delete", 1}};
	for (unsigned i = 0; i < sizeof(points) / sizeof(points[0]); i++) {
		struct bpftime_map *m = create(32, 4);
		CHECK(fill_all(m, 1));
		uint32_t three = 3;
		EQ(bpftime_map_sys_delete(m, &three), 0); /* one free element for the replacement */
		pid_t p = fork();
		if (p == 0) {
			die_op = points[i].op;
			die_step = points[i].step;
			bpftime_map_fault_hook = die_at;
			uint64_t ips[4];
			uint32_t key = 2;
			if (!strcmp(die_op, "stack_delete")) {
				bpftime_map_sys_delete(m, &key);
			} else {
				stack_for_id(ips, 4, 2, 4, 77777); /* replaces bucket 2's stack */
				bpftime_stackmap_get_id(m, ips, 4, BPF_F_REUSE_STACKID);
			}
			_exit(3); /* the hook did not fire */
		}
		int st;
		waitpid(p, &st, 0);
		CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
		/* the next writer repairs: all four elements serve again */
		CHECK(fill_all(m, 5));
	}
}

static void walk(void)
{
	uint64_t ips[8];
	struct pt_regs r;
	memset(&r, 0, sizeof(r));
	EQ(bpftime_user_stack(&r, 0, ips, 8), 0); /* no user context */
	r.rip = 0x401234;
	r.rbp = 0x10; /* unreadable: the walk stops, no crash */
	EQ(bpftime_user_stack(&r, 0, ips, 8), 1);
	EQ(ips[0], 0x401234);
	/* a hand-made frame chain: [rbp] = next rbp, [rbp + 8] = return address */
	uint64_t frames[6] = {0, 0x402000, 0, 0x403000, 0x10, 0x404000};
	frames[0] = (uint64_t)(uintptr_t)&frames[2];
	frames[2] = (uint64_t)(uintptr_t)&frames[4];
	uint64_t sp_slot = 0x405000; /* the caller at a push %rbp uprobe */
	r.rbp = (uint64_t)(uintptr_t)frames;
	r.rsp = (uint64_t)(uintptr_t)&sp_slot;
	EQ(bpftime_user_stack(&r, 0, ips, 8), 4);
	CHECK(ips[1] == 0x402000 && ips[2] == 0x403000 && ips[3] == 0x404000);
	EQ(bpftime_user_stack(&r, 1, ips, 8), 5);
	CHECK(ips[1] == 0x405000 && ips[2] == 0x402000);
	EQ(bpftime_user_stack(&r, 1, ips, 3), 3); /* max frames */
}

/* Build ids: this test binary's code is VALID with its file offset; other addresses are IP. */
static void build_ids(void)
{
	struct bpf_stack_build_id out[3];
	uint64_t ips[3] = {(uint64_t)(uintptr_t)build_ids, (uint64_t)(uintptr_t)&passed, 0x10};
	bpftime_stack_build_ids(out, ips, 3);
	EQ(out[0].status, BPF_STACK_BUILD_ID_VALID);
	static const unsigned char zero[BPF_BUILD_ID_SIZE];
	CHECK(memcmp(out[0].build_id, zero, sizeof(zero)) != 0);
	/* the offset is where the function sits in the file: read the bytes there and compare */
	unsigned char file_bytes[16], mem_bytes[16];
	FILE *f = fopen("/proc/self/exe", "rb");
	CHECK(f && fseek(f, (long)out[0].offset, SEEK_SET) == 0 && fread(file_bytes, 1, 16, f) == 16);
	if (f)
		fclose(f);
	memcpy(mem_bytes, (void *)(uintptr_t)ips[0], 16);
	CHECK(memcmp(file_bytes, mem_bytes, 16) == 0);
	EQ(out[1].status, BPF_STACK_BUILD_ID_VALID); /* .data of the same file */
	CHECK(memcmp(out[1].build_id, out[0].build_id, BPF_BUILD_ID_SIZE) == 0);
	EQ(out[2].status, BPF_STACK_BUILD_ID_IP);
	EQ(out[2].ip, 0x10);
	CHECK(memcmp(out[2].build_id, zero, sizeof(zero)) == 0);
}

int main(void)
{
	build_ids();
	semantics();
	crashes();
	walk();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
