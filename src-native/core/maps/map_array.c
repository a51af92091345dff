/* BPF_MAP_TYPE_ARRAY in shared memory.
 *
 * Region layout:
 *   0            struct bpftime_map_region_hdr
 *   values_off   value[max_entries], round_up(value_size, 8) bytes each (the kernel's
 *                elem_size), zero-initialised
 * values_off is 64 normally and 4096 for BPF_F_MMAPABLE, so the value area is page aligned and
 * the shim can mmap the memfd at BPFTIME_OBJ_HDR_SIZE + 4096 to give the tool the kernel's view
 * (mmap(map_fd, 0) shows value[0] at offset 0); the region is then padded to a page multiple.
 *
 * Every element always exists, so nothing is ever linked or freed: lookups and updates need no
 * lock (updates are plain copies, as the kernel's copy_map_value without BPF_F_LOCK).
 */
#include <errno.h>
#include <string.h>

#include "map_internal.h"

struct array_map {
	struct bpftime_map base;
	uint8_t *values;
	uint32_t max_entries, elem_size, value_size;
	uint64_t values_off;
};

static uint64_t values_off(const struct bpftime_map_spec *s)
{
	return (s->map_flags & BPF_F_MMAPABLE) ? MAP_PAGE_SIZE : MAP_REGION_HDR_SIZE;
}

/* array_map_alloc_check. */
static int array_alloc_check(const struct bpftime_map_spec *s)
{
	const uint32_t mask = BPF_F_NUMA_NODE | BPF_F_MMAPABLE | MAP_F_ACCESS_MASK |
			      BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP;
	if (s->max_entries == 0 || s->key_size != 4 || s->value_size == 0 || (s->map_flags & ~mask) ||
	    (s->map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) ==
		    (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG))
		return -EINVAL;
	if (s->map_flags & BPF_F_PRESERVE_ELEMS) /* perf event arrays only */
		return -EINVAL;
	if (s->value_size > 0x7fffffffu) /* avoid overflow on round_up(value_size) */
		return -E2BIG;
	return 0;
}

static uint64_t array_region_size(const struct bpftime_map_spec *s)
{
	uint64_t size = values_off(s) + (uint64_t)s->max_entries * map_round_up(s->value_size, 8);
	if (s->map_flags & BPF_F_MMAPABLE)
		size = map_round_up(size, MAP_PAGE_SIZE);
	return size;
}

static int array_region_init(struct bpftime_map *m)
{
	return 0; /* values start zeroed, as the kernel's */
}

static int array_open(struct bpftime_map *m)
{
	struct array_map *a = (struct array_map *)m;
	a->values_off = values_off(&m->spec);
	a->values = (uint8_t *)m->region + a->values_off;
	a->max_entries = m->spec.max_entries;
	a->elem_size = (uint32_t)map_round_up(m->spec.value_size, 8);
	a->value_size = m->spec.value_size;
	return 0;
}

static void *array_lookup(struct bpftime_map *m, const void *key)
{
	struct array_map *a = (struct array_map *)m;
	uint32_t idx;
	memcpy(&idx, key, 4);
	if (__builtin_expect(idx >= a->max_entries, 0))
		return NULL;
	return a->values + (size_t)idx * a->elem_size;
}

/* array_map_update_elem: shared by programs and the syscall. */
static long array_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags)
{
	struct array_map *a = (struct array_map *)m;
	uint32_t idx;
	memcpy(&idx, key, 4);
	if ((flags & ~(uint64_t)BPF_F_LOCK) > BPF_EXIST)
		return -EINVAL;
	if (idx >= a->max_entries) /* all elements were pre-allocated, cannot insert a new one */
		return -E2BIG;
	if (flags & BPF_NOEXIST) /* all elements already exist */
		return -EEXIST;
	if (flags & BPF_F_LOCK) /* no bpf_spin_lock in values (no BTF records) */
		return -EINVAL;
	map_copy(a->values + (size_t)idx * a->elem_size, value, a->value_size);
	return 0;
}

static long array_delete(struct bpftime_map *m, const void *key)
{
	return -EINVAL; /* elements of an array cannot be deleted */
}

