/* BPF_MAP_TYPE_RINGBUF: the kernel's ring buffer (kernel/bpf/ringbuf.c) in shared memory.
 *
 * The map is an ordinary map region (map.h) of type RINGBUF; this header is what lies beyond the
 * generic map API: the producer side used by the bpf_ringbuf_* helpers, the consumer's waiting
 * protocol used by the shim's epoll/poll, and the plan for mmap of the map fd.
 *
 * What the tool sees through mmap(map_fd) is the kernel's layout (view offsets):
 *   0            consumer page: unsigned long consumer_pos at 0 (the tool maps it read-write)
 *   PAGE         producer page: unsigned long producer_pos at 0 (read-only)
 *   2 * PAGE     data, max_entries bytes, then the same data again (read-only)
 * Records: struct { u32 len; u32 pg_off; } (BPF_RINGBUF_HDR_SZ), len carrying
 * BPF_RINGBUF_BUSY_BIT while the producer writes and BPF_RINGBUF_DISCARD_BIT when discarded,
 * then the payload, padded to 8 bytes.
 *
 * Region layout (offsets in the region, page 0 being the map header page the tool never maps):
 *   0            struct bpftime_map_region_hdr, then the producers' private state (writer lock,
 *                pending position, the consumer's "waiting" flag)
 *   PAGE         consumer page      (view offset 0)
 *   2 * PAGE     producer page      (view offset PAGE)
 *   3 * PAGE     data               (view offset 2 * PAGE)
 *   + size       room for the second view of data: every process that opens the map replaces
 *                it, in its own mapping, by a second mapping of the data pages (mremap), so a
 *                record that wraps is contiguous in memory, as in the kernel's vmap
 *   + size       owner table: which process reserved the record starting at each 8-byte slot,
 *                so that the record of a producer killed before its submit can be discarded
 *                instead of stalling the consumer forever
 * A record's pg_off is its header's page index in the region, the kernel's value.
 */
#ifndef BPFTIME_RINGBUF_H
#define BPFTIME_RINGBUF_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct bpftime_map;

/* Is m a ring buffer map? */
int bpftime_ringbuf_is(const struct bpftime_map *m);

/* ---- producer side (the helpers) ---- */

/* __bpf_ringbuf_reserve: a record of `size` payload bytes, busy until committed; NULL when it
 * does not fit (size > max record, ring full, or this thread already holds the ring's lock: a
 * program re-entered from a signal handler, like the kernel's in_nmi trylock). */
void *bpftime_ringbuf_reserve(struct bpftime_map *m, uint64_t size);
/* bpf_ringbuf_commit: publishes (or discards) a record returned by reserve, and wakes the
 * consumer by the kernel's rule: BPF_RB_FORCE_WAKEUP always; otherwise, unless
 * BPF_RB_NO_WAKEUP, when the consumer has caught up to this record. A pointer that is not a
 * busy record of a ring buffer of this process is ignored. */
void bpftime_ringbuf_commit(void *sample, uint64_t flags, int discard);
/* bpf_ringbuf_output: 0, -EINVAL (unknown flags), -EAGAIN (no room). */
long bpftime_ringbuf_output(struct bpftime_map *m, const void *data, uint64_t size, uint64_t flags);
/* bpf_ringbuf_query: BPF_RB_AVAIL_DATA, BPF_RB_RING_SIZE, BPF_RB_CONS_POS, BPF_RB_PROD_POS;
 * 0 for anything else. */
uint64_t bpftime_ringbuf_query(struct bpftime_map *m, uint64_t flags);
/* The eventfd this process writes to wake the consumer (from the server). Takes ownership of
 * fd; the first one set stays for the life of the mapping (writers may be using it), a later
 * one is closed. 0, or -EINVAL if m is not a ring buffer. */
int bpftime_ringbuf_set_wake_fd(struct bpftime_map *m, int fd);

/* ---- consumer side (the shim's epoll/poll) ---- */

/* The kernel's poll rule: readable while producer_pos != consumer_pos. When the record at the
 * consumer position stays busy, checks (at most every few milliseconds) whether its producer
 * died and discards it if so, so the consumer moves on. */
int bpftime_ringbuf_readable(struct bpftime_map *m);
/* Before blocking, the consumer announces it sleeps (then checks readable again, then blocks
 * on the eventfd); producers write the eventfd only then, so a busy ring costs no syscalls. */
void bpftime_ringbuf_set_waiting(struct bpftime_map *m, int waiting);

/* Records discarded because their producer died (diagnostics, tests). */
uint64_t bpftime_ringbuf_reaped(struct bpftime_map *m);

/* ---- BPF_MAP_TYPE_USER_RINGBUF (map_user_ringbuf.c): the same ring and layout, produced by
 * user space (libbpf's user_ring_buffer__*, writing producer_pos and the records through its
 * mapping) and consumed by programs with bpf_user_ringbuf_drain. The wake fd and the
 * waiting flag above serve its producer, who waits for room. ---- */

int bpftime_user_ringbuf_is(const struct bpftime_map *m);
/* Called once per record by the drain: 0 to go on, anything else to stop after this one. */
typedef int (*bpftime_user_ringbuf_cb)(void *sample, uint32_t size, void *arg);
/* The kernel's bpf_user_ringbuf_drain loop: the number of records handed to cb (discarded
 * ones skipped, not counted), -EINVAL (unknown flags, or a producer_pos or record header that
 * does not fit the ring), -E2BIG (a record larger than the ring or than a dynptr can hold),
 * -EBUSY (another drain of this ring is running). Wakes the producer by the wakeup flags. */
long bpftime_user_ringbuf_drain(struct bpftime_map *m, uint64_t flags, bpftime_user_ringbuf_cb cb, void *arg);
/* The kernel's ringbuf_map_poll_user: room left (the producer may write). */
int bpftime_user_ringbuf_writable(struct bpftime_map *m);

/* ---- mmap of the map fd ---- */

/* One mapping that builds part of the tool's view: `len` bytes at view offset `view_off`
 * (relative to the start of the mapping), from region offset `region_off`. */
struct bpftime_ringbuf_piece {
	uint64_t view_off;
	uint64_t region_off;
	uint64_t len;
};

/* The kernel's checks for mmap(map_fd, len, prot, flags, off) of a ring buffer or user ring
 * buffer, and how to build it: fills up to two pieces (the second one maps the data pages
 * again) and returns how many; -EPERM (ring buffer: writable beyond the consumer page; user ring
 * buffer: writable consumer page), -EINVAL (private mapping, offset not page
 * aligned, beyond consumer + producer + twice the data). len is rounded up to pages. */
int bpftime_ringbuf_mmap_plan(const struct bpftime_map *m, uint64_t off, uint64_t len, int prot, int flags,
			      struct bpftime_ringbuf_piece out[2]);

#ifdef __cplusplus
}
#endif
#endif
