/* BPF_MAP_TYPE_HASH in shared memory.
 *
 * Region layout (offsets from the region start, all multiples of 64):
 *   0                   struct bpftime_map_region_hdr
 *   MAP_REGION_HDR_SIZE struct hash_state (writer lock, free list, intent record)
 *   buckets_off         struct hash_bucket[n_buckets]: head element index (or a nulls marker)
 *                       and a sequence count
 *   elems_off           element[n_elems], elem_size each:
 *                         uint32_t next; uint32_t hash; key (rounded to 8); value (rounded to 8)
 * n_buckets = roundup_pow_of_two(max_entries) as in the kernel; n_elems = max_entries + 1.
 * Values are 8-byte aligned (elems_off and elem_size are multiples of 8).
 *
 * Element pool, no per-operation allocation, no fixed limit: elements are handed out from
 * `next_unused` (never used yet, so a fresh 1M-entry map touches no element pages) or from the
 * free list of deleted ones; one extra element, the `spare`, makes replacing a key work even
 * when the map is full (the kernel's extra_elems). Elements are never returned to anyone, so
 * every index stays valid memory: a pointer a lookup returned stays readable, and may be reused
 * for another key after delete/replace exactly as with the kernel's preallocated hash.
 *
 * Readers (program-side lookup) take no lock: they follow index chains that writers change with
 * single release-stores, the way the kernel walks hlist_nulls under RCU. An element can be
 * deleted and reused elsewhere while a reader stands on it:
 *  - each chain ends in a "nulls" marker naming its bucket: a reader that ended on a foreign
 *    chain restarts (the kernel's technique);
 *  - freed elements keep their `next`, so a reader standing on one walks on (`hash` doubles as
 *    the free-list link; a stale reader at worst fails to match);
 *  - a hit needs nothing more; a miss is only believed if the bucket's sequence count was even
 *    and unchanged over the walk (writers make it odd while they unlink or swap an element in
 *    that chain). So a key that is present the whole time is always found, also while other
 *    keys of its bucket churn or it is itself being replaced; the kernel's lookup can miss in
 *    those windows.
 * A replace fills the spare and swaps it into the old element's place with one store, so a
 * reader sees the old or the new value, whole, never neither.
 *
 * Writers (update/delete, all syscall-side operations) serialise on one robust lock per map
 * (map_lock.c). Before touching shared state a writer records its intent (op, element, bucket);
 * each step is one store; if it dies, the next writer's recover function completes or discards
 * the operation, so a SIGKILL loses no element. One lock per map rather than per bucket keeps
 * that recovery simple; striping the lock (with per-stripe free lists and intents) is the
 * upgrade path if writer contention shows up.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "map_lock.h"
#include "map_internal.h"

#define NULLS_BIT 0x80000000u
#define IS_NULLS(v) ((v) & NULLS_BIT)
#define NULLS(b) (NULLS_BIT | (uint32_t)(b))
#define NULLS_VALUE(v) ((v) & ~NULLS_BIT)

/* The kernel's KMALLOC_MAX_SIZE (x86-64, 4 MiB) and sizeof(struct htab_elem): the E2BIG bound
 * of htab_map_alloc_check. */
#define KMALLOC_MAX (1ull << 22)
#define KERNEL_HTAB_ELEM 48u
/* Lock-free lookup retries before it falls back to a locked walk. */
#define LOOKUP_RESTARTS 8

enum {
	INTENT_NONE = 0,
	INTENT_INSERT_FREE,   /* elem from the free list (aux = its free-list successor) */
	INTENT_INSERT_UNUSED, /* elem == next_unused */
	INTENT_REPLACE,       /* elem = the spare taking the key, aux = the element it replaces */
	INTENT_DELETE,        /* elem being unlinked and pushed on the free list */
};

struct hash_intent {
	uint32_t op, elem, bucket, aux;
};

struct hash_state {
	struct bpftime_shlock lock;
	uint32_t n_buckets, n_elems, elem_size, seed;
	uint32_t free_head;   /* element index, or NULLS_BIT when empty */
	uint32_t next_unused; /* elements [next_unused, max_entries) were never used */
	uint32_t spare;       /* neither linked nor free: the next replace writes into it */
	uint32_t recoveries;  /* diagnostics: repairs after a writer died */
	struct hash_intent intent;
	uint64_t buckets_off, elems_off;
};

struct hash_bucket {
	uint32_t head; /* element index, or NULLS(bucket) */
	uint32_t seq;  /* odd while a writer unlinks/swaps an element of this chain */
};

struct hash_elem {
	uint32_t next;
	uint32_t hash; /* while free: the next free element */
	uint8_t key[];
};

