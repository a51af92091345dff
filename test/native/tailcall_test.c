/* BPF_MAP_TYPE_PROG_ARRAY (map_prog_array.c), the tail-call table (core/vm/tail.c) and the
 * helpers bpf_tail_call, bpf_loop and bpf_for_each_map_elem (helper_callbacks.c) run by the
 * interpreter with the real helper table. */
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>

#include "bpftime/helpers.h"
#include "bpftime/jit.h"
#include "bpftime/map.h"
#include "bpftime/prog_array.h"
#include "bpftime/vm.h"
#include "check.h"

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
#define JEQ_IMM(d, v, off) I(BPF_JMP | BPF_JEQ | BPF_K, d, 0, off, v)
/* ld_imm64 of a 64-bit value (as the loader leaves map pointers and callback indexes) */
#define LD64(d, v) I(BPF_LD | BPF_IMM | BPF_DW, d, 0, 0, (int32_t)(uint32_t)(uint64_t)(v)), \
		   I(0, 0, 0, 0, (int32_t)(uint32_t)((uint64_t)(v) >> 32))
#define N(a) ((uint32_t)(sizeof(a) / sizeof((a)[0])))

static struct bpftime_map *make_map(uint32_t type, uint32_t ks, uint32_t vs, uint32_t max)
{
	struct bpftime_map_spec s = { .map_type = type, .key_size = ks, .value_size = vs, .max_entries = max };
	int64_t size = bpftime_map_region_size(&s);
	if (size < 0)
		return NULL;
	void *r = calloc(1, (size_t)size);
	struct bpftime_map *m;
	if (bpftime_map_region_init(r, (uint64_t)size, &s) || bpftime_map_open(&m, r, (uint64_t)size, type))
		return NULL;
	return m;
}

static struct bpftime_vm_prog vmprog(const struct bpf_insn *insns, uint32_t n)
{
	struct bpftime_vm_prog p = { insns, n, bpftime_helper_table, bpftime_helper_table_len, 0 };
	return p;
}

static void test_map(void)
{
	struct bpftime_map_spec bad = { .map_type = BPF_MAP_TYPE_PROG_ARRAY, .key_size = 4, .value_size = 8, .max_entries = 4 };
	EQ(bpftime_map_region_size(&bad), -EINVAL);
	bad.value_size = 4;
	bad.map_flags = BPF_F_MMAPABLE;
	EQ(bpftime_map_region_size(&bad), -EINVAL);
	bad.map_flags = BPF_F_WRONLY_PROG;
	EQ(bpftime_map_region_size(&bad), -EINVAL);

	struct bpftime_map *m = make_map(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4);
	CHECK(m != NULL);
	uint32_t k = 1, v = 0, id = 42, next;
	EQ(bpftime_map_sys_lookup(m, &k, &v, 0), -ENOENT);
	EQ(bpftime_map_sys_update(m, &k, &id, BPF_NOEXIST), -EINVAL);
	k = 4;
	EQ(bpftime_map_sys_update(m, &k, &id, BPF_ANY), -E2BIG);
	k = 1;
	EQ(bpftime_map_sys_update(m, &k, &id, BPF_ANY), 0);
	EQ(bpftime_map_sys_lookup(m, &k, &v, 0), 0);
	EQ(v, 42);
	EQ(bpftime_map_sys_lookup(m, &k, &v, BPF_F_LOCK), -EINVAL);
	EQ(bpftime_map_sys_lookup_and_delete(m, &k, &v, 0), -BPFTIME_ENOTSUPP);
	CHECK(bpftime_map_lookup_elem(m, &k) == NULL);         /* programs cannot look slots up */
	EQ(bpftime_map_update_elem(m, &k, &id, BPF_ANY), -EINVAL); /* nor write them */
	EQ(bpftime_map_delete_elem(m, &k), -EINVAL);
	EQ(bpftime_map_sys_get_next_key(m, NULL, &next), 0);
	EQ(next, 0);
	k = 3;
	EQ(bpftime_map_sys_get_next_key(m, &k, &next), -ENOENT);
	uint32_t got;
	EQ(bpftime_prog_array_slot(m, 1, &got), 0);
	EQ(got, 42);
	EQ(bpftime_prog_array_slot(m, 9, &got), -E2BIG);
	k = 1;
	id = 0; /* the server's delete */
	EQ(bpftime_map_sys_update(m, &k, &id, BPF_ANY), 0);
	EQ(bpftime_map_sys_lookup(m, &k, &v, 0), -ENOENT);
	struct bpftime_map *arr = make_map(BPF_MAP_TYPE_ARRAY, 4, 8, 2);
	EQ(bpftime_prog_array_slot(arr, 0, &got), -EINVAL);
}

