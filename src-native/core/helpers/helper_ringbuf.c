/* The ring buffer helpers (kernel/bpf/ringbuf.c): bpf_ringbuf_output, reserve, submit, discard
 * and query, with the kernel's argument rules. The ring itself is in core/maps/ringbuf_ring.c. */
#include <errno.h>
#include <linux/bpf.h>

#include "bpftime/ringbuf.h"
#include "helpers_internal.h"

/* bpf_ringbuf_output(ringbuf, data, size, flags): 0, -EINVAL or -EAGAIN (no room). */
BPFTIME_HELPER(ringbuf_output)
{
	struct bpftime_map *m = (struct bpftime_map *)(uintptr_t)r1;
	if (!bpftime_ringbuf_is(m))
		return (uint64_t)-EINVAL; /* the verifier's job in the kernel */
	return (uint64_t)bpftime_ringbuf_output(m, (const void *)(uintptr_t)r2, r3, r4);
}

/* bpf_ringbuf_reserve(ringbuf, size, flags): the record's payload, or NULL (any flags: NULL). */
BPFTIME_HELPER(ringbuf_reserve)
{
	struct bpftime_map *m = (struct bpftime_map *)(uintptr_t)r1;
	if (r3 || !bpftime_ringbuf_is(m))
		return 0;
	return (uint64_t)(uintptr_t)bpftime_ringbuf_reserve(m, r2);
}

/* bpf_ringbuf_submit(data, flags) and bpf_ringbuf_discard(data, flags): no return value. */
BPFTIME_HELPER(ringbuf_submit)
{
	bpftime_ringbuf_commit((void *)(uintptr_t)r1, r2, 0);
	return 0;
}

BPFTIME_HELPER(ringbuf_discard)
{
	bpftime_ringbuf_commit((void *)(uintptr_t)r1, r2, 1);
	return 0;
}

/* bpf_ringbuf_query(ringbuf, flags) */
BPFTIME_HELPER(ringbuf_query)
{
	return bpftime_ringbuf_query((struct bpftime_map *)(uintptr_t)r1, r2);
}
