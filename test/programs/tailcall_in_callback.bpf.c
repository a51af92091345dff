// A bpf_for_each_map_elem callback that tail-calls itself (not from a function it calls): a 6.18
// kernel's verifier refuses the program (EINVAL, "At callback return the register R0 has unknown
// scalar value should have been in [0, 1]"), and so must the runtime. Loaded by
// tailcall_callback_loader.c, which prints the verdict; test/e2e/tailcall-callback.test.ts.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct bpf_map;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} jmp_table SEC(".maps");

struct each_ctx {
	struct pt_regs *ctx;
};

static long cb(struct bpf_map *map, __u32 *key, __u64 *val, struct each_ctx *c)
{
	/* A helper call before, as in real callbacks: r0 is set (with r0 never written in the
	 * callback, the kernel's precision tracking trips over it first: EFAULT, "verifier bug"). */
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&arr, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	bpf_tail_call(c->ctx, &jmp_table, 0);
	return 0;
}

SEC("uprobe")
int dispatch(struct pt_regs *ctx)
{
	struct each_ctx c = { ctx };
	bpf_for_each_map_elem(&arr, cb, &c, 0);
	return 0;
}
