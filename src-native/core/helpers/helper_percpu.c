/* bpf_map_lookup_percpu_elem (kernel/bpf/helpers.c): the value a per-CPU map (PERCPU_ARRAY,
 * PERCPU_HASH, LRU_PERCPU_HASH: the verifier's check_map_func_compatibility refuses the others
 * at load) holds for another CPU. */
#include "bpftime/map.h"
#include "helpers_internal.h"

/* bpf_map_lookup_percpu_elem(map, key, cpu): CPU cpu's value, or NULL (no such element, or cpu
 * is not a possible CPU). An LRU map counts it as a use of the element, as the kernel does. */
BPFTIME_HELPER(map_lookup_percpu_elem)
{
	return (uint64_t)(uintptr_t)bpftime_map_lookup_percpu_elem((struct bpftime_map *)(uintptr_t)r1,
								  (const void *)(uintptr_t)r2, (uint32_t)r3);
}
