/* BPF_MAP_TYPE_LPM_TRIE in shared memory: longest-prefix match with the kernel's tree
 * (kernel/bpf/lpm_trie.c), so lookups, updates, deletes and get_next_key's order are the
 * kernel's.
 *
 * Keys are struct bpf_lpm_trie_key_u8: a u32 prefix length, then data_size = key_size - 4 bytes
 * compared as a big-endian bit string. The tree is a binary trie of nodes, each holding a prefix;
 * a node's children extend its prefix by at least one bit, child[b] where b is the first bit
 * after the node's prefix. "Intermediate" nodes (flag IM) exist only to branch and hold no value;
 * every intermediate node has exactly two children, so there are fewer intermediate nodes than
 * real ones.
 *
 * Region layout: the common header, struct lpm_state at 64, then the node pool from nodes_off:
 * 2 * max_entries + 1 nodes (real <= max_entries, intermediate <= real - 1, plus the one an update
 * allocates before it frees the node it replaces), each
 *   uint32_t child[2]; uint32_t prefixlen; uint32_t flags; data[data_size]; pad to 8; value.
 * Nodes are named by index (LPM_NONE for no node) and come from a free list and from
 * `next_unused`, so an empty big trie touches no node pages (the kernel allocates on demand).
 *
 * Readers (program-side lookups) take no lock: a sequence count, odd while a writer changes the
 * tree, tells them to retry; every walk is bounded by the key's length, and indexes are checked,
 * so a walk over nodes being reused ends and is then discarded. Writers serialise on the map's
 * robust lock (map_lock.c). Every change to the tree is one store (a child or root pointer, or setting a
 * node's IM flag), made after the new nodes are complete, so the tree is always valid; a writer
 * killed half way leaves at worst allocated-but-unreachable nodes and stale counts, and recovery
 * rebuilds the free list and the entry count from the nodes reachable from the root.
 */
#include <errno.h>
#include <sched.h>
#include <stddef.h>
#include <string.h>

#include "map_internal.h"
#include "map_lock.h"

#define LPM_NONE 0xffffffffu
#define LPM_FLAG_IM 1u    /* intermediate node: no value */
#define LPM_FLAG_MARK 2u  /* recovery scratch: reachable */
#define KMALLOC_MAX (1ull << 22)
#define KERNEL_LPM_NODE 24u /* sizeof(struct lpm_trie_node): child[2], prefixlen, flags */
#define LPM_DATA_SIZE_MAX 256u
#define LPM_KEY_HDR offsetof(struct bpf_lpm_trie_key_u8, data)
#define REGION_MAX (1ull << 40)
#define READ_RETRIES 64

struct lpm_state {
	struct bpftime_shlock lock;
	uint32_t seq;      /* odd while a writer changes the tree */
	uint32_t root;
	uint32_t n_entries; /* real (non-intermediate) nodes */
	uint32_t free_head, next_unused, n_nodes, node_size, recoveries;
};

struct lpm_node {
	uint32_t child[2];
	uint32_t prefixlen;
	uint32_t flags;
	uint8_t data[];
};

struct lpm_trie {
	struct bpftime_map base;
	struct lpm_state *st;
	uint8_t *nodes;
	uint32_t n_nodes, node_size, data_size, max_prefixlen, val_off, value_size, max_entries;
};

/* ---- geometry ---- */

static uint32_t data_size_of(const struct bpftime_map_spec *s) { return s->key_size - (uint32_t)LPM_KEY_HDR; }

static uint32_t node_size_of(const struct bpftime_map_spec *s)
{
	return (uint32_t)(map_round_up(sizeof(struct lpm_node) + data_size_of(s), 8) +
			  map_round_up(s->value_size, 8));
}

static uint32_t n_nodes_of(const struct bpftime_map_spec *s)
{
	uint64_t n = 2ull * s->max_entries + 1;
	return n >= LPM_NONE ? LPM_NONE - 1 : (uint32_t)n;
}

static uint64_t nodes_off(void)
{
	return map_round_up(MAP_REGION_HDR_SIZE + sizeof(struct lpm_state), MAP_CACHELINE);
}

static uint64_t lpm_region_size(const struct bpftime_map_spec *s)
{
	return nodes_off() + (uint64_t)n_nodes_of(s) * node_size_of(s);
}

