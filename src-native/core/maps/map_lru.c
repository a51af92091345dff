/* LRU lists with the kernel's eviction behaviour. See map_lru.h for the model; the comments
 * below say where each step's behaviour comes from in kernel/bpf/bpf_lru_list.c. */
#include "map_lru.h"

#include <stddef.h>
#include <stdlib.h>

/* The kernel's tuning constants (bpf_lru_list.c). */
#define LOCAL_FREE_TARGET 128
#define LOCAL_NR_SCANS LOCAL_FREE_TARGET
#define PERCPU_FREE_TARGET 4
#define PERCPU_NR_SCANS PERCPU_FREE_TARGET

struct lru_link {
	uint32_t prev, next;
};
_Static_assert(offsetof(struct lru_node, prev) == offsetof(struct lru_link, prev) &&
		       offsetof(struct lru_node, next) == offsetof(struct lru_link, next),
	       "a node starts with its links");

/* One list set: the kernel's struct bpf_lru_list. */
struct lru_list {
	uint32_t counts[2]; /* nodes on the active and inactive lists */
	uint32_t nir;       /* next_inactive_rotation: a node or the inactive head */
	uint32_t head0;     /* head id of this set's active list; inactive and free follow */
};

struct lru_shared {
	uint32_t percpu, ncpus, n_elems;
	uint32_t nr_scans, target_free;
	uint32_t n_heads;
	uint32_t pad[2];
};

/* Head ids. Common LRU: 0..2 the global active/inactive/free lists, then per CPU a local free
 * and a local pending list. Per-CPU LRU: three per CPU. A head's index is n_elems + id. */
static uint32_t n_heads(int percpu, uint32_t ncpus) { return percpu ? 3 * ncpus : 3 + 2 * ncpus; }
static uint32_t n_lists(int percpu, uint32_t ncpus) { return percpu ? ncpus : 1; }

static uint64_t round8(uint64_t v) { return (v + 7) & ~7ull; }

uint64_t lru_region_size(int percpu, uint32_t ncpus)
{
	return round8(sizeof(struct lru_shared)) +
	       round8((uint64_t)n_lists(percpu, ncpus) * sizeof(struct lru_list)) +
	       round8((uint64_t)n_heads(percpu, ncpus) * sizeof(struct lru_link)) +
	       round8((uint64_t)ncpus * sizeof(uint32_t));
}

void lru_attach(struct map_lru *l, void *area, int percpu, uint32_t ncpus, uint8_t *elems,
		uint32_t elem_size, uint32_t n_elems, uint32_t node_off, uint32_t hash_off,
		int (*del_from_htab)(void *, uint32_t), void *arg)
{
	uint8_t *p = area;
	l->sh = (struct lru_shared *)p;
	p += round8(sizeof(struct lru_shared));
	l->lists = (struct lru_list *)p;
	p += round8((uint64_t)n_lists(percpu, ncpus) * sizeof(struct lru_list));
	l->heads = (struct lru_link *)p;
	p += round8((uint64_t)n_heads(percpu, ncpus) * sizeof(struct lru_link));
	l->next_steal = (uint32_t *)p;
	l->elems = elems;
	l->elem_size = elem_size;
	l->n_elems = n_elems;
	l->node_off = node_off;
	l->hash_off = hash_off;
	l->ncpus = ncpus;
	l->percpu = percpu;
	l->del_from_htab = del_from_htab;
	l->arg = arg;
}

/* ---- index-linked circular lists (the kernel's list_head operations) ---- */

static inline struct lru_node *node_at(struct map_lru *l, uint32_t i)
{
	return (struct lru_node *)(l->elems + (size_t)i * l->elem_size + l->node_off);
}

static inline struct lru_link *link_at(struct map_lru *l, uint32_t i)
{
	if (i < l->n_elems)
		return (struct lru_link *)node_at(l, i);
	return &l->heads[i - l->n_elems];
}

static inline uint32_t head_idx(struct map_lru *l, uint32_t id) { return l->n_elems + id; }

static inline void list_unlink(struct map_lru *l, uint32_t i)
{
	struct lru_link *e = link_at(l, i);
	link_at(l, e->prev)->next = e->next;
	link_at(l, e->next)->prev = e->prev;
}

static inline void list_add_head(struct map_lru *l, uint32_t i, uint32_t h)
{
	struct lru_link *e = link_at(l, i), *hd = link_at(l, h);
	uint32_t first = hd->next;
	e->next = first;
	e->prev = h;
	link_at(l, first)->prev = i;
	hd->next = i;
}

