/* LRU lists for LRU_HASH and LRU_PERCPU_HASH maps, with the kernel's eviction behaviour
 * (kernel/bpf/bpf_lru_list.c): the same lists, reference bits, rotation and shrinking, so a
 * sequence of operations from one CPU evicts the same keys as on the kernel.
 *
 * The model, as the kernel's:
 *  - Common LRU (default): one global list set (active, inactive, free) plus, per CPU, a local
 *    free list and a local "pending" list of nodes handed out but not yet seen by the global
 *    lists. A CPU takes free nodes from its local free list; when that is empty it flushes its
 *    pending nodes into the global active (referenced) / inactive lists, rotates the global
 *    lists, and moves up to `target_free` nodes to its local free list, evicting unreferenced
 *    nodes from the tail of the inactive list when the global free list runs short. With no free
 *    node anywhere it steals one from some CPU's local free or pending list.
 *  - Per-CPU LRU (BPF_F_NO_COMMON_LRU): each CPU owns max_entries / ncpus nodes and evicts only
 *    from its own lists.
 *  - A lookup from a program sets the node's reference bit; the syscall side never does.
 *
 * Nodes live inside the hash map's elements (struct lru_node at a fixed offset) and are named
 * by element index; list heads are extra indices after the elements. Everything is called with
 * the map's writer lock held, except lru_set_ref (a lock-free byte store, as in the kernel).
 * A writer killed half way through a list operation is repaired by rebuilding the lists from the
 * hash chains (lru_rebuild_*), which the hash map's recovery does.
 */
#ifndef BPFTIME_MAP_LRU_H
#define BPFTIME_MAP_LRU_H
#include <stdint.h>

#define LRU_NONE 0xffffffffu

/* Node types: the kernel's enum bpf_lru_list_type values. */
enum {
	LRU_T_ACTIVE = 0,
	LRU_T_INACTIVE = 1,
	LRU_T_FREE = 2,
	LRU_T_LOCAL_FREE = 3,
	LRU_T_LOCAL_PENDING = 4,
};

struct lru_node {
	uint32_t prev, next; /* list links: node index or head index (>= n_elems) */
	uint8_t type;        /* LRU_T_* */
	uint8_t ref;         /* set by program-side lookups */
	uint16_t cpu;        /* slot of the owning CPU (per-CPU LRU) or of the pending list */
};

/* Process-local view of the LRU state of one map. */
struct map_lru {
	struct lru_shared *sh;
	struct lru_list *lists;   /* 1 (common) or ncpus (per-CPU LRU) */
	struct lru_link *heads;
	uint32_t *next_steal;     /* per CPU: where the next steal starts (common LRU) */
	uint8_t *elems;
	uint32_t elem_size, node_off, hash_off, n_elems, ncpus, percpu;
	/* Removes element idx from the hash table if it is linked there: 1 if it was. */
	int (*del_from_htab)(void *arg, uint32_t idx);
	void *arg;
};

/* Bytes of shared state for `ncpus` CPUs. */
uint64_t lru_region_size(int percpu, uint32_t ncpus);

/* Points the view at its shared state (`area`) and the element array. */
void lru_attach(struct map_lru *l, void *area, int percpu, uint32_t ncpus, uint8_t *elems,
		uint32_t elem_size, uint32_t n_elems, uint32_t node_off, uint32_t hash_off,
		int (*del_from_htab)(void *, uint32_t), void *arg);

/* Once, at region init: every element free (the kernel's bpf_lru_populate). */
void lru_populate(struct map_lru *l);

/* A free node for CPU slot `cpu` (evicting if needed), its hash field set to `hash`; LRU_NONE
 * when there is none to be had (the kernel's bpf_lru_pop_free returning NULL). */
uint32_t lru_pop_free(struct map_lru *l, uint32_t cpu, uint32_t hash);

/* Returns a node taken by lru_pop_free, or unlinked from the hash table, to the free lists. */
void lru_push_free(struct map_lru *l, uint32_t idx);

static inline void lru_set_ref(struct lru_node *n)
{
	/* Test first: a hot element's cache line is not dirtied on every lookup. */
	if (!__atomic_load_n(&n->ref, __ATOMIC_RELAXED))
		__atomic_store_n(&n->ref, 1, __ATOMIC_RELAXED);
}

/* Crash recovery: reset every list, then file each element as in use (inactive) or free. */
void lru_rebuild_begin(struct map_lru *l);
void lru_rebuild_add(struct map_lru *l, uint32_t idx, int in_use);

/* Diagnostics for tests: every element on exactly one list whose type matches the node's, links
 * consistent both ways, counts right, in_use[i] (linked in the hash table) elements on the
 * active/inactive/pending lists and the others on free lists. 0, or a negative code naming the
 * first violation. *nfree: elements on free lists. */
int lru_check(struct map_lru *l, const uint8_t *in_use, uint32_t *nfree);

#endif
