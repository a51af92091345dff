// Maps that libbpf pins: `shared` with LIBBPF_PIN_BY_NAME (pinned under the object's
// pin_root_path at load, reused by the next load that finds the pin), `plain` without pinning
// (pinned on request by bpf_object__pin_maps). test/programs/pin_by_name.c loads it.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shared SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} plain SEC(".maps");

SEC("uprobe")
int touch(void *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&shared, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	return 0;
}