struct hash_map {
	struct bpftime_map base;
	struct hash_state *st;
	struct hash_bucket *buckets;
	uint8_t *elems;
	uint32_t mask, n_elems, elem_size, key_size, value_size, val_off, seed, max_entries;
};

/* ---- geometry, derived from the spec only (never trusted from shared memory) ---- */

struct hash_geom {
	uint32_t n_buckets, n_elems, elem_size;
	uint64_t buckets_off, elems_off, size;
};

static uint32_t roundup_pow2(uint32_t v)
{
	uint32_t p = 1;
	while (p < v)
		p <<= 1;
	return p;
}

static void hash_geom(const struct bpftime_map_spec *s, struct hash_geom *g)
{
	g->n_buckets = roundup_pow2(s->max_entries);
	g->n_elems = s->max_entries + 1;
	g->elem_size = (uint32_t)(sizeof(struct hash_elem) + map_round_up(s->key_size, 8) +
				  map_round_up(s->value_size, 8));
	g->buckets_off = map_round_up(MAP_REGION_HDR_SIZE + sizeof(struct hash_state), MAP_CACHELINE);
	g->elems_off = map_round_up(g->buckets_off + (uint64_t)sizeof(struct hash_bucket) * g->n_buckets,
				    MAP_CACHELINE);
	g->size = g->elems_off + (uint64_t)g->n_elems * g->elem_size;
}

/* htab_map_alloc_check + the size checks of htab_map_alloc. */
static int hash_alloc_check(const struct bpftime_map_spec *s)
{
	const uint32_t mask = BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE |
			      MAP_F_ACCESS_MASK | BPF_F_ZERO_SEED;
	if (s->map_flags & ~mask)
		return -EINVAL;
	/* bpf_map_flags_access_ok */
	if ((s->map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) ==
	    (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG))
		return -EINVAL;
	if (s->map_flags & BPF_F_NO_COMMON_LRU) /* only for LRU maps */
		return -EINVAL;
	if (s->max_entries == 0 || s->key_size == 0 || s->value_size == 0)
		return -EINVAL;
	if ((uint64_t)s->key_size + s->value_size >= KMALLOC_MAX - KERNEL_HTAB_ELEM)
		return -E2BIG;
	if (s->max_entries > (1u << 31))
		return -E2BIG;
	/* 2^31 entries fit the kernel's check but not our 31-bit element indexes (n_elems is one
	 * more); it is also > 32 GiB of elements: the kernel's preallocation answers ENOMEM. */
	if (s->max_entries == (1u << 31))
		return -ENOMEM;
	return 0;
}

static uint64_t hash_region_size(const struct bpftime_map_spec *s)
{
	struct hash_geom g;
	hash_geom(s, &g);
	return g.size;
}

/* ---- hashing and key compare ---- */

