/* Hash table engine for PERCPU_HASH, LRU_HASH and LRU_PERCPU_HASH in shared memory.
 *
 * Region layout (offsets from the region start, multiples of 64):
 *   0                   struct bpftime_map_region_hdr
 *   MAP_REGION_HDR_SIZE struct htab_state (writer lock, allocator state)
 *   buckets_off         struct htab_bucket[n_buckets]: head element index or nulls marker, seq
 *   elems_off           element[n_elems]: struct htab_elem (24 bytes: chain link, hash, LRU node,
 *                       scratch), key rounded to 8, then (LRU_HASH only) the value rounded to 8
 *   pools_off           per-CPU maps: one value pool per possible CPU, pool_stride bytes apart;
 *                       element i's value for CPU slot c is pools + c * pool_stride + i * vstride
 *   lru_off             LRU maps: the LRU lists (map_lru.c)
 * n_buckets = roundup_pow_of_two(max_entries) and keys are hashed with the kernel's jhash, so
 * with BPF_F_ZERO_SEED keys land in the kernel's buckets and get_next_key visits them in the
 * kernel's order (bucket by bucket, newest first within a bucket). Per-CPU values are grouped by
 * CPU, not by element, so CPUs updating their own counters never share a cache line.
 *
 * Elements: max_entries of them, preallocated (the kernel's prealloc maps; LRU maps are always
 * preallocated). PERCPU_HASH takes elements from a free list and from `next_unused` (never used
 * elements: a fresh big map touches no element pages) and updates existing keys in place, as the
 * kernel's per-CPU hash does. The LRU maps take them from the LRU lists (map_lru.c), evicting
 * when needed, with the kernel's order of steps: a new node is taken (possibly evicting) before
 * the key is looked up, so even an update that then fails with EEXIST can evict, and an update
 * of an existing key of LRU_HASH swaps in a new node (readers see the old or the new value, never
 * neither) and frees the old one.
 *
 * Readers (program-side lookups) take no lock. They follow index chains that writers change with
 * single release stores: every chain ends in a nulls marker naming its bucket (a reader that ended
 * on another bucket's chain because an element moved restarts), removed elements keep their
 * `next` (a reader standing on one walks on), and a miss is believed only if the bucket's
 * sequence count was even and unchanged over the walk (writers make it odd around every unlink),
 * so a key present throughout is always found. After a few raced walks a reader walks once under
 * the lock.
 *
 * Writers (updates and deletes from programs, every syscall-side operation) serialise on one
 * robust mutex per map (map_lock.c). Crash recovery rebuilds instead of replaying intents: the
 * hash chains are the truth (each change to them is one store, so they are always a valid set of
 * lists); a writer that finds the previous holder dead removes duplicate keys from the chains (a
 * replace interrupted between linking the new element and unlinking the old), then rebuilds the
 * free list or the LRU lists from which elements are linked. An LRU update moves many nodes
 * between lists in one operation, which no small intent record could describe; the rebuild is
 * O(max_entries) and happens only after a writer was killed inside the lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "map_cpu.h"
#include "map_htab.h"
#include "map_jhash.h"
#include "map_lock.h"
#include "map_lru.h"

#define NULLS_BIT 0x80000000u
#define IS_NULLS(v) ((v) & NULLS_BIT)
#define NULLS(b) (NULLS_BIT | (uint32_t)(b))
#define NULLS_VALUE(v) ((v) & ~NULLS_BIT)
#define NONE 0xffffffffu

/* The kernel's KMALLOC_MAX_SIZE (x86-64), sizeof(struct htab_elem) and PCPU_MIN_UNIT_SIZE: the
 * E2BIG bounds of htab_map_alloc_check. */
#define KMALLOC_MAX (1ull << 22)
#define KERNEL_HTAB_ELEM 48u
#define PCPU_MIN_UNIT_SIZE (32u << 10)
/* A region this big is a request the kernel's allocation would fail: ENOMEM. */
#define REGION_MAX (1ull << 40)
#define LOOKUP_RESTARTS 8


/* ---- geometry: derived from the spec only, never trusted from shared memory ---- */

struct htab_geom {
	uint32_t flavor, ncpus, n_buckets, n_elems, elem_size, vstride;
	uint64_t buckets_off, elems_off, pools_off, pool_stride, lru_off, size;
};

