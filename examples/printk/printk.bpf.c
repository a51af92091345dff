// SPDX-License-Identifier: GPL-2.0
// Prints every malloc() call of one process with bpf_printk: its size argument, read from the
// probed thread's registers (the kernel-layout pt_regs context of a uprobe).
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("uprobe")
int BPF_KPROBE(print_malloc, unsigned long size)
{
	char comm[16];

	bpf_get_current_comm(comm, sizeof(comm));
	bpf_printk("malloc(%lu) by %s", size, comm);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
