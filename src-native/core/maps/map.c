/* Map dispatch: finds the ops table of a map type, does the checks every type shares (those of
 * the kernel's syscall.c), writes/validates the common region header, and forwards each
 * operation to the type. A type is one file (map_<type>.c) with one ops table, listed here. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "map_cpu.h"
#include "map_htab.h"
#include "map_ids.h"
#include "map_internal.h"

/* Types not listed (the kernel-object types: sockets, devices, cgroups, storage, struct_ops,
 * arena, and those not done yet) are refused at MAP_CREATE with -EINVAL, what a kernel without
 * them answers. */
static const struct bpftime_map_ops *const map_types[] = {
	&bpftime_hash_map_ops,
	&bpftime_array_map_ops,
	&bpftime_percpu_hash_map_ops,
	&bpftime_percpu_array_map_ops,
	&bpftime_lru_hash_map_ops,
	&bpftime_lru_percpu_hash_map_ops,
	&bpftime_lpm_trie_map_ops,
	&bpftime_queue_map_ops,
	&bpftime_stack_map_ops,
	&bpftime_bloom_filter_map_ops,
	&bpftime_perf_event_array_map_ops,
	&bpftime_ringbuf_map_ops,
	&bpftime_user_ringbuf_map_ops,
	&bpftime_stack_trace_map_ops,
	&bpftime_cgroup_array_map_ops,
	&bpftime_prog_array_map_ops,
	&bpftime_array_of_maps_map_ops,
	&bpftime_hash_of_maps_map_ops,
};

static const struct bpftime_map_ops *find_ops(uint32_t map_type)
{
	for (size_t i = 0; i < sizeof(map_types) / sizeof(map_types[0]); i++)
		if (map_types[i]->map_type == map_type)
			return map_types[i];
	return NULL;
}

/* map_create's own checks, before the type's map_alloc_check. */
int bpftime_map_common_check(const struct bpftime_map_spec *spec)
{
	if (spec->map_type != BPF_MAP_TYPE_BLOOM_FILTER && spec->map_extra != 0)
		return -EINVAL;
	/* bpf_get_file_flag: read-only and write-only at once */
	if ((spec->map_flags & BPF_F_RDONLY) && (spec->map_flags & BPF_F_WRONLY))
		return -EINVAL;
	return 0;
}

static int check_spec(const struct bpftime_map_spec *spec, const struct bpftime_map_ops **ops)
{
	int rc = bpftime_map_common_check(spec);
	if (rc)
		return rc;
	*ops = find_ops(spec->map_type);
	if (!*ops)
		return -EINVAL; /* the kernel's answer for a map type it does not know */
	rc = (*ops)->alloc_check(spec);
	return rc ? rc : map_spin_lock_check(spec); /* map_check_btf runs after the allocation */
}

int64_t bpftime_map_region_size(const struct bpftime_map_spec *spec)
{
	const struct bpftime_map_ops *ops;
	int rc = check_spec(spec, &ops);
	if (rc)
		return rc;
	return (int64_t)ops->region_size(spec);
}