static uint32_t flavor_of(uint32_t type)
{
	switch (type) {
	case BPF_MAP_TYPE_PERCPU_HASH:
		return HTAB_F_PERCPU;
	case BPF_MAP_TYPE_LRU_HASH:
		return HTAB_F_LRU;
	case BPF_MAP_TYPE_LRU_PERCPU_HASH:
		return HTAB_F_PERCPU | HTAB_F_LRU;
	}
	return 0;
}

static uint64_t round_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

static uint32_t roundup_pow2(uint32_t v)
{
	uint32_t p = 1;
	while (p < v)
		p <<= 1;
	return p;
}

uint32_t htab_effective_max_entries(const struct bpftime_map_spec *s)
{
	uint64_t max = s->max_entries;
	if ((flavor_of(s->map_type) & HTAB_F_LRU) && (s->map_flags & BPF_F_NO_COMMON_LRU)) {
		/* htab_map_alloc: each CPU's list gets the same number (>= 1) of nodes. */
		uint32_t n = bpftime_map_ncpus();
		uint64_t up = (max + n - 1) / n * n;
		max = up > UINT32_MAX ? max / n * n : up;
	}
	return (uint32_t)max;
}

static void htab_geom(const struct bpftime_map_spec *s, struct htab_geom *g)
{
	g->flavor = flavor_of(s->map_type);
	g->ncpus = bpftime_map_ncpus();
	g->n_elems = htab_effective_max_entries(s);
	g->n_buckets = roundup_pow2(g->n_elems);
	g->vstride = (uint32_t)round_up(s->value_size, 8);
	g->elem_size = (uint32_t)(sizeof(struct htab_elem) + round_up(s->key_size, 8) +
				  ((g->flavor & HTAB_F_PERCPU) ? 0 : g->vstride));
	g->buckets_off = round_up(MAP_REGION_HDR_SIZE + sizeof(struct htab_state), MAP_CACHELINE);
	g->elems_off = round_up(g->buckets_off + (uint64_t)sizeof(struct htab_bucket) * g->n_buckets,
				MAP_CACHELINE);
	uint64_t off = g->elems_off + (uint64_t)g->n_elems * g->elem_size;
	g->pools_off = g->pool_stride = g->lru_off = 0;
	if (g->flavor & HTAB_F_PERCPU) {
		g->pools_off = round_up(off, MAP_CACHELINE);
		g->pool_stride = round_up((uint64_t)g->n_elems * g->vstride, MAP_CACHELINE);
		off = g->pools_off + g->ncpus * g->pool_stride;
	}
	if (g->flavor & HTAB_F_LRU) {
		g->lru_off = round_up(off, MAP_CACHELINE);
		off = g->lru_off + lru_region_size((s->map_flags & BPF_F_NO_COMMON_LRU) != 0, g->ncpus);
	}
	g->size = off;
}

/* htab_map_alloc_check + the size checks of htab_map_alloc. */
int htab_alloc_check(const struct bpftime_map_spec *s)
{
	uint32_t flavor = flavor_of(s->map_type);
	int percpu = flavor & HTAB_F_PERCPU, lru = flavor & HTAB_F_LRU;
	int percpu_lru = (s->map_flags & BPF_F_NO_COMMON_LRU) != 0;
	int prealloc = !(s->map_flags & BPF_F_NO_PREALLOC);
	const uint32_t mask = BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE |
			      MAP_F_ACCESS_MASK | BPF_F_ZERO_SEED;
	if (!flavor)
		return -EINVAL;
	if ((s->map_flags & ~mask) ||
	    (s->map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) ==
		    (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG))
		return -EINVAL;
	if (!lru && percpu_lru)
		return -EINVAL;
	if (lru && !prealloc)
		return -BPFTIME_ENOTSUPP;
	/* A NUMA node is not accepted for per-CPU memory. */
	if ((s->map_flags & BPF_F_NUMA_NODE) && (percpu || percpu_lru))
		return -EINVAL;
	if (s->max_entries == 0 || s->key_size == 0 || s->value_size == 0)
		return -EINVAL;
	if ((uint64_t)s->key_size + s->value_size >= KMALLOC_MAX - KERNEL_HTAB_ELEM)
		return -E2BIG;
	if (percpu && round_up(s->value_size, 8) > PCPU_MIN_UNIT_SIZE)
		return -E2BIG;
	uint32_t max = htab_effective_max_entries(s);
	if (max > (1u << 31))
		return -E2BIG;
	/* 2^31 entries pass the kernel's check but not our 31-bit element indexes; it is also tens of
	 * GiB of preallocated elements, which the kernel's allocation answers with ENOMEM. */
	if (max == (1u << 31))
		return -ENOMEM;
	struct htab_geom g;
	htab_geom(s, &g);
	if (g.size > REGION_MAX)
		return -ENOMEM;
	return 0;
}

