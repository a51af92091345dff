/* BPF_MAP_TYPE_STACK_TRACE: stacks stored by bpf_get_stackid, keyed by a 32-bit stack id, as the
 * kernel's kernel/bpf/stackmap.c.
 *
 * Region layout: the common header, struct stm_state at 64, then n_buckets 32-bit bucket slots
 * (element index + 1, 0 = empty; n_buckets = max_entries rounded up to a power of two), then
 * max_entries elements of struct stm_elem followed by value_size bytes of frames. Elements that
 * no bucket holds are on a free list. Everything runs under the map's robust writer lock; a
 * bucket changes with one store, so a holder killed midway can at worst leave an element on
 * neither the list nor a bucket, and recovery rebuilds the free list from the buckets.
 *
 * Semantics, the kernel's: the id of a stack is jhash2(frames) & (n_buckets - 1) (so the same
 * frames get the same id as on a kernel with the same map size); the syscall side looks up
 * (-ENOENT for an empty or out-of-range id; frames then zeros), looks up and deletes, deletes
 * (-E2BIG past the buckets, -ENOENT when empty) and walks ids with get_next_key; updates fail
 * with -EINVAL. BPF_F_STACK_BUILD_ID maps store struct bpf_stack_build_id frames (build id and
 * file offset, helper_build_id.c), still bucketed by the hash of the addresses. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bpftime/stack_trace.h"
#include "map_internal.h"
#include "map_jhash.h"
#include "map_lock.h"

#define REGION_MAX (1ull << 40)
#define STM_MAX_BUILD_ID_FRAMES 128 /* >= the helpers' deepest walk (perf_event_max_stack) */
#define CREATE_FLAG_MASK (BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_STACK_BUILD_ID)

struct stm_state {
	struct bpftime_shlock lock;
	uint32_t n_buckets, max_entries, value_size;
	uint32_t free_head; /* element index + 1, 0 = none free */
};

struct stm_elem {
	uint32_t hash, nr;   /* jhash2 of the frames, number of frames */
	uint32_t next_free;  /* on the free list: next element index + 1 */
	uint32_t mark;       /* scratch for recovery */
	uint64_t ips[];
};

struct stm_map {
	struct bpftime_map base;
	struct stm_state *st;
	uint32_t *buckets;
	uint8_t *elems;
	uint32_t n_buckets, max_entries, value_size;
	uint32_t frame_size; /* 8, or sizeof(struct bpf_stack_build_id) for BPF_F_STACK_BUILD_ID */
	size_t elem_size;
};

uint32_t bpftime_perf_event_max_stack(void)
{
	static uint32_t cached;
	uint32_t v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
	if (v)
		return v;
	v = 127; /* the sysctl's default */
	int fd = open("/proc/sys/kernel/perf_event_max_stack", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		char buf[32];
		ssize_t n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			long l = strtol(buf, NULL, 10);
			if (l > 0 && l <= 1000000)
				v = (uint32_t)l;
		}
	}
	__atomic_store_n(&cached, v, __ATOMIC_RELAXED);
	return v;
}

static uint64_t round_pow2(uint64_t v)
{
	uint64_t p = 1;
	while (p < v)
		p <<= 1;
	return p;
}

static uint64_t buckets_off(void) { return map_round_up(MAP_REGION_HDR_SIZE + sizeof(struct stm_state), MAP_CACHELINE); }

static uint64_t elems_off(const struct bpftime_map_spec *s)
{
	return map_round_up(buckets_off() + round_pow2(s->max_entries) * sizeof(uint32_t), MAP_CACHELINE);
}

static size_t elem_size(uint32_t value_size) { return sizeof(struct stm_elem) + value_size; }

static uint64_t stm_region_size(const struct bpftime_map_spec *s)
{
	return elems_off(s) + (uint64_t)s->max_entries * elem_size(s->value_size);
}

/* stack_map_alloc's checks */
static int stm_alloc_check(const struct bpftime_map_spec *s)
{
	if (s->map_flags & ~CREATE_FLAG_MASK)
		return -EINVAL;
	if (s->max_entries == 0 || s->key_size != 4 || s->value_size < 8 || s->value_size % 8)
		return -EINVAL;
	if (s->map_flags & BPF_F_STACK_BUILD_ID) {
		if (s->value_size % sizeof(struct bpf_stack_build_id))
			return -EINVAL;
	} else if (s->value_size / 8 > bpftime_perf_event_max_stack()) {
		return -EINVAL;
	}
	if (s->max_entries > (1u << 31))
		return -E2BIG;
	if (stm_region_size(s) > REGION_MAX)
		return -ENOMEM;
	return 0;
}

static struct stm_elem *elem_at(struct stm_map *t, uint32_t idx)
{
	return (struct stm_elem *)(t->elems + (size_t)idx * t->elem_size);
}

