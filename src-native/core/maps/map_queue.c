/* BPF_MAP_TYPE_QUEUE (FIFO), and the ring it shares with STACK (map_queue.h).
 *
 * Region layout: the common header, struct qs_state at 64, the slots from elems_off. Every
 * operation runs under the map's robust writer lock. Each one publishes with a single store of
 * head or tail, after the slot's bytes are in place, so a holder killed at any point leaves a
 * valid ring (a replacing push killed between dropping the oldest element and adding the new one
 * leaves the ring one shorter); recovery only re-checks the indexes.
 *
 * As the kernel: programs use bpf_map_push_elem / pop / peek (lookup gives NULL, update and
 * delete -EINVAL); the syscall side pushes with MAP_UPDATE_ELEM (NULL key; BPF_EXIST overwrites
 * the oldest element when full, otherwise a full map answers -E2BIG), peeks with
 * MAP_LOOKUP_ELEM and pops with MAP_LOOKUP_AND_DELETE_ELEM (map.c routes them). */
#include <errno.h>
#include <string.h>

#include "map_queue.h"

#define KMALLOC_MAX (1ull << 22)
#define REGION_MAX (1ull << 40)

static uint64_t elems_off(void)
{
	return map_round_up(MAP_REGION_HDR_SIZE + sizeof(struct qs_state), MAP_CACHELINE);
}

uint64_t qs_region_size(const struct bpftime_map_spec *s)
{
	return elems_off() + ((uint64_t)s->max_entries + 1) * s->value_size;
}

/* queue_stack_map_alloc_check */
int qs_alloc_check(const struct bpftime_map_spec *s)
{
	if (s->max_entries == 0 || s->key_size != 0 || s->value_size == 0 ||
	    (s->map_flags & ~(BPF_F_NUMA_NODE | MAP_F_ACCESS_MASK)) ||
	    (s->map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) ==
		    (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG))
		return -EINVAL;
	if (s->value_size > KMALLOC_MAX) /* userspace could not access the elements */
		return -E2BIG;
	/* The kernel's size = max_entries + 1 is a u32; both of these are allocations it fails. */
	if (s->max_entries == UINT32_MAX || qs_region_size(s) > REGION_MAX)
		return -ENOMEM;
	return 0;
}

int qs_region_init(struct bpftime_map *m)
{
	struct qs_state *st = (struct qs_state *)((uint8_t *)m->region + MAP_REGION_HDR_SIZE);
	st->head = st->tail = 0;
	st->size = m->spec.max_entries + 1;
	st->value_size = m->spec.value_size;
	return bpftime_shlock_init(&st->lock);
}

int qs_open(struct bpftime_map *m)
{
	struct qs_map *q = (struct qs_map *)m;
	q->st = (struct qs_state *)((uint8_t *)m->region + MAP_REGION_HDR_SIZE);
	q->elems = (uint8_t *)m->region + elems_off();
	q->size = m->spec.max_entries + 1;
	q->value_size = m->spec.value_size;
	if (q->st->size != q->size || q->st->value_size != q->value_size)
		return -EINVAL;
	return 0;
}

/* Only damage can make an index leave the ring (every change is one store of a valid index). */
static void qs_recover(void *arg)
{
	struct qs_map *q = arg;
	if (q->st->head >= q->size || q->st->tail >= q->size)
		q->st->head = q->st->tail = 0;
}

int qs_lock(struct qs_map *q) { return bpftime_shlock_lock(&q->st->lock, qs_recover, q); }
void qs_unlock(struct qs_map *q) { bpftime_shlock_unlock(&q->st->lock); }

void *qs_lookup(struct bpftime_map *m, const void *key) { return NULL; }

long qs_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags)
{
	return -EINVAL; /* programs push with bpf_map_push_elem */
}

long qs_delete(struct bpftime_map *m, const void *key) { return -EINVAL; }

long qs_get_next_key(struct bpftime_map *m, const void *key, void *next_key) { return -EINVAL; }

/* queue_stack_map_push_elem: BPF_EXIST makes room by dropping the oldest element. */
long qs_push(struct bpftime_map *m, const void *value, uint64_t flags)
{
	struct qs_map *q = (struct qs_map *)m;
	if ((flags & BPF_NOEXIST) || flags > BPF_EXIST)
		return -EINVAL;
	int rc = qs_lock(q);
	if (rc)
		return rc;
	struct qs_state *st = q->st;
	uint32_t head = st->head, next = head + 1 >= q->size ? 0 : head + 1;
	if (next == st->tail) {
		if (!(flags & BPF_EXIST)) {
			qs_unlock(q);
			return -E2BIG;
		}
		__atomic_store_n(&st->tail, st->tail + 1 >= q->size ? 0 : st->tail + 1,
				 __ATOMIC_RELEASE);
	}
	memcpy(qs_slot(q, head), value, q->value_size);
	__atomic_store_n(&st->head, next, __ATOMIC_RELEASE);
	qs_unlock(q);
	return 0;
}

/* __queue_map_get: the oldest element; an empty queue zeroes value and answers -ENOENT. */
static long queue_get(struct bpftime_map *m, void *value, int delete)
{
	struct qs_map *q = (struct qs_map *)m;
	int rc = qs_lock(q);
	if (rc)
		return rc;
	struct qs_state *st = q->st;
	long ret = 0;
	if (st->head == st->tail) {
		memset(value, 0, q->value_size);
		ret = -ENOENT;
	} else {
		memcpy(value, qs_slot(q, st->tail), q->value_size);
		if (delete)
			__atomic_store_n(&st->tail, st->tail + 1 >= q->size ? 0 : st->tail + 1,
					 __ATOMIC_RELEASE);
	}
	qs_unlock(q);
	return ret;
}

static long queue_pop(struct bpftime_map *m, void *value) { return queue_get(m, value, 1); }
static long queue_peek(struct bpftime_map *m, void *value) { return queue_get(m, value, 0); }

static long queue_lookup_and_delete(struct bpftime_map *m, const void *key, void *value_out)
{
	return queue_get(m, value_out, 1);
}

const struct bpftime_map_ops bpftime_queue_map_ops = {
	.map_type = BPF_MAP_TYPE_QUEUE,
	.handle_size = sizeof(struct qs_map),
	.alloc_check = qs_alloc_check,
	.region_size = qs_region_size,
	.region_init = qs_region_init,
	.open = qs_open,
	.lookup = qs_lookup,
	.update = qs_update,
	.delete = qs_delete,
	.get_next_key = qs_get_next_key,
	.lookup_and_delete = queue_lookup_and_delete,
	.push = qs_push,
	.pop = queue_pop,
	.peek = queue_peek,
};