uint64_t htab_region_size(const struct bpftime_map_spec *s)
{
	struct htab_geom g;
	htab_geom(s, &g);
	return g.size;
}

uint32_t htab_sys_value_size(const struct bpftime_map *m)
{
	if (!(flavor_of(m->spec.map_type) & HTAB_F_PERCPU))
		return m->spec.value_size;
	return (uint32_t)round_up(m->spec.value_size, 8) * bpftime_map_ncpus();
}

/* ---- element access ---- */

static inline struct htab_elem *elem_at(const struct htab *h, uint32_t i)
{
	return (struct htab_elem *)(h->elems + (size_t)i * h->elem_size);
}

static inline uint8_t *pcpu_val(const struct htab *h, uint32_t i, uint32_t cpu)
{
	return h->pools + cpu * h->pool_stride + (size_t)i * h->vstride;
}

static inline uint8_t *inline_val(const struct htab *h, uint32_t i)
{
	return (uint8_t *)elem_at(h, i) + h->val_off;
}

static inline uint32_t load_idx(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void store_idx(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

static inline uint64_t load64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline int key_eq(const struct htab *h, const uint8_t *ekey, const void *key)
{
	switch (h->key_size) {
	case 4:
		return map_load_le32(ekey) == map_load_le32(key);
	case 8:
		return load64(ekey) == load64(key);
	case 16:
		return load64(ekey) == load64(key) &&
		       load64(ekey + 8) == load64((const uint8_t *)key + 8);
	default:
		return memcmp(ekey, key, h->key_size) == 0;
	}
}

static inline uint32_t key_hash(const struct htab *h, const void *key)
{
	return map_jhash(key, h->key_size, h->seed);
}

/* ---- init / open ---- */

static uint32_t random_seed(void)
{
	uint32_t s;
	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
		return s;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)(ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid() << 8);
}

static int del_from_htab(void *arg, uint32_t idx);

static void attach_lru(struct htab *h, const struct htab_geom *g)
{
	lru_attach(&h->lru, (uint8_t *)h->base.region + g->lru_off,
		   (h->base.spec.map_flags & BPF_F_NO_COMMON_LRU) != 0, g->ncpus, h->elems,
		   g->elem_size, g->n_elems, offsetof(struct htab_elem, lru),
		   offsetof(struct htab_elem, hash), del_from_htab, h);
}

static void fill_handle(struct htab *h, const struct htab_geom *g)
{
	struct bpftime_map *m = &h->base;
	h->st = (struct htab_state *)((uint8_t *)m->region + MAP_REGION_HDR_SIZE);
	h->buckets = (struct htab_bucket *)((uint8_t *)m->region + g->buckets_off);
	h->elems = (uint8_t *)m->region + g->elems_off;
	h->pools = g->pools_off ? (uint8_t *)m->region + g->pools_off : NULL;
	h->pool_stride = g->pool_stride;
	h->mask = g->n_buckets - 1;
	h->n_elems = g->n_elems;
	h->elem_size = g->elem_size;
	h->key_size = m->spec.key_size;
	h->value_size = m->spec.value_size;
	h->vstride = g->vstride;
	h->val_off = (uint32_t)(sizeof(struct htab_elem) + round_up(m->spec.key_size, 8));
	h->ncpus = g->ncpus;
	h->flavor = g->flavor;
	if (h->flavor & HTAB_F_LRU)
		attach_lru(h, g);
}

int htab_region_init(struct bpftime_map *m)
{
	struct htab_geom g;
	htab_geom(&m->spec, &g);
	/* A stack handle gives the init code the same view open() gives everyone. */
	struct htab h = {.base = *m};
	fill_handle(&h, &g);
	struct htab_state *st = h.st;
	int rc = bpftime_shlock_init(&st->lock);
	if (rc)
		return rc;
	st->n_buckets = g.n_buckets;
	st->n_elems = g.n_elems;
	st->elem_size = g.elem_size;
	st->seed = (m->spec.map_flags & BPF_F_ZERO_SEED) ? 0 : random_seed();
	st->ncpus = g.ncpus;
	st->vstride = g.vstride;
	st->flavor = g.flavor;
	st->free_head = NONE;
	st->next_unused = 0;
	st->buckets_off = g.buckets_off;
	st->elems_off = g.elems_off;
	st->pools_off = g.pools_off;
	st->pool_stride = g.pool_stride;
	st->lru_off = g.lru_off;
	for (uint32_t b = 0; b < g.n_buckets; b++)
		h.buckets[b].head = NULLS(b);
	if (g.flavor & HTAB_F_LRU)
		lru_populate(&h.lru);
	return 0;
}

int htab_open(struct bpftime_map *m)
{
	struct htab *h = (struct htab *)m;
	struct htab_geom g;
	htab_geom(&m->spec, &g);
	struct htab_state *st = (struct htab_state *)((uint8_t *)m->region + MAP_REGION_HDR_SIZE);
	/* Another host's (or another CPU configuration's) region would be laid out differently. */
	if (st->n_buckets != g.n_buckets || st->n_elems != g.n_elems ||
	    st->elem_size != g.elem_size || st->ncpus != g.ncpus || st->vstride != g.vstride ||
	    st->flavor != g.flavor || st->buckets_off != g.buckets_off ||
	    st->elems_off != g.elems_off || st->pools_off != g.pools_off ||
	    st->pool_stride != g.pool_stride || st->lru_off != g.lru_off)
		return -EINVAL;
	fill_handle(h, &g);
	h->seed = st->seed;
	return 0;
}

/* ---- chains ---- */

/* Writers bracket every unlink with the bucket's sequence count so lock-free readers can tell a
 * true miss from a raced one. */
static inline void bucket_write_begin(struct htab_bucket *bk)
{
	__atomic_store_n(&bk->seq, bk->seq + 1, __ATOMIC_RELAXED); /* odd */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static inline void bucket_write_end(struct htab_bucket *bk)
{
	__atomic_store_n(&bk->seq, bk->seq + 1, __ATOMIC_RELEASE); /* even */
}

/* Lock held: the link that points at key's element (*idx set), or NULL. Bounded. */
static uint32_t *find_locked(struct htab *h, uint32_t b, uint32_t hash, const void *key,
			     uint32_t *idx)
{
	uint32_t *link = &h->buckets[b].head;
	for (uint32_t steps = 0; steps <= h->n_elems; steps++) {
		uint32_t i = *link;
		if (IS_NULLS(i) || i >= h->n_elems)
			return NULL;
		struct htab_elem *e = elem_at(h, i);
		if (e->hash == hash && key_eq(h, e->key, key)) {
			*idx = i;
			return link;
		}
		link = &e->next;
	}
	return NULL;
}

/* Lock held: the link that points at element idx in bucket b's chain, or NULL. */
static uint32_t *link_to(struct htab *h, uint32_t b, uint32_t idx)
{
	uint32_t *link = &h->buckets[b].head;
	for (uint32_t steps = 0; steps <= h->n_elems; steps++) {
		uint32_t i = *link;
		if (IS_NULLS(i) || i >= h->n_elems)
			return NULL;
		if (i == idx)
			return link;
		link = &elem_at(h, i)->next;
	}
	return NULL;
}

/* Lock held: element idx (filled, hash set) becomes the head of bucket b, one store. */
static void link_head(struct htab *h, uint32_t b, uint32_t idx)
{
	__atomic_store_n(&elem_at(h, idx)->next, h->buckets[b].head, __ATOMIC_RELAXED);
	store_idx(&h->buckets[b].head, idx);
}

/* Lock held: removes the element `link` points at; it keeps its next for readers on it. */
static void unlink_at(struct htab *h, uint32_t b, uint32_t *link, uint32_t idx)
{
	bucket_write_begin(&h->buckets[b]);
	store_idx(link, elem_at(h, idx)->next);
	bucket_write_end(&h->buckets[b]);
}

/* The LRU's eviction callback (htab_lru_map_delete_node). */
static int del_from_htab(void *arg, uint32_t idx)
{
	struct htab *h = arg;
	if (idx >= h->n_elems)
		return 0;
	uint32_t b = elem_at(h, idx)->hash & h->mask;
	uint32_t *link = link_to(h, b, idx);
	if (!link)
		return 0;
	unlink_at(h, b, link, idx);
	return 1;
}

/* ---- crash recovery ---- */

static int dup_before(struct htab *h, uint32_t b, uint32_t idx)
{
	struct htab_elem *e = elem_at(h, idx);
	uint32_t i = h->buckets[b].head;
	for (uint32_t steps = 0; steps <= h->n_elems && i != idx && !IS_NULLS(i) && i < h->n_elems;
	     steps++) {
		struct htab_elem *o = elem_at(h, i);
		if (o->hash == e->hash && key_eq(h, o->key, e->key))
			return 1;
		i = o->next;
	}
	return 0;
}

static void freelist_push(struct htab *h, uint32_t idx)
{
	elem_at(h, idx)->lru.next = h->st->free_head;
	h->st->free_head = idx;
}

/* A writer died holding the lock (EOWNERDEAD): make the chains a set of lists of distinct keys
 * again, then rebuild the allocator state from which elements they hold. Idempotent: if this
 * writer dies too, the next one starts over. */
static void htab_recover(void *arg)
{
	struct htab *h = arg;
	struct htab_state *st = h->st;
	st->recoveries++;
	for (uint32_t i = 0; i < h->n_elems; i++)
		elem_at(h, i)->mark = 0;
	uint32_t max_linked = 0;
	int any = 0;
	for (uint32_t b = 0; b <= h->mask; b++) {
		struct htab_bucket *bk = &h->buckets[b];
		if (bk->seq & 1)
			bucket_write_end(bk);
		uint32_t *link = &bk->head;
		for (;;) {
			uint32_t i = *link;
			if (IS_NULLS(i) && NULLS_VALUE(i) == b)
				break;
			if (IS_NULLS(i) || i >= h->n_elems || elem_at(h, i)->mark ||
			    (elem_at(h, i)->hash & h->mask) != b) {
				/* Cannot come from single-store changes; cut rather than loop. */
				store_idx(link, NULLS(b));
				break;
			}
			struct htab_elem *e = elem_at(h, i);
			if (dup_before(h, b, i)) {
				/* A replace died with both elements linked: the newer (first) stays. */
				unlink_at(h, b, link, i);
				continue;
			}
			e->mark = 1;
			any = 1;
			if (i > max_linked)
				max_linked = i;
			link = &e->next;
		}
	}
	if (h->flavor & HTAB_F_LRU) {
		lru_rebuild_begin(&h->lru);
		for (uint32_t i = 0; i < h->n_elems; i++)
			lru_rebuild_add(&h->lru, i, elem_at(h, i)->mark);
		return;
	}
	uint32_t used = st->next_unused <= h->n_elems ? st->next_unused : h->n_elems;
	if (any && max_linked + 1 > used)
		used = max_linked + 1;
	st->next_unused = used;
	st->free_head = NONE;
	for (uint32_t i = used; i-- > 0;)
		if (!elem_at(h, i)->mark)
			freelist_push(h, i);
}

static int htab_lock(struct htab *h) { return bpftime_shlock_lock(&h->st->lock, htab_recover, h); }
static void htab_unlock(struct htab *h) { bpftime_shlock_unlock(&h->st->lock); }

/* ---- lookups ---- */

/* Lock-free walk; NONE on a miss (or *gave_up after too many raced walks). */
static uint32_t lookup_lockfree(struct htab *h, const void *key, uint32_t hash, int *gave_up)
{
	uint32_t b = hash & h->mask;
	struct htab_bucket *bk = &h->buckets[b];
	for (int tries = 0; tries < LOOKUP_RESTARTS; tries++) {
		uint32_t seq = __atomic_load_n(&bk->seq, __ATOMIC_ACQUIRE);
		uint32_t i = load_idx(&bk->head), steps = 0;
		while (!IS_NULLS(i)) {
			if (i >= h->n_elems || ++steps > h->n_elems)
				goto restart;
			struct htab_elem *e = elem_at(h, i);
			if (__atomic_load_n(&e->hash, __ATOMIC_RELAXED) == hash && key_eq(h, e->key, key))
				return i;
			i = load_idx(&e->next);
		}
		if (NULLS_VALUE(i) != b)
			goto restart; /* ended on another bucket's chain: an element moved under us */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (!(seq & 1) && __atomic_load_n(&bk->seq, __ATOMIC_RELAXED) == seq)
			return NONE;
	restart:;
	}
	*gave_up = 1;
	return NONE;
}

static uint32_t lookup_idx(struct htab *h, const void *key)
{
	uint32_t hash = key_hash(h, key);
	int gave_up = 0;
	uint32_t i = lookup_lockfree(h, key, hash, &gave_up);
	if (i != NONE || !gave_up)
		return i;
	/* Writers kept moving elements under us: once more with them held off. */
	if (htab_lock(h))
		return NONE;
	uint32_t idx = NONE;
	if (!find_locked(h, hash & h->mask, hash, key, &idx))
		idx = NONE;
	htab_unlock(h);
	return idx;
}

/* Program side: the value (this CPU's slot for per-CPU maps); LRU maps mark the element used
 * unless the program only iterates (bpf_for_each_map_elem: no use, as the kernel's walk). */
static void *lookup_value(struct bpftime_map *m, const void *key, int use)
{
	struct htab *h = (struct htab *)m;
	uint32_t i = lookup_idx(h, key);
	if (i == NONE)
		return NULL;
	if (use && (h->flavor & HTAB_F_LRU))
		lru_set_ref(&elem_at(h, i)->lru);
	if (h->flavor & HTAB_F_PERCPU)
		return pcpu_val(h, i, bpftime_map_cpu_slot());
	return inline_val(h, i);
}

void *htab_lookup(struct bpftime_map *m, const void *key) { return lookup_value(m, key, 1); }
void *htab_lookup_noref(struct bpftime_map *m, const void *key) { return lookup_value(m, key, 0); }

/* bpf_map_lookup_percpu_elem: another CPU's value (cpu is a kernel CPU id). */
void *htab_lookup_percpu(struct bpftime_map *m, const void *key, uint32_t cpu)
{
	struct htab *h = (struct htab *)m;
	uint32_t slot = bpftime_map_cpu_slot_of(cpu);
	if (!(h->flavor & HTAB_F_PERCPU) || slot >= h->ncpus)
		return NULL;
	uint32_t i = lookup_idx(h, key);
	if (i == NONE)
		return NULL;
	if (h->flavor & HTAB_F_LRU)
		lru_set_ref(&elem_at(h, i)->lru);
	return pcpu_val(h, i, slot);
}

/* ---- values ---- */

/* Per-CPU value write. From a program (all == 0): value_size bytes into this CPU's slot. From the
 * syscall (all == 1): round_up(value_size, 8) bytes per possible CPU, in slot order. */
static void pcpu_copy(struct htab *h, uint32_t i, const void *value, int all)
{
	if (!all) {
		memcpy(pcpu_val(h, i, bpftime_map_cpu_slot()), value, h->value_size);
		return;
	}
	for (uint32_t c = 0; c < h->ncpus; c++)
		memcpy(pcpu_val(h, i, c), (const uint8_t *)value + (size_t)c * h->vstride, h->vstride);
}

/* A new element's per-CPU values: from a program, its value on this CPU and zeroes elsewhere
 * (pcpu_init_value: the program has no other way to know the other CPUs' initial values). */
static void pcpu_init(struct htab *h, uint32_t i, const void *value, int all)
{
	if (all) {
		pcpu_copy(h, i, value, 1);
		return;
	}
	uint32_t cur = bpftime_map_cpu_slot();
	for (uint32_t c = 0; c < h->ncpus; c++)
		memset(pcpu_val(h, i, c), 0, h->vstride);
	memcpy(pcpu_val(h, i, cur), value, h->value_size);
}

static void copy_out(struct htab *h, uint32_t i, void *out)
{
	if (!(h->flavor & HTAB_F_PERCPU)) {
		memcpy(out, inline_val(h, i), h->value_size);
		return;
	}
	for (uint32_t c = 0; c < h->ncpus; c++)
		memcpy((uint8_t *)out + (size_t)c * h->vstride, pcpu_val(h, i, c), h->vstride);
}

/* ---- element allocation ---- */

static uint32_t freelist_pop(struct htab *h)
{
	struct htab_state *st = h->st;
	uint32_t i = st->free_head;
	if (i != NONE) {
		if (i >= h->n_elems)
			return NONE; /* damaged; a recovery would rebuild it */
		st->free_head = elem_at(h, i)->lru.next;
		return i;
	}
	if (st->next_unused < h->n_elems)
		return st->next_unused++;
	return NONE;
}

static void free_elem(struct htab *h, uint32_t i)
{
	if (h->flavor & HTAB_F_LRU)
		lru_push_free(&h->lru, i);
	else
		freelist_push(h, i);
}

/* ---- writers (lock held) ---- */

static long check_flags(int exists, uint64_t flags)
{
	if (exists && flags == BPF_NOEXIST)
		return -EEXIST;
	if (!exists && flags == BPF_EXIST)
		return -ENOENT;
	return 0;
}

/* htab_map_update_elem_in_place for per-CPU values. */
static long update_percpu(struct htab *h, const void *key, const void *value, uint64_t flags,
			  uint32_t hash, int all)
{
	uint32_t b = hash & h->mask, old, i;
	uint32_t *link = find_locked(h, b, hash, key, &old);
	long rc = check_flags(link != NULL, flags);
	if (rc)
		return rc;
	if (link) {
		pcpu_copy(h, old, value, all);
		return 0;
	}
	if ((i = freelist_pop(h)) == NONE)
		return -E2BIG; /* every element in use */
	map_fault_point("percpu_insert", 1);
	struct htab_elem *e = elem_at(h, i);
	memcpy(e->key, key, h->key_size);
	__atomic_store_n(&e->hash, hash, __ATOMIC_RELAXED);
	pcpu_init(h, i, value, all);
	map_fault_point("percpu_insert", 2);
	link_head(h, b, i);
	return 0;
}

/* htab_lru_map_update_elem: a node first (this may evict), then the lookup. */
static long update_lru(struct htab *h, const void *key, const void *value, uint64_t flags,
		       uint32_t hash)
{
	uint32_t b = hash & h->mask, old;
	uint32_t i = lru_pop_free(&h->lru, bpftime_map_cpu_slot(), hash);
	if (i == NONE)
		return -ENOMEM;
	map_fault_point("lru_update", 1);
	struct htab_elem *e = elem_at(h, i);
	memcpy(e->key, key, h->key_size);
	memcpy(inline_val(h, i), value, h->value_size);
	uint32_t *link = find_locked(h, b, hash, key, &old);
	long rc = check_flags(link != NULL, flags);
	if (rc) {
		lru_push_free(&h->lru, i);
		return rc;
	}
	/* New element at the head: a concurrent lookup finds it before the old one. */
	link_head(h, b, i);
	map_fault_point("lru_update", 2);
	if (link) {
		lru_set_ref(&e->lru);
		uint32_t *ol = link_to(h, b, old); /* the head changed: find old's link again */
		if (ol)
			unlink_at(h, b, ol, old);
		map_fault_point("lru_update", 3);
		lru_push_free(&h->lru, old);
	}
	return 0;
}

/* __htab_lru_percpu_map_update_elem: existing keys are updated in place; a node is taken first
 * unless the caller said BPF_EXIST. */
static long update_lru_percpu(struct htab *h, const void *key, const void *value, uint64_t flags,
			      uint32_t hash, int all)
{
	uint32_t b = hash & h->mask, old, i = NONE;
	if (flags != BPF_EXIST) {
		i = lru_pop_free(&h->lru, bpftime_map_cpu_slot(), hash);
		if (i == NONE)
			return -ENOMEM;
		memcpy(elem_at(h, i)->key, key, h->key_size);
	}
	map_fault_point("lru_percpu_update", 1);
	uint32_t *link = find_locked(h, b, hash, key, &old);
	long rc = check_flags(link != NULL, flags);
	if (!rc) {
		if (link) {
			lru_set_ref(&elem_at(h, old)->lru);
			pcpu_copy(h, old, value, all);
		} else {
			pcpu_init(h, i, value, all);
			link_head(h, b, i);
			i = NONE;
		}
	}
	if (i != NONE)
		lru_push_free(&h->lru, i);
	return rc;
}

static long do_update(struct htab *h, const void *key, const void *value, uint64_t flags, int all)
{
	/* Every flavor refuses anything but BPF_ANY/NOEXIST/EXIST here, BPF_F_LOCK included (LRU and
	 * per-CPU values cannot hold a bpf_spin_lock). */
	if (flags > BPF_EXIST)
		return -EINVAL;
	uint32_t hash = key_hash(h, key);
	int rc = htab_lock(h);
	if (rc)
		return rc;
	long r;
	switch (h->flavor) {
	case HTAB_F_PERCPU:
		r = update_percpu(h, key, value, flags, hash, all);
		break;
	case HTAB_F_LRU:
		r = update_lru(h, key, value, flags, hash);
		break;
	default:
		r = update_lru_percpu(h, key, value, flags, hash, all);
		break;
	}
	htab_unlock(h);
	return r;
}

long htab_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags)
{
	return do_update((struct htab *)m, key, value, flags, 0);
}

long htab_sys_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags)
{
	return do_update((struct htab *)m, key, value, flags, 1);
}

