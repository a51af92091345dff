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
#include <linux/perf_event.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Called by the consumer's side right after mapping `mapped_len` bytes (page + data pages):
 * fills data_offset/data_size the first time. 0 or -EINVAL (not 1 + 2^n pages). */
int bpftime_perf_ring_init(void *page, uint64_t mapped_len);

/* The sample_type bits a record can carry here (the server refuses others at perf_event_open):
 * the calling thread's ids, the time, the CPU, the event's id, and the raw bytes. */
#define BPFTIME_PERF_SAMPLE_SUPPORTED                                                              \
	(PERF_SAMPLE_IDENTIFIER | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ADDR | PERF_SAMPLE_ID | \
	 PERF_SAMPLE_STREAM_ID | PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD | PERF_SAMPLE_RAW)

/* Writes one PERF_RECORD_SAMPLE holding `size` bytes, with the fields of sample_type in the
 * kernel's order (perf_output_sample). Returns 0, -ENOSPC (full: the loss is counted and reported
 * by a PERF_RECORD_LOST later) or -ENOENT (nobody mapped the ring yet). *wake is set when the
 * consumer sleeps and must be woken (write its eventfd). */
long bpftime_perf_ring_output(void *page, uint64_t event_id, uint64_t sample_type, const void *data, uint64_t size, int *wake);

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
