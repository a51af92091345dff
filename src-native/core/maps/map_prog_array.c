/* BPF_MAP_TYPE_PROG_ARRAY: slots holding programs, the targets of bpf_tail_call.
 *
 * The region holds one u32 per slot, the global id of the program in it (0: empty). The values
 * the tool passes are program fds, so updates and deletes from the tool are served by the
 * syscall server (it resolves the fd, checks the program type, holds a reference on the program
 * while it sits in the slot, and makes sure every agent can run it before the slot shows it);
 * the server writes the slot through this type's sys_update. Syscall-side lookups return
 * the program's id, as the kernel's prog_fd_array_sys_lookup_elem. Programs cannot look up or
 * write a prog array (the kernel verifier refuses it): bpf_tail_call reads the slots
 * (bpftime_prog_array_slot, prog_array.h).
 */
#include <errno.h>
#include <string.h>

#include "bpftime/prog_array.h"
#include "map_prog_array.h"

static uint32_t *slots(struct bpftime_map *m) { return (uint32_t *)((char *)m->region + MAP_REGION_HDR_SIZE); }

/* fd_array_map_alloc_check + array_map_alloc_check + array_map_alloc's size check. */
static int pa_alloc_check(const struct bpftime_map_spec *s)
{
	const uint32_t mask = BPF_F_NUMA_NODE | MAP_F_ACCESS_MASK;
	if (s->max_entries == 0 || s->key_size != 4 || s->value_size != 4 || (s->map_flags & ~mask))
		return -EINVAL;
	if (s->map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG))
		return -EINVAL;
	if (s->max_entries > 0x80000000u) /* the index mask would overflow u32 */
		return -E2BIG;
	return 0;
}

static uint64_t pa_region_size(const struct bpftime_map_spec *s)
{
	return MAP_REGION_HDR_SIZE + 4ull * s->max_entries;
}

static int pa_region_init(struct bpftime_map *m) { return 0; }
static int pa_open(struct bpftime_map *m) { return 0; }

/* Program side: the verifier allows no lookup, update or delete on a prog array. */
static void *pa_lookup(struct bpftime_map *m, const void *key) { return NULL; }
static long pa_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags)
{
	return -EINVAL;
}
static long pa_delete(struct bpftime_map *m, const void *key) { return -EINVAL; }

/* bpf_fd_array_map_lookup_elem + prog_fd_array_sys_lookup_elem: the program's id. */
static long pa_sys_lookup(struct bpftime_map *m, const void *key, void *value_out)
{
	return map_id_slot_sys_lookup(slots(m), m->spec.max_entries, key, value_out);
}

/* The server's write, the value already translated from an fd to a program id (0 empties the
 * slot: the server's delete, after it checked the slot was full), with the checks of
 * bpf_fd_array_map_update_elem: only BPF_ANY, then the index. The tool's own process never gets
 * here: the shim sends prog array updates and deletes to the server. */
static long pa_sys_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags)
{
	return map_id_slot_sys_update(slots(m), m->spec.max_entries, key, value, flags);
}

/* Array order: NULL or out of range gives 0, the last index -ENOENT. */
static long pa_get_next_key(struct bpftime_map *m, const void *key, void *next_key)
{
	return map_index_next_key(m->spec.max_entries, key, next_key);
}

long bpftime_prog_array_slot(struct bpftime_map *m, uint64_t index, uint32_t *prog_id)
{
	if (!m || m->spec.map_type != BPF_MAP_TYPE_PROG_ARRAY)
		return -EINVAL;
	if (index >= m->spec.max_entries)
		return -E2BIG;
	*prog_id = __atomic_load_n(&slots(m)[index], __ATOMIC_ACQUIRE);
	return 0;
}

const struct bpftime_map_ops bpftime_prog_array_map_ops = {
	.map_type = BPF_MAP_TYPE_PROG_ARRAY,
	.handle_size = sizeof(struct bpftime_map),
	.alloc_check = pa_alloc_check,
	.region_size = pa_region_size,
	.region_init = pa_region_init,
	.open = pa_open,
	.lookup = pa_lookup,
	.update = pa_update,
	.delete = pa_delete,
	.sys_lookup = pa_sys_lookup,
	.get_next_key = pa_get_next_key,
	.sys_update = pa_sys_update,
};