static void test_tail_calls(void)
{
	struct bpftime_map *m = make_map(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4);
	/* A: tail-calls slot r1[0]... simpler: slot 0; falls through with 77 + helper's answer. */
	struct bpf_insn a[] = {
		LD64(2, (uintptr_t)m),
		MOV_IMM(3, 0),
		CALL(BPF_FUNC_tail_call),
		ADD_IMM(0, 77),
		EXIT(),
	};
	/* B: r0 = ctx + 1 (r1 is the caller's). */
	struct bpf_insn b[] = { MOV_REG(0, 1), ADD_IMM(0, 1), EXIT() };
	/* C: (*(u64 *)ctx)++, tail-calls slot 1 (itself), returns the count when that fails. */
	struct bpf_insn c[] = {
		LDX64(2, 1, 0), ADD_IMM(2, 1), STX64(1, 2, 0),
		LD64(2, (uintptr_t)m),
		MOV_IMM(3, 1),
		CALL(BPF_FUNC_tail_call),
		MOV_REG(6, 0),
		LDX64(0, 1, 0),
		EXIT(),
	};
	struct bpftime_vm_prog pa = vmprog(a, N(a)), pb = vmprog(b, N(b)), pc = vmprog(c, N(c));
	struct bpftime_tail_target tb = { &pb, NULL }, tc = { &pc, NULL };
	EQ(bpftime_tail_publish(1001, &tb), 0);
	EQ(bpftime_tail_publish(1001, &tb), -EEXIST);
	EQ(bpftime_tail_publish(1002, &tc), 0);
	CHECK(bpftime_tail_find(1001) != NULL);
	CHECK(bpftime_tail_find(1003) == NULL);

	uint64_t r = 0;
	EQ(bpftime_vm_exec(&pa, 10, 0, &r), 0); /* empty slot: falls through, helper says -ENOENT */
	EQ(r, 77 - ENOENT);
	uint32_t k = 0, id = 1001;
	bpftime_map_sys_update(m, &k, &id, BPF_ANY);
	EQ(bpftime_vm_exec(&pa, 10, 0, &r), 0);
	EQ(r, 11);
	id = 1003; /* a program this process was not given: falls through */
	bpftime_map_sys_update(m, &k, &id, BPF_ANY);
	EQ(bpftime_vm_exec(&pa, 10, 0, &r), 0);
	EQ(r, 77 - ENOENT);

	k = 1;
	id = 1002;
	bpftime_map_sys_update(m, &k, &id, BPF_ANY);
	uint64_t count = 0;
	EQ(bpftime_vm_exec(&pc, (uintptr_t)&count, 0, &r), 0);
	EQ(count, 1 + BPFTIME_VM_MAX_TAIL_CALLS); /* the entry run and 33 tail calls */
	EQ(r, count);
	/* Entered from JIT code after 30 tail calls: three more are allowed. */
	count = 0;
	EQ(bpftime_vm_exec_tail(&pc, (uintptr_t)&count, 30, &r), 0);
	EQ(count, 4);
	/* The JIT's resolver agrees with the interpreter on what falls through. */
	EQ(bpftime_jit_tail_resolve((uintptr_t)m, 2, 0), -ENOENT);
	CHECK(bpftime_jit_tail_resolve((uintptr_t)m, 0x100000001ull, 0) > 0); /* the index is a u32 */
	EQ(bpftime_jit_tail_resolve((uintptr_t)m, 7, 0), -ENOENT);
	EQ(bpftime_jit_tail_resolve((uintptr_t)m, 1, BPFTIME_VM_MAX_TAIL_CALLS), -E2BIG);
	CHECK(bpftime_jit_tail_resolve((uintptr_t)m, 1, 0) > 0);
}

