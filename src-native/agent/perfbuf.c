/* Perf buffers as agents see them: the server tells every agent which ring sits in which slot of
 * which PERF_EVENT_ARRAY map (MSG_PERF_SLOT); the table and bpf_perf_event_output's host side
 * are shared with the server's test runs (core/perf/perf_slots.c). */
#include "agent.h"

#include <unistd.h>

#include "bpftime/perf_slots.h"

void agent_perf_slot(const struct bpftime_perf_slot *m, const int *fds, int nfds)
{
	if (m->present && nfds >= 2)
		bpftime_perf_slot_set(m->map_id, m->index, m->event_id, dup(fds[0]), dup(fds[1]));
	else
		bpftime_perf_slot_set(m->map_id, m->index, 0, -1, -1);
	if (m->push_id)
		agent_report(m->push_id, 0, "");
}

/* bpftime_helper_host.perf_output */
long agent_perf_output(uint32_t map_id, uint32_t index, const void *data, uint64_t size)
{
	return bpftime_perf_slot_output(map_id, index, data, size);
}
