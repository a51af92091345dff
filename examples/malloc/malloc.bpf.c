// SPDX-License-Identifier: GPL-2.0
// Counts calls of a user-space function per process (tgid).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, __u32);   /* tgid */
	__type(value, __u64); /* calls */
} counts SEC(".maps");

SEC("uprobe")
int count_calls(void *ctx)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	__u64 one = 1, *val;

	val = bpf_map_lookup_elem(&counts, &pid);
	if (val) {
		/* Threads of one process share the slot: add atomically. */
		__sync_fetch_and_add(val, 1);
		return 0;
	}
	/* First call seen for this process. If another thread inserted the
	 * slot in between, NOEXIST fails and we add to that one instead, so
	 * no call is lost. */
	if (bpf_map_update_elem(&counts, &pid, &one, BPF_NOEXIST) != 0) {
		val = bpf_map_lookup_elem(&counts, &pid);
		if (val)
			__sync_fetch_and_add(val, 1);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
