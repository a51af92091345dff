// Tail calls and callbacks as libbpf loads them: a dispatcher at a uprobe jumps through a prog
// array initialised with `.values` (libbpf fills the slots after loading), stages that loop with
// bpf_loop, walk maps with bpf_for_each_map_elem, chain into each other and into themselves up
// to the kernel's limit of 33 tail calls. Every stage writes what it saw into `results`, which
// the loader (tailcall_loader.c) prints. test/e2e/tailcall.test.ts compares the kernel's output
// with the runtime's, in the interpreter and in the JIT.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct bpf_map;

enum {
	R_DISPATCH, R_FALL, R_FALL_OP,
	R_LOOP_RET, R_LOOP_SUM, R_LOOP_BADFLAGS, R_LOOP_E2BIG, R_LOOP_ZERO,
	R_HASH_N, R_HASH_SUM, R_ARR_N, R_ARR_SUM, R_PCPU_N, R_PCPU_SUM, R_LRU_N, R_LRU_SUM, R_PHASH_N,
	R_EACH_BADFLAGS, R_HASH_STOP_N,
	R_CHAIN, R_CHAIN_FALL, R_NESTED, R_NESTED_FALL, R_SUB_LOOP,
	R_SUBTAIL, R_SUBTAIL_AFTER,
	NRES
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NRES);
	__type(key, __u32);
	__type(value, __s64);
} results SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} squares SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} pcpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16);
	__type(key, __u64);
	__type(value, __u32);
} lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} phash SEC(".maps");

static __always_inline void add(__u32 k, __s64 v)
{
	__s64 *p = bpf_map_lookup_elem(&results, &k);
	if (p)
		__sync_fetch_and_add(p, v);
}

static __always_inline void put(__u32 k, __s64 v)
{
	__s64 *p = bpf_map_lookup_elem(&results, &k);
	if (p)
		*p = v;
}

struct loop_ctx {
	__u64 sum;
};

static long loop_cb(__u32 i, void *data)
{
	struct loop_ctx *c = data;
	c->sum += i;
	return i == 50 ? 1 : 0;
}

struct each_ctx {
	__u64 n, sum;
};

static long sum_u64(struct bpf_map *map, __u32 *key, __u64 *val, struct each_ctx *c)
{
	c->n++;
	c->sum += *val;
	return 0;
}

static long arr_cb(struct bpf_map *map, __u32 *key, __u64 *val, struct each_ctx *c)
{
	*val += 1; /* callbacks may write the element */
	c->n++;
	c->sum += *key * 1000 + *val;
	return *key == 5 ? 1 : 0;
}

static long lru_cb(struct bpf_map *map, __u64 *key, __u32 *val, struct each_ctx *c)
{
	c->n++;
	c->sum += *key + *val;
	return 0;
}

static long phash_cb(struct bpf_map *map, __u32 *key, __u32 *val, struct each_ctx *c)
{
	c->n++;
	return 0;
}

static long stop_at_once(struct bpf_map *map, __u32 *key, __u64 *val, struct each_ctx *c)
{
	return 1;
}

/* The stages, declared so that the prog array can name them and they can name it. */
int stage_loop(struct pt_regs *ctx);
int stage_foreach(struct pt_regs *ctx);
int stage_chain(struct pt_regs *ctx);
int stage_nested(struct pt_regs *ctx);
int stage_subtail(struct pt_regs *ctx);

/* Slots 5..7 stay empty: tail calls there fall through. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 8);
	__uint(key_size, sizeof(__u32));
	__array(values, int(struct pt_regs *));
} jmp_table SEC(".maps") = {
	.values = {
		[0] = (void *)&stage_loop,
		[1] = (void *)&stage_foreach,
		[2] = (void *)&stage_chain,
		[3] = (void *)&stage_nested,
		[4] = (void *)&stage_subtail,
	},
};

/* A bpf-to-bpf function that itself takes a callback: callbacks from subprograms. */
static __noinline __u64 loop_in_subprog(__u32 n)
{
	struct loop_ctx c = { 0 };
	bpf_loop(n, loop_cb, &c, 0);
	return c.sum;
}

