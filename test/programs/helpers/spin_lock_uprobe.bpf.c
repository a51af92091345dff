// SPDX-License-Identifier: GPL-2.0
// bpf_spin_lock at a uprobe: every call of spin_victim's bump() adds 1 and 2 to two counters of
// one map value under its lock. Victims in several processes and threads hit it at once; the
// counters must come out exact and equal in ratio (test/e2e/spin-lock-uprobe.test.ts). (A
// kernel refuses locks in tracing programs: this runs under bpftime only.)
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
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct locked_val);
} counters SEC(".maps");

SEC("uprobe")
int on_bump(void *ctx)
{
	__u32 k = 0;
	struct locked_val *v = bpf_map_lookup_elem(&counters, &k);
	if (!v)
		return 0;
	bpf_spin_lock(&v->lock);
	__u64 a = v->a; /* read-modify-write on purpose: only the lock keeps it exact */
	v->b += 2;
	v->a = a + 1;
	bpf_spin_unlock(&v->lock);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
