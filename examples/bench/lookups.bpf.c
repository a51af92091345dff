// SPDX-License-Identifier: GPL-2.0
// lookups: a uprobe program that makes `nlookups` map lookups per hit, in a hash map
// (lookup_hash) or an array map (lookup_array), and counts its hits. The per-hit cost with
// nlookups = N minus the cost with nlookups = 0, divided by N, is the cost of one lookup
// helper call as the program sees it (plus one loop iteration).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NKEYS 64         /* keys 0..NKEYS-1 are present in both maps */
#define MAX_LOOKUPS 1024

/* Set by the tool before load; the kernel's verifier sees it as a constant. */
const volatile __u32 nlookups = 0;

__u64 hits = 0;
__u64 sink = 0; /* keeps the loaded values alive */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, NKEYS);
	__type(key, __u32);
	__type(value, __u64);
} hmap SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NKEYS);
	__type(key, __u32);
	__type(value, __u64);
} amap SEC(".maps");

static __always_inline int run(void *map)
{
	__u64 sum = 0;

	for (__u32 i = 0; i < MAX_LOOKUPS && i < nlookups; i++) {
		__u32 key = i & (NKEYS - 1);
		__u64 *v = bpf_map_lookup_elem(map, &key);

		if (v)
			sum += *v;
	}
	sink += sum;
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("uprobe")
int lookup_hash(void *ctx)
{
	return run(&hmap);
}

SEC("uprobe")
int lookup_array(void *ctx)
{
	return run(&amap);
}

char LICENSE[] SEC("license") = "GPL";