int bpftime_map_region_init(void *region, uint64_t size, const struct bpftime_map_spec *spec)
{
	const struct bpftime_map_ops *ops;
	int rc = check_spec(spec, &ops);
	if (rc)
		return rc;
	if (!region || size < ops->region_size(spec))
		return -EINVAL;
	struct bpftime_map_region_hdr *hdr = region;
	hdr->layout = BPFTIME_MAP_LAYOUT_VERSION;
	hdr->map_type = spec->map_type;
	hdr->key_size = spec->key_size;
	hdr->value_size = spec->value_size;
	hdr->max_entries = spec->max_entries;
	hdr->map_flags = spec->map_flags;
	hdr->map_extra = spec->map_extra;
	hdr->region_size = size;
	hdr->spin_lock_pos = spec->spin_lock_pos;
	hdr->frozen = 0;
	/* A stack handle just to give the type its view of the region. */
	struct bpftime_map tmp = {.ops = ops, .hdr = hdr, .region = region, .size = size, .spec = *spec};
	rc = ops->region_init(&tmp);
	if (rc)
		return rc;
	/* Magic last: a region is either recognisably complete or not a map. */
	__atomic_store_n(&hdr->magic, BPFTIME_MAP_REGION_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

/* The map regions this process has open: to a program they are kernel memory (a map value
 * pointer read with bpf_probe_read_kernel, as bcc's tools do), see bpftime_map_region_contains.
 * Lock-free slots: readers run in probes, writers are map opens and closes. */
#define OPEN_REGION_SLOTS 4096
static struct {
	const struct bpftime_map *owner;
	uintptr_t start, end;
} g_open_regions[OPEN_REGION_SLOTS];
static unsigned g_open_high; /* slots in use are below this */

static void regions_add(const struct bpftime_map *m)
{
	for (unsigned i = 0; i < OPEN_REGION_SLOTS; i++) {
		const struct bpftime_map *none = NULL;
		if (__atomic_load_n(&g_open_regions[i].owner, __ATOMIC_RELAXED))
			continue;
		g_open_regions[i].start = (uintptr_t)m->region;
		g_open_regions[i].end = (uintptr_t)m->region + m->size;
		if (!__atomic_compare_exchange_n(&g_open_regions[i].owner, &none, m, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
			continue;
		unsigned high = __atomic_load_n(&g_open_high, __ATOMIC_RELAXED);
		while (high < i + 1 && !__atomic_compare_exchange_n(&g_open_high, &high, i + 1, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
			;
		return;
	}
	/* full: reads of this map's values as kernel memory fail, as for any user address */
}

static void regions_remove(const struct bpftime_map *m)
{
	unsigned high = __atomic_load_n(&g_open_high, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < high; i++)
		if (__atomic_load_n(&g_open_regions[i].owner, __ATOMIC_RELAXED) == m) {
			__atomic_store_n(&g_open_regions[i].owner, NULL, __ATOMIC_RELEASE);
			return;
		}
}

uintptr_t bpftime_map_region_contains(const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p;
	unsigned high = __atomic_load_n(&g_open_high, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < high; i++) {
		if (!__atomic_load_n(&g_open_regions[i].owner, __ATOMIC_ACQUIRE))
			continue;
		uintptr_t s = g_open_regions[i].start, e = g_open_regions[i].end;
		if (a >= s && a < e && n <= e - a)
			return e;
	}
	return 0;
}

int bpftime_map_open(struct bpftime_map **out, void *region, uint64_t size, uint32_t map_id)
{
	*out = NULL;
	if (!region || size < MAP_REGION_HDR_SIZE)
		return -EINVAL;
	struct bpftime_map_region_hdr *hdr = region;
	if (__atomic_load_n(&hdr->magic, __ATOMIC_ACQUIRE) != BPFTIME_MAP_REGION_MAGIC ||
	    hdr->layout != BPFTIME_MAP_LAYOUT_VERSION)
		return -EINVAL;
	struct bpftime_map_spec spec = {
		.map_type = hdr->map_type,
		.key_size = hdr->key_size,
		.value_size = hdr->value_size,
		.max_entries = hdr->max_entries,
		.map_flags = hdr->map_flags,
		.map_extra = hdr->map_extra,
		.spin_lock_pos = hdr->spin_lock_pos,
	};
	const struct bpftime_map_ops *ops;
	/* Re-check the spec: every size the handle uses derives from it, so a damaged header
	 * cannot make this process index outside its mapping. */
	if (check_spec(&spec, &ops) || ops->region_size(&spec) > size)
		return -EINVAL;
	struct bpftime_map *m = calloc(1, ops->handle_size);
	if (!m)
		return -ENOMEM;
	m->ops = ops;
	m->hdr = hdr;
	m->region = region;
	m->size = size;
	m->id = map_id;
	m->spec = spec;
	int rc = ops->open(m);
	if (rc) {
		free(m);
		return rc;
	}
	regions_add(m);
	map_ids_add(m, map_id);
	*out = m;
	return 0;
}

/* Another open handle of map `id` than m, or NULL (for the id table when m closes). */
static struct bpftime_map *other_open(const struct bpftime_map *m, uint32_t id)
{
	unsigned high = __atomic_load_n(&g_open_high, __ATOMIC_ACQUIRE);
	for (unsigned i = 0; i < high; i++) {
		const struct bpftime_map *o = __atomic_load_n(&g_open_regions[i].owner, __ATOMIC_ACQUIRE);
		if (o && o != m && o->id == id)
			return (struct bpftime_map *)o;
	}
	return NULL;
}

void bpftime_map_close(struct bpftime_map *m)
{
	if (m) {
		regions_remove(m);
		map_ids_remove(m, m->id, other_open(m, m->id));
	}
	free(m);
}

uint32_t bpftime_map_id(const struct bpftime_map *m) { return m->id; }

const struct bpftime_map_spec *bpftime_map_get_spec(const struct bpftime_map *m) { return &m->spec; }

void *bpftime_map_region(const struct bpftime_map *m) { return m->region; }

uint32_t bpftime_map_sys_value_size(const struct bpftime_map *m)
{
	return m->ops->sys_value_size ? m->ops->sys_value_size(m) : m->spec.value_size;
}

int64_t bpftime_map_mmap_offset(const struct bpftime_map *m)
{
	return m->ops->mmap_offset ? m->ops->mmap_offset(m) : -EINVAL;
}

uint64_t bpftime_map_mmap_len(const struct bpftime_map *m)
{
	return m->ops->mmap_len ? m->ops->mmap_len(m) : 0;
}

int bpftime_map_direct_value_addr(struct bpftime_map *m, uint32_t off, void **out)
{
	return m->ops->direct_value_addr ? m->ops->direct_value_addr(m, off, out) : -EOPNOTSUPP;
}

long bpftime_map_freeze(struct bpftime_map *m)
{
	uint32_t expected = 0;
	if (!__atomic_compare_exchange_n(&m->hdr->frozen, &expected, 1, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return -EBUSY;
	return 0;
}

int bpftime_map_is_frozen(const struct bpftime_map *m)
{
	return __atomic_load_n(&m->hdr->frozen, __ATOMIC_ACQUIRE) != 0;
}

const uint32_t *bpftime_map_frozen_word(const struct bpftime_map *m)
{
	return &m->hdr->frozen;
}

/* ---- program side ---- */

void *bpftime_map_lookup_elem(struct bpftime_map *m, const void *key)
{
	return m->ops->lookup(m, key);
}

long bpftime_map_update_elem(struct bpftime_map *m, const void *key, const void *value,
			     uint64_t flags)
{
	if (__builtin_expect(m->spec.spin_lock_pos != 0, 0))
		return map_locked_update(m, key, value, flags);
	return m->ops->update(m, key, value, flags);
}

long bpftime_map_delete_elem(struct bpftime_map *m, const void *key)
{
	return m->ops->delete(m, key);
}

long bpftime_map_push_elem(struct bpftime_map *m, const void *value, uint64_t flags)
{
	return m->ops->push ? m->ops->push(m, value, flags) : -EINVAL;
}

long bpftime_map_pop_elem(struct bpftime_map *m, void *value)
{
	return m->ops->pop ? m->ops->pop(m, value) : -EINVAL;
}

long bpftime_map_peek_elem(struct bpftime_map *m, void *value)
{
	return m->ops->peek ? m->ops->peek(m, value) : -EINVAL;
}

void *bpftime_map_lookup_elem_noref(struct bpftime_map *m, const void *key)
{
	return m->ops->lookup_noref ? m->ops->lookup_noref(m, key) : bpftime_map_lookup_elem(m, key);
}

void *bpftime_map_lookup_percpu_elem(struct bpftime_map *m, const void *key, uint32_t cpu)
{
	return m->ops->lookup_percpu ? m->ops->lookup_percpu(m, key, cpu) : NULL;
}

uint32_t bpftime_map_possible_cpus(void) { return bpftime_map_ncpus(); }

uint32_t bpftime_map_effective_max_entries(const struct bpftime_map_spec *spec)
{
	if (spec->map_type == BPF_MAP_TYPE_LRU_HASH || spec->map_type == BPF_MAP_TYPE_LRU_PERCPU_HASH)
		return htab_effective_max_entries(spec);
	return spec->max_entries;
}

/* ---- syscall side: the checks of syscall.c that depend on the map, then the type ---- */

long bpftime_map_sys_lookup(struct bpftime_map *m, const void *key, void *value_out, uint64_t flags)
{
	if (flags & ~(uint64_t)BPF_F_LOCK)
		return -EINVAL;
	if (m->spec.spin_lock_pos)
		return map_locked_sys_lookup(m, key, value_out, flags);
	if (flags & BPF_F_LOCK) /* the value has no bpf_spin_lock (no BTF record) */
		return -EINVAL;
	/* bpf_map_copy_value: queues and stacks peek; a bloom filter tests the value it is given. */
	if (m->ops->peek)
		return m->ops->peek(m, value_out);
	return m->ops->sys_lookup(m, key, value_out);
}

long bpftime_map_sys_update(struct bpftime_map *m, const void *key, const void *value,
			    uint64_t flags)
{
	if (bpftime_map_is_frozen(m)) /* map_get_sys_perms drops write access */
		return -EPERM;
	if (m->spec.spin_lock_pos)
		return map_locked_update(m, key, value, flags);
	if (flags & BPF_F_LOCK)
		return -EINVAL;
	/* bpf_map_update_value: keyless maps push; per-CPU maps write every CPU's value. */
	if (m->ops->push)
		return m->ops->push(m, value, flags);
	if (m->ops->sys_update)
		return m->ops->sys_update(m, key, value, flags);
	return m->ops->update(m, key, value, flags);
}

long bpftime_map_sys_delete(struct bpftime_map *m, const void *key)
{
	if (bpftime_map_is_frozen(m))
		return -EPERM;
	if (m->ops->sys_delete)
		return m->ops->sys_delete(m, key);
	return m->ops->delete(m, key);
}

long bpftime_map_sys_get_next_key(struct bpftime_map *m, const void *key, void *next_key)
{
	return m->ops->get_next_key(m, key, next_key);
}

long bpftime_map_sys_lookup_and_delete(struct bpftime_map *m, const void *key, void *value_out,
				       uint64_t flags)
{
	if (flags & ~(uint64_t)BPF_F_LOCK)
		return -EINVAL;
	if (bpftime_map_is_frozen(m))
		return -EPERM;
	/* map_lookup_and_delete_elem: a queue or stack pop takes no flags at all. */
	if (flags && (m->spec.map_type == BPF_MAP_TYPE_QUEUE || m->spec.map_type == BPF_MAP_TYPE_STACK))
		return -EINVAL;
	if ((flags & BPF_F_LOCK) && !m->spec.spin_lock_pos)
		return -EINVAL;
	if (!m->ops->lookup_and_delete)
		return -BPFTIME_ENOTSUPP;
	long rc = m->ops->lookup_and_delete(m, key, value_out);
	if (rc == 0 && m->spec.spin_lock_pos) /* the lock word is never copied out */
		memset((uint8_t *)value_out + m->spec.spin_lock_pos - 1, 0, 4);
	return rc;
}
