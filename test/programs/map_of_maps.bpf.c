// Maps of maps as libbpf loads them: an ARRAY_OF_MAPS and a HASH_OF_MAPS initialised with
// `__array(values, ...)` (libbpf creates the inner template, the outer maps, and fills their slots
// with the inner maps' fds), looked up by a program at a uprobe, which then reads and writes the
// inner map it got (bpf_map_lookup_elem / bpf_map_update_elem on the inner map pointer). The
// loader (map_of_maps_loader.c) prints the inner maps and the outer slots;
// test/e2e/map-of-maps.test.ts compares the kernel's output with the runtime's.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct inner_arr {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} arr_a SEC(".maps"), arr_b SEC(".maps");

struct inner_hash {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} hash_a SEC(".maps"), hash_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner_arr);
} outer_arr SEC(".maps") = {
	.values = { [0] = &arr_a, [2] = &arr_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, struct inner_hash);
} outer_hash SEC(".maps") = {
	.values = { [1] = &hash_a, [3] = &hash_b },
};

/* misses[0]: outer_arr had no map at the slot; misses[1]: outer_hash had none */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} misses SEC(".maps");

static void miss(__u32 which)
{
	__u64 *m = bpf_map_lookup_elem(&misses, &which);
	if (m)
		__sync_fetch_and_add(m, 1);
}

/* tc_target(op, n) of tailcall_victim.c: op picks the outer slot, n the inner key. */
SEC("uprobe")
int probe(struct pt_regs *ctx)
{
	int op = (int)PT_REGS_PARM1(ctx), n = (int)PT_REGS_PARM2(ctx);
	__u32 slot = op;
	void *arr = bpf_map_lookup_elem(&outer_arr, &slot);
	if (arr) {
		__u32 k = n & 3;
		__u64 *v = bpf_map_lookup_elem(arr, &k);
		if (v)
			__sync_fetch_and_add(v, 100 + op);
	} else {
		miss(0);
	}
	void *h = bpf_map_lookup_elem(&outer_hash, &slot);
	if (h) {
		__u32 k = n;
		__u64 *v = bpf_map_lookup_elem(h, &k);
		if (v) {
			__sync_fetch_and_add(v, 1);
		} else {
			__u64 first = 1000 + op;
			bpf_map_update_elem(h, &k, &first, BPF_NOEXIST);
		}
	} else {
		miss(1);
	}
	return 0;
}
