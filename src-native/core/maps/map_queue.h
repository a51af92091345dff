/* The ring shared by QUEUE (map_queue.c) and STACK (map_stack.c) maps, as the kernel shares
 * queue_stack_maps.c: max_entries + 1 slots of value_size bytes, `head` where the next push
 * goes, `tail` the oldest element; empty when head == tail, full when head + 1 == tail (mod
 * size). A queue pops at the tail, a stack at head - 1. */
#ifndef BPFTIME_MAP_QUEUE_H
#define BPFTIME_MAP_QUEUE_H
#include "map_internal.h"
#include "map_lock.h"

struct qs_state {
	struct bpftime_shlock lock;
	uint32_t head, tail, size, value_size;
};

struct qs_map {
	struct bpftime_map base;
	struct qs_state *st;
	uint8_t *elems;
	uint32_t size, value_size;
};

int qs_alloc_check(const struct bpftime_map_spec *s);
uint64_t qs_region_size(const struct bpftime_map_spec *s);
int qs_region_init(struct bpftime_map *m);
int qs_open(struct bpftime_map *m);
void *qs_lookup(struct bpftime_map *m, const void *key);
long qs_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags);
long qs_delete(struct bpftime_map *m, const void *key);
long qs_get_next_key(struct bpftime_map *m, const void *key, void *next_key);
long qs_push(struct bpftime_map *m, const void *value, uint64_t flags);
int qs_lock(struct qs_map *q);
void qs_unlock(struct qs_map *q);

static inline uint8_t *qs_slot(struct qs_map *q, uint32_t i)
{
	return q->elems + (size_t)i * q->value_size;
}

#endif
