/* ARRAY_OF_MAPS and HASH_OF_MAPS (map_of_maps.c) and the per-process id table (map_ids.c): the
 * syscall side stores and answers inner map ids, a program's lookup answers the inner map handle
 * that the map helpers then use, and the id table follows opens and closes. */
#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>

#include "bpftime/map.h"
#include "check.h"

static struct bpftime_map *make_map(uint32_t type, uint32_t ks, uint32_t vs, uint32_t max, uint32_t id, void **region)
{
	struct bpftime_map_spec s = { .map_type = type, .key_size = ks, .value_size = vs, .max_entries = max };
	int64_t size = bpftime_map_region_size(&s);
	if (size < 0)
		return NULL;
	void *r = calloc(1, (size_t)size);
	struct bpftime_map *m;
	if (bpftime_map_region_init(r, (uint64_t)size, &s) || bpftime_map_open(&m, r, (uint64_t)size, id))
		return NULL;
	if (region)
		*region = r;
	return m;
}

static void test_create_checks(void)
{
	struct bpftime_map_spec s = { .map_type = BPF_MAP_TYPE_ARRAY_OF_MAPS, .key_size = 4, .value_size = 8, .max_entries = 4 };
	EQ(bpftime_map_region_size(&s), -EINVAL); /* value_size must be 4 */
	s.value_size = 4;
	s.map_flags = BPF_F_RDONLY_PROG;
	EQ(bpftime_map_region_size(&s), -EINVAL);
	s.map_flags = 0;
	s.key_size = 8;
	EQ(bpftime_map_region_size(&s), -EINVAL);
	s.key_size = 4;
	CHECK(bpftime_map_region_size(&s) > 0);
	struct bpftime_map_spec h = { .map_type = BPF_MAP_TYPE_HASH_OF_MAPS, .key_size = 8, .value_size = 8, .max_entries = 4 };
	EQ(bpftime_map_region_size(&h), -EINVAL);
	h.value_size = 4;
	CHECK(bpftime_map_region_size(&h) > 0);
	h.map_flags = BPF_F_NO_PREALLOC;
	CHECK(bpftime_map_region_size(&h) > 0);
}

static void test_array_of_maps(void)
{
	struct bpftime_map *inner = make_map(BPF_MAP_TYPE_ARRAY, 4, 8, 2, 701, NULL);
	struct bpftime_map *outer = make_map(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 3, 702, NULL);
	CHECK(inner && outer);
	uint32_t k = 1, id = 701, got = 0;
	EQ(bpftime_map_sys_lookup(outer, &k, &got, 0), -ENOENT);
	EQ(bpftime_map_lookup_elem(outer, &k), 0);
	EQ(bpftime_map_sys_update(outer, &k, &id, BPF_NOEXIST), -EINVAL); /* BPF_ANY only */
	k = 3;
	EQ(bpftime_map_sys_update(outer, &k, &id, BPF_ANY), -E2BIG);
	k = 1;
	EQ(bpftime_map_sys_update(outer, &k, &id, BPF_ANY), 0);
	EQ(bpftime_map_sys_lookup(outer, &k, &got, 0), 0);
	EQ(got, 701);
	/* The program's view: the inner map itself, usable with the map helpers. */
	struct bpftime_map *in = bpftime_map_lookup_elem(outer, &k);
	EQ(in, inner);
	uint32_t ik = 0;
	uint64_t v = 42;
	EQ(bpftime_map_update_elem(in, &ik, &v, BPF_ANY), 0);
	EQ(*(uint64_t *)bpftime_map_lookup_elem(inner, &ik), 42);
	/* Programs cannot write a map-in-map. */
	EQ(bpftime_map_update_elem(outer, &k, &id, BPF_ANY), -EINVAL);
	EQ(bpftime_map_delete_elem(outer, &k), -EINVAL);
	EQ(bpftime_map_lookup_elem(outer, &k), inner);
	/* get_next_key in array order */
	uint32_t next;
	EQ(bpftime_map_sys_get_next_key(outer, NULL, &next), 0);
	EQ(next, 0);
	k = 2;
	EQ(bpftime_map_sys_get_next_key(outer, &k, &next), -ENOENT);
	k = 1;
	EQ(bpftime_map_sys_delete(outer, &k), 0);
	EQ(bpftime_map_sys_delete(outer, &k), -ENOENT);
	EQ(bpftime_map_lookup_elem(outer, &k), 0);
	/* An id nobody opened here resolves to nothing. */
	id = 999;
	EQ(bpftime_map_sys_update(outer, &k, &id, BPF_ANY), 0);
	EQ(bpftime_map_lookup_elem(outer, &k), 0);
	bpftime_map_close(outer);
	bpftime_map_close(inner);
}

