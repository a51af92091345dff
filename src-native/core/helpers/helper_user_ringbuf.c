/* bpf_user_ringbuf_drain and the dynptr helpers its callback reads records with
 * (bpf_dynptr_read, bpf_dynptr_data, bpf_dynptr_write), kernel/bpf/ringbuf.c and helpers.c.
 *
 * The callback gets a pointer to a struct bpf_dynptr (16 bytes, opaque to the program) laid out
 * as the kernel's struct bpf_dynptr_kern: the data pointer, then a 32-bit word holding the size
 * (low 24 bits), the type (bits 28-30) and the read-only bit (31), then the offset. The ring
 * itself is in core/maps/map_user_ringbuf.c. */
#include <errno.h>
#include <linux/bpf.h>
#include <string.h>

#include "bpftime/ringbuf.h"
#include "helpers_internal.h"

/* include/linux/bpf.h (kernel-internal) */
#define DYNPTR_SIZE_MASK 0xFFFFFFu
#define DYNPTR_TYPE_SHIFT 28
#define DYNPTR_RDONLY_BIT (1u << 31)
#define DYNPTR_TYPE_LOCAL 1u /* enum bpf_dynptr_type: BPF_DYNPTR_TYPE_LOCAL */
#define DYNPTR_TYPE_RINGBUF 2u

struct dynptr_kern {
	void *data;
	uint32_t size; /* size | type << DYNPTR_TYPE_SHIFT | rdonly */
	uint32_t offset;
} __attribute__((aligned(8)));
_Static_assert(sizeof(struct dynptr_kern) == sizeof(struct bpf_dynptr), "struct bpf_dynptr");

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
	struct dynptr_kern d = { sample, size | DYNPTR_TYPE_LOCAL << DYNPTR_TYPE_SHIFT, 0 };
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
