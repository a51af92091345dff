/* bpf_perf_event_output: a sample for the perf buffer of one CPU (or an explicit slot) of a
 * PERF_EVENT_ARRAY map. The rings live with the perf events the tool opened; the host (the
 * agent) knows which ring is in which slot, so the helper checks its arguments the way the
 * kernel does and hands the sample over. */
#include <errno.h>
#include <linux/bpf.h>
#include <sched.h>

#include "bpftime/map.h"
#include "helpers_internal.h"

/* bpf_perf_event_output(ctx, map, flags, data, size) */
BPFTIME_HELPER(perf_event_output)
{
	struct bpftime_map *m = (struct bpftime_map *)(uintptr_t)r2;
	uint64_t flags = r3, size = r5;
	const void *data = (const void *)(uintptr_t)r4;
	if (!m || (flags & ~(BPF_F_INDEX_MASK | BPF_F_CTXLEN_MASK)))
		return (uint64_t)-EINVAL;
	const struct bpftime_map_spec *spec = bpftime_map_get_spec(m);
	if (spec->map_type != BPF_MAP_TYPE_PERF_EVENT_ARRAY)
		return (uint64_t)-EINVAL;
	uint64_t index = flags & BPF_F_INDEX_MASK;
	if (index == BPF_F_CURRENT_CPU) {
		index = (uint64_t)bpftime_current_cpu(); /* fixed for the run, like the kernel's */
	}
	if (index >= spec->max_entries)
		return (uint64_t)-E2BIG;
	const struct bpftime_helper_host *host = bpftime_helpers_host();
	if (!host->perf_output)
		return (uint64_t)-ENOENT;
	return (uint64_t)host->perf_output(bpftime_map_id(m), (uint32_t)index, data, size);
}
