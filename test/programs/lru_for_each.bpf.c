// bpf_for_each_map_elem over LRU maps must not count as a use of the elements (the kernel's
// iteration reads them without bpf_lru_node_set_ref), while a lookup does: lru_for_each.c runs
// these raw tracepoint programs on CPU 0 between fills and prints which keys survive eviction.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

#define LRU(name, kind)                                   \
	struct {                                          \
		__uint(type, kind);                       \
		__uint(max_entries, 32);                  \
		__uint(map_flags, BPF_F_ZERO_SEED);       \
		__type(key, __u32);                       \
		__type(value, __u64);                     \
	} name SEC(".maps")

LRU(lru, BPF_MAP_TYPE_LRU_HASH);
LRU(lru_pcpu, BPF_MAP_TYPE_LRU_PERCPU_HASH);

/* [0] elements visited, [1] sum of their keys, [2] sum of their values */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} result SEC(".maps");

static void add(__u32 slot, __u64 v)
{
	__u64 *r = bpf_map_lookup_elem(&result, &slot);
	if (r)
		*r += v;
}

static long visit(void *map, __u32 *key, __u64 *value, void *ctx)
{
	add(0, 1);
	add(1, *key);
	add(2, *value);
	return 0;
}

SEC("raw_tp")
int walk_lru(void *ctx) { return bpf_for_each_map_elem(&lru, visit, 0, 0); }

SEC("raw_tp")
int walk_lru_pcpu(void *ctx) { return bpf_for_each_map_elem(&lru_pcpu, visit, 0, 0); }

static int look(void *map, __u32 k) { return bpf_map_lookup_elem(map, &k) != 0; }

/* Lookups of keys [0, 8): a use of each. */
#define TOUCH(map) \
	(look(map, 0) + look(map, 1) + look(map, 2) + look(map, 3) + look(map, 4) + look(map, 5) + look(map, 6) + look(map, 7))

SEC("raw_tp")
int touch_lru(void *ctx) { return TOUCH(&lru); }

SEC("raw_tp")
int touch_lru_pcpu(void *ctx) { return TOUCH(&lru_pcpu); }
