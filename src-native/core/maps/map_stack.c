/* BPF_MAP_TYPE_STACK (LIFO): the ring of map_queue.h, popped at head - 1. */
#include <errno.h>
#include <string.h>

#include "map_queue.h"

/* __stack_map_get: the newest element; an empty stack zeroes value and answers -ENOENT. */
static long stack_get(struct bpftime_map *m, void *value, int delete)
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
		uint32_t idx = st->head == 0 ? q->size - 1 : st->head - 1;
		memcpy(value, qs_slot(q, idx), q->value_size);
		if (delete)
			__atomic_store_n(&st->head, idx, __ATOMIC_RELEASE);
	}
	qs_unlock(q);
	return ret;
}

static long stack_pop(struct bpftime_map *m, void *value) { return stack_get(m, value, 1); }
static long stack_peek(struct bpftime_map *m, void *value) { return stack_get(m, value, 0); }

static long stack_lookup_and_delete(struct bpftime_map *m, const void *key, void *value_out)
{
	return stack_get(m, value_out, 1);
}

const struct bpftime_map_ops bpftime_stack_map_ops = {
	.map_type = BPF_MAP_TYPE_STACK,
	.handle_size = sizeof(struct qs_map),
	.alloc_check = qs_alloc_check,
	.region_size = qs_region_size,
	.region_init = qs_region_init,
	.open = qs_open,
	.lookup = qs_lookup,
	.update = qs_update,
	.delete = qs_delete,
	.get_next_key = qs_get_next_key,
	.lookup_and_delete = stack_lookup_and_delete,
	.push = qs_push,
	.pop = stack_pop,
	.peek = stack_peek,
};
