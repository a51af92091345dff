// bpf_printk from a program run by BPF_PROG_TEST_RUN: on the kernel the text reaches trace_pipe
// like any other bpf_trace_printk; test_run_printk.c checks it does under the shim too.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct args {
	int x;
};

SEC("syscall")
int say(struct args *a)
{
	bpf_printk("bpftime-test-run-printk %d", a->x);
	return a->x * 2;
}

char LICENSE[] SEC("license") = "GPL";
