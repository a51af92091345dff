/* bpf_map_lookup_elem / update / delete / push / pop / peek: r1 is the process-local
 * struct bpftime_map * that the program's ld_imm64 map reference was relocated to (objfile.h
 * BPFTIME_RELOC_MAP_PTR). */
#include "bpftime/map.h"
#include "helpers_internal.h"

BPFTIME_HELPER(map_lookup_elem)
{
	return (uint64_t)(uintptr_t)bpftime_map_lookup_elem((struct bpftime_map *)(uintptr_t)r1,
							      (const void *)(uintptr_t)r2);
}

BPFTIME_HELPER(map_update_elem)
{
	return (uint64_t)bpftime_map_update_elem((struct bpftime_map *)(uintptr_t)r1,
						 (const void *)(uintptr_t)r2,
						 (const void *)(uintptr_t)r3, r4);
}

BPFTIME_HELPER(map_delete_elem)
{
	return (uint64_t)bpftime_map_delete_elem((struct bpftime_map *)(uintptr_t)r1,
						 (const void *)(uintptr_t)r2);
}

/* Queues, stacks and bloom filters (the kernel's map_push_elem/pop/peek ops). */
BPFTIME_HELPER(map_push_elem)
{
	return (uint64_t)bpftime_map_push_elem((struct bpftime_map *)(uintptr_t)r1,
					       (const void *)(uintptr_t)r2, r3);
}

BPFTIME_HELPER(map_pop_elem)
{
	return (uint64_t)bpftime_map_pop_elem((struct bpftime_map *)(uintptr_t)r1,
					      (void *)(uintptr_t)r2);
}

BPFTIME_HELPER(map_peek_elem)
{
	return (uint64_t)bpftime_map_peek_elem((struct bpftime_map *)(uintptr_t)r1,
					       (void *)(uintptr_t)r2);
}
