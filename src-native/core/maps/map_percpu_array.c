/* BPF_MAP_TYPE_PERCPU_ARRAY in shared memory.
 *
 * Region layout:
 *   0          struct bpftime_map_region_hdr
 *   64         struct pcpu_array_state (the number of possible CPUs the layout was made for)
 *   pools_off  one pool per possible CPU, pool_stride bytes apart (a multiple of 64, so two CPUs
 *              never share a cache line); pool c holds value[max_entries] for CPU slot c,
 *              round_up(value_size, 8) bytes each, zero-initialised
 *
 * A program sees the slot of the CPU it runs on (map_cpu.h); the syscall side reads and writes
 * round_up(value_size, 8) bytes for every possible CPU, in slot order (bpf_percpu_array_copy /
 * _update). Every element always exists, so nothing is linked or freed and no lock is needed:
 * updates are plain copies, as the kernel's.
 */
#include <errno.h>
#include <string.h>

#include "map_cpu.h"
#include "map_internal.h"

#define PCPU_MIN_UNIT_SIZE (32u << 10) /* the kernel's bound on one per-CPU value */
#define REGION_MAX (1ull << 40)        /* beyond this the kernel's allocation fails: ENOMEM */

struct pcpu_array_state {
	uint32_t ncpus, vstride;
	uint64_t pool_stride;
};

struct pcpu_array {
	struct bpftime_map base;
	uint8_t *pools;
	uint64_t pool_stride;
	uint32_t max_entries, vstride, value_size, ncpus;
};

static uint64_t pools_off(void)
{
	return map_round_up(MAP_REGION_HDR_SIZE + sizeof(struct pcpu_array_state), MAP_CACHELINE);
}

static uint64_t pool_stride(const struct bpftime_map_spec *s)
{
	return map_round_up((uint64_t)s->max_entries * map_round_up(s->value_size, 8), MAP_CACHELINE);
}

static uint64_t pcpu_array_region_size(const struct bpftime_map_spec *s)
{
	return pools_off() + bpftime_map_ncpus() * pool_stride(s);
}

/* array_map_alloc_check for PERCPU_ARRAY. */
static int pcpu_array_alloc_check(const struct bpftime_map_spec *s)
{
	const uint32_t mask = BPF_F_NUMA_NODE | BPF_F_MMAPABLE | MAP_F_ACCESS_MASK |
			      BPF_F_PRESERVE_ELEMS | BPF_F_INNER_MAP;
	if (s->max_entries == 0 || s->key_size != 4 || s->value_size == 0 || (s->map_flags & ~mask) ||
	    (s->map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) ==
		    (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG) ||
	    (s->map_flags & BPF_F_NUMA_NODE)) /* no NUMA node for per-CPU memory */
		return -EINVAL;
	if (s->map_flags & (BPF_F_MMAPABLE | BPF_F_INNER_MAP)) /* plain arrays only */
		return -EINVAL;
	if (s->map_flags & BPF_F_PRESERVE_ELEMS) /* perf event arrays only */
		return -EINVAL;
	if (s->value_size > 0x7fffffffu || s->value_size > PCPU_MIN_UNIT_SIZE)
		return -E2BIG;
	if (pcpu_array_region_size(s) > REGION_MAX)
		return -ENOMEM;
	return 0;
}

static int pcpu_array_region_init(struct bpftime_map *m)
{
	struct pcpu_array_state *st =
		(struct pcpu_array_state *)((uint8_t *)m->region + MAP_REGION_HDR_SIZE);
	st->ncpus = bpftime_map_ncpus();
	st->vstride = (uint32_t)map_round_up(m->spec.value_size, 8);
	st->pool_stride = pool_stride(&m->spec);
	return 0; /* values start zeroed, as the kernel's per-CPU allocations */
}

static int pcpu_array_open(struct bpftime_map *m)
{
	struct pcpu_array *a = (struct pcpu_array *)m;
	struct pcpu_array_state *st =
		(struct pcpu_array_state *)((uint8_t *)m->region + MAP_REGION_HDR_SIZE);
	a->ncpus = bpftime_map_ncpus();
	a->vstride = (uint32_t)map_round_up(m->spec.value_size, 8);
	a->pool_stride = pool_stride(&m->spec);
	if (st->ncpus != a->ncpus || st->vstride != a->vstride || st->pool_stride != a->pool_stride)
		return -EINVAL; /* made for another CPU configuration */
	a->pools = (uint8_t *)m->region + pools_off();
	a->max_entries = m->spec.max_entries;
	a->value_size = m->spec.value_size;
	return 0;
}