/* trie_alloc's checks: all -EINVAL. BPF_F_NO_PREALLOC is required, as in the kernel. */
static int lpm_alloc_check(const struct bpftime_map_spec *s)
{
	const uint32_t mask = BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | MAP_F_ACCESS_MASK;
	if (s->max_entries == 0 || !(s->map_flags & BPF_F_NO_PREALLOC) || (s->map_flags & ~mask) ||
	    (s->map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) ==
		    (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG) ||
	    s->key_size < LPM_KEY_HDR + 1 || s->key_size > LPM_KEY_HDR + LPM_DATA_SIZE_MAX ||
	    s->value_size < 1 || s->value_size > KMALLOC_MAX - LPM_DATA_SIZE_MAX - KERNEL_LPM_NODE)
		return -EINVAL;
	if (lpm_region_size(s) > REGION_MAX)
		return -ENOMEM; /* the kernel would run out of memory filling it */
	return 0;
}

static int lpm_region_init(struct bpftime_map *m)
{
	struct lpm_state *st = (struct lpm_state *)((uint8_t *)m->region + MAP_REGION_HDR_SIZE);
	st->seq = 0;
	st->root = LPM_NONE;
	st->n_entries = 0;
	st->free_head = LPM_NONE;
	st->next_unused = 0;
	st->n_nodes = n_nodes_of(&m->spec);
	st->node_size = node_size_of(&m->spec);
	return bpftime_shlock_init(&st->lock);
}

static int lpm_open(struct bpftime_map *m)
{
	struct lpm_trie *t = (struct lpm_trie *)m;
	t->st = (struct lpm_state *)((uint8_t *)m->region + MAP_REGION_HDR_SIZE);
	t->nodes = (uint8_t *)m->region + nodes_off();
	t->n_nodes = n_nodes_of(&m->spec);
	t->node_size = node_size_of(&m->spec);
	t->data_size = data_size_of(&m->spec);
	t->max_prefixlen = t->data_size * 8;
	t->val_off = (uint32_t)map_round_up(sizeof(struct lpm_node) + t->data_size, 8);
	t->value_size = m->spec.value_size;
	t->max_entries = m->spec.max_entries;
	if (t->st->n_nodes != t->n_nodes || t->st->node_size != t->node_size)
		return -EINVAL;
	return 0;
}

static inline struct lpm_node *node_at(const struct lpm_trie *t, uint32_t i)
{
	return (struct lpm_node *)(t->nodes + (size_t)i * t->node_size);
}

static inline uint8_t *value_of(const struct lpm_trie *t, struct lpm_node *n)
{
	return (uint8_t *)n + t->val_off;
}

