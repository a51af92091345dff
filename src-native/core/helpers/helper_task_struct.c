/* bpf_get_current_task / bpf_get_current_task_btf: the calling thread's struct task_struct.
 *
 * There is no kernel task here. The host (the agent: src-native/agent/task.c) keeps stand-ins
 * laid out as the running kernel's struct task_struct (from its BTF, where CO-RE tools took
 * their offsets), and probe_read_kernel reads them (helper_probe.c). The core only forwards, so
 * it stays free of any notion of processes. Without such a host the answer is 0: programs treat
 * it as a NULL task and their reads through it fail, as reads of a bad kernel pointer do. */
#include "helpers_internal.h"

static uint64_t current_task(int btf)
{
	const struct bpftime_helper_host *host = bpftime_helpers_host();
	return host->current_task ? host->current_task(btf) : 0;
}

BPFTIME_HELPER(get_current_task) { return current_task(0); }

/* The same task; BTF-typed programs load its fields directly instead of through
 * probe_read_kernel, so the host makes every field current before answering. */
BPFTIME_HELPER(get_current_task_btf) { return current_task(1); }