/* Delete, optionally copying the value out first (lookup_and_delete). */
static long remove_key(struct htab *h, const void *key, void *value_out)
{
	uint32_t hash = key_hash(h, key), b = hash & h->mask, i;
	int rc = htab_lock(h);
	if (rc)
		return rc;
	uint32_t *link = find_locked(h, b, hash, key, &i);
	if (link) {
		if (value_out)
			copy_out(h, i, value_out);
		unlink_at(h, b, link, i);
		map_fault_point("htab_delete", 1);
		free_elem(h, i);
	}
	htab_unlock(h);
	return link ? 0 : -ENOENT;
}

long htab_delete(struct bpftime_map *m, const void *key)
{
	return remove_key((struct htab *)m, key, NULL);
}

long htab_lookup_and_delete(struct bpftime_map *m, const void *key, void *value_out)
{
	return remove_key((struct htab *)m, key, value_out);
}

/* Syscall lookup: copied under the writer lock, so the tool never sees an element half reused;
 * LRU elements are not marked (a tool walking the map must not change what gets evicted). */
long htab_sys_lookup(struct bpftime_map *m, const void *key, void *value_out)
{
	struct htab *h = (struct htab *)m;
	uint32_t hash = key_hash(h, key), i;
	int rc = htab_lock(h);
	if (rc)
		return rc;
	uint32_t *link = find_locked(h, hash & h->mask, hash, key, &i);
	if (link)
		copy_out(h, i, value_out);
	htab_unlock(h);
	return link ? 0 : -ENOENT;
}

