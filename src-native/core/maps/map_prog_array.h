/* The prog array's region layout, for the tail-call path (core/vm/tail.c) to read a slot inline:
 * a bpf_tail_call is one bounds check and one load here, no function call. */
#ifndef BPFTIME_MAP_PROG_ARRAY_H
#define BPFTIME_MAP_PROG_ARRAY_H
#include "map_internal.h"

/* The program id in slot `index` of a prog array (0: empty); -1 when m is not a prog array or
 * index is out of range. */
static inline int64_t prog_array_slot_inline(const struct bpftime_map *m, uint64_t index)
{
	if (m->spec.map_type != BPF_MAP_TYPE_PROG_ARRAY || index >= m->spec.max_entries)
		return -1;
	const uint32_t *slots = (const uint32_t *)((const char *)m->region + MAP_REGION_HDR_SIZE);
	return __atomic_load_n(&slots[index], __ATOMIC_ACQUIRE);
}

#endif
