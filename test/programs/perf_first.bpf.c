// SPDX-License-Identifier: GPL-2.0
// Each call of perf_first_victim's fire(seq) goes out through a perf buffer (test/e2e/perf-first.test.ts).
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(int));
	__uint(value_size, sizeof(int));
} events SEC(".maps");

SEC("uprobe")
int on_fire(struct pt_regs *ctx)
{
	int seq = (int)PT_REGS_PARM1(ctx);
	bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &seq, sizeof(seq));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