static inline void list_move_head(struct map_lru *l, uint32_t i, uint32_t h)
{
	list_unlink(l, i);
	list_add_head(l, i, h);
}

static inline void list_init(struct map_lru *l, uint32_t h)
{
	struct lru_link *hd = link_at(l, h);
	hd->prev = hd->next = h;
}

static inline int list_empty(struct map_lru *l, uint32_t h) { return link_at(l, h)->next == h; }

static inline int is_ref(struct lru_node *n) { return __atomic_load_n(&n->ref, __ATOMIC_RELAXED); }
static inline void clear_ref(struct lru_node *n) { __atomic_store_n(&n->ref, 0, __ATOMIC_RELAXED); }

/* ---- one list set (bpf_lru_list) ---- */

static inline uint32_t set_head(struct map_lru *l, struct lru_list *ll, uint32_t type)
{
	return head_idx(l, ll->head0 + type);
}

static inline void count_inc(struct lru_list *ll, uint32_t type)
{
	if (type < 2)
		ll->counts[type]++;
}

static inline void count_dec(struct lru_list *ll, uint32_t type)
{
	if (type < 2 && ll->counts[type])
		ll->counts[type]--;
}

/* __bpf_lru_node_move_to_free: off the active/inactive lists onto `free_head`. */
static void move_to_free(struct map_lru *l, struct lru_list *ll, uint32_t i, uint32_t free_head,
			 uint8_t free_type)
{
	struct lru_node *n = node_at(l, i);
	if (i == ll->nir)
		ll->nir = link_at(l, ll->nir)->prev;
	count_dec(ll, n->type);
	n->type = free_type;
	list_move_head(l, i, free_head);
}

/* __bpf_lru_node_move_in: from a CPU's pending list into this set. */
static void move_in(struct map_lru *l, struct lru_list *ll, uint32_t i, uint8_t type)
{
	struct lru_node *n = node_at(l, i);
	count_inc(ll, type);
	n->type = type;
	clear_ref(n);
	list_move_head(l, i, set_head(l, ll, type));
}

/* __bpf_lru_node_move: between (or within) this set's lists, reference bit cleared. */
static void move(struct map_lru *l, struct lru_list *ll, uint32_t i, uint8_t type)
{
	struct lru_node *n = node_at(l, i);
	if (n->type != type) {
		count_dec(ll, n->type);
		count_inc(ll, type);
		n->type = type;
	}
	clear_ref(n);
	if (i == ll->nir)
		ll->nir = link_at(l, ll->nir)->prev;
	list_move_head(l, i, set_head(l, ll, type));
}

/* __bpf_lru_list_rotate_active: from the tail, referenced nodes go back to the head of the
 * active list, the others to the inactive list; at most nr_scans nodes, each at most once. */
static void rotate_active(struct map_lru *l, struct lru_list *ll)
{
	uint32_t h = set_head(l, ll, LRU_T_ACTIVE);
	if (list_empty(l, h))
		return;
	uint32_t first = link_at(l, h)->next, i = 0;
	for (uint32_t cur = link_at(l, h)->prev, prev; cur != h; cur = prev) {
		prev = link_at(l, cur)->prev;
		move(l, ll, cur, is_ref(node_at(l, cur)) ? LRU_T_ACTIVE : LRU_T_INACTIVE);
		if (++i == l->sh->nr_scans || cur == first)
			break;
	}
}

/* __bpf_lru_list_rotate_inactive: walks backwards from next_inactive_rotation (wrapping past
 * the head) moving referenced nodes to the active list and leaving the rest in place, at most
 * nr_scans nodes; the next rotation resumes where this one stopped. */
static void rotate_inactive(struct map_lru *l, struct lru_list *ll)
{
	uint32_t h = set_head(l, ll, LRU_T_INACTIVE);
	if (list_empty(l, h))
		return;
	uint32_t last = link_at(l, ll->nir)->next;
	if (last == h)
		last = link_at(l, h)->next;
	uint32_t cur = ll->nir, next = h, i = 0;
	/* The walk ends at `last` at the latest; the bound only guards a damaged region. */
	for (uint64_t guard = 0; i < l->sh->nr_scans && guard <= (uint64_t)l->n_elems + 2; guard++) {
		if (cur == h) {
			cur = link_at(l, cur)->prev;
			continue;
		}
		next = link_at(l, cur)->prev;
		if (is_ref(node_at(l, cur)))
			move(l, ll, cur, LRU_T_ACTIVE);
		if (cur == last)
			break;
		cur = next;
		i++;
	}
	ll->nir = next;
}

/* __bpf_lru_list_shrink_inactive: from the inactive tail, referenced nodes get another round
 * on the active list, unreferenced ones are evicted to `free_head`; stops after tgt evictions or
 * nr_scans nodes. */