static void test_loop(void)
{
	/* main: r6 = ctx; bpf_loop(r1=n from ctx[0], cb, ctx, flags ctx[1]); exit with its answer.
	 * cb(i, ctx): ctx[2] += i; return i == ctx[3]. */
	struct bpf_insn p[] = {
		MOV_REG(6, 1),
		LDX64(1, 6, 0),
		LD64(2, 10), /* the callback's instruction index */
		MOV_REG(3, 6),
		LDX64(4, 6, 8),
		CALL(BPF_FUNC_loop),
		EXIT(),
		MOV_IMM(0, 0),
		EXIT(),
		/* 10: */ LDX64(3, 2, 16), ADD_REG(3, 1), STX64(2, 3, 16),
		LDX64(4, 2, 24), MOV_IMM(0, 0), I(BPF_JMP | BPF_JNE | BPF_X, 1, 4, 1, 0), MOV_IMM(0, 1), EXIT(),
	};
	struct bpftime_vm_prog vp = vmprog(p, N(p));
	uint64_t ctx[4], r;
	memcpy(ctx, (uint64_t[4]){ 10, 0, 0, 999 }, sizeof(ctx));
	EQ(bpftime_vm_exec(&vp, (uintptr_t)ctx, 0, &r), 0);
	EQ(r, 10);
	EQ(ctx[2], 45);
	memcpy(ctx, (uint64_t[4]){ 100, 0, 0, 50 }, sizeof(ctx));
	EQ(bpftime_vm_exec(&vp, (uintptr_t)ctx, 0, &r), 0);
	EQ(r, 51); /* stopped by the callback's 1 */
	EQ(ctx[2], 1275);
	memcpy(ctx, (uint64_t[4]){ 10, 1, 0, 999 }, sizeof(ctx));
	EQ(bpftime_vm_exec(&vp, (uintptr_t)ctx, 0, &r), 0);
	EQ((int64_t)r, -EINVAL);
	EQ(ctx[2], 0);
	memcpy(ctx, (uint64_t[4]){ (1 << 23) + 1, 0, 0, 999 }, sizeof(ctx));
	EQ(bpftime_vm_exec(&vp, (uintptr_t)ctx, 0, &r), 0);
	EQ(r, (uint32_t)-E2BIG);
	memcpy(ctx, (uint64_t[4]){ 0, 0, 0, 999 }, sizeof(ctx));
	EQ(bpftime_vm_exec(&vp, (uintptr_t)ctx, 0, &r), 0);
	EQ(r, 0);

	/* A callback value that is neither an instruction index nor a JIT'ed callback entry is
	 * refused, never called. */
	struct bpf_insn wild[] = {
		MOV_IMM(1, 3), LD64(2, 0x7f0000001000ull), MOV_IMM(3, 0), MOV_IMM(4, 0), CALL(BPF_FUNC_loop), EXIT(),
	};
	struct bpftime_vm_prog wp = vmprog(wild, N(wild));
	EQ(bpftime_vm_exec(&wp, 0, 0, &r), 0);
	EQ((int64_t)r, -EINVAL);
	CHECK(!bpftime_jit_is_callback(0x7f0000001000ull));
	EQ(bpftime_jit_callback_add(0x7f0000001000ull), 0);
	CHECK(bpftime_jit_is_callback(0x7f0000001000ull));
	bpftime_jit_callback_remove(0x7f0000001000ull);
	CHECK(!bpftime_jit_is_callback(0x7f0000001000ull));
}

/* for_each over `map` with callback cb(map, key, value, ctx): ctx[0] += *key * 1000 + *value,
 * *value += 1, ctx[1] = map; stops when *key == ctx[2]. */