static inline uint32_t load_idx(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void store_idx(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

/* ---- bit strings ---- */

/* The bit at `index` (0 = most significant bit of data[0]). */
static inline int extract_bit(const uint8_t *data, uint32_t index)
{
	return (data[index / 8] >> (7 - index % 8)) & 1;
}

/* How many leading bits of the node's and the key's data agree, capped at the shorter of the two
 * prefix lengths (the kernel's longest_prefix_match). Compares 8, 4, 2, then 1 byte at a time:
 * an IPv4 key is one 32-bit compare, an IPv6 key two 64-bit ones. */
static uint32_t prefix_match(const struct lpm_trie *t, const struct lpm_node *n,
			     const uint8_t *key_data, uint32_t key_prefixlen)
{
	uint32_t limit = n->prefixlen < key_prefixlen ? n->prefixlen : key_prefixlen;
	uint32_t bits = 0, i = 0, ds = t->data_size;
	for (; i + 8 <= ds && bits < limit; i += 8, bits += 64) {
		uint64_t a, b;
		memcpy(&a, n->data + i, 8);
		memcpy(&b, key_data + i, 8);
		if (a != b) {
			bits += (uint32_t)__builtin_clzll(__builtin_bswap64(a ^ b));
			return bits < limit ? bits : limit;
		}
	}
	if (i + 4 <= ds && bits < limit) {
		uint32_t a, b;
		memcpy(&a, n->data + i, 4);
		memcpy(&b, key_data + i, 4);
		if (a != b) {
			bits += (uint32_t)__builtin_clz(__builtin_bswap32(a ^ b));
			return bits < limit ? bits : limit;
		}
		i += 4;
		bits += 32;
	}
	for (; i < ds && bits < limit; i++, bits += 8) {
		uint8_t diff = n->data[i] ^ key_data[i];
		if (diff) {
			bits += (uint32_t)__builtin_clz((uint32_t)diff) - 24;
			return bits < limit ? bits : limit;
		}
	}
	return limit;
}

/* ---- reads ---- */

/* trie_lookup_elem: the value of the longest stored prefix of key, or NULL. Lock held or under
 * a read section (then the result is only valid if the section validates). */
static struct lpm_node *lpm_match(const struct lpm_trie *t, const uint8_t *key)
{
	uint32_t key_prefixlen;
	memcpy(&key_prefixlen, key, 4);
	const uint8_t *data = key + LPM_KEY_HDR;
	if (key_prefixlen > t->max_prefixlen)
		return NULL;
	struct lpm_node *found = NULL;
	uint32_t i = load_idx(&t->st->root);
	/* Each step goes one prefix bit deeper: a walk longer than that raced with reuse. */
	for (uint32_t steps = 0; i != LPM_NONE && i < t->n_nodes && steps <= t->max_prefixlen + 1;
	     steps++) {
		struct lpm_node *n = node_at(t, i);
		uint32_t plen = __atomic_load_n(&n->prefixlen, __ATOMIC_RELAXED);
		if (plen > t->max_prefixlen)
			break;
		uint32_t match = prefix_match(t, n, data, key_prefixlen);
		if (match == t->max_prefixlen) {
			found = n; /* exact match on a full-length key */
			break;
		}
		if (match < plen)
			break;
		if (!(__atomic_load_n(&n->flags, __ATOMIC_RELAXED) & LPM_FLAG_IM))
			found = n;
		i = load_idx(&n->child[extract_bit(data, plen)]);
	}
	return found;
}

static void lpm_recover(void *arg);

static int lpm_lock(struct lpm_trie *t) { return bpftime_shlock_lock(&t->st->lock, lpm_recover, t); }
static void lpm_unlock(struct lpm_trie *t) { bpftime_shlock_unlock(&t->st->lock); }

static void write_begin(struct lpm_state *st)
{
	__atomic_store_n(&st->seq, st->seq + 1, __ATOMIC_RELAXED); /* odd */
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

static void write_end(struct lpm_state *st) { __atomic_store_n(&st->seq, st->seq + 1, __ATOMIC_RELEASE); }

/* Program side: lock-free, validated by the sequence count; after repeated races (or a writer
 * that died with the count odd) one walk under the lock, which also runs recovery. */
static void *lpm_lookup(struct bpftime_map *m, const void *key)
{
	struct lpm_trie *t = (struct lpm_trie *)m;
	for (int tries = 0; tries < READ_RETRIES; tries++) {
		uint32_t seq = __atomic_load_n(&t->st->seq, __ATOMIC_ACQUIRE);
		if (seq & 1) {
			sched_yield();
			continue;
		}
		struct lpm_node *n = lpm_match(t, key);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&t->st->seq, __ATOMIC_RELAXED) == seq)
			return n ? value_of(t, n) : NULL;
	}
	if (lpm_lock(t))
		return NULL;
	struct lpm_node *n = lpm_match(t, key);
	lpm_unlock(t);
	return n ? value_of(t, n) : NULL;
}

static long lpm_sys_lookup(struct bpftime_map *m, const void *key, void *value_out)
{
	struct lpm_trie *t = (struct lpm_trie *)m;
	int rc = lpm_lock(t);
	if (rc)
		return rc;
	struct lpm_node *n = lpm_match(t, key);
	if (n)
		memcpy(value_out, value_of(t, n), t->value_size);
	lpm_unlock(t);
	return n ? 0 : -ENOENT;
}

/* ---- node pool (lock held) ---- */

static uint32_t node_alloc(struct lpm_trie *t)
{
	struct lpm_state *st = t->st;
	uint32_t i = st->free_head;
	if (i != LPM_NONE && i < t->n_nodes) {
		st->free_head = node_at(t, i)->child[0];
		return i;
	}
	if (st->next_unused < t->n_nodes)
		return st->next_unused++;
	return LPM_NONE;
}

static void node_free(struct lpm_trie *t, uint32_t i)
{
	if (i == LPM_NONE)
		return;
	/* Only the link field is touched: a reader standing on the node still sees its data. */
	store_idx(&node_at(t, i)->child[0], t->st->free_head);
	t->st->free_head = i;
}

/* A filled node: prefix and data from the key, no children. */
static uint32_t node_new(struct lpm_trie *t, uint32_t prefixlen, const uint8_t *data,
			 const void *value, uint32_t flags)
{
	uint32_t i = node_alloc(t);
	if (i == LPM_NONE)
		return LPM_NONE;
	struct lpm_node *n = node_at(t, i);
	n->child[0] = n->child[1] = LPM_NONE;
	n->prefixlen = prefixlen;
	n->flags = flags;
	memcpy(n->data, data, t->data_size);
	if (value)
		memcpy(value_of(t, n), value, t->value_size);
	return i;
}

/* ---- writers ---- */

/* trie_check_add_elem */
static long check_add(struct lpm_trie *t, uint64_t flags)
{
	if (flags == BPF_EXIST)
		return -ENOENT;
	if (t->st->n_entries == t->max_entries)
		return -ENOSPC;
	t->st->n_entries++;
	return 0;
}

/* trie_update_elem, lock held; *spare is the pre-allocated new node, consumed on success. */
static long lpm_update_locked(struct lpm_trie *t, const uint8_t *key, uint32_t prefixlen,
			      uint64_t flags, uint32_t *spare, uint32_t *to_free)
{
	struct lpm_state *st = t->st;
	const uint8_t *data = key + LPM_KEY_HDR;
	uint32_t new_i = *spare;
	struct lpm_node *new_n = node_at(t, new_i), *n = NULL;
	uint32_t *slot = &st->root, i, match = 0;
	long rc;

	/* Walk down while the node's whole prefix matches and is shorter than the key's. */
	for (uint32_t steps = 0; (i = *slot) != LPM_NONE && steps <= t->max_prefixlen + 1; steps++) {
		if (i >= t->n_nodes)
			return -EINVAL; /* damaged: recovery would have fixed it */
		n = node_at(t, i);
		match = prefix_match(t, n, data, prefixlen);
		if (n->prefixlen != match || n->prefixlen == prefixlen)
			break;
		slot = &n->child[extract_bit(data, n->prefixlen)];
	}

	if (i == LPM_NONE) { /* an empty slot: the new node goes there */
		if ((rc = check_add(t, flags)))
			return rc;
		*spare = LPM_NONE;
		store_idx(slot, new_i);
		return 0;
	}

	if (n->prefixlen == match) { /* the same prefix: replace the node, keep its children */
		if (!(n->flags & LPM_FLAG_IM)) {
			if (flags == BPF_NOEXIST)
				return -EEXIST;
		} else if ((rc = check_add(t, flags))) {
			return rc;
		}
		new_n->child[0] = n->child[0];
		new_n->child[1] = n->child[1];
		*spare = LPM_NONE;
		store_idx(slot, new_i);
		*to_free = i;
		return 0;
	}

	if ((rc = check_add(t, flags)))
		return rc;

	if (match == prefixlen) { /* the new node is an ancestor of n: insert it above */
		new_n->child[extract_bit(n->data, match)] = i;
		*spare = LPM_NONE;
		store_idx(slot, new_i);
		return 0;
	}

	/* They diverge after `match` bits: a new intermediate node branches to both. */
	uint32_t im_i = node_new(t, match, n->data, NULL, LPM_FLAG_IM);
	if (im_i == LPM_NONE) {
		st->n_entries--;
		return -ENOMEM;
	}
	struct lpm_node *im = node_at(t, im_i);
	if (extract_bit(data, match)) {
		im->child[0] = i;
		im->child[1] = new_i;
	} else {
		im->child[0] = new_i;
		im->child[1] = i;
	}
	*spare = LPM_NONE;
	store_idx(slot, im_i);
	return 0;
}

static long lpm_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags)
{
	struct lpm_trie *t = (struct lpm_trie *)m;
	uint32_t prefixlen;
	memcpy(&prefixlen, key, 4);
	if (flags > BPF_EXIST)
		return -EINVAL;
	if (prefixlen > t->max_prefixlen)
		return -EINVAL;
	int lrc = lpm_lock(t);
	if (lrc)
		return lrc;
	long rc;
	uint32_t to_free = LPM_NONE;
	/* The new node first, as the kernel allocates it before looking. */
	uint32_t spare = node_new(t, prefixlen, (const uint8_t *)key + LPM_KEY_HDR, value, 0);
	if (spare == LPM_NONE) {
		rc = -ENOMEM;
		goto out;
	}
	map_fault_point("lpm_update", 1);
	write_begin(t->st);
	rc = lpm_update_locked(t, key, prefixlen, flags, &spare, &to_free);
	map_fault_point("lpm_update", 2);
	write_end(t->st);
	node_free(t, spare); /* unused on failure */
	node_free(t, to_free);
out:
	lpm_unlock(t);
	return rc;
}

