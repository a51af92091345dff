// Tail calls from callbacks that a helper calls (bpf_for_each_map_elem): a dispatcher at a
// uprobe walks maps whose callbacks tail-call through a prog array (from a function they call:
// see tail_from_sub). The tail call replaces that function's frame (the target's r0 comes back to
// the callback, so a target returning 1 stops the walk) and counts towards the run's limit of 33. The
// loader (tailcall_callback_loader.c) prints `results`; test/e2e/tailcall-callback.test.ts
// compares the JIT with the interpreter, and with the kernel where the kernel loads it.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct bpf_map;

enum {
	R_RUNS, R_ARR_CB, R_ARR_FALL, R_ARR_RET, R_LEAF, R_STOP_CB, R_STOP_RET, R_STOPPER,
	R_HASH_CB, R_HASH_FALL, R_HASH_RET, R_CHAIN, R_CHAIN_FALL,
	NRES
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NRES);
	__type(key, __u32);
	__type(value, __s64);
} results SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} hash SEC(".maps");

static __always_inline void add(__u32 k, __s64 v)
{
	__s64 *p = bpf_map_lookup_elem(&results, &k);
	if (p)
		__sync_fetch_and_add(p, v);
}

int leaf(struct pt_regs *ctx);
int stopper(struct pt_regs *ctx);
int chain(struct pt_regs *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__array(values, int(struct pt_regs *));
} jmp_table SEC(".maps") = {
	.values = {
		[0] = (void *)&leaf,
		[1] = (void *)&stopper,
		[2] = (void *)&chain,
	},
};

/* The tail call, in a function of its own: the kernel's verifier refuses a tail call made by the
 * callback itself (it takes it as a possible return of the callback, whose r0 must be 0 or 1, with
 * the target's unknown r0: "At callback return the register R0 has unknown scalar value"), but
 * lets a callback call a function that tail-calls. The tail call replaces this function's frame:
 * the target's r0 is what the callback gets back. */
/* -1, read at run time: with a constant return clang would let the callers assume it. */
volatile int fell_through = -1;

static __noinline int tail_from_sub(struct pt_regs *ctx, __u32 idx)
{
	bpf_tail_call(ctx, &jmp_table, idx);
	return fell_through;
}

struct each_ctx {
	struct pt_regs *ctx;
};

/* Tail-calls the leaf, which returns 0: the walk goes on. Nothing after the call runs. */
static long arr_cb(struct bpf_map *map, __u32 *key, __u64 *val, struct each_ctx *c)
{
	add(R_ARR_CB, 1);
	if (tail_from_sub(c->ctx, 0) < 0)
		add(R_ARR_FALL, 1);
	return 0;
}

/* Tail-calls the stopper, whose 1 ends the walk after this element. */
static long stop_cb(struct bpf_map *map, __u32 *key, __u64 *val, struct each_ctx *c)
{
	add(R_STOP_CB, 1);
	return tail_from_sub(c->ctx, 1) == 1;
}

/* Tail-calls the chain, which tail-calls itself until the run's count is used up; later
 * elements' tail calls then fall through. */
static long hash_cb(struct bpf_map *map, __u32 *key, __u64 *val, struct each_ctx *c)
{
	add(R_HASH_CB, 1);
	if (tail_from_sub(c->ctx, 2) < 0)
		add(R_HASH_FALL, 1);
	return 0;
}

SEC("uprobe")
int leaf(struct pt_regs *ctx)
{
	add(R_LEAF, 1);
	return 0;
}

SEC("uprobe")
int stopper(struct pt_regs *ctx)
{
	add(R_STOPPER, 1);
	return 1;
}

SEC("uprobe")
int chain(struct pt_regs *ctx)
{
	add(R_CHAIN, 1);
	bpf_tail_call(ctx, &jmp_table, 2);
	add(R_CHAIN_FALL, 1);
	return 0;
}

SEC("uprobe")
int dispatch(struct pt_regs *ctx)
{
	struct each_ctx c = { ctx };
	int op = (int)PT_REGS_PARM1(ctx);
	add(R_RUNS, 1);
	if (op == 0)
		add(R_ARR_RET, bpf_for_each_map_elem(&arr, arr_cb, &c, 0));
	else if (op == 1)
		add(R_STOP_RET, bpf_for_each_map_elem(&arr, stop_cb, &c, 0));
	else if (op == 2)
		add(R_HASH_RET, bpf_for_each_map_elem(&hash, hash_cb, &c, 0));
	return 0;
}
