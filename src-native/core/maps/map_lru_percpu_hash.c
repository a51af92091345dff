/* BPF_MAP_TYPE_LRU_PERCPU_HASH: LRU_HASH's eviction (map_lru.c) with PERCPU_HASH's values: one
 * slot per possible CPU, updated in place. The engine is map_htab.c. */
#include "map_htab.h"

const struct bpftime_map_ops bpftime_lru_percpu_hash_map_ops = {
	.map_type = BPF_MAP_TYPE_LRU_PERCPU_HASH,
	.alloc_check = htab_alloc_check,
	.region_size = htab_region_size,
	.region_init = htab_region_init,
	.open = htab_open,
	.lookup = htab_lookup,
	.lookup_noref = htab_lookup_noref,
	.update = htab_update,
	.delete = htab_delete,
	.sys_lookup = htab_sys_lookup,
	.get_next_key = htab_get_next_key,
	.lookup_and_delete = htab_lookup_and_delete,
	.sys_value_size = htab_sys_value_size,
	.sys_update = htab_sys_update,
	.lookup_percpu = htab_lookup_percpu,
	.handle_size = sizeof(struct htab),
};