/* trie_delete_elem */
static long lpm_delete(struct bpftime_map *m, const void *key)
{
	struct lpm_trie *t = (struct lpm_trie *)m;
	uint32_t prefixlen;
	memcpy(&prefixlen, key, 4);
	if (prefixlen > t->max_prefixlen)
		return -EINVAL;
	const uint8_t *data = (const uint8_t *)key + LPM_KEY_HDR;
	int lrc = lpm_lock(t);
	if (lrc)
		return lrc;
	struct lpm_state *st = t->st;
	uint32_t *trim = &st->root, *trim2 = trim, i, parent_i = LPM_NONE, match = 0;
	struct lpm_node *n = NULL, *parent = NULL;
	long rc = 0;
	for (uint32_t steps = 0; (i = *trim) != LPM_NONE && steps <= t->max_prefixlen + 1; steps++) {
		if (i >= t->n_nodes) {
			i = LPM_NONE;
			break;
		}
		n = node_at(t, i);
		match = prefix_match(t, n, data, prefixlen);
		if (n->prefixlen != match || n->prefixlen == prefixlen)
			break;
		parent = n;
		parent_i = i;
		trim2 = trim;
		trim = &n->child[extract_bit(data, n->prefixlen)];
	}
	if (i == LPM_NONE || n->prefixlen != prefixlen || n->prefixlen != match ||
	    (n->flags & LPM_FLAG_IM)) {
		lpm_unlock(t);
		return -ENOENT;
	}
	write_begin(st);
	st->n_entries--;
	uint32_t free1 = LPM_NONE, free2 = LPM_NONE;
	if (n->child[0] != LPM_NONE && n->child[1] != LPM_NONE) {
		/* Two children: it stays, as an intermediate node. */
		__atomic_store_n(&n->flags, n->flags | LPM_FLAG_IM, __ATOMIC_RELEASE);
	} else if (parent && (parent->flags & LPM_FLAG_IM) && n->child[0] == LPM_NONE &&
		   n->child[1] == LPM_NONE) {
		/* A leaf under an intermediate node: both go, its sibling moves up. */
		store_idx(trim2, parent->child[0] == i ? parent->child[1] : parent->child[0]);
		free1 = parent_i;
		free2 = i;
	} else {
		/* Zero or one child: the child (or nothing) takes its place. */
		store_idx(trim, n->child[0] != LPM_NONE ? n->child[0] : n->child[1]);
		free2 = i;
	}
	map_fault_point("lpm_delete", 1);
	write_end(st);
	node_free(t, free1);
	node_free(t, free2);
	lpm_unlock(t);
	return rc;
}