static int stm_region_init(struct bpftime_map *m)
{
	struct stm_state *st = (struct stm_state *)((uint8_t *)m->region + MAP_REGION_HDR_SIZE);
	st->n_buckets = (uint32_t)round_pow2(m->spec.max_entries);
	st->max_entries = m->spec.max_entries;
	st->value_size = m->spec.value_size;
	uint8_t *elems = (uint8_t *)m->region + elems_off(&m->spec);
	size_t es = elem_size(m->spec.value_size);
	for (uint32_t i = 0; i < st->max_entries; i++)
		((struct stm_elem *)(elems + (size_t)i * es))->next_free = i + 1 < st->max_entries ? i + 2 : 0;
	st->free_head = 1;
	return bpftime_shlock_init(&st->lock);
}

static int stm_open(struct bpftime_map *m)
{
	struct stm_map *t = (struct stm_map *)m;
	t->st = (struct stm_state *)((uint8_t *)m->region + MAP_REGION_HDR_SIZE);
	t->buckets = (uint32_t *)((uint8_t *)m->region + buckets_off());
	t->elems = (uint8_t *)m->region + elems_off(&m->spec);
	t->n_buckets = (uint32_t)round_pow2(m->spec.max_entries);
	t->max_entries = m->spec.max_entries;
	t->value_size = m->spec.value_size;
	t->frame_size = (m->spec.map_flags & BPF_F_STACK_BUILD_ID) ? sizeof(struct bpf_stack_build_id) : 8;
	t->elem_size = elem_size(t->value_size);
	if (t->st->n_buckets != t->n_buckets || t->st->max_entries != t->max_entries ||
	    t->st->value_size != t->value_size)
		return -EINVAL;
	return 0;
}

/* A holder died inside: every element that no bucket names goes (back) on the free list. */
static void stm_recover(void *arg)
{
	struct stm_map *t = arg;
	for (uint32_t i = 0; i < t->max_entries; i++)
		elem_at(t, i)->mark = 0;
	for (uint32_t b = 0; b < t->n_buckets; b++) {
		uint32_t e = t->buckets[b];
		if (e > t->max_entries || (e && elem_at(t, e - 1)->mark)) {
			t->buckets[b] = 0; /* damaged, or a second bucket naming one element */
			continue;
		}
		if (e)
			elem_at(t, e - 1)->mark = 1;
	}
	uint32_t head = 0;
	for (uint32_t i = t->max_entries; i-- > 0;) {
		struct stm_elem *el = elem_at(t, i);
		if (el->mark)
			continue;
		el->next_free = head;
		head = i + 1;
	}
	t->st->free_head = head;
}

static int stm_lock(struct stm_map *t) { return bpftime_shlock_lock(&t->st->lock, stm_recover, t); }
static void stm_unlock(struct stm_map *t) { bpftime_shlock_unlock(&t->st->lock); }

/* The element a bucket holds, or NULL; a damaged slot reads as empty. */
static struct stm_elem *bucket_elem(struct stm_map *t, uint32_t id)
{
	uint32_t e = __atomic_load_n(&t->buckets[id], __ATOMIC_ACQUIRE);
	return e && e <= t->max_entries ? elem_at(t, e - 1) : NULL;
}

static void free_push(struct stm_map *t, struct stm_elem *el)
{
	el->next_free = t->st->free_head;
	t->st->free_head = (uint32_t)(((uint8_t *)el - t->elems) / t->elem_size) + 1;
}

long bpftime_stackmap_get_id(struct bpftime_map *m, const uint64_t *ips, uint32_t nr, uint64_t flags)
{
	if (m->spec.map_type != BPF_MAP_TYPE_STACK_TRACE)
		return -EINVAL;
	struct stm_map *t = (struct stm_map *)m;
	if (nr > t->value_size / t->frame_size)
		nr = t->value_size / t->frame_size;
	uint32_t hash = map_jhash_words(ips, nr * 2, 0); /* the addresses, also for build-id maps */
	uint32_t id = hash & (t->n_buckets - 1);
	/* What the bucket stores: the addresses, or their (build id, offset) pairs, found before
	 * taking the lock (they cost file reads). */
	struct bpf_stack_build_id ids[STM_MAX_BUILD_ID_FRAMES];
	const void *data = ips;
	if (t->frame_size != 8) {
		if (nr > STM_MAX_BUILD_ID_FRAMES)
			nr = STM_MAX_BUILD_ID_FRAMES;
		bpftime_stack_build_ids(ids, ips, nr);
		data = ids;
	}
	uint32_t len = nr * t->frame_size;
	int rc = stm_lock(t);
	if (rc)
		return rc;
	long ret = id;
	struct stm_elem *cur = bucket_elem(t, id);
	int hash_matches = cur && cur->hash == hash;
	if (hash_matches && (flags & BPF_F_FAST_STACK_CMP))
		goto out;
	if (hash_matches && cur->nr == nr && memcmp(cur->ips, data, len) == 0)
		goto out;
	if (cur && !(flags & BPF_F_REUSE_STACKID)) {
		ret = -EEXIST;
		goto out;
	}
	uint32_t f = t->st->free_head;
	if (!f || f > t->max_entries) {
		ret = -ENOMEM;
		goto out;
	}
	struct stm_elem *el = elem_at(t, f - 1);
	t->st->free_head = el->next_free;
	map_fault_point("stackid", 1); /* the element is on neither the list nor a bucket */
	memcpy(el->ips, data, len);
	el->hash = hash;
	el->nr = nr;
	__atomic_store_n(&t->buckets[id], f, __ATOMIC_RELEASE);
	map_fault_point("stackid", 2); /* the replaced element is on neither */
	if (cur)
		free_push(t, cur);
out:
	stm_unlock(t);
	return ret;
}

