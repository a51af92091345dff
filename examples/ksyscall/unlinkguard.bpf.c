// SPDX-License-Identifier: GPL-2.0
// Files under a protected directory cannot be deleted: a kprobe on the unlinkat syscall's entry
// function (libbpf's SEC("ksyscall"), BPF_KSYSCALL reads the arguments from the task's user
// registers) makes the call fail with EPERM through bpf_override_return, and reports it on a ring
// buffer. Paths are compared as given (a relative path or another route to the directory passes).
#include "vmlinux_min.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "unlinkguard.h"

#define EPERM 1

const volatile char prefix[UG_PATH_MAX] = {};
const volatile __u32 prefix_len = 0;

__u64 seen;    /* unlinkat calls looked at */
__u64 refused; /* made to fail */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

SEC("ksyscall/unlinkat")
int BPF_KSYSCALL(guard_unlinkat, int dfd, const char *pathname, int flag)
{
	char path[UG_PATH_MAX];
	__sync_fetch_and_add(&seen, 1);
	if (bpf_probe_read_user_str(path, sizeof(path), pathname) <= 0)
		return 0;
	for (__u32 i = 0; i < UG_PATH_MAX && i < prefix_len; i++)
		if (path[i] != prefix[i])
			return 0;
	__sync_fetch_and_add(&refused, 1);
	bpf_override_return(ctx, -EPERM);
	struct ug_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	__builtin_memcpy(e->path, path, sizeof(e->path));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