static uint32_t shrink_inactive(struct map_lru *l, struct lru_list *ll, uint32_t tgt,
				uint32_t free_head, uint8_t free_type)
{
	uint32_t h = set_head(l, ll, LRU_T_INACTIVE), done = 0, i = 0;
	for (uint32_t cur = link_at(l, h)->prev, prev; cur != h; cur = prev) {
		prev = link_at(l, cur)->prev;
		if (is_ref(node_at(l, cur))) {
			move(l, ll, cur, LRU_T_ACTIVE);
		} else if (l->del_from_htab(l->arg, cur)) {
			move_to_free(l, ll, cur, free_head, free_type);
			if (++done == tgt)
				break;
		}
		if (++i == l->sh->nr_scans)
			break;
	}
	return done;
}

/* __bpf_lru_list_shrink: if no unreferenced inactive node could be evicted, evict the oldest
 * node regardless of its reference bit, preferring the inactive list. */
static uint32_t shrink(struct map_lru *l, struct lru_list *ll, uint32_t tgt, uint32_t free_head,
		       uint8_t free_type)
{
	uint32_t done = shrink_inactive(l, ll, tgt, free_head, free_type);
	if (done)
		return done;
	uint32_t h = set_head(l, ll, LRU_T_INACTIVE);
	if (list_empty(l, h))
		h = set_head(l, ll, LRU_T_ACTIVE);
	for (uint32_t cur = link_at(l, h)->prev, prev; cur != h; cur = prev) {
		prev = link_at(l, cur)->prev;
		if (l->del_from_htab(l->arg, cur)) {
			move_to_free(l, ll, cur, free_head, free_type);
			return 1;
		}
	}
	return 0;
}

/* __bpf_lru_list_rotate: the active list only when the inactive one is the shorter. */
static void rotate(struct map_lru *l, struct lru_list *ll)
{
	if (ll->counts[LRU_T_INACTIVE] < ll->counts[LRU_T_ACTIVE])
		rotate_active(l, ll);
	rotate_inactive(l, ll);
}

/* ---- common LRU: per-CPU local lists in front of one global set ---- */

static inline uint32_t local_free(struct map_lru *l, uint32_t cpu) { return head_idx(l, 3 + 2 * cpu); }
static inline uint32_t local_pending(struct map_lru *l, uint32_t cpu) { return head_idx(l, 4 + 2 * cpu); }

/* __local_list_flush: a CPU's pending nodes, oldest first, into the global active (referenced)
 * or inactive lists. */
static void local_flush(struct map_lru *l, uint32_t cpu)
{
	struct lru_list *ll = &l->lists[0];
	uint32_t h = local_pending(l, cpu);
	for (uint32_t cur = link_at(l, h)->prev, prev; cur != h; cur = prev) {
		prev = link_at(l, cur)->prev;
		move_in(l, ll, cur, is_ref(node_at(l, cur)) ? LRU_T_ACTIVE : LRU_T_INACTIVE);
	}
}

/* bpf_lru_list_pop_free_to_local: refill a CPU's local free list with up to target_free nodes,
 * shrinking the global lists for what the global free list cannot give. */
static void pop_free_to_local(struct map_lru *l, uint32_t cpu)
{
	struct lru_list *ll = &l->lists[0];
	uint32_t target = l->sh->target_free, nfree = 0, gfree = set_head(l, ll, LRU_T_FREE);
	local_flush(l, cpu);
	rotate(l, ll);
	while (nfree < target && !list_empty(l, gfree)) {
		move_to_free(l, ll, link_at(l, gfree)->next, local_free(l, cpu), LRU_T_LOCAL_FREE);
		nfree++;
	}
	if (nfree < target)
		shrink(l, ll, target - nfree, local_free(l, cpu), LRU_T_LOCAL_FREE);
}

static void add_pending(struct map_lru *l, uint32_t cpu, uint32_t i, uint32_t hash)
{
	struct lru_node *n = node_at(l, i);
	__atomic_store_n((uint32_t *)(l->elems + (size_t)i * l->elem_size + l->hash_off), hash,
			 __ATOMIC_RELAXED);
	n->cpu = (uint16_t)cpu;
	n->type = LRU_T_LOCAL_PENDING;
	clear_ref(n);
	list_add_head(l, i, local_pending(l, cpu));
}

static uint32_t local_pop_free(struct map_lru *l, uint32_t cpu)
{
	uint32_t h = local_free(l, cpu);
	if (list_empty(l, h))
		return LRU_NONE;
	uint32_t i = link_at(l, h)->next;
	list_unlink(l, i);
	return i;
}

