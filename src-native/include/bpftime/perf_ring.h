/* Perf buffers (a PERF_COUNT_SW_BPF_OUTPUT event's ring) in shared memory, with the kernel's
 * layout: a struct perf_event_mmap_page, then data_size bytes of records. The tool maps it
 * (through the shim, as it would map the perf event fd) and consumes with data_tail; agents
 * produce PERF_RECORD_SAMPLE records, and PERF_RECORD_LOST when it was full.
 *
 * What the kernel keeps privately (a writer lock, the lost count, whether the consumer sleeps)
 * sits in the page's __reserved area, which tools never read. */
#ifndef BPFTIME_PERF_RING_H
#define BPFTIME_PERF_RING_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Called by the consumer's side right after mapping `mapped_len` bytes (page + data pages):
 * fills data_offset/data_size the first time. 0 or -EINVAL (not 1 + 2^n pages). */
int bpftime_perf_ring_init(void *page, uint64_t mapped_len);

/* Writes one PERF_RECORD_SAMPLE (PERF_SAMPLE_RAW) holding `size` bytes. Returns 0, -ENOSPC (full:
 * the loss is counted and reported by a PERF_RECORD_LOST later) or -ENOENT (nobody mapped the
 * ring yet). *wake is set when the consumer sleeps and must be woken (write its eventfd). */
long bpftime_perf_ring_output(void *page, uint64_t event_id, const void *data, uint64_t size, int *wake);

/* Consumer side: is there a record to read? */
int bpftime_perf_ring_readable(const void *page);

/* Consumer side, before blocking: announce the sleep (then check readable again, then block). */
void bpftime_perf_ring_set_waiting(void *page, int waiting);

/* PERF_EVENT_IOC_PAUSE_OUTPUT: while paused, output writes nothing and counts the record lost. */
void bpftime_perf_ring_set_paused(void *page, int paused);

#ifdef __cplusplus
}
#endif
#endif
