/* XDP programs around the compute kernels (compute_kernels.h) for the test-run benchmark: each
 * takes the 4 KiB value of `buf` (filled by compute.c) and returns its 64-bit result folded to
 * the 32-bit XDP return value. The packet is ignored. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "compute_kernels.h"

char LICENSE[] SEC("license") = "GPL";

struct page {
	u8 b[BUF_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct page);
} buf SEC(".maps");

static __always_inline u8 *page(void)
{
	u32 zero = 0;
	struct page *p = bpf_map_lookup_elem(&buf, &zero);
	return p ? p->b : 0;
}

#define FOLD(v) ((u32)(v) ^ (u32)((v) >> 32))

#define XDP_KERNEL(name)                          \
	SEC("xdp") int bench_##name(struct xdp_md *ctx) \
	{                                         \
		u8 *b = page();                   \
		if (!b)                           \
			return 0;                 \
		u64 r = k_##name(b);              \
		return FOLD(r);                   \
	}

XDP_KERNEL(primes)
XDP_KERNEL(log2)
XDP_KERNEL(memcpy)
XDP_KERNEL(strcmp)
XDP_KERNEL(switch)
XDP_KERNEL(hash)

static long loop_cb(u32 i, void *c)
{
	return loop_step(i, c);
}

SEC("xdp") int bench_loop(struct xdp_md *ctx)
{
	u8 *b = page();
	if (!b)
		return 0;
	struct loop_ctx c = { b, 0x9e3779b97f4a7c15ull };
	bpf_loop(LOOP_ITERS, loop_cb, &c, 0);
	return FOLD(c.s);
}

/* Not a compute kernel: what one test-run iteration costs by itself (and with stats on). */
SEC("xdp") int bench_nop(struct xdp_md *ctx)
{
	return XDP_PASS;
}