static long array_sys_lookup(struct bpftime_map *m, const void *key, void *value_out)
{
	struct array_map *a = (struct array_map *)m;
	void *v = array_lookup(m, key);
	if (!v)
		return -ENOENT;
	map_copy(value_out, v, a->value_size);
	return 0;
}

/* array_map_get_next_key, for every map indexed by a u32 below max_entries: NULL or an
 * out-of-range key gives 0; the last index gives -ENOENT. */
long map_index_next_key(uint32_t max_entries, const void *key, void *next_key)
{
	uint32_t idx = 0xffffffffu, next;
	if (key)
		memcpy(&idx, key, 4);
	if (idx >= max_entries) {
		next = 0;
	} else {
		if (idx == max_entries - 1)
			return -ENOENT;
		next = idx + 1;
	}
	memcpy(next_key, &next, 4);
	return 0;
}

static long array_get_next_key(struct bpftime_map *m, const void *key, void *next_key)
{
	return map_index_next_key(((struct array_map *)m)->max_entries, key, next_key);
}

/* Maps whose slots hold object ids (prog arrays, arrays of maps: the kernel's fd arrays, the
 * server having translated fds to ids). bpf_fd_array_map_lookup_elem + the sys_lookup of the
 * type: the id, -ENOENT for an empty slot or an index out of range. */
long map_id_slot_sys_lookup(const uint32_t *slots, uint32_t max_entries, const void *key, void *value_out)
{
	uint32_t idx, id;
	memcpy(&idx, key, 4);
	if (idx >= max_entries)
		return -ENOENT;
	id = __atomic_load_n(&slots[idx], __ATOMIC_ACQUIRE);
	if (!id)
		return -ENOENT;
	memcpy(value_out, &id, 4);
	return 0;
}

/* The server's write of an id (0 empties the slot), with bpf_fd_array_map_update_elem's checks:
 * only BPF_ANY, then the index. */
long map_id_slot_sys_update(uint32_t *slots, uint32_t max_entries, const void *key, const void *value, uint64_t flags)
{
	uint32_t idx, id;
	if (flags != BPF_ANY)
		return -EINVAL;
	memcpy(&idx, key, 4);
	if (idx >= max_entries)
		return -E2BIG;
	memcpy(&id, value, 4);
	__atomic_store_n(&slots[idx], id, __ATOMIC_RELEASE);
	return 0;
}

static int64_t array_mmap_offset(const struct bpftime_map *m)
{
	const struct array_map *a = (const struct array_map *)m;
	if (!(m->spec.map_flags & BPF_F_MMAPABLE))
		return -EINVAL;
	return (int64_t)a->values_off;
}

static uint64_t array_mmap_len(const struct bpftime_map *m)
{
	const struct array_map *a = (const struct array_map *)m;
	if (!(m->spec.map_flags & BPF_F_MMAPABLE))
		return 0;
	return map_round_up((uint64_t)a->max_entries * a->elem_size, MAP_PAGE_SIZE);
}

/* array_map_direct_value_addr */
static int array_direct_value_addr(struct bpftime_map *m, uint32_t off, void **out)
{
	struct array_map *a = (struct array_map *)m;
	if (a->max_entries != 1)
		return -EOPNOTSUPP;
	if (off >= a->value_size)
		return -EINVAL;
	*out = a->values + off;
	return 0;
}

const struct bpftime_map_ops bpftime_array_map_ops = {
	.map_type = BPF_MAP_TYPE_ARRAY,
	.handle_size = sizeof(struct array_map),
	.alloc_check = array_alloc_check,
	.region_size = array_region_size,
	.region_init = array_region_init,
	.open = array_open,
	.lookup = array_lookup,
	.update = array_update,
	.delete = array_delete,
	.sys_lookup = array_sys_lookup,
	.get_next_key = array_get_next_key,
	.lookup_and_delete = NULL, /* -ENOTSUPP, as the kernel */
	.mmap_offset = array_mmap_offset,
	.mmap_len = array_mmap_len,
	.direct_value_addr = array_direct_value_addr,
};
