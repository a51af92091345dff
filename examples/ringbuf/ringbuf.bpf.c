// SPDX-License-Identifier: GPL-2.0
// Sends every malloc() call of the traced processes to user space through a BPF ring buffer
// (BPF_MAP_TYPE_RINGBUF): the record is reserved in the ring, filled in place and submitted,
// so nothing is copied twice. A full ring drops the event; `dropped` counts them.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "ringbuf.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

__u64 dropped = 0;

SEC("uprobe")
int BPF_KPROBE(on_malloc, unsigned long size)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	__u64 id = bpf_get_current_pid_tgid();

	if (!e) {
		__sync_fetch_and_add(&dropped, 1);
		return 0;
	}
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->size = size;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
