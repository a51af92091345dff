// SPDX-License-Identifier: GPL-2.0
// Map values holding a struct bpf_spin_lock, and an XDP program that updates one under its lock
// (run through BPF_PROG_TEST_RUN). spin_lock.c drives it the same way on the kernel and under
// bpftime (test/e2e/spin-lock-differential.test.ts).
#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>

struct locked_val {
	__u64 a;
	struct bpf_spin_lock lock;
	__u64 b;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct locked_val);
} locked SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, struct locked_val);
} hlocked SEC(".maps");

struct plain_val {
	__u64 a, b;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct plain_val);
} plain SEC(".maps");

SEC("xdp")
int bump(struct xdp_md *ctx)
{
	__u32 k = 0;
	struct locked_val *v = bpf_map_lookup_elem(&locked, &k);
	if (!v)
		return XDP_ABORTED;
	bpf_spin_lock(&v->lock);
	v->a += 1;
	v->b += 2;
	bpf_spin_unlock(&v->lock);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
