/* BPF_MAP_TYPE_PERF_EVENT_ARRAY: slots that hold perf events (the tool's perf buffers), and
 * BPF_MAP_TYPE_CGROUP_ARRAY, the same kind of fd array holding cgroups (created by tools such as
 * libbpf-tools' syscount for their optional cgroup filter).
 *
 * The values are fds in the tool, so updates and deletes from the tool are served by the
 * syscall server (it resolves the fd and tells every agent which ring is in which slot); what
 * lives here is the spec, so that every process can open the map and programs can name it in
 * bpf_perf_event_output(). Program-side lookups and syscall-side lookups are refused as the
 * kernel refuses them.
 */
#include <errno.h>
#include <string.h>

#include "map_internal.h"

/* fd_array_map_alloc_check + array_map_alloc_check. */
static int pea_alloc_check(const struct bpftime_map_spec *s)
{
	const uint32_t mask = BPF_F_NUMA_NODE | MAP_F_ACCESS_MASK | BPF_F_PRESERVE_ELEMS;
	if (s->max_entries == 0 || s->key_size != 4 || s->value_size != 4 || (s->map_flags & ~mask))
		return -EINVAL;
	if (s->map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG))
		return -EINVAL;
	return 0;
}

static uint64_t pea_region_size(const struct bpftime_map_spec *s) { return MAP_REGION_HDR_SIZE; }
static int pea_region_init(struct bpftime_map *m) { return 0; }
static int pea_open(struct bpftime_map *m) { return 0; }
static void *pea_lookup(struct bpftime_map *m, const void *key) { return NULL; }

static long pea_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags)
{
	return -EOPNOTSUPP; /* fds: the server's business */
}

static long pea_delete(struct bpftime_map *m, const void *key) { return -EOPNOTSUPP; }

/* bpf_fd_array_map_lookup_elem without map_fd_sys_lookup_elem: -ENOTSUPP. */
static long pea_sys_lookup(struct bpftime_map *m, const void *key, void *value_out) { return -BPFTIME_ENOTSUPP; }

/* Array order: NULL or out of range gives 0, the last index -ENOENT. */
static long pea_get_next_key(struct bpftime_map *m, const void *key, void *next_key)
{
	return map_index_next_key(m->spec.max_entries, key, next_key);
}

const struct bpftime_map_ops bpftime_perf_event_array_map_ops = {
	.map_type = BPF_MAP_TYPE_PERF_EVENT_ARRAY,
	.handle_size = sizeof(struct bpftime_map),
	.alloc_check = pea_alloc_check,
	.region_size = pea_region_size,
	.region_init = pea_region_init,
	.open = pea_open,
	.lookup = pea_lookup,
	.update = pea_update,
	.delete = pea_delete,
	.sys_lookup = pea_sys_lookup,
	.get_next_key = pea_get_next_key,
};

/* The cgroup array: the same fd array; the server refuses cgroup fds (not offered yet). */
const struct bpftime_map_ops bpftime_cgroup_array_map_ops = {
	.map_type = BPF_MAP_TYPE_CGROUP_ARRAY,
	.handle_size = sizeof(struct bpftime_map),
	.alloc_check = pea_alloc_check,
	.region_size = pea_region_size,
	.region_init = pea_region_init,
	.open = pea_open,
	.lookup = pea_lookup,
	.update = pea_update,
	.delete = pea_delete,
	.sys_lookup = pea_sys_lookup,
	.get_next_key = pea_get_next_key,
};