/* trie_get_next_key: post-order (more specific prefixes before less specific ones, left before
 * right); a missing or invalid key (or NULL) starts from the leftmost node. */
static long lpm_get_next_key(struct bpftime_map *m, const void *key, void *next_key)
{
	struct lpm_trie *t = (struct lpm_trie *)m;
	int lrc = lpm_lock(t);
	if (lrc)
		return lrc;
	struct lpm_state *st = t->st;
	long rc = 0;
	uint32_t search_root = st->root, next = LPM_NONE;
	uint32_t stack[LPM_DATA_SIZE_MAX * 8 + 2];
	int sp = -1;
	if (search_root == LPM_NONE || search_root >= t->n_nodes) {
		rc = -ENOENT;
		goto out;
	}
	uint32_t prefixlen = 0;
	if (key)
		memcpy(&prefixlen, key, 4);
	if (!key || prefixlen > t->max_prefixlen)
		goto leftmost;
	const uint8_t *data = (const uint8_t *)key + LPM_KEY_HDR;
	/* Find the key's own node, remembering the path. */
	uint32_t i = search_root, match = 0;
	struct lpm_node *n = NULL;
	while (i != LPM_NONE && i < t->n_nodes && sp + 1 < (int)(sizeof(stack) / sizeof(stack[0]))) {
		stack[++sp] = i;
		n = node_at(t, i);
		match = prefix_match(t, n, data, prefixlen);
		if (n->prefixlen != match || n->prefixlen == prefixlen)
			break;
		i = n->child[extract_bit(data, n->prefixlen)];
	}
	if (i == LPM_NONE || i >= t->n_nodes || n->prefixlen != match || (n->flags & LPM_FLAG_IM))
		goto leftmost;
	/* The first node after it in post-order: the leftmost of the right sibling's subtree, else
	 * the first real ancestor. */
	i = stack[sp];
	for (; sp > 0; sp--) {
		struct lpm_node *parent = node_at(t, stack[sp - 1]);
		if (parent->child[0] == i && parent->child[1] != LPM_NONE) {
			search_root = parent->child[1];
			goto leftmost;
		}
		if (!(parent->flags & LPM_FLAG_IM)) {
			next = stack[sp - 1];
			goto copy;
		}
		i = stack[sp - 1];
	}
	rc = -ENOENT;
	goto out;
leftmost:
	/* The leftmost real node: down child[0] where there is one, else child[1]. */
	for (uint32_t j = search_root, steps = 0;
	     j != LPM_NONE && j < t->n_nodes && steps <= t->max_prefixlen + 1; steps++) {
		struct lpm_node *c = node_at(t, j);
		if (c->flags & LPM_FLAG_IM) {
			j = c->child[0];
		} else {
			next = j;
			j = c->child[0] != LPM_NONE ? c->child[0] : c->child[1];
		}
	}
	if (next == LPM_NONE) {
		rc = -ENOENT;
		goto out;
	}
copy: {
	struct lpm_node *nn = node_at(t, next);
	memcpy(next_key, &nn->prefixlen, 4);
	memcpy((uint8_t *)next_key + LPM_KEY_HDR, nn->data, t->data_size);
}
out:
	lpm_unlock(t);
	return rc;
}

