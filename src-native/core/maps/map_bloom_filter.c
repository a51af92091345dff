/* BPF_MAP_TYPE_BLOOM_FILTER in shared memory.
 *
 * Region layout: the common header, struct bloom_state at 64, the bitset (64-bit words) from
 * bits_off. The geometry is the kernel's (bloom_map_alloc): map_extra's low 4 bits are the number
 * of hash functions (0 means 5), the bitset has max_entries * nr_hash * 7 / 5 bits rounded up to
 * a power of two (at least 64; 2^32 when that overflows), and value i is hashed with jhash seeded
 * seed + i (seed 0 under BPF_F_ZERO_SEED, random otherwise). Same function, same seed, same bits:
 * with BPF_F_ZERO_SEED, false positives are the kernel's too.
 *
 * No lock: a push sets bits with atomic ORs (the kernel's set_bit), a peek tests them; bits are
 * never cleared, so any interleaving answers as some order of the operations would.
 *
 * As the kernel: programs use bpf_map_push_elem (flags must be BPF_ANY) and bpf_map_peek_elem
 * (0: maybe present, -ENOENT: absent); the syscall side pushes with MAP_UPDATE_ELEM and tests
 * with MAP_LOOKUP_ELEM, whose value buffer is the input (map.c routes them). Delete, pop and
 * get_next_key answer -EOPNOTSUPP.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "map_internal.h"
#include "map_jhash.h"

#define KMALLOC_MAX (1ull << 22)

struct bloom_state {
	uint32_t nr_hash, bitset_mask, seed, pad;
	uint64_t bitset_bytes;
};

struct bloom_map {
	struct bpftime_map base;
	uint64_t *bits;
	uint32_t nr_hash, mask, seed, value_size;
};

struct bloom_geom {
	uint32_t nr_hash, mask;
	uint64_t bytes;
};

static uint64_t bits_off(void)
{
	return map_round_up(MAP_REGION_HDR_SIZE + sizeof(struct bloom_state), MAP_CACHELINE);
}

static void bloom_geom(const struct bpftime_map_spec *s, struct bloom_geom *g)
{
	g->nr_hash = s->map_extra ? (uint32_t)s->map_extra : 5;
	/* n * k / ln(2), with 7/5 for 1/ln(2), in the kernel's u32 arithmetic. */
	uint64_t nr_bits = (uint64_t)s->max_entries * g->nr_hash;
	if (nr_bits <= UINT32_MAX)
		nr_bits = nr_bits / 5 * 7;
	if (nr_bits > (1ull << 31)) {
		g->bytes = (UINT32_MAX + 7ull) / 8;
		g->mask = UINT32_MAX;
	} else {
		uint64_t n = 64;
		while (n < nr_bits)
			n <<= 1;
		g->bytes = n / 8;
		g->mask = (uint32_t)(n - 1);
	}
	g->bytes = map_round_up(g->bytes, 8);
}

/* bloom_map_alloc_check, then bloom_map_alloc's checks. */
static int bloom_alloc_check(const struct bpftime_map_spec *s)
{
	const uint32_t mask = BPF_F_NUMA_NODE | BPF_F_ZERO_SEED | MAP_F_ACCESS_MASK;
	if (s->value_size > KMALLOC_MAX) /* userspace could not pass such values */
		return -E2BIG;
	if (s->key_size != 0 || s->value_size == 0 || s->max_entries == 0 || (s->map_flags & ~mask) ||
	    (s->map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) ==
		    (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG) ||
	    (s->map_extra & ~0xfull))
		return -EINVAL;
	return 0;
}

static uint64_t bloom_region_size(const struct bpftime_map_spec *s)
{
	struct bloom_geom g;
	bloom_geom(s, &g);
	return bits_off() + g.bytes;
}

static uint32_t random_seed(void)
{
	uint32_t s;
	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) == (ssize_t)sizeof(s))
		return s;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)(ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid() << 8);
}