/* htab_map_get_next_key: the next element of key's chain, else the first element of the next
 * non-empty bucket; a missing key (or NULL) starts over from bucket 0; -ENOENT at the end. */
long htab_get_next_key(struct bpftime_map *m, const void *key, void *next_key)
{
	struct htab *h = (struct htab *)m;
	uint32_t b = 0, i;
	int rc = htab_lock(h);
	if (rc)
		return rc;
	long ret = -ENOENT;
	if (key) {
		uint32_t hash = key_hash(h, key);
		if (find_locked(h, hash & h->mask, hash, key, &i)) {
			uint32_t n = elem_at(h, i)->next;
			if (!IS_NULLS(n) && n < h->n_elems) {
				memcpy(next_key, elem_at(h, n)->key, h->key_size);
				ret = 0;
				goto out;
			}
			b = (hash & h->mask) + 1;
		}
	}
	for (; b <= h->mask; b++) {
		uint32_t n = h->buckets[b].head;
		if (!IS_NULLS(n) && n < h->n_elems) {
			memcpy(next_key, elem_at(h, n)->key, h->key_size);
			ret = 0;
			break;
		}
	}
out:
	htab_unlock(h);
	return ret;
}

/* ---- diagnostics ---- */

int htab_debug_check(struct bpftime_map *m, struct htab_debug *out)
{
	struct htab *h = (struct htab *)m;
	struct htab_state *st = h->st;
	uint8_t *in_use = calloc(h->n_elems, 1);
	if (!in_use)
		return -ENOMEM;
	int rc = htab_lock(h);
	if (rc) {
		free(in_use);
		return rc;
	}
	memset(out, 0, sizeof(*out));
	out->recoveries = st->recoveries;
	for (uint32_t b = 0; b <= h->mask && !rc; b++) {
		uint32_t i = h->buckets[b].head, n = 0;
		if (h->buckets[b].seq & 1)
			rc = -20;
		for (; !IS_NULLS(i) && !rc; i = elem_at(h, i)->next) {
			if (i >= h->n_elems || ++n > h->n_elems || in_use[i])
				rc = -21;
			else if ((elem_at(h, i)->hash & h->mask) != b ||
				 elem_at(h, i)->hash != key_hash(h, elem_at(h, i)->key))
				rc = -22;
			else if (dup_before(h, b, i))
				rc = -23;
			else
				in_use[i] = 1, out->linked++;
		}
		if (!rc && NULLS_VALUE(i) != b)
			rc = -24;
	}
	if (!rc && (h->flavor & HTAB_F_LRU)) {
		rc = lru_check(&h->lru, in_use, &out->free);
	} else if (!rc) {
		uint8_t *on_free = calloc(h->n_elems, 1);
		uint32_t used = st->next_unused;
		if (!on_free || used > h->n_elems)
			rc = -30;
		for (uint32_t i = st->free_head; !rc && i != NONE; i = elem_at(h, i)->lru.next) {
			if (i >= used || in_use[i] || on_free[i])
				rc = -31;
			else
				on_free[i] = 1, out->free++;
		}
		for (uint32_t i = 0; !rc && i < h->n_elems; i++)
			if (i < used ? !in_use[i] && !on_free[i] : in_use[i])
				rc = -32; /* lost, or linked past next_unused */
		out->unused = h->n_elems - used;
		free(on_free);
	}
	htab_unlock(h);
	free(in_use);
	return rc;
}