static inline uint8_t *slot(const struct pcpu_array *a, uint32_t idx, uint32_t cpu)
{
	return a->pools + cpu * a->pool_stride + (size_t)idx * a->vstride;
}

/* percpu_array_map_lookup_elem: this CPU's value. */
static void *pcpu_array_lookup(struct bpftime_map *m, const void *key)
{
	struct pcpu_array *a = (struct pcpu_array *)m;
	uint32_t idx;
	memcpy(&idx, key, 4);
	if (__builtin_expect(idx >= a->max_entries, 0))
		return NULL;
	return slot(a, idx, bpftime_map_cpu_slot());
}

/* percpu_array_map_lookup_percpu_elem (cpu: a kernel CPU id). */
static void *pcpu_array_lookup_percpu(struct bpftime_map *m, const void *key, uint32_t cpu)
{
	struct pcpu_array *a = (struct pcpu_array *)m;
	uint32_t idx, s = bpftime_map_cpu_slot_of(cpu);
	memcpy(&idx, key, 4);
	if (s >= a->ncpus || idx >= a->max_entries)
		return NULL;
	return slot(a, idx, s);
}

/* array_map_update_elem from a program: this CPU's value. */
static long pcpu_array_update(struct bpftime_map *m, const void *key, const void *value,
			      uint64_t flags)
{
	struct pcpu_array *a = (struct pcpu_array *)m;
	uint32_t idx;
	memcpy(&idx, key, 4);
	if ((flags & ~(uint64_t)BPF_F_LOCK) > BPF_EXIST)
		return -EINVAL;
	if (idx >= a->max_entries) /* all elements were pre-allocated, cannot insert a new one */
		return -E2BIG;
	if (flags & BPF_NOEXIST) /* all elements already exist */
		return -EEXIST;
	if (flags & BPF_F_LOCK) /* no bpf_spin_lock in per-CPU values */
		return -EINVAL;
	memcpy(slot(a, idx, bpftime_map_cpu_slot()), value, a->value_size);
	return 0;
}

/* bpf_percpu_array_update: every CPU's value from round_up(value_size, 8)-byte slots. */
static long pcpu_array_sys_update(struct bpftime_map *m, const void *key, const void *value,
				  uint64_t flags)
{
	struct pcpu_array *a = (struct pcpu_array *)m;
	uint32_t idx;
	memcpy(&idx, key, 4);
	if (flags > BPF_EXIST)
		return -EINVAL;
	if (idx >= a->max_entries)
		return -E2BIG;
	if (flags == BPF_NOEXIST)
		return -EEXIST;
	for (uint32_t c = 0; c < a->ncpus; c++)
		memcpy(slot(a, idx, c), (const uint8_t *)value + (size_t)c * a->vstride, a->vstride);
	return 0;
}

static long pcpu_array_delete(struct bpftime_map *m, const void *key)
{
	return -EINVAL; /* elements of an array cannot be deleted */
}

/* bpf_percpu_array_copy */
static long pcpu_array_sys_lookup(struct bpftime_map *m, const void *key, void *value_out)
{
	struct pcpu_array *a = (struct pcpu_array *)m;
	uint32_t idx;
	memcpy(&idx, key, 4);
	if (idx >= a->max_entries)
		return -ENOENT;
	for (uint32_t c = 0; c < a->ncpus; c++)
		memcpy((uint8_t *)value_out + (size_t)c * a->vstride, slot(a, idx, c), a->vstride);
	return 0;
}

/* array_map_get_next_key */
static long pcpu_array_get_next_key(struct bpftime_map *m, const void *key, void *next_key)
{
	return map_index_next_key(((struct pcpu_array *)m)->max_entries, key, next_key);
}

static uint32_t pcpu_array_sys_value_size(const struct bpftime_map *m)
{
	return (uint32_t)map_round_up(m->spec.value_size, 8) * bpftime_map_ncpus();
}

const struct bpftime_map_ops bpftime_percpu_array_map_ops = {
	.map_type = BPF_MAP_TYPE_PERCPU_ARRAY,
	.handle_size = sizeof(struct pcpu_array),
	.alloc_check = pcpu_array_alloc_check,
	.region_size = pcpu_array_region_size,
	.region_init = pcpu_array_region_init,
	.open = pcpu_array_open,
	.lookup = pcpu_array_lookup,
	.update = pcpu_array_update,
	.delete = pcpu_array_delete,
	.sys_lookup = pcpu_array_sys_lookup,
	.get_next_key = pcpu_array_get_next_key,
	.lookup_and_delete = NULL, /* -ENOTSUPP, as the kernel */
	.sys_value_size = pcpu_array_sys_value_size,
	.sys_update = pcpu_array_sys_update,
	.lookup_percpu = pcpu_array_lookup_percpu,
};
