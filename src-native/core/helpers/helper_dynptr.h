/* struct bpf_dynptr as the helpers see it: the kernel's struct bpf_dynptr_kern (include/linux/
 * bpf.h, kernel-internal): the data pointer, a 32-bit word holding the size (low 24 bits), the
 * type (bits 28-30) and the read-only bit (31), then the offset. Shared by the dynptr helpers
 * (helper_user_ringbuf.c) and the ring buffer's dynptr helpers (helper_ringbuf.c). */
#ifndef BPFTIME_HELPER_DYNPTR_H
#define BPFTIME_HELPER_DYNPTR_H
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <string.h>

#define DYNPTR_SIZE_MASK 0xFFFFFFu
#define DYNPTR_MAX_SIZE DYNPTR_SIZE_MASK
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

/* bpf_dynptr_init */
static inline void dynptr_init(struct dynptr_kern *d, void *data, uint32_t type, uint32_t offset, uint32_t size)
{
	d->data = data;
	d->offset = offset;
	d->size = size | type << DYNPTR_TYPE_SHIFT;
}

/* bpf_dynptr_set_null: what a failed constructor leaves (every helper refuses it). */
static inline void dynptr_set_null(struct dynptr_kern *d) { memset(d, 0, sizeof(*d)); }

/* bpf_dynptr_check_size */
static inline int dynptr_check_size(uint32_t size) { return size > DYNPTR_MAX_SIZE ? -E2BIG : 0; }

#endif
