/* BPF_MAP_TYPE_LRU_HASH: a hash map that never fills up: inserting into a full map evicts the
 * least recently used keys, with the kernel's algorithm (map_lru.c), so the same operations from
 * one CPU evict the same keys. Lookups from programs mark keys used; lookups from the syscall
 * side do not. BPF_F_NO_COMMON_LRU gives each CPU its own lists. The engine is map_htab.c. */
#include "map_htab.h"

const struct bpftime_map_ops bpftime_lru_hash_map_ops = {
	.map_type = BPF_MAP_TYPE_LRU_HASH,
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
	.handle_size = sizeof(struct htab),
};