static int bloom_region_init(struct bpftime_map *m)
{
	struct bloom_geom g;
	bloom_geom(&m->spec, &g);
	struct bloom_state *st = (struct bloom_state *)((uint8_t *)m->region + MAP_REGION_HDR_SIZE);
	st->nr_hash = g.nr_hash;
	st->bitset_mask = g.mask;
	st->bitset_bytes = g.bytes;
	st->seed = (m->spec.map_flags & BPF_F_ZERO_SEED) ? 0 : random_seed();
	return 0;
}

static int bloom_open(struct bpftime_map *m)
{
	struct bloom_map *b = (struct bloom_map *)m;
	struct bloom_geom g;
	bloom_geom(&m->spec, &g);
	struct bloom_state *st = (struct bloom_state *)((uint8_t *)m->region + MAP_REGION_HDR_SIZE);
	if (st->nr_hash != g.nr_hash || st->bitset_mask != g.mask || st->bitset_bytes != g.bytes)
		return -EINVAL;
	b->bits = (uint64_t *)((uint8_t *)m->region + bits_off());
	b->nr_hash = g.nr_hash;
	b->mask = g.mask;
	b->seed = st->seed;
	b->value_size = m->spec.value_size;
	return 0;
}

static inline uint32_t bit_of(const struct bloom_map *b, const void *value, uint32_t i)
{
	return map_jhash(value, b->value_size, b->seed + i) & b->mask;
}

static long bloom_push(struct bpftime_map *m, const void *value, uint64_t flags)
{
	struct bloom_map *b = (struct bloom_map *)m;
	if (flags != BPF_ANY)
		return -EINVAL;
	for (uint32_t i = 0; i < b->nr_hash; i++) {
		uint32_t h = bit_of(b, value, i);
		uint64_t bit = 1ull << (h % 64), *w = &b->bits[h / 64];
		if (!(__atomic_load_n(w, __ATOMIC_RELAXED) & bit)) /* set bits stay clean in cache */
			__atomic_fetch_or(w, bit, __ATOMIC_RELAXED);
	}
	return 0;
}

static long bloom_peek(struct bpftime_map *m, void *value)
{
	struct bloom_map *b = (struct bloom_map *)m;
	for (uint32_t i = 0; i < b->nr_hash; i++) {
		uint32_t h = bit_of(b, value, i);
		if (!(__atomic_load_n(&b->bits[h / 64], __ATOMIC_RELAXED) & (1ull << (h % 64))))
			return -ENOENT;
	}
	return 0;
}

static long bloom_pop(struct bpftime_map *m, void *value) { return -EOPNOTSUPP; }

/* Programs must use push/peek: lookup finds nothing, update is refused. */
static void *bloom_lookup(struct bpftime_map *m, const void *key) { return NULL; }

static long bloom_update(struct bpftime_map *m, const void *key, const void *value, uint64_t flags)
{
	return -EINVAL;
}

static long bloom_delete(struct bpftime_map *m, const void *key) { return -EOPNOTSUPP; }

static long bloom_get_next_key(struct bpftime_map *m, const void *key, void *next_key)
{
	return -EOPNOTSUPP;
}

const struct bpftime_map_ops bpftime_bloom_filter_map_ops = {
	.map_type = BPF_MAP_TYPE_BLOOM_FILTER,
	.handle_size = sizeof(struct bloom_map),
	.alloc_check = bloom_alloc_check,
	.region_size = bloom_region_size,
	.region_init = bloom_region_init,
	.open = bloom_open,
	.lookup = bloom_lookup,
	.update = bloom_update,
	.delete = bloom_delete,
	.get_next_key = bloom_get_next_key,
	.lookup_and_delete = NULL, /* -ENOTSUPP: the kernel's syscall only pops queues and stacks */
	.push = bloom_push,
	.pop = bloom_pop,
	.peek = bloom_peek,
};
