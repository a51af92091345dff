/* bpf_user_ringbuf_drain and the dynptr helpers (bpf_dynptr_from_mem, bpf_dynptr_read,
 * bpf_dynptr_data, bpf_dynptr_write), kernel/bpf/ringbuf.c and helpers.c. The drain's callback
 * gets a LOCAL dynptr over each record; bpf_ringbuf_reserve_dynptr (helper_ringbuf.c) makes
 * RINGBUF ones. The layout is in helper_dynptr.h; the ring itself in core/maps/map_user_ringbuf.c. */
#include <errno.h>
#include <linux/bpf.h>
#include <string.h>

#include "bpftime/ringbuf.h"
#include "helper_dynptr.h"
#include "helpers_internal.h"

static uint32_t dynptr_size(const struct dynptr_kern *d) { return d->size & DYNPTR_SIZE_MASK; }
static uint32_t dynptr_type(const struct dynptr_kern *d) { return (d->size & ~DYNPTR_RDONLY_BIT) >> DYNPTR_TYPE_SHIFT; }

/* bpf_dynptr_check_off_len: -E2BIG when [off, off + len) is not inside the dynptr. */
static int check_off_len(const struct dynptr_kern *d, uint32_t off, uint32_t len)
{
	uint32_t size = dynptr_size(d);
	return off > size || len > size - off ? -E2BIG : 0;
}

/* Memory the helpers may touch directly (the types this runtime creates). */
static int direct_type(const struct dynptr_kern *d)
{
	uint32_t t = dynptr_type(d);
	return t == DYNPTR_TYPE_LOCAL || t == DYNPTR_TYPE_RINGBUF;
}

/* bpf_dynptr_from_mem(data, size, flags, ptr): a LOCAL dynptr over size bytes at data; 0, or
 * -E2BIG (size above 2^24 - 1), -EINVAL (flags) with a null dynptr. */
BPFTIME_HELPER(dynptr_from_mem)
{
	struct dynptr_kern *d = (struct dynptr_kern *)(uintptr_t)r4;
	uint32_t size = (uint32_t)r2;
	int err = dynptr_check_size(size);
	if (!err && r3)
		err = -EINVAL;
	if (err) {
		dynptr_set_null(d);
		return (uint64_t)(int64_t)err;
	}
	dynptr_init(d, (void *)(uintptr_t)r1, DYNPTR_TYPE_LOCAL, 0, size);
	return 0;
}

/* bpf_dynptr_read(dst, len, src, offset, flags): 0, -EINVAL (null dynptr, flags), -E2BIG. */
BPFTIME_HELPER(dynptr_read)
{
	const struct dynptr_kern *src = (const struct dynptr_kern *)(uintptr_t)r3;
	uint32_t len = (uint32_t)r2, off = (uint32_t)r4;
	if (!src || !src->data || r5)
		return (uint64_t)-EINVAL;
	int err = check_off_len(src, off, len);
	if (err)
		return (uint64_t)(int64_t)err;
	if (!direct_type(src))
		return (uint64_t)-EFAULT;
	memmove((void *)(uintptr_t)r1, (uint8_t *)src->data + src->offset + off, len);
	return 0;
}

/* bpf_dynptr_write(dst, offset, src, len, flags): 0, -EINVAL (null or read-only dynptr,
 * flags), -E2BIG. */
BPFTIME_HELPER(dynptr_write)
{
	struct dynptr_kern *dst = (struct dynptr_kern *)(uintptr_t)r1;
	uint32_t off = (uint32_t)r2, len = (uint32_t)r4;
	if (!dst || !dst->data || (dst->size & DYNPTR_RDONLY_BIT) || r5)
		return (uint64_t)-EINVAL;
	int err = check_off_len(dst, off, len);
	if (err)
		return (uint64_t)(int64_t)err;
	if (!direct_type(dst))
		return (uint64_t)-EFAULT;
	memmove((uint8_t *)dst->data + dst->offset + off, (const void *)(uintptr_t)r3, len);
	return 0;
}

/* bpf_dynptr_data(ptr, offset, len): a pointer to len bytes at offset, or NULL (null or
 * read-only dynptr, out of bounds). */
BPFTIME_HELPER(dynptr_data)
{
	const struct dynptr_kern *d = (const struct dynptr_kern *)(uintptr_t)r1;
	uint32_t off = (uint32_t)r2, len = (uint32_t)r3;
	if (!d || !d->data || check_off_len(d, off, len) || (d->size & DYNPTR_RDONLY_BIT) || !direct_type(d))
		return 0;
	return (uint64_t)(uintptr_t)((uint8_t *)d->data + d->offset + off);
}

struct drain_call {
	uint64_t fn, ctx;
};

/* One record: a LOCAL dynptr over it (bpf_dynptr_init), then callback(dynptr, ctx). A callback
 * that cannot run (the interpreter's error) stops the drain, as bpf_loop stops. */
static int drain_one(void *sample, uint32_t size, void *arg)
{
	const struct drain_call *c = arg;
	struct dynptr_kern d;
	dynptr_init(&d, sample, DYNPTR_TYPE_LOCAL, 0, size);
	uint64_t ret = 0;
	if (bpftime_helper_callback(c->fn, (uint64_t)(uintptr_t)&d, c->ctx, 0, 0, &ret))
		return 1;
	return ret != 0;
}

/* bpf_user_ringbuf_drain(map, callback_fn, callback_ctx, flags): the records handed to the
 * callback, or -EINVAL, -E2BIG, -EBUSY (bpftime_user_ringbuf_drain). */
BPFTIME_HELPER(user_ringbuf_drain)
{
	struct bpftime_map *m = (struct bpftime_map *)(uintptr_t)r1;
	struct drain_call c = { r2, r3 };
	if (!bpftime_user_ringbuf_is(m) || bpftime_helper_callback_ok(r2))
		return (uint64_t)-EINVAL; /* the verifier's job in the kernel */
	return (uint64_t)bpftime_user_ringbuf_drain(m, r4, drain_one, &c);
}
