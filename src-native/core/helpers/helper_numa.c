/* bpf_get_numa_node_id: the NUMA node of the CPU the program runs on, from getcpu() (the vDSO:
 * no syscall). The run's CPU is fixed when it starts (bpftime_run_ctx_set); the node is read at
 * the call, which only differs if the thread migrated across nodes in between. */
#include <sched.h>

#include "helpers_internal.h"

BPFTIME_HELPER(get_numa_node_id)
{
	unsigned cpu = 0, node = 0;
	if (getcpu(&cpu, &node) != 0)
		return 0;
	return node;
}