/* ---- recovery ---- */

/* A writer died holding the lock: the tree is valid (single-store changes), but the free list and
 * the entry count may not be. Rebuild both from the nodes reachable from the root. */
static void lpm_recover(void *arg)
{
	struct lpm_trie *t = arg;
	struct lpm_state *st = t->st;
	st->recoveries++;
	uint32_t used = st->next_unused <= t->n_nodes ? st->next_unused : t->n_nodes;
	for (uint32_t i = 0; i < used; i++)
		node_at(t, i)->flags &= ~LPM_FLAG_MARK;
	/* Depth-first with an explicit stack: at most two entries per level of depth. */
	uint32_t stack[2 * (LPM_DATA_SIZE_MAX * 8 + 2)];
	int sp = -1;
	uint32_t entries = 0;
	if (st->root != LPM_NONE && st->root < used) {
		node_at(t, st->root)->flags |= LPM_FLAG_MARK;
		stack[++sp] = st->root;
	} else {
		st->root = LPM_NONE;
	}
	while (sp >= 0) {
		struct lpm_node *n = node_at(t, stack[sp--]);
		if (!(n->flags & LPM_FLAG_IM))
			entries++;
		for (int c = 0; c < 2; c++) {
			uint32_t k = n->child[c];
			if (k == LPM_NONE)
				continue;
			/* A child must be a used, unvisited node, deeper than its parent. */
			if (k >= used || (node_at(t, k)->flags & LPM_FLAG_MARK) ||
			    node_at(t, k)->prefixlen <= n->prefixlen ||
			    sp + 1 >= (int)(sizeof(stack) / sizeof(stack[0]))) {
				n->child[c] = LPM_NONE;
				continue;
			}
			node_at(t, k)->flags |= LPM_FLAG_MARK;
			stack[++sp] = k;
		}
	}
	st->n_entries = entries;
	st->free_head = LPM_NONE;
	for (uint32_t i = used; i-- > 0;) {
		struct lpm_node *n = node_at(t, i);
		if (n->flags & LPM_FLAG_MARK)
			n->flags &= ~LPM_FLAG_MARK;
		else
			node_free(t, i);
	}
	if (st->seq & 1)
		write_end(st);
}

const struct bpftime_map_ops bpftime_lpm_trie_map_ops = {
	.map_type = BPF_MAP_TYPE_LPM_TRIE,
	.handle_size = sizeof(struct lpm_trie),
	.alloc_check = lpm_alloc_check,
	.region_size = lpm_region_size,
	.region_init = lpm_region_init,
	.open = lpm_open,
	.lookup = lpm_lookup,
	.update = lpm_update,
	.delete = lpm_delete,
	.sys_lookup = lpm_sys_lookup,
	.get_next_key = lpm_get_next_key,
	.lookup_and_delete = NULL, /* -ENOTSUPP, as the kernel */
};