static inline uint64_t load64(const void *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static inline uint32_t load32(const void *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* Keys of 4 and 8 bytes (pids, pid_tgids, addresses: most maps') take one multiply: the seeded
 * key's halves folded (a bijection, so no two keys are made equal), times an odd constant, the
 * product's high half folded onto the low one, so the bucket (low) bits depend on every key bit.
 * Sequential, page-aligned, equal-halved (pid == tgid) and thread-id keys spread as well as random
 * ones. The general loop below costs three dependent multiplies and its length branches: a
 * seventh of a tool's hash update, more of a program's lookup. */
static inline uint32_t hash_key_short(uint64_t k, uint32_t seed)
{
	uint64_t x = k ^ (uint64_t)seed * 0x9e3779b97f4a7c15ull; /* both halves seeded, differently */
	x = (x ^ (x >> 32)) * 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(x ^ (x >> 32));
}

/* A multiply/xor-shift hash: 8 bytes per step, seeded per map (random unless BPF_F_ZERO_SEED,
 * as the kernel seeds jhash) so keys chosen by one process cannot be aimed at one bucket. */
static inline uint32_t hash_key(const void *key, uint32_t len, uint32_t seed)
{
	if (len == 4)
		return hash_key_short(load32(key), seed);
	if (len == 8)
		return hash_key_short(load64(key), seed);
	const uint64_t k1 = 0xbf58476d1ce4e5b9ull, k2 = 0x94d049bb133111ebull;
	const uint8_t *p = key;
	uint64_t h = (((uint64_t)seed << 32) | len) * 0x9e3779b97f4a7c15ull;
	for (; len >= 8; len -= 8, p += 8) {
		h = (h ^ load64(p)) * k1;
		h ^= h >> 31;
	}
	if (len >= 4) {
		h = (h ^ load32(p)) * k1;
		h ^= h >> 31;
		p += 4;
		len -= 4;
	}
	for (; len; len--, p++) {
		h = (h ^ *p) * k1;
		h ^= h >> 31;
	}
	h ^= h >> 32;
	h *= k2;
	h ^= h >> 29;
	return (uint32_t)h;
}

/* len is the map's key size; a constant 4 or 8 at the lookup fast paths makes this one compare. */
static inline __attribute__((always_inline)) int key_eq_len(const uint8_t *ekey, const void *key, uint32_t len)
{
	switch (len) {
	case 4:
		return load32(ekey) == load32(key);
	case 8:
		return load64(ekey) == load64(key);
	case 16:
		return load64(ekey) == load64(key) &&
		       load64(ekey + 8) == load64((const uint8_t *)key + 8);
	default:
		return memcmp(ekey, key, len) == 0;
	}
}

static inline int key_eq(const struct hash_map *h, const uint8_t *ekey, const void *key)
{
	return key_eq_len(ekey, key, h->key_size);
}

static inline struct hash_elem *elem_at(const struct hash_map *h, uint32_t i)
{
	return (struct hash_elem *)(h->elems + (size_t)i * h->elem_size);
}

static inline uint32_t load_idx(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void store_idx(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

/* ---- region init / open ---- */

static uint32_t random_seed(void)
{
	uint32_t s;
	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
		return s;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)(ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid() << 8);
}

static int hash_region_init(struct bpftime_map *m)
{
	struct hash_geom g;
	hash_geom(&m->spec, &g);
	struct hash_state *st = (struct hash_state *)((uint8_t *)m->region + MAP_REGION_HDR_SIZE);
	int rc = bpftime_shlock_init(&st->lock);
	if (rc)
		return rc;
	st->n_buckets = g.n_buckets;
	st->n_elems = g.n_elems;
	st->elem_size = g.elem_size;
	st->seed = (m->spec.map_flags & BPF_F_ZERO_SEED) ? 0 : random_seed();
	st->free_head = NULLS_BIT;
	st->next_unused = 0;
	st->spare = m->spec.max_entries; /* the last element */
	st->buckets_off = g.buckets_off;
	st->elems_off = g.elems_off;
	struct hash_bucket *buckets = (struct hash_bucket *)((uint8_t *)m->region + g.buckets_off);
	for (uint32_t b = 0; b < g.n_buckets; b++)
		buckets[b].head = NULLS(b);
	return 0;
}

static int hash_open(struct bpftime_map *m)
{
	struct hash_map *h = (struct hash_map *)m;
	struct hash_geom g;
	hash_geom(&m->spec, &g);
	struct hash_state *st = (struct hash_state *)((uint8_t *)m->region + MAP_REGION_HDR_SIZE);
	if (st->n_buckets != g.n_buckets || st->n_elems != g.n_elems ||
	    st->elem_size != g.elem_size || st->buckets_off != g.buckets_off ||
	    st->elems_off != g.elems_off)
		return -EINVAL;
	h->st = st;
	h->buckets = (struct hash_bucket *)((uint8_t *)m->region + g.buckets_off);
	h->elems = (uint8_t *)m->region + g.elems_off;
	h->mask = g.n_buckets - 1;
	h->n_elems = g.n_elems;
	h->elem_size = g.elem_size;
	h->key_size = m->spec.key_size;
	h->value_size = m->spec.value_size;
	h->val_off = (uint32_t)(sizeof(struct hash_elem) + map_round_up(m->spec.key_size, 8));
	h->seed = st->seed;
	h->max_entries = m->spec.max_entries;
	return 0;
}

/* ---- crash recovery ---- */

/* The link (bucket head or a predecessor's next) that points at element `idx` in bucket b's
 * chain, or NULL. Lock held. Bounded: a corrupted chain cannot loop forever. */
static uint32_t *link_to(struct hash_map *h, uint32_t b, uint32_t idx)
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

/* Writers bracket every change that removes an element from a chain (unlink, swap) with the
 * bucket's sequence count, so lock-free readers can tell a true miss from a raced one. */
static inline void bucket_write_begin(struct hash_bucket *bk)
{
	__atomic_store_n(&bk->seq, bk->seq + 1, __ATOMIC_RELAXED); /* odd */
	__atomic_thread_fence(__ATOMIC_RELEASE); /* seq before the chain change */
}

static inline void bucket_write_end(struct hash_bucket *bk)
{
	__atomic_store_n(&bk->seq, bk->seq + 1, __ATOMIC_RELEASE); /* even, after the change */
}

static void hash_recover(void *arg)
{
	struct hash_map *h = arg;
	struct hash_state *st = h->st;
	struct hash_intent in = st->intent;
	uint32_t *l;
	st->recoveries++;
	if (in.op == INTENT_NONE || in.elem >= h->n_elems || in.bucket > h->mask)
		goto done;
	switch (in.op) {
	case INTENT_INSERT_FREE:
		if (link_to(h, in.bucket, in.elem)) {
			if (st->free_head == in.elem) /* linked but not yet popped */
				st->free_head = in.aux;
		} else if (st->free_head == in.elem) {
			/* never linked: filling it overwrote its free-list link; restore it */
			elem_at(h, in.elem)->hash = in.aux;
		}
		break;
	case INTENT_INSERT_UNUSED:
		if (link_to(h, in.bucket, in.elem) && st->next_unused == in.elem)
			st->next_unused = in.elem + 1;
		break;
	case INTENT_REPLACE:
		/* The swap is one store: if the new element is linked, the old one is not. */
		if (st->spare == in.elem && in.aux < h->n_elems && link_to(h, in.bucket, in.elem))
			st->spare = in.aux;
		break;
	case INTENT_DELETE:
		if ((l = link_to(h, in.bucket, in.elem)))
			store_idx(l, elem_at(h, in.elem)->next);
		if (st->free_head != in.elem) {
			elem_at(h, in.elem)->hash = st->free_head;
			st->free_head = in.elem;
		}
		break;
	}
	/* A writer that died between bucket_write_begin and _end left the count odd. */
	if (h->buckets[in.bucket].seq & 1)
		bucket_write_end(&h->buckets[in.bucket]);
done:
	__atomic_store_n(&st->intent.op, INTENT_NONE, __ATOMIC_RELEASE);
}

#ifdef BPFTIME_FAULT_INJECTION
void (*bpftime_map_fault_hook)(const char *op, int step);
#endif

static void set_intent(struct hash_state *st, uint32_t op, uint32_t elem, uint32_t bucket,
		       uint32_t aux)
{
	st->intent.elem = elem;
	st->intent.bucket = bucket;
	st->intent.aux = aux;
	__atomic_store_n(&st->intent.op, op, __ATOMIC_RELEASE); /* op last: it validates the rest */
}

static void clear_intent(struct hash_state *st)
{
	__atomic_store_n(&st->intent.op, INTENT_NONE, __ATOMIC_RELEASE);
}

static int hash_lock(struct hash_map *h) { return bpftime_shlock_lock(&h->st->lock, hash_recover, h); }
static void hash_unlock(struct hash_map *h) { bpftime_shlock_unlock(&h->st->lock); }

/* ---- lookups ---- */

/* Lock held: the link pointing at key's element (*idx set), or NULL. */
static inline uint32_t *find_locked(struct hash_map *h, uint32_t b, uint32_t hash, const void *key,
			     uint32_t *idx)
{
	uint32_t *link = &h->buckets[b].head;
	for (uint32_t steps = 0; steps <= h->n_elems; steps++) {
		uint32_t i = *link;
		if (IS_NULLS(i) || i >= h->n_elems)
			return NULL;
		struct hash_elem *e = elem_at(h, i);
		if (e->hash == hash && key_eq(h, e->key, key)) {
			*idx = i;
			return link;
		}
		link = &e->next;
	}
	return NULL;
}

static inline __attribute__((always_inline)) struct hash_elem *lookup_lockfree_len(struct hash_map *h, const void *key,
										  uint32_t hash, uint32_t len, int *gave_up)
{
	uint32_t b = hash & h->mask;
	struct hash_bucket *bk = &h->buckets[b];
	for (int tries = 0; tries < LOOKUP_RESTARTS; tries++) {
		uint32_t seq = __atomic_load_n(&bk->seq, __ATOMIC_ACQUIRE);
		uint32_t i = load_idx(&bk->head);
		uint32_t steps = 0;
		while (!IS_NULLS(i)) {
			if (i >= h->n_elems || ++steps > h->n_elems)
				goto restart; /* raced with heavy reuse, or corrupt: start over */
			struct hash_elem *e = elem_at(h, i);
			if (__atomic_load_n(&e->hash, __ATOMIC_RELAXED) == hash && key_eq_len(e->key, key, len))
				return e; /* a hit is a hit, whatever raced */
			i = load_idx(&e->next);
		}
		if (NULLS_VALUE(i) != b)
			goto restart; /* ended on another bucket's chain: an element moved under us */
		__atomic_thread_fence(__ATOMIC_ACQUIRE); /* the walk's loads before the re-check */
		if (!(seq & 1) && __atomic_load_n(&bk->seq, __ATOMIC_RELAXED) == seq)
			return NULL; /* nothing left this chain during the walk: a true miss */
	restart:;
	}
	*gave_up = 1;
	return NULL;
}

/* Writers kept moving elements under a lock-free walk: walk once more with writers held off. Out
 * of line, so that the fast paths below keep no registers for it. */
static __attribute__((noinline)) void *lookup_locked(struct hash_map *h, const void *key, uint32_t hash)
{
	if (hash_lock(h))
		return NULL;
	uint32_t idx;
	void *v = find_locked(h, hash & h->mask, hash, key, &idx)
			  ? (uint8_t *)elem_at(h, idx) + h->val_off
			  : NULL;
	hash_unlock(h);
	return v;
}

/* A program's lookup, with the key size a constant where it is 4 or 8 (pids, pid_tgids,
 * addresses): the hash is the one-multiply one and the key compare one instruction, the walk a
 * leaf with no call in it. */
static inline __attribute__((always_inline)) void *lookup_len(struct hash_map *h, const void *key, uint32_t hash,
							       uint32_t len)
{
	int gave_up = 0;
	struct hash_elem *e = lookup_lockfree_len(h, key, hash, len, &gave_up);
	if (e)
		return (uint8_t *)e + h->val_off;
	if (__builtin_expect(!gave_up, 1))
		return NULL;
	return lookup_locked(h, key, hash);
}

static __attribute__((noinline)) void *lookup4(struct hash_map *h, const void *key)
{
	return lookup_len(h, key, hash_key_short(load32(key), h->seed), 4);
}

static __attribute__((noinline)) void *lookup8(struct hash_map *h, const void *key)
{
	return lookup_len(h, key, hash_key_short(load64(key), h->seed), 8);
}

static __attribute__((noinline)) void *lookup_any(struct hash_map *h, const void *key)
{
	return lookup_len(h, key, hash_key(key, h->key_size, h->seed), h->key_size);
}

/* Each size in a function of its own (tail-called): the general one's memcmp call would make
 * the small keys' walk save and restore registers too. */
static void *hash_lookup(struct bpftime_map *m, const void *key)
{
	struct hash_map *h = (struct hash_map *)m;
	switch (h->key_size) {
	case 4:
		return lookup4(h, key);
	case 8:
		return lookup8(h, key);
	default:
		return lookup_any(h, key);
	}
}

/* ---- writers ---- */

/* Inlined, as unlink_and_free: a tool's update or delete is a few hundred instructions, and
 * each call added twenty. */
static inline __attribute__((always_inline)) void fill_elem(struct hash_map *h, struct hash_elem *e, const void *key, const void *value,
		      uint32_t hash, uint32_t next)
{
	/* A stale reader may be standing on e: key/value bytes may race (it then fails to match or
	 * sees a value being reused, as with the kernel's prealloc maps); hash and next are
	 * single 32-bit stores it reads atomically. */
	map_copy(e->key, key, h->key_size);
	map_copy((uint8_t *)e + h->val_off, value, h->value_size);
	__atomic_store_n(&e->hash, hash, __ATOMIC_RELAXED);
	__atomic_store_n(&e->next, next, __ATOMIC_RELAXED);
}

static long hash_update_locked(struct hash_map *h, const void *key, const void *value,
			       uint64_t flags, uint32_t hash)
{
	struct hash_state *st = h->st;
	uint32_t b = hash & h->mask, old;
	uint32_t *old_link = find_locked(h, b, hash, key, &old);
	if (old_link && flags == BPF_NOEXIST)
		return -EEXIST;
	if (!old_link && flags == BPF_EXIST)
		return -ENOENT;

	if (old_link) {
		/* The new value goes into the spare, which then takes the old element's place in
		 * the chain with one store: a concurrent lookup sees the old or the new value, whole,
		 * and never neither. The old element becomes the spare. */
		uint32_t s = st->spare;
		if (s >= h->n_elems)
			return -EINVAL; /* corrupt region */
		set_intent(st, INTENT_REPLACE, s, b, old);
		map_fault_point("replace", 1);
		fill_elem(h, elem_at(h, s), key, value, hash, elem_at(h, old)->next);
		map_fault_point("replace", 2);
		bucket_write_begin(&h->buckets[b]);
		store_idx(old_link, s);
		map_fault_point("replace", 3);
		bucket_write_end(&h->buckets[b]);
		map_fault_point("replace", 4);
		st->spare = old;
		map_fault_point("replace", 5);
		clear_intent(st);
		return 0;
	}

	uint32_t e;
	if (!IS_NULLS(st->free_head)) {
		e = st->free_head;
		if (e >= h->n_elems)
			return -EINVAL;
		uint32_t after = elem_at(h, e)->hash;
		set_intent(st, INTENT_INSERT_FREE, e, b, after);
		map_fault_point("insert", 1);
		fill_elem(h, elem_at(h, e), key, value, hash, h->buckets[b].head);
		map_fault_point("insert", 2);
		store_idx(&h->buckets[b].head, e); /* at the head: walks already under way skip it */
		map_fault_point("insert", 3);
		st->free_head = after;
		map_fault_point("insert", 4);
	} else if (st->next_unused < h->max_entries) {
		e = st->next_unused;
		set_intent(st, INTENT_INSERT_UNUSED, e, b, 0);
		map_fault_point("insert_unused", 1);
		fill_elem(h, elem_at(h, e), key, value, hash, h->buckets[b].head);
		map_fault_point("insert_unused", 2);
		store_idx(&h->buckets[b].head, e);
		map_fault_point("insert_unused", 3);
		st->next_unused = e + 1;
		map_fault_point("insert_unused", 4);
	} else {
		return -E2BIG; /* every element in use, as the kernel's empty free list */
	}
	clear_intent(st);
	return 0;
}

static long hash_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags)
{
	struct hash_map *h = (struct hash_map *)m;
	if ((flags & ~(uint64_t)BPF_F_LOCK) > BPF_EXIST)
		return -EINVAL;
	if (flags & BPF_F_LOCK) /* no bpf_spin_lock in values: maps carry no BTF records */
		return -EINVAL;
	uint32_t hash = hash_key(key, h->key_size, h->seed);
	int rc = hash_lock(h);
	if (rc)
		return rc;
	long r = hash_update_locked(h, key, value, flags, hash);
	hash_unlock(h);
	return r;
}

/* Lock held: unlink the element `link` points at and push it on the free list. */
static inline __attribute__((always_inline)) void unlink_and_free(struct hash_map *h, uint32_t b, uint32_t *link, uint32_t idx)
{
	struct hash_state *st = h->st;
	struct hash_elem *e = elem_at(h, idx);
	set_intent(st, INTENT_DELETE, idx, b, 0);
	map_fault_point("delete", 1);
	bucket_write_begin(&h->buckets[b]);
	store_idx(link, e->next); /* e keeps its next: a reader standing on it walks on */
	map_fault_point("delete", 2);
	bucket_write_end(&h->buckets[b]);
	map_fault_point("delete", 3);
	__atomic_store_n(&e->hash, st->free_head, __ATOMIC_RELAXED);
	map_fault_point("delete", 4);
	st->free_head = idx;
	map_fault_point("delete", 5);
	clear_intent(st);
}

static long hash_delete(struct bpftime_map *m, const void *key)
{
	struct hash_map *h = (struct hash_map *)m;
	uint32_t hash = hash_key(key, h->key_size, h->seed), b = hash & h->mask, idx;
	int rc = hash_lock(h);
	if (rc)
		return rc;
	uint32_t *link = find_locked(h, b, hash, key, &idx);
	if (link)
		unlink_and_free(h, b, link, idx);
	hash_unlock(h);
	return link ? 0 : -ENOENT;
}

/* ---- syscall side ---- */

/* The syscall side copies out without the writer lock, as the kernel's syscall lookup and
 * get_next_key run under RCU only, yet never hands the tool an element half-reused by a
 * concurrent replace or delete: an element is only ever rewritten after it left its chain, and
 * every removal from a chain makes the bucket's sequence count odd and then moves it on. So a
 * count that is even before the walk and unchanged after the copy proves that the bytes came
 * from an element that was in the chain, holding them, the whole time. Otherwise the reader
 * tries again, and after LOOKUP_RESTARTS tries takes the lock (writers that keep churning one
 * bucket cannot starve it). In-place writes by programs (atomics) are not excluded, as in the
 * kernel. */
static inline uint32_t seq_begin(const struct hash_bucket *bk)
{
	return __atomic_load_n(&bk->seq, __ATOMIC_ACQUIRE);
}

static inline int seq_unchanged(const struct hash_bucket *bk, uint32_t seq)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE); /* the copy's loads before the re-check */
	return !(seq & 1) && __atomic_load_n(&bk->seq, __ATOMIC_RELAXED) == seq;
}

/* Key's element in bucket b, walking without the lock: the element, or NULL for a miss that
 * held (*stable set) or for a walk that raced a writer (*stable clear). */
static inline __attribute__((always_inline)) struct hash_elem *walk_lockfree(struct hash_map *h, uint32_t b, uint32_t hash, const void *key,
				       uint32_t seq, int *stable)
{
	uint32_t i = load_idx(&h->buckets[b].head), steps = 0;
	*stable = 0;
	while (!IS_NULLS(i)) {
		if (i >= h->n_elems || ++steps > h->n_elems)
			return NULL;
		struct hash_elem *e = elem_at(h, i);
		if (__atomic_load_n(&e->hash, __ATOMIC_RELAXED) == hash && key_eq(h, e->key, key))
			return e;
		i = load_idx(&e->next);
	}
	*stable = NULLS_VALUE(i) == b && seq_unchanged(&h->buckets[b], seq);
	return NULL;
}

/* One lock-free read of a bucket: the attempt runs with seq (even) read at its start and returns
 * its result, or SEQ_RETRY when a writer raced it (it checks seq_unchanged itself, after its
 * copy). The result: the attempt's, or 1 once writers raced LOOKUP_RESTARTS attempts. Inlined
 * with the attempt, so the hot lookup pays no indirect call. */
#define SEQ_RETRY 2
static inline __attribute__((always_inline)) long seq_read(struct hash_map *h, uint32_t b,
		long (*attempt)(struct hash_map *h, uint32_t b, uint32_t seq, void *arg), void *arg)
{
	const struct hash_bucket *bk = &h->buckets[b];
	for (int tries = 0; tries < LOOKUP_RESTARTS; tries++) {
		uint32_t seq = seq_begin(bk);
		if (seq & 1)
			continue;
		long r = attempt(h, b, seq, arg);
		if (r != SEQ_RETRY)
			return r;
	}
	return 1;
}

struct lookup_arg { const void *key; uint32_t hash; void *value_out; };

/* 0 (copied), -ENOENT, or SEQ_RETRY. */
static inline __attribute__((always_inline)) long lookup_attempt(struct hash_map *h, uint32_t b, uint32_t seq, void *arg)
{
	struct lookup_arg *a = arg;
	int stable;
	struct hash_elem *e = walk_lockfree(h, b, a->hash, a->key, seq, &stable);
	if (!e)
		return stable ? -ENOENT : SEQ_RETRY;
	map_copy(a->value_out, (uint8_t *)e + h->val_off, h->value_size);
	return seq_unchanged(&h->buckets[b], seq) ? 0 : SEQ_RETRY;
}

/* 0 (copied), -ENOENT, or 1: raced writers LOOKUP_RESTARTS times. */
static inline long sys_lookup_lockfree(struct hash_map *h, const void *key, uint32_t hash, void *value_out)
{
	struct lookup_arg a = { key, hash, value_out };
	return seq_read(h, hash & h->mask, lookup_attempt, &a);
}

static long hash_sys_lookup(struct bpftime_map *m, const void *key, void *value_out)
{
	struct hash_map *h = (struct hash_map *)m;
	uint32_t hash = hash_key(key, h->key_size, h->seed), idx;
	long r = sys_lookup_lockfree(h, key, hash, value_out);
	if (r <= 0)
		return r;
	int rc = hash_lock(h);
	if (rc)
		return rc;
	uint32_t *link = find_locked(h, hash & h->mask, hash, key, &idx);
	if (link)
		map_copy(value_out, (uint8_t *)elem_at(h, idx) + h->val_off, h->value_size);
	hash_unlock(h);
	return link ? 0 : -ENOENT;
}

static long hash_lookup_and_delete(struct bpftime_map *m, const void *key, void *value_out)
{
	struct hash_map *h = (struct hash_map *)m;
	uint32_t hash = hash_key(key, h->key_size, h->seed), b = hash & h->mask, idx;
	int rc = hash_lock(h);
	if (rc)
		return rc;
	uint32_t *link = find_locked(h, b, hash, key, &idx);
	if (link) {
		map_copy(value_out, (uint8_t *)elem_at(h, idx) + h->val_off, h->value_size);
		unlink_and_free(h, b, link, idx);
	}
	hash_unlock(h);
	return link ? 0 : -ENOENT;
}

/* Bucket b's first key: 0 (copied), BUCKET_EMPTY, or SEQ_RETRY. */
#define BUCKET_EMPTY 3
static inline __attribute__((always_inline)) long first_key_attempt(struct hash_map *h, uint32_t b, uint32_t seq, void *next_key)
{
	uint32_t i = load_idx(&h->buckets[b].head);
	if (IS_NULLS(i))
		return BUCKET_EMPTY; /* empty now: a key inserted meanwhile may or may not be seen, as in the kernel */
	if (i >= h->n_elems)
		return SEQ_RETRY;
	map_copy(next_key, elem_at(h, i)->key, h->key_size);
	return seq_unchanged(&h->buckets[b], seq) ? 0 : SEQ_RETRY;
}

/* The first key of the first non-empty bucket from b on, without the lock: 0, -ENOENT, or 1
 * (raced writers; see above). */
static long first_key_from(struct hash_map *h, uint32_t b, void *next_key)
{
	for (; b <= h->mask; b++) {
		long r = seq_read(h, b, first_key_attempt, next_key);
		if (r != BUCKET_EMPTY)
			return r;
	}
	return -ENOENT;
}

struct next_key_arg { const void *key; uint32_t hash; void *next_key; };

/* The key after key in its chain: 0 (copied), SEQ_RETRY, or BUCKET_EMPTY when the rest of the
 * chain is empty (key last, or not there: the caller goes on from a later bucket). */
static inline __attribute__((always_inline)) long next_in_chain_attempt(struct hash_map *h, uint32_t b, uint32_t seq, void *arg)
{
	struct next_key_arg *a = arg;
	int stable;
	struct hash_elem *e = walk_lockfree(h, b, a->hash, a->key, seq, &stable);
	if (!e)
		return stable ? -ENOENT : SEQ_RETRY;
	uint32_t n = load_idx(&e->next);
	if (!IS_NULLS(n)) {
		if (n >= h->n_elems)
			return SEQ_RETRY;
		map_copy(a->next_key, elem_at(h, n)->key, h->key_size);
	}
	/* An unchanged chain proves the copy, or that key really is last in it. */
	if (!seq_unchanged(&h->buckets[b], seq))
		return SEQ_RETRY;
	return IS_NULLS(n) ? BUCKET_EMPTY : 0;
}

/* htab_map_get_next_key: the next element in key's chain, else the first element of the next
 * non-empty bucket; a missing key (or NULL) restarts from bucket 0; -ENOENT at the end. */
static long next_key_lockfree(struct hash_map *h, const void *key, void *next_key)
{
	uint32_t b = 0;
	if (key) {
		struct next_key_arg a = { key, hash_key(key, h->key_size, h->seed), next_key };
		uint32_t kb = a.hash & h->mask;
		long r = seq_read(h, kb, next_in_chain_attempt, &a);
		if (r == BUCKET_EMPTY)
			b = kb + 1;
		else if (r != -ENOENT) /* -ENOENT: key missing, start over from bucket 0 */
			return r;
	}
	return first_key_from(h, b, next_key);
}

static long hash_get_next_key(struct bpftime_map *m, const void *key, void *next_key)
{
	struct hash_map *h = (struct hash_map *)m;
	long r = next_key_lockfree(h, key, next_key);
	if (r <= 0)
		return r;
	/* Writers kept changing the chains we walked: once more with them held off. */
	uint32_t b = 0, idx;
	int rc = hash_lock(h);
	if (rc)
		return rc;
	long ret = -ENOENT;
	if (key) {
		uint32_t hash = hash_key(key, h->key_size, h->seed);
		if (find_locked(h, hash & h->mask, hash, key, &idx)) {
			uint32_t n = elem_at(h, idx)->next;
			if (!IS_NULLS(n) && n < h->n_elems) {
				map_copy(next_key, elem_at(h, n)->key, h->key_size);
				ret = 0;
				goto out;
			}
			b = (hash & h->mask) + 1;
		}
	}
	for (; b <= h->mask; b++) {
		uint32_t i = h->buckets[b].head;
		if (!IS_NULLS(i) && i < h->n_elems) {
			map_copy(next_key, elem_at(h, i)->key, h->key_size);
			ret = 0;
			break;
		}
	}
out:
	hash_unlock(h);
	return ret;
}

int bpftime_hash_debug_state(struct bpftime_map *m, struct bpftime_hash_debug *out)
{
	if (m->ops != &bpftime_hash_map_ops)
		return -EINVAL;
	struct hash_map *h = (struct hash_map *)m;
	struct hash_state *st = h->st;
	int rc = hash_lock(h);
	if (rc)
		return rc;
	out->n_buckets = h->mask + 1;
	out->n_elems = h->n_elems;
	out->next_unused = st->next_unused;
	out->spare = st->spare;
	out->intent_op = st->intent.op;
	out->recoveries = st->recoveries;
	out->free_count = 0;
	for (uint32_t i = st->free_head; !IS_NULLS(i) && i < h->n_elems && out->free_count <= h->n_elems;
	     i = elem_at(h, i)->hash)
		out->free_count++;
	out->linked = 0;
	for (uint32_t b = 0; b <= h->mask; b++) {
		uint32_t i = h->buckets[b].head;
		for (uint32_t steps = 0; !IS_NULLS(i) && i < h->n_elems && steps <= h->n_elems; steps++) {
			out->linked++;
			i = elem_at(h, i)->next;
		}
	}
	hash_unlock(h);
	return 0;
}

const struct bpftime_map_ops bpftime_hash_map_ops = {
	.map_type = BPF_MAP_TYPE_HASH,
	.handle_size = sizeof(struct hash_map),
	.alloc_check = hash_alloc_check,
	.region_size = hash_region_size,
	.region_init = hash_region_init,
	.open = hash_open,
	.lookup = hash_lookup,
	.update = hash_update,
	.delete = hash_delete,
	.sys_lookup = hash_sys_lookup,
	.get_next_key = hash_get_next_key,
	.lookup_and_delete = hash_lookup_and_delete,
};