/* Programs cannot look stacks up (the kernel's verifier only lets bpf_get_stackid take this map). */
static void *stm_lookup(struct bpftime_map *m, const void *key) { return NULL; }

static long stm_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags)
{
	return -EINVAL;
}

/* bpf_stackmap_copy / bpf_stackmap_extract: the frames, then zeros; with `delete` the bucket
 * is emptied as the copy is taken (MAP_LOOKUP_AND_DELETE_ELEM). */
static long stm_copy(struct bpftime_map *m, const void *key, void *value_out, int delete)
{
	struct stm_map *t = (struct stm_map *)m;
	uint32_t id;
	memcpy(&id, key, sizeof(id));
	if (id >= t->n_buckets)
		return -ENOENT;
	int rc = stm_lock(t);
	if (rc)
		return rc;
	struct stm_elem *el = bucket_elem(t, id);
	if (!el) {
		stm_unlock(t);
		return -ENOENT;
	}
	uint32_t max = t->value_size / t->frame_size;
	uint32_t len = (el->nr <= max ? el->nr : max) * t->frame_size;
	memcpy(value_out, el->ips, len);
	memset((uint8_t *)value_out + len, 0, t->value_size - len);
	if (delete) {
		__atomic_store_n(&t->buckets[id], 0, __ATOMIC_RELEASE);
		free_push(t, el);
	}
	stm_unlock(t);
	return 0;
}

static long stm_sys_lookup(struct bpftime_map *m, const void *key, void *value_out)
{
	return stm_copy(m, key, value_out, 0);
}

static long stm_lookup_and_delete(struct bpftime_map *m, const void *key, void *value_out)
{
	return stm_copy(m, key, value_out, 1);
}

static long stm_delete(struct bpftime_map *m, const void *key)
{
	struct stm_map *t = (struct stm_map *)m;
	uint32_t id;
	memcpy(&id, key, sizeof(id));
	if (id >= t->n_buckets)
		return -E2BIG;
	int rc = stm_lock(t);
	if (rc)
		return rc;
	struct stm_elem *el = bucket_elem(t, id);
	long ret = -ENOENT;
	if (el) {
		__atomic_store_n(&t->buckets[id], 0, __ATOMIC_RELEASE);
		map_fault_point("stack_delete", 1);
		free_push(t, el);
		ret = 0;
	}
	stm_unlock(t);
	return ret;
}

/* stack_map_get_next_key: from NULL, a missing or out-of-range id, start at 0; otherwise the
 * next filled bucket after key. */
static long stm_get_next_key(struct bpftime_map *m, const void *key, void *next_key)
{
	struct stm_map *t = (struct stm_map *)m;
	uint32_t id = 0;
	if (key) {
		memcpy(&id, key, sizeof(id));
		if (id >= t->n_buckets || !bucket_elem(t, id))
			id = 0;
		else
			id++;
	}
	while (id < t->n_buckets && !bucket_elem(t, id))
		id++;
	if (id >= t->n_buckets)
		return -ENOENT;
	memcpy(next_key, &id, sizeof(id));
	return 0;
}

const struct bpftime_map_ops bpftime_stack_trace_map_ops = {
	.map_type = BPF_MAP_TYPE_STACK_TRACE,
	.handle_size = sizeof(struct stm_map),
	.alloc_check = stm_alloc_check,
	.region_size = stm_region_size,
	.region_init = stm_region_init,
	.open = stm_open,
	.lookup = stm_lookup,
	.update = stm_update,
	.delete = stm_delete,
	.sys_lookup = stm_sys_lookup,
	.get_next_key = stm_get_next_key,
	.lookup_and_delete = stm_lookup_and_delete,
};
