/* The syscall side of the hash map reads without the writer lock (map_hash.c: the bucket's
 * sequence count proves a copy came from an element that held the key the whole time). Under
 * writers that replace, delete and re-insert keys of the same buckets as fast as they can:
 *  - a key that is present the whole time is always found, and its value is never torn (every
 *    word of a value is the same counter, written by one update);
 *  - a deleted-and-reinserted key's value, when found, is whole too;
 *  - get_next_key from a present key and from NULL only ever answers keys the map can hold, and
 *    a walk from NULL reaches the end.
 * Plus the answers without writers: hit, miss, the walk in chain then bucket order. */
#include <linux/bpf.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "tmap.h"

#define NKEYS 64u
#define WORDS 16 /* 128-byte values: a torn copy would show */
#define STABLE 7u /* keys 0..STABLE-1 are only ever replaced, never deleted */

struct val {
	uint64_t w[WORDS];
};

static struct tmap t;
static atomic_int stop;
static atomic_long torn, missed, bad_next, found_churn, walks_done;

static void fill(struct val *v, uint64_t x)
{
	for (int i = 0; i < WORDS; i++)
		v->w[i] = x;
}

static int whole(const struct val *v)
{
	for (int i = 1; i < WORDS; i++)
		if (v->w[i] != v->w[0])
			return 0;
	return 1;
}

static void *writer(void *arg)
{
	uint64_t n = (uintptr_t)arg * 1000000000ull;
	struct val v;
	while (!atomic_load(&stop)) {
		for (uint32_t k = 0; k < NKEYS; k++) {
			fill(&v, ++n);
			bpftime_map_sys_update(t.m, &k, &v, BPF_ANY);
			if (k >= STABLE && (n & 1))
				bpftime_map_sys_delete(t.m, &k);
		}
	}
	return NULL;
}

static void *reader(void *arg)
{
	struct val v;
	uint32_t next;
	while (!atomic_load(&stop)) {
		for (uint32_t k = 0; k < NKEYS; k++) {
			long r = bpftime_map_sys_lookup(t.m, &k, &v, 0);
			if (r == 0 && !whole(&v))
				atomic_fetch_add(&torn, 1);
			if (k < STABLE && r != 0)
				atomic_fetch_add(&missed, 1);
			if (k >= STABLE && r == 0)
				atomic_fetch_add(&found_churn, 1);
			r = bpftime_map_sys_get_next_key(t.m, &k, &next);
			if (r == 0 && next >= NKEYS)
				atomic_fetch_add(&bad_next, 1);
		}
		/* A walk from NULL to the end: bounded, every key valid. */
		long r = bpftime_map_sys_get_next_key(t.m, NULL, &next);
		for (unsigned steps = 0; r == 0 && steps < 100000; steps++) {
			if (next >= NKEYS)
				atomic_fetch_add(&bad_next, 1);
			uint32_t cur = next;
			r = bpftime_map_sys_get_next_key(t.m, &cur, &next);
		}
		if (r == -ENOENT)
			atomic_fetch_add(&walks_done, 1);
	}
	return NULL;
}

static void quiet_answers(void)
{
	struct val v, out;
	uint32_t k = 3, next, miss = 1000;
	fill(&v, 42);
	EQ(bpftime_map_sys_update(t.m, &k, &v, BPF_ANY), 0);
	EQ(bpftime_map_sys_lookup(t.m, &k, &out, 0), 0);
	EQ(out.w[WORDS - 1], 42);
	EQ(bpftime_map_sys_lookup(t.m, &miss, &out, 0), -ENOENT);
	EQ(bpftime_map_sys_get_next_key(t.m, NULL, &next), 0);
	EQ(next, 3);
	EQ(bpftime_map_sys_get_next_key(t.m, &k, &next), -ENOENT);
	EQ(bpftime_map_sys_get_next_key(t.m, &miss, &next), 0); /* a missing key restarts */
	EQ(next, 3);
	/* Every key once, in some order, then the end. */
	for (uint32_t i = 0; i < NKEYS; i++)
		EQ(bpftime_map_sys_update(t.m, &i, &v, BPF_ANY), 0);
	uint64_t seen = 0;
	unsigned count = 0;
	long r = bpftime_map_sys_get_next_key(t.m, NULL, &next);
	while (r == 0 && count <= NKEYS) {
		CHECK(next < NKEYS);
		if (next < NKEYS)
			seen |= 1ull << next;
		count++;
		k = next;
		r = bpftime_map_sys_get_next_key(t.m, &k, &next);
	}
	EQ(r, -ENOENT);
	EQ(count, NKEYS);
	EQ(seen, ~0ull);
}

int main(void)
{
	/* Fewer buckets than keys would need the kernel's geometry: max_entries NKEYS gives NKEYS
	 * buckets; the churn still shares buckets through the hash. */
	struct bpftime_map_spec spec = { .map_type = BPF_MAP_TYPE_HASH, .key_size = 4,
					 .value_size = sizeof(struct val), .max_entries = NKEYS };
	EQ(tmap_open_spec(&t, &spec, 1), 0);
	quiet_answers();

	pthread_t w[2], r[2];
	for (uintptr_t i = 0; i < 2; i++)
		pthread_create(&w[i], NULL, writer, (void *)(i + 1));
	for (int i = 0; i < 2; i++)
		pthread_create(&r[i], NULL, reader, NULL);
	usleep(1500 * 1000);
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++) {
		pthread_join(w[i], NULL);
		pthread_join(r[i], NULL);
	}
	EQ(atomic_load(&torn), 0);
	EQ(atomic_load(&missed), 0);
	EQ(atomic_load(&bad_next), 0);
	CHECK(atomic_load(&found_churn) > 0); /* the churned keys were seen present too */
	CHECK(atomic_load(&walks_done) > 0);
	printf("lookups of churned keys that hit: %ld, walks to the end: %ld\n", atomic_load(&found_churn),
	       atomic_load(&walks_done));
	tmap_destroy(&t);
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
