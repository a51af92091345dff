/* Which perf buffer sits in which slot of which PERF_EVENT_ARRAY map, in this process, and the
 * host side of bpf_perf_event_output that writes a sample there.
 *
 * The rings live with the perf events the tool opened (a memfd each, plus an eventfd the tool
 * sleeps on); the server tells every process that runs programs which event is in which slot
 * (agents: MSG_PERF_SLOT; the server's own test runs: BPF_PROG_TEST_RUN), and this table is
 * what those processes keep. One implementation for the agent and the addon. */
#ifndef BPFTIME_PERF_SLOTS_H
#define BPFTIME_PERF_SLOTS_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Puts the event (its memfd and wake eventfd, both taken over: closed when the slot changes)
 * in slot `index` of map `map_id`, replacing what was there; memfd < 0 empties the slot. */
void bpftime_perf_slot_set(uint32_t map_id, uint32_t index, uint32_t event_id, int memfd, int waitfd);

/* bpftime_helper_host.perf_output: writes one sample into the ring in that slot and wakes its
 * reader when it sleeps. 0, -ENOENT (no event there, or its ring is not mapped by the tool
 * yet), -ENOSPC (ring full: the loss is counted and reported as PERF_RECORD_LOST). */
long bpftime_perf_slot_output(uint32_t map_id, uint32_t index, const void *data, uint64_t size);

#ifdef __cplusplus
}
#endif
#endif
