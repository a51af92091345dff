/* BPF_MAP_TYPE_ARRAY_OF_MAPS and BPF_MAP_TYPE_HASH_OF_MAPS: maps whose values are other maps.
 *
 * The shared region stores each inner map by its global id (a u32 value: an array of slots, 0
 * empty, or the hash map's elements). The tool passes inner map fds, so updates and deletes from
 * the syscall side are served by the server (it resolves the fd, checks the inner map against the
 * outer map's template as the kernel's map_meta_equal, holds a reference on it while it is stored,
 * and has every agent open it before the value shows it), which writes the id through sys_update.
 * Syscall-side lookups return the inner map's id, as bpf_map_fd_sys_lookup_elem. A program's
 * lookup returns the inner map itself: the handle this process has open under that id
 * (bpftime_map_by_id), which the map helpers take like any map pointer. Programs cannot update or
 * delete elements of these maps (the kernel's verifier allows them lookups only).
 */
#include <errno.h>
#include <string.h>

#include "map_internal.h"

/* ---- ARRAY_OF_MAPS ---- */

static uint32_t *slots(struct bpftime_map *m) { return (uint32_t *)((char *)m->region + MAP_REGION_HDR_SIZE); }

/* fd_array_map_alloc_check (value_size 4, no program access flags) + array_map_alloc_check. */
static int aom_alloc_check(const struct bpftime_map_spec *s)
{
	const uint32_t mask = BPF_F_NUMA_NODE | MAP_F_ACCESS_MASK;
	if (s->value_size != 4 || (s->map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)))
		return -EINVAL;
	if (s->max_entries == 0 || s->key_size != 4 || (s->map_flags & ~mask))
		return -EINVAL;
	if (s->max_entries > 0x80000000u)
		return -E2BIG;
	return 0;
}

static uint64_t aom_region_size(const struct bpftime_map_spec *s) { return MAP_REGION_HDR_SIZE + 4ull * s->max_entries; }
static int aom_region_init(struct bpftime_map *m) { return 0; }
static int aom_open(struct bpftime_map *m) { return 0; }

/* array_of_map_lookup_elem: the inner map, or NULL (out of range, empty, or not open here). */
static void *aom_lookup(struct bpftime_map *m, const void *key)
{
	uint32_t idx;
	memcpy(&idx, key, 4);
	if (idx >= m->spec.max_entries)
		return NULL;
	return bpftime_map_by_id(__atomic_load_n(&slots(m)[idx], __ATOMIC_ACQUIRE));
}

/* Programs may only look up (the kernel's verifier refuses the rest); a delete from a program
 * would also leave the server holding the stored map. */
static long no_prog_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags)
{
	return -EINVAL;
}
static long no_prog_delete(struct bpftime_map *m, const void *key) { return -EINVAL; }

/* The server's delete (fd_array_map_delete_elem), after it dropped the slot's reference. */
static long aom_delete(struct bpftime_map *m, const void *key)
{
	uint32_t idx;
	memcpy(&idx, key, 4);
	if (idx >= m->spec.max_entries)
		return -E2BIG;
	if (!__atomic_exchange_n(&slots(m)[idx], 0, __ATOMIC_ACQ_REL))
		return -ENOENT;
	return 0;
}

/* bpf_fd_array_map_lookup_elem + bpf_map_fd_sys_lookup_elem: the inner map's id. */
static long aom_sys_lookup(struct bpftime_map *m, const void *key, void *value_out)
{
	return map_id_slot_sys_lookup(slots(m), m->spec.max_entries, key, value_out);
}

/* The server's write of an inner map id, with bpf_fd_array_map_update_elem's checks. */
static long aom_sys_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags)
{
	return map_id_slot_sys_update(slots(m), m->spec.max_entries, key, value, flags);
}

static long aom_get_next_key(struct bpftime_map *m, const void *key, void *next_key)
{
	return map_index_next_key(m->spec.max_entries, key, next_key);
}

const struct bpftime_map_ops bpftime_array_of_maps_map_ops = {
	.map_type = BPF_MAP_TYPE_ARRAY_OF_MAPS,
	.handle_size = sizeof(struct bpftime_map),
	.alloc_check = aom_alloc_check,
	.region_size = aom_region_size,
	.region_init = aom_region_init,
	.open = aom_open,
	.lookup = aom_lookup,
	.update = no_prog_update,
	.delete = no_prog_delete,
	.sys_delete = aom_delete,
	.sys_lookup = aom_sys_lookup,
	.get_next_key = aom_get_next_key,
	.sys_update = aom_sys_update,
};

/* ---- HASH_OF_MAPS: a hash map of u32 ids (map_hash.c does the storage) ---- */

#define HASH (&bpftime_hash_map_ops)

/* htab_map_alloc_check, then htab_of_map_alloc's value_size check. */
static int hom_alloc_check(const struct bpftime_map_spec *s)
{
	int rc = HASH->alloc_check(s);
	return rc ? rc : s->value_size != 4 ? -EINVAL : 0;
}

static uint64_t hom_region_size(const struct bpftime_map_spec *s) { return HASH->region_size(s); }
static int hom_region_init(struct bpftime_map *m) { return HASH->region_init(m); }
/* The hash map's handle is private to map_hash.c: ours is a size that holds it (checked here). */
#define HOM_HANDLE_SIZE 256
static int hom_open(struct bpftime_map *m) { return HASH->handle_size > HOM_HANDLE_SIZE ? -EINVAL : HASH->open(m); }

/* htab_of_map_lookup_elem: the inner map, or NULL. */
static void *hom_lookup(struct bpftime_map *m, const void *key)
{
	const uint32_t *v = HASH->lookup(m, key);
	return v ? bpftime_map_by_id(__atomic_load_n(v, __ATOMIC_ACQUIRE)) : NULL;
}

static long hom_delete(struct bpftime_map *m, const void *key) { return HASH->delete(m, key); }
static long hom_sys_lookup(struct bpftime_map *m, const void *key, void *out) { return HASH->sys_lookup(m, key, out); }
static long hom_get_next_key(struct bpftime_map *m, const void *key, void *next) { return HASH->get_next_key(m, key, next); }
/* The server's write of an inner map id (htab_map_update_elem's flag checks). */
static long hom_sys_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags)
{
	return HASH->update(m, key, value, flags);
}

const struct bpftime_map_ops bpftime_hash_of_maps_map_ops = {
	.map_type = BPF_MAP_TYPE_HASH_OF_MAPS,
	.handle_size = HOM_HANDLE_SIZE,
	.alloc_check = hom_alloc_check,
	.region_size = hom_region_size,
	.region_init = hom_region_init,
	.open = hom_open,
	.lookup = hom_lookup,
	.update = no_prog_update,
	.delete = no_prog_delete,
	.sys_delete = hom_delete,
	.sys_lookup = hom_sys_lookup,
	.get_next_key = hom_get_next_key,
	.sys_update = hom_sys_update,
};
