/* The hash table engine behind PERCPU_HASH, LRU_HASH and LRU_PERCPU_HASH (map_percpu_hash.c,
 * map_lru_hash.c, map_lru_percpu_hash.c hold their ops tables). The functions below are the
 * ops; they look at the map type to pick the value storage (inline or per-CPU) and the element
 * allocator (free list or LRU lists). See map_htab.c for the layout and the concurrency design.
 */
#ifndef BPFTIME_MAP_HTAB_H
#define BPFTIME_MAP_HTAB_H
#include "map_internal.h"
#include "map_lock.h"
#include "map_lru.h"

/* Flavors, from the map type: per-CPU values, LRU allocation. */
enum { HTAB_F_PERCPU = 1, HTAB_F_LRU = 2 };

struct htab_elem {
	uint32_t next;       /* chain: element index or NULLS(bucket) */
	uint32_t hash;
	struct lru_node lru; /* LRU lists; free list link (lru.next) for PERCPU_HASH */
	uint32_t mark;       /* scratch for crash recovery */
	uint8_t key[];
};
_Static_assert(sizeof(struct htab_elem) == 24, "element header");

struct htab_bucket {
	uint32_t head; /* element index, or NULLS(bucket) */
	uint32_t seq;  /* odd while a writer unlinks an element of this chain */
};

struct htab_state {
	struct bpftime_shlock lock;
	uint32_t n_buckets, n_elems, elem_size, seed;
	uint32_t ncpus, vstride, flavor, free_head;
	uint32_t next_unused, recoveries, pad[2];
	uint64_t buckets_off, elems_off, pools_off, pool_stride, lru_off;
};

/* The process-local handle (ops handle_size). */
struct htab {
	struct bpftime_map base;
	struct htab_state *st;
	struct htab_bucket *buckets;
	uint8_t *elems, *pools;
	uint64_t pool_stride;
	struct map_lru lru;
	uint32_t mask, n_elems, elem_size, key_size, value_size, vstride, val_off, seed, ncpus, flavor;
};

int htab_alloc_check(const struct bpftime_map_spec *s);
uint64_t htab_region_size(const struct bpftime_map_spec *s);
int htab_region_init(struct bpftime_map *m);
int htab_open(struct bpftime_map *m);
void *htab_lookup(struct bpftime_map *m, const void *key);
void *htab_lookup_noref(struct bpftime_map *m, const void *key);
long htab_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags);
long htab_sys_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags);
long htab_delete(struct bpftime_map *m, const void *key);
long htab_sys_lookup(struct bpftime_map *m, const void *key, void *value_out);
long htab_get_next_key(struct bpftime_map *m, const void *key, void *next_key);
long htab_lookup_and_delete(struct bpftime_map *m, const void *key, void *value_out);
void *htab_lookup_percpu(struct bpftime_map *m, const void *key, uint32_t cpu);
uint32_t htab_sys_value_size(const struct bpftime_map *m);
/* The max_entries the map really has: BPF_F_NO_COMMON_LRU rounds it to a multiple of the number
 * of possible CPUs, as the kernel does (and reports in map info). */
uint32_t htab_effective_max_entries(const struct bpftime_map_spec *s);

/* Diagnostics for tests: checks, under the lock, that the chains hold distinct keys in their
 * right buckets and that every element is exactly once either linked or free (free list, never
 * used, or the LRU free lists, per map_lru.h's lru_check). 0 or a negative code. */
struct htab_debug {
	uint32_t linked, free, unused, recoveries;
};
int htab_debug_check(struct bpftime_map *m, struct htab_debug *out);

#endif
