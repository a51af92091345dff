// SPDX-License-Identifier: GPL-2.0
// Sends every malloc() call of the traced processes to user space through a perf buffer
// (BPF_MAP_TYPE_PERF_EVENT_ARRAY + bpf_perf_event_output), one event per call.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "perfbuf.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

SEC("uprobe")
int BPF_KPROBE(on_malloc, unsigned long size)
{
	struct event e = {};
	__u64 id = bpf_get_current_pid_tgid();

	e.pid = id >> 32;
	e.tid = (__u32)id;
	e.size = size;
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