/* __local_list_pop_pending: the oldest pending node of a CPU, unreferenced ones first. */
static uint32_t local_pop_pending(struct map_lru *l, uint32_t cpu)
{
	uint32_t h = local_pending(l, cpu);
	for (int force = 0; force < 2; force++)
		for (uint32_t cur = link_at(l, h)->prev; cur != h; cur = link_at(l, cur)->prev)
			if ((force || !is_ref(node_at(l, cur))) && l->del_from_htab(l->arg, cur)) {
				list_unlink(l, cur);
				return cur;
			}
	return LRU_NONE;
}

/* bpf_common_lru_pop_free */
static uint32_t common_pop_free(struct map_lru *l, uint32_t cpu, uint32_t hash)
{
	uint32_t i = local_pop_free(l, cpu);
	if (i == LRU_NONE) {
		pop_free_to_local(l, cpu);
		i = local_pop_free(l, cpu);
	}
	if (i == LRU_NONE) {
		/* Nothing free here or globally: steal from the CPUs' local lists, round robin. */
		uint32_t first = l->next_steal[cpu] % l->ncpus, s = first;
		do {
			i = local_pop_free(l, s);
			if (i == LRU_NONE)
				i = local_pop_pending(l, s);
			s = (s + 1) % l->ncpus;
		} while (i == LRU_NONE && s != first);
		l->next_steal[cpu] = s;
		if (i == LRU_NONE)
			return LRU_NONE;
	}
	add_pending(l, cpu, i, hash);
	return i;
}

/* bpf_percpu_lru_pop_free: each CPU evicts from its own lists only. */
static uint32_t percpu_pop_free(struct map_lru *l, uint32_t cpu, uint32_t hash)
{
	struct lru_list *ll = &l->lists[cpu];
	uint32_t fh = set_head(l, ll, LRU_T_FREE);
	rotate(l, ll);
	if (list_empty(l, fh))
		shrink(l, ll, PERCPU_FREE_TARGET, fh, LRU_T_FREE);
	if (list_empty(l, fh))
		return LRU_NONE;
	uint32_t i = link_at(l, fh)->next;
	__atomic_store_n((uint32_t *)(l->elems + (size_t)i * l->elem_size + l->hash_off), hash,
			 __ATOMIC_RELAXED);
	clear_ref(node_at(l, i));
	move(l, ll, i, LRU_T_INACTIVE);
	return i;
}

uint32_t lru_pop_free(struct map_lru *l, uint32_t cpu, uint32_t hash)
{
	if (cpu >= l->ncpus)
		cpu = 0;
	return l->percpu ? percpu_pop_free(l, cpu, hash) : common_pop_free(l, cpu, hash);
}

void lru_push_free(struct map_lru *l, uint32_t i)
{
	struct lru_node *n = node_at(l, i);
	if (n->type == LRU_T_FREE || n->type == LRU_T_LOCAL_FREE)
		return; /* already free (the kernel warns and ignores) */
	if (l->percpu) {
		uint32_t cpu = n->cpu < l->ncpus ? n->cpu : 0;
		move(l, &l->lists[cpu], i, LRU_T_FREE);
		return;
	}
	if (n->type == LRU_T_LOCAL_PENDING) {
		/* Still on its CPU's pending list: straight back to that CPU's local free list. */
		uint32_t cpu = n->cpu < l->ncpus ? n->cpu : 0;
		n->type = LRU_T_LOCAL_FREE;
		clear_ref(n);
		list_move_head(l, i, local_free(l, cpu));
		return;
	}
	move(l, &l->lists[0], i, LRU_T_FREE);
}

/* ---- setup and recovery ---- */

static void reset_lists(struct map_lru *l)
{
	struct lru_shared *sh = l->sh;
	sh->percpu = l->percpu;
	sh->ncpus = l->ncpus;
	sh->n_elems = l->n_elems;
	sh->n_heads = n_heads(l->percpu, l->ncpus);
	for (uint32_t id = 0; id < sh->n_heads; id++)
		list_init(l, head_idx(l, id));
	for (uint32_t s = 0; s < n_lists(l->percpu, l->ncpus); s++) {
		struct lru_list *ll = &l->lists[s];
		ll->head0 = l->percpu ? 3 * s : 0;
		ll->counts[0] = ll->counts[1] = 0;
		ll->nir = set_head(l, ll, LRU_T_INACTIVE);
	}
	for (uint32_t c = 0; c < l->ncpus; c++)
		l->next_steal[c] = c;
}

