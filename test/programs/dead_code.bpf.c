// Dead code the verifier must find (test/e2e/dead-code-differential.test.ts): each program has
// branches fixed at load time, some guarding instructions libbpf poisons because the CO-RE
// relocation behind them cannot be resolved on any kernel.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

/* Matched to the kernel's task_struct by libbpf (the ___ suffix is a flavour); the field
 * exists in no kernel, so its relocation fails and the load that reads it is poisoned. */
struct task_struct___bpftime {
	int bpftime_no_such_field;
} __attribute__((preserve_access_index));

struct bpftime_no_such_type {
	int x;
};

const volatile int knob = 0;
const volatile int other_knob = 3;

/* A field that does not exist: bpf_core_field_exists() is 0, the read behind it is dead. */
SEC("tracepoint/syscalls/sys_enter_getppid")
int missing_field(void *ctx)
{
	struct task_struct___bpftime *t = (void *)bpf_get_current_task();
	int v = 7;

	if (bpf_core_field_exists(t->bpftime_no_such_field))
		v = t->bpftime_no_such_field;
	return v;
}

/* A type that does not exist, and .rodata knobs: only one way through each branch. */
SEC("tracepoint/syscalls/sys_enter_getppid")
int knobs(void *ctx)
{
	int v = 1;

	if (bpf_core_type_exists(struct bpftime_no_such_type))
		v += 10;
	if (knob)
		v += 100;
	if (other_knob == 3)
		v += 1000;
	else
		v -= 1;
	for (int i = 0; i < other_knob; i++)
		v *= 3;
	return v;
}

/* Nothing decided at load: both ways stay. */
SEC("tracepoint/syscalls/sys_enter_getppid")
int undecided(void *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();

	if (id & 1)
		return 1;
	return (id >> 32) == 42 ? 2 : 3;
}
