/* BPF_MAP_TYPE_PERCPU_HASH: a hash map whose values have one slot per possible CPU. Programs
 * read and write their CPU's slot; the syscall side sees every slot. Existing keys are updated
 * in place. The engine (layout, lock-free readers, crash recovery) is map_htab.c. */
#include "map_htab.h"

const struct bpftime_map_ops bpftime_percpu_hash_map_ops = {
	.map_type = BPF_MAP_TYPE_PERCPU_HASH,
	.alloc_check = htab_alloc_check,
	.region_size = htab_region_size,
	.region_init = htab_region_init,
	.open = htab_open,
	.lookup = htab_lookup,
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