static uint32_t percpu_entries(struct map_lru *l)
{
	uint32_t per = l->n_elems / l->ncpus;
	return per ? per : 1;
}

void lru_populate(struct map_lru *l)
{
	reset_lists(l);
	if (l->percpu) {
		l->sh->nr_scans = PERCPU_NR_SCANS;
		l->sh->target_free = PERCPU_FREE_TARGET;
		/* bpf_percpu_lru_populate: consecutive blocks of n/ncpus elements per CPU. */
		uint32_t per = percpu_entries(l);
		for (uint32_t i = 0; i < l->n_elems; i++) {
			uint32_t cpu = i / per < l->ncpus ? i / per : l->ncpus - 1;
			struct lru_node *n = node_at(l, i);
			n->cpu = (uint16_t)cpu;
			n->type = LRU_T_FREE;
			clear_ref(n);
			list_add_head(l, i, set_head(l, &l->lists[cpu], LRU_T_FREE));
		}
		return;
	}
	l->sh->nr_scans = LOCAL_NR_SCANS;
	/* bpf_common_lru_populate: target_free = clamp(n / ncpus / 2, 1, LOCAL_FREE_TARGET). */
	uint32_t t = l->n_elems / l->ncpus / 2;
	l->sh->target_free = t < 1 ? 1 : (t > LOCAL_FREE_TARGET ? LOCAL_FREE_TARGET : t);
	for (uint32_t i = 0; i < l->n_elems; i++) {
		struct lru_node *n = node_at(l, i);
		n->cpu = 0;
		n->type = LRU_T_FREE;
		clear_ref(n);
		list_add_head(l, i, set_head(l, &l->lists[0], LRU_T_FREE));
	}
}

void lru_rebuild_begin(struct map_lru *l) { reset_lists(l); }

void lru_rebuild_add(struct map_lru *l, uint32_t i, int in_use)
{
	struct lru_node *n = node_at(l, i);
	uint32_t cpu = 0;
	if (l->percpu) {
		/* A node always belongs to the CPU that populate gave it to. */
		uint32_t per = percpu_entries(l);
		cpu = i / per < l->ncpus ? i / per : l->ncpus - 1;
	}
	struct lru_list *ll = &l->lists[cpu];
	n->cpu = (uint16_t)cpu;
	clear_ref(n);
	n->type = in_use ? LRU_T_INACTIVE : LRU_T_FREE;
	count_inc(ll, n->type);
	list_add_head(l, i, set_head(l, ll, n->type));
}

/* ---- diagnostics ---- */

/* The node type the list with head id `id` holds. */
static uint8_t list_type(struct map_lru *l, uint32_t id)
{
	if (l->percpu || id < 3)
		return (uint8_t)(id % 3);
	return (id - 3) % 2 ? LRU_T_LOCAL_PENDING : LRU_T_LOCAL_FREE;
}

int lru_check(struct map_lru *l, const uint8_t *in_use, uint32_t *nfree)
{
	uint8_t *seen = calloc(l->n_elems ? l->n_elems : 1, 1);
	if (!seen)
		return -100;
	int rc = 0;
	uint32_t free_n = 0;
	for (uint32_t id = 0; id < n_heads(l->percpu, l->ncpus) && !rc; id++) {
		uint32_t h = head_idx(l, id), t = list_type(l, id), n = 0;
		struct lru_list *ll = &l->lists[l->percpu ? id / 3 : 0];
		for (uint32_t cur = link_at(l, h)->next, prev = h; cur != h; prev = cur, cur = link_at(l, cur)->next) {
			if (cur >= l->n_elems || ++n > l->n_elems) {
				rc = -1; /* a link out of range, or a cycle */
				break;
			}
			struct lru_node *node = node_at(l, cur);
			if (seen[cur]) {
				rc = -2; /* on two lists */
				break;
			}
			seen[cur] = 1;
			if (node->type != t || link_at(l, cur)->prev != prev) {
				rc = -3;
				break;
			}
			if (l->percpu && node->cpu != id / 3) {
				rc = -4;
				break;
			}
			int is_free = t == LRU_T_FREE || t == LRU_T_LOCAL_FREE;
			if (is_free == (in_use[cur] != 0)) {
				rc = is_free ? -5 : -6; /* a linked element free, or an unlinked one in use */
				break;
			}
			free_n += is_free;
		}
		if (!rc && t < 2 && ll->counts[t] != n)
			rc = -7;
	}
	for (uint32_t i = 0; i < l->n_elems && !rc; i++)
		if (!seen[i])
			rc = -8; /* on no list: lost */
	free(seen);
	*nfree = free_n;
	return rc;
}
