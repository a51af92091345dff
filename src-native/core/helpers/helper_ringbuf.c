/* The ring buffer helpers (kernel/bpf/ringbuf.c): bpf_ringbuf_output, reserve, submit, discard
 * and query, and their dynptr forms, with the kernel's argument rules. The ring itself is in
 * core/maps/ringbuf_ring.c. */
#include <errno.h>
#include <linux/bpf.h>

#include "bpftime/ringbuf.h"
#include "helper_dynptr.h"
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

/* bpf_ringbuf_reserve_dynptr(ringbuf, size, flags, ptr): 0 and a RINGBUF dynptr over the
 * record; else a null dynptr (which the program must still submit or discard, as the kernel's
 * verifier demands) and -EINVAL (flags, no room, a record larger than the ring) or -E2BIG (size
 * above 2^24 - 1). */
BPFTIME_HELPER(ringbuf_reserve_dynptr)
{
	struct bpftime_map *m = (struct bpftime_map *)(uintptr_t)r1;
	struct dynptr_kern *d = (struct dynptr_kern *)(uintptr_t)r4;
	uint32_t size = (uint32_t)r2;
	int err = r3 ? -EINVAL : dynptr_check_size(size);
	void *sample = err || !bpftime_ringbuf_is(m) ? NULL : bpftime_ringbuf_reserve(m, size);
	if (!sample) {
		dynptr_set_null(d);
		return (uint64_t)(int64_t)(err ? err : -EINVAL);
	}
	dynptr_init(d, sample, DYNPTR_TYPE_RINGBUF, 0, size);
	return 0;
}

/* bpf_ringbuf_submit_dynptr / bpf_ringbuf_discard_dynptr(ptr, flags): commit the record a
 * reserve_dynptr made (nothing for a null dynptr), and null the dynptr. */
static void commit_dynptr(struct dynptr_kern *d, uint64_t flags, int discard)
{
	if (!d->data)
		return;
	bpftime_ringbuf_commit(d->data, flags, discard);
	dynptr_set_null(d);
}

BPFTIME_HELPER(ringbuf_submit_dynptr)
{
	commit_dynptr((struct dynptr_kern *)(uintptr_t)r1, r2, 0);
	return 0;
}

BPFTIME_HELPER(ringbuf_discard_dynptr)
{
	commit_dynptr((struct dynptr_kern *)(uintptr_t)r1, r2, 1);
	return 0;
}
