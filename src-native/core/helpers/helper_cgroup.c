/* bpf_current_task_under_cgroup: cgroup arrays never hold a cgroup here (the server refuses
 * them), so every slot is empty, and for an empty slot the kernel answers -EAGAIN (index out of
 * range: -E2BIG). Tools only call it when a cgroup filter was set, which fails at setup. */
#include <errno.h>
#include <linux/bpf.h>

#include "bpftime/map.h"
#include "helpers_internal.h"

/* bpf_current_task_under_cgroup(map, index) -> 1, 0, or -errno */
BPFTIME_HELPER(current_task_under_cgroup)
{
	struct bpftime_map *m = (struct bpftime_map *)(uintptr_t)r1;
	if (!m || bpftime_map_get_spec(m)->map_type != BPF_MAP_TYPE_CGROUP_ARRAY)
		return (uint64_t)-EINVAL;
	if ((uint32_t)r2 >= bpftime_map_get_spec(m)->max_entries)
		return (uint64_t)-E2BIG;
	return (uint64_t)-EAGAIN; /* the kernel's answer for an empty slot */
}