static void test_hash_of_maps(void)
{
	struct bpftime_map *inner = make_map(BPF_MAP_TYPE_HASH, 4, 4, 8, 711, NULL);
	struct bpftime_map *outer = make_map(BPF_MAP_TYPE_HASH_OF_MAPS, 8, 4, 2, 712, NULL);
	CHECK(inner && outer);
	uint64_t k = 0x1234;
	uint32_t id = 711, got = 0;
	EQ(bpftime_map_sys_update(outer, &k, &id, BPF_EXIST), -ENOENT);
	EQ(bpftime_map_sys_update(outer, &k, &id, BPF_NOEXIST), 0);
	EQ(bpftime_map_sys_update(outer, &k, &id, BPF_NOEXIST), -EEXIST);
	EQ(bpftime_map_sys_lookup(outer, &k, &got, 0), 0);
	EQ(got, 711);
	struct bpftime_map *in = bpftime_map_lookup_elem(outer, &k);
	EQ(in, inner);
	uint32_t ik = 5, iv = 77;
	EQ(bpftime_map_update_elem(in, &ik, &iv, BPF_ANY), 0);
	EQ(*(uint32_t *)bpftime_map_lookup_elem(inner, &ik), 77);
	uint64_t next;
	EQ(bpftime_map_sys_get_next_key(outer, NULL, &next), 0);
	EQ(next, 0x1234);
	EQ(bpftime_map_sys_lookup_and_delete(outer, &k, &got, 0), -BPFTIME_ENOTSUPP);
	EQ(bpftime_map_delete_elem(outer, &k), -EINVAL); /* not from programs */
	EQ(bpftime_map_sys_lookup(outer, &k, &got, 0), 0);
	EQ(bpftime_map_sys_delete(outer, &k), 0);
	EQ(bpftime_map_lookup_elem(outer, &k), 0);
	bpftime_map_close(outer);
	bpftime_map_close(inner);
}

static void test_id_table(void)
{
	void *r;
	struct bpftime_map *a = make_map(BPF_MAP_TYPE_ARRAY, 4, 4, 1, 720, &r);
	CHECK(a);
	EQ(bpftime_map_by_id(720), a);
	/* A second handle of the same id: the latest open answers; closing it falls back to a. */
	struct bpftime_map *b;
	EQ(bpftime_map_open(&b, r, (uint64_t)bpftime_map_region_size(bpftime_map_get_spec(a)), 720), 0);
	EQ(bpftime_map_by_id(720), b);
	bpftime_map_close(b);
	EQ(bpftime_map_by_id(720), a);
	bpftime_map_close(a);
	EQ(bpftime_map_by_id(720), 0);
	EQ(bpftime_map_by_id(0), 0);
	/* Many ids, closed and reopened: every one still resolves (tombstones reused). */
	struct bpftime_map *ms[300];
	for (int round = 0; round < 3; round++) {
		for (uint32_t i = 0; i < 300; i++)
			ms[i] = make_map(BPF_MAP_TYPE_ARRAY, 4, 4, 1, 1000 + i * 8192 + round, NULL);
		int ok = 1;
		for (uint32_t i = 0; i < 300; i++)
			ok &= bpftime_map_by_id(1000 + i * 8192 + round) == ms[i];
		CHECK(ok);
		for (uint32_t i = 0; i < 300; i++)
			bpftime_map_close(ms[i]);
	}
	EQ(bpftime_map_by_id(1000 + 8192 * 5), 0);
}

int main(void)
{
	test_create_checks();
	test_array_of_maps();
	test_hash_of_maps();
	test_id_table();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
