/* BPF_MAP_TYPE_USER_RINGBUF: the ring buffer turned around (kernel/bpf/ringbuf.c). User space
 * produces: libbpf's user_ring_buffer__reserve writes a record header {size | BUSY} into the
 * data it mapped read-write, then publishes producer_pos (release); submit clears BUSY, discard
 * sets DISCARD. Programs consume with bpf_user_ringbuf_drain, which moves consumer_pos, a page
 * user space may only read.
 *
 * Same region layout, creation checks and element commands as BPF_MAP_TYPE_RINGBUF
 * (map_ringbuf.c), as in the kernel where both types share ringbuf_map_alloc. What differs:
 * the mmap write rule (map_ringbuf.c's plan), poll (room to write), and that everything the
 * producer wrote is untrusted: each header is checked against producer_pos and the ring's size
 * before a byte of the record is handed out. */
#include <errno.h>

#include "bpftime/helpers.h"
#include "bpftime/ringbuf.h"
#include "map_ringbuf.h"

/* The kernel's BPF_MAX_USER_RINGBUF_SAMPLES: records one drain call looks at, at most. */
#define MAX_DRAIN_SAMPLES (128 * 1024)
/* The kernel's DYNPTR_MAX_SIZE: the largest record a dynptr (and so a callback) can see. */
#define DYNPTR_MAX_SIZE ((1u << 24) - 1)

int bpftime_user_ringbuf_is(const struct bpftime_map *m)
{
	return m && m->ops == &bpftime_user_ringbuf_map_ops;
}

/* The kernel's per-ring busy bit, process-shared: the draining process as an rb_owner (tgid
 * and start time). A drainer killed inside its callback must not leave the ring busy forever,
 * so a holder that is gone (exited, a zombie, or its pid reused) is replaced. */
static uint64_t owner_word(struct rb_owner o) { return (uint64_t)o.tgid << 32 | o.start; }

static int drain_enter(struct rb_priv *p)
{
	struct rb_owner me = rb_self_owner();
	uint64_t want = owner_word(me), cur = 0;
	if (__atomic_compare_exchange_n(&p->drain_busy, &cur, want, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return 0;
	struct rb_owner holder = { (uint32_t)(cur >> 32), (uint32_t)cur };
	if (holder.tgid == me.tgid || !rb_owner_dead(holder))
		return -EBUSY; /* a live drainer, possibly another thread of this process */
	return __atomic_compare_exchange_n(&p->drain_busy, &cur, want, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED) ? 0 : -EBUSY;
}

static void drain_leave(struct rb_priv *p)
{
	/* after every consumer_pos store: the next drainer starts from it */
	__atomic_store_n(&p->drain_busy, 0ull, __ATOMIC_RELEASE);
}

/* The kernel's __bpf_user_ringbuf_peek: 0 and the record at consumer_pos; -ENODATA (empty, or
 * the record is still being written); -EAGAIN (a discarded record, now skipped); -EINVAL or
 * -E2BIG for what a producer could not legitimately have written. */
static int peek(struct rb_map *r, void **sample, uint32_t *size)
{
	uint64_t prod = __atomic_load_n(r->prod, __ATOMIC_ACQUIRE);
	if (prod % 8)
		return -EINVAL;
	uint64_t cons = __atomic_load_n(r->cons, __ATOMIC_ACQUIRE);
	if (cons >= prod)
		return -ENODATA;
	struct rb_hdr *h = (void *)(r->data + (cons & r->mask));
	uint32_t word = __atomic_load_n(&h->len, __ATOMIC_ACQUIRE);
	uint32_t bits = word & (BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
	uint32_t len = word & ~bits;
	uint64_t total = ((uint64_t)len + BPF_RINGBUF_HDR_SZ + 7) & ~7ull;
	if (total > prod - cons)
		return -EINVAL; /* beyond what the producer published */
	if (total > r->mask + 1 || len > DYNPTR_MAX_SIZE)
		return -E2BIG;
	if (bits & BPF_RINGBUF_DISCARD_BIT) {
		__atomic_store_n(r->cons, cons + total, __ATOMIC_RELEASE);
		return -EAGAIN;
	}
	if (bits & BPF_RINGBUF_BUSY_BIT)
		return -ENODATA;
	/* the data is mapped twice back to back: a record that wraps is contiguous */
	*sample = r->data + ((cons + BPF_RINGBUF_HDR_SZ) & r->mask);
	*size = len;
	return 0;
}

long bpftime_user_ringbuf_drain(struct bpftime_map *m, uint64_t flags, bpftime_user_ringbuf_cb cb, void *arg)
{
	if (flags & ~(uint64_t)(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP))
		return -EINVAL;
	if (!bpftime_user_ringbuf_is(m))
		return -EINVAL; /* the verifier's job in the kernel */
	struct rb_map *r = (struct rb_map *)m;
	if (drain_enter(r->priv))
		return -EBUSY;
	long samples, discarded = 0, ret = 0;
	int stop = 0;
	for (samples = 0; samples < MAX_DRAIN_SAMPLES && !stop; samples++) {
		void *sample;
		uint32_t size;
		int err = peek(r, &sample, &size);
		if (err == -ENODATA)
			break;
		if (err == -EAGAIN) {
			discarded++;
			continue;
		}
		if (err) {
			ret = err;
			break;
		}
		stop = cb(sample, size, arg) != 0;
		uint64_t cons = *r->cons; /* ours alone while busy */
		__atomic_store_n(r->cons, cons + (((uint64_t)size + BPF_RINGBUF_HDR_SZ + 7) & ~7ull), __ATOMIC_RELEASE);
	}
	if (!ret)
		ret = samples - discarded;
	drain_leave(r->priv);
	if ((flags & BPF_RB_FORCE_WAKEUP) || (!(flags & BPF_RB_NO_WAKEUP) && samples > 0))
		rb_wake(r->local);
	return ret;
}

int bpftime_user_ringbuf_writable(struct bpftime_map *m)
{
	if (!bpftime_user_ringbuf_is(m))
		return 0;
	struct rb_map *r = (struct rb_map *)m;
	uint64_t used = __atomic_load_n(r->prod, __ATOMIC_ACQUIRE) - __atomic_load_n(r->cons, __ATOMIC_ACQUIRE);
	return used < r->mask + 1;
}

const struct bpftime_map_ops bpftime_user_ringbuf_map_ops = {
	.map_type = BPF_MAP_TYPE_USER_RINGBUF,
	.handle_size = sizeof(struct rb_map),
	.alloc_check = rb_alloc_check,
	.region_size = rb_region_size,
	.region_init = rb_region_init,
	.open = rb_open,
	.lookup = rb_lookup,
	.update = rb_update,
	.delete = rb_delete,
	.sys_lookup = rb_sys_lookup,
	.get_next_key = rb_get_next_key,
	.mmap_offset = rb_mmap_offset,
	.mmap_len = rb_mmap_len,
};
