// The tail-call benchmark's programs (scripts/bench/tailcall.ts): XDP programs run through
// BPF_PROG_TEST_RUN. `leaf` alone; `entry`, which tail-calls `leaf`; `chain`, which tail-calls
// itself until the kernel's limit of 33 stops it. All answer XDP_PASS (2); a tail call that
// falls through where it should not answers XDP_DROP (1).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

int leaf(struct xdp_md *ctx);
int chain(struct xdp_md *ctx);

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__uint(key_size, sizeof(__u32));
	__array(values, int(struct xdp_md *));
} progs SEC(".maps") = {
	.values = { [0] = (void *)&leaf, [1] = (void *)&chain },
};

SEC("xdp")
int leaf(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int chain(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &progs, 1);
	return XDP_PASS;
}

SEC("xdp")
int entry(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &progs, 0);
	return XDP_DROP;
}