static void test_for_each(void)
{
	struct bpftime_map *arr = make_map(BPF_MAP_TYPE_ARRAY, 4, 8, 8);
	struct bpftime_map *hash = make_map(BPF_MAP_TYPE_HASH, 4, 8, 16);
	struct bpftime_map *lru = make_map(BPF_MAP_TYPE_LRU_HASH, 4, 8, 16);
	struct bpftime_map *queue = make_map(BPF_MAP_TYPE_QUEUE, 0, 8, 4);
	for (uint32_t k = 0; k < 8; k++) {
		uint64_t v = k * 10;
		bpftime_map_update_elem(arr, &k, &v, BPF_ANY);
		if (k < 5) {
			uint32_t hk = k + 100;
			bpftime_map_update_elem(hash, &hk, &v, BPF_ANY);
			bpftime_map_update_elem(lru, &hk, &v, BPF_ANY);
		}
	}
	struct bpf_insn p[] = {
		MOV_REG(3, 1),
		LDX64(1, 1, 24), /* the map */
		LD64(2, 9),
		LDX64(4, 3, 32), /* flags */
		CALL(BPF_FUNC_for_each_map_elem),
		EXIT(),
		MOV_IMM(0, 0),
		EXIT(),
		/* 9: cb(r1 map, r2 key, r3 value, r4 ctx) */
		STX64(4, 1, 8),
		I(BPF_LDX | BPF_MEM | BPF_W, 5, 2, 0, 0), /* r5 = *key */
		MOV_REG(6, 5),
		I(BPF_ALU64 | BPF_MUL | BPF_K, 6, 0, 0, 1000),
		LDX64(7, 3, 0), ADD_REG(6, 7), ADD_IMM(7, 1), STX64(3, 7, 0),
		LDX64(7, 4, 0), ADD_REG(7, 6), STX64(4, 7, 0),
		LDX64(7, 4, 16), MOV_IMM(0, 0), I(BPF_JMP | BPF_JNE | BPF_X, 5, 7, 1, 0), MOV_IMM(0, 1), EXIT(),
	};
	struct bpftime_vm_prog vp = vmprog(p, N(p));
	uint64_t ctx[5] = { 0, 0, 5, (uintptr_t)arr, 0 }, r;
	EQ(bpftime_vm_exec(&vp, (uintptr_t)ctx, 0, &r), 0);
	EQ(r, 6); /* keys 0..5, stopped at 5 */
	EQ(ctx[0], 15000 + 150);
	EQ(ctx[1], (uintptr_t)arr);
	uint32_t k = 5, k6 = 6;
	EQ(*(uint64_t *)bpftime_map_lookup_elem(arr, &k), 51); /* the callback wrote it */
	EQ(*(uint64_t *)bpftime_map_lookup_elem(arr, &k6), 60);
	uint64_t h[5] = { 0, 0, 999, (uintptr_t)hash, 0 };
	EQ(bpftime_vm_exec(&vp, (uintptr_t)h, 0, &r), 0);
	EQ(r, 5);
	EQ(h[0], (100 + 101 + 102 + 103 + 104) * 1000 + 100);
	uint64_t l[5] = { 0, 0, 999, (uintptr_t)lru, 0 };
	EQ(bpftime_vm_exec(&vp, (uintptr_t)l, 0, &r), 0);
	EQ(r, 5);
	uint64_t f[5] = { 0, 0, 999, (uintptr_t)hash, 1 };
	EQ(bpftime_vm_exec(&vp, (uintptr_t)f, 0, &r), 0);
	EQ((int64_t)r, -EINVAL);
	uint64_t q[5] = { 0, 0, 999, (uintptr_t)queue, 0 };
	EQ(bpftime_vm_exec(&vp, (uintptr_t)q, 0, &r), 0);
	EQ((int64_t)r, -EINVAL);

	/* A walk is no use of an LRU map's elements (the kernel's does not set their reference
	 * bits): after walking a full 32-entry map, 16 new keys evict the 16 oldest, exactly as
	 * without the walk (test/e2e/lru-for-each-differential.test.ts checks this on the kernel).
	 * A program's lookup is a use: keys looked up survive. One CPU, so one set of LRU lists. */
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu(), &one);
	sched_setaffinity(0, sizeof(one), &one);
	uint32_t types[2] = { BPF_MAP_TYPE_LRU_HASH, BPF_MAP_TYPE_LRU_PERCPU_HASH };
	for (int t = 0; t < 2; t++)
		for (int touch = 0; touch < 2; touch++) {
			struct bpftime_map *m = make_map(types[t], 4, 8, 32);
			uint64_t v[1024] = { 0 };
			for (uint32_t key = 0; key < 32; key++)
				bpftime_map_sys_update(m, &key, v, BPF_ANY);
			for (uint32_t key = 0; touch && key < 8; key++)
				CHECK(bpftime_map_lookup_elem(m, &key) != NULL);
			uint64_t w[5] = { 0, 0, 999, (uintptr_t)m, 0 };
			EQ(bpftime_vm_exec(&vp, (uintptr_t)w, 0, &r), 0);
			EQ(r, 32);
			for (uint32_t key = 32; key < 48; key++)
				bpftime_map_sys_update(m, &key, v, BPF_ANY);
			int present = 0, survivors = 0;
			for (uint32_t key = 0; key < 48; key++) {
				int here = bpftime_map_sys_lookup(m, &key, v, 0) == 0;
				present += here;
				survivors += here && key < (touch ? 8u : 16u);
			}
			EQ(present, 32);
			EQ(survivors, touch ? 8 : 0); /* touched keys stay; untouched old keys go first */
		}
}

int main(void)
{
	test_map();
	test_tail_calls();
	test_loop();
	test_for_each();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
