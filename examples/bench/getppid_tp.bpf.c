// SPDX-License-Identifier: GPL-2.0
// getppid_tp: counts one process's getppid() calls at the syscalls:sys_enter_getppid
// tracepoint.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 target_tgid = 0; /* set by the tool before load */

__u64 hits = 0;

SEC("tracepoint/syscalls/sys_enter_getppid")
int count_getppid(void *ctx)
{
	if ((__u32)(bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