SEC("uprobe")
int stage_loop(struct pt_regs *ctx)
{
	struct loop_ctx c = { 0 };
	__u32 n = (__u32)PT_REGS_PARM2(ctx);
	long ret = bpf_loop(n, loop_cb, &c, 0);
	add(R_LOOP_RET, ret);
	add(R_LOOP_SUM, c.sum);
	put(R_LOOP_BADFLAGS, bpf_loop(1, loop_cb, &c, 1));
	put(R_LOOP_E2BIG, bpf_loop(n + (1 << 23), loop_cb, &c, 0));
	put(R_LOOP_ZERO, bpf_loop(0, loop_cb, &c, 0));
	add(R_SUB_LOOP, loop_in_subprog(n));
	return 0;
}

SEC("uprobe")
int stage_foreach(struct pt_regs *ctx)
{
	struct each_ctx c = { 0 };
	long n;

	n = bpf_for_each_map_elem(&squares, sum_u64, &c, 0);
	put(R_HASH_N, n * 1000 + c.n);
	put(R_HASH_SUM, c.sum);
	c.n = c.sum = 0;
	n = bpf_for_each_map_elem(&arr, arr_cb, &c, 0);
	put(R_ARR_N, n * 1000 + c.n);
	put(R_ARR_SUM, c.sum);
	c.n = c.sum = 0;
	n = bpf_for_each_map_elem(&pcpu, sum_u64, &c, 0);
	put(R_PCPU_N, n * 1000 + c.n);
	put(R_PCPU_SUM, c.sum);
	c.n = c.sum = 0;
	n = bpf_for_each_map_elem(&lru, lru_cb, &c, 0);
	put(R_LRU_N, n * 1000 + c.n);
	put(R_LRU_SUM, c.sum);
	c.n = 0;
	n = bpf_for_each_map_elem(&phash, phash_cb, &c, 0);
	put(R_PHASH_N, n * 1000 + c.n);
	put(R_EACH_BADFLAGS, bpf_for_each_map_elem(&squares, sum_u64, &c, 1));
	c.n = 0;
	put(R_HASH_STOP_N, bpf_for_each_map_elem(&squares, stop_at_once, &c, 0));
	return 0;
}

SEC("uprobe")
int stage_chain(struct pt_regs *ctx)
{
	add(R_CHAIN, 1);
	bpf_tail_call(ctx, &jmp_table, 2);
	add(R_CHAIN_FALL, 1);
	return 0;
}

SEC("uprobe")
int stage_nested(struct pt_regs *ctx)
{
	add(R_NESTED, 1);
	bpf_tail_call(ctx, &jmp_table, 0);
	add(R_NESTED_FALL, 1);
	return 0;
}

/* A tail call from a bpf-to-bpf function replaces that function's frame only: when the target
 * returns, the caller of the function goes on. */
static __noinline int tail_from_subprog(struct pt_regs *ctx)
{
	bpf_tail_call(ctx, &jmp_table, 0);
	/* Not a constant: clang would fold a constant return into the caller. */
	return (int)PT_REGS_PARM2(ctx) + 7;
}

SEC("uprobe")
int stage_subtail(struct pt_regs *ctx)
{
	add(R_SUBTAIL, 1);
	add(R_SUBTAIL_AFTER, tail_from_subprog(ctx) + 100);
	return 0;
}

SEC("uprobe")
int dispatch(struct pt_regs *ctx)
{
	__u32 op = (__u32)PT_REGS_PARM1(ctx);
	add(R_DISPATCH, 1);
	bpf_tail_call(ctx, &jmp_table, op);
	add(R_FALL, 1);
	add(R_FALL_OP, op);
	return 0;
}
