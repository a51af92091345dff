/* Batch commands on maps of maps, one line per call: BPF_MAP_UPDATE_BATCH with inner map fds
 * (good, a closed fd, a map that does not match the template, an index out of range), LOOKUP_BATCH
 * answering inner map ids (whole and in pieces), DELETE_BATCH, LOOKUP_AND_DELETE_BATCH dropping
 * the stored maps, on HASH_OF_MAPS and ARRAY_OF_MAPS. Hash order is the map's own, so what a walk
 * returns is printed sorted by key and cursors are not printed.
 * test/e2e/map-of-maps-batch-differential.test.ts runs it on the kernel and under the shim. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/bpf.h>

#include "bpf_calls_util.h"

static int create(uint32_t type, uint32_t ks, uint32_t vs, uint32_t max, int inner) { return create_map_of_maps(type, ks, vs, max, 0, inner); }

static int fd_by_id(uint32_t id)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_id = id;
	return (int)sys_bpf(BPF_MAP_GET_FD_BY_ID, &a, sizeof(a));
}

static const char *err_name(int e)
{
	static char buf[64];
	if (e == 524)
		return "ENOTSUPP";
	snprintf(buf, sizeof(buf), "%s", strerror(e));
	return buf;
}

static uint32_t out_cursor[2];

/* One batch call; prints rc, errno and count. */
static long batch(const char *what, int cmd, int fd, void *in, void *keys, void *values, uint32_t *count,
		  uint64_t elem_flags)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.batch.map_fd = fd;
	a.batch.in_batch = (uintptr_t)in;
	a.batch.out_batch = (uintptr_t)out_cursor;
	a.batch.keys = (uintptr_t)keys;
	a.batch.values = (uintptr_t)values;
	a.batch.count = *count;
	a.batch.elem_flags = elem_flags;
	long rc = sys_bpf(cmd, &a, sizeof(a));
	int e = errno;
	*count = a.batch.count;
	printf("%s: %s count=%u\n", what, rc < 0 ? err_name(e) : "ok", *count);
	errno = e;
	return rc;
}

/* Names for ids: the maps this program made, by their ids. */
static int nnamed;
static struct {
	uint32_t id;
	const char *name;
} named[16];

static void name_map(int fd, const char *name)
{
	named[nnamed].id = id_of_obj(fd);
	named[nnamed++].name = name;
}

static const char *id_name(uint32_t id)
{
	for (int i = 0; i < nnamed; i++)
		if (named[i].id == id)
			return named[i].name;
	return id ? "unknown id" : "0";
}

static int by_key(const void *a, const void *b)
{
	uint32_t x = ((const uint32_t *)a)[0], y = ((const uint32_t *)b)[0];
	return x < y ? -1 : x > y;
}

/* Prints n (key, id) pairs sorted by key. */
static void show(const char *what, const uint32_t *keys, const uint32_t *ids, uint32_t n)
{
	uint32_t pairs[64][2];
	for (uint32_t i = 0; i < n && i < 64; i++) {
		pairs[i][0] = keys[i];
		pairs[i][1] = ids[i];
	}
	qsort(pairs, n, sizeof(pairs[0]), by_key);
	printf("%s:", what);
	for (uint32_t i = 0; i < n; i++)
		printf(" %u=%s", pairs[i][0], id_name(pairs[i][1]));
	printf("\n");
}

/* Walks the whole map count_per_call elements at a time; prints what came back. */
static void walk(const char *what, int cmd, int fd, uint32_t per_call)
{
	uint32_t keys[64], ids[64], total = 0, cursor[2] = { 0, 0 };
	int first = 1, calls = 0;
	for (;;) {
		uint32_t count = per_call;
		union bpf_attr a;
		memset(&a, 0, sizeof(a));
		a.batch.map_fd = fd;
		a.batch.in_batch = first ? 0 : (uintptr_t)cursor;
		a.batch.out_batch = (uintptr_t)cursor;
		a.batch.keys = (uintptr_t)(keys + total);
		a.batch.values = (uintptr_t)(ids + total);
		a.batch.count = count;
		long rc = sys_bpf(cmd, &a, sizeof(a));
		int e = errno;
		total += a.batch.count;
		first = 0;
		if (rc < 0 || ++calls > 20 || total + per_call > 64) {
			printf("%s: ends with %s after %u elements\n", what, rc < 0 ? err_name(e) : "ok", total);
			break;
		}
	}
	show(what, keys, ids, total);
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	int h[4], arr[3];
	for (int i = 0; i < 4; i++)
		h[i] = create(BPF_MAP_TYPE_HASH, 4, 4, 8, 0);
	for (int i = 0; i < 3; i++)
		arr[i] = create(BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0);
	int other = create(BPF_MAP_TYPE_HASH, 4, 8, 8, 0);
	if (h[0] < 0 || arr[0] < 0 || other < 0) {
		printf("inner maps: %s\n", strerror(errno));
		return 0;
	}
	name_map(h[0], "h0");
	name_map(h[1], "h1");
	name_map(h[2], "h2");
	name_map(h[3], "h3");
	name_map(arr[0], "a0");
	name_map(arr[1], "a1");
	name_map(arr[2], "a2");
	int hom = create(BPF_MAP_TYPE_HASH_OF_MAPS, 4, 4, 8, h[0]);
	if (hom < 0) {
		printf("hash_of_maps create: %s\n", strerror(errno));
		return 0;
	}
	printf("hash_of_maps create: ok\n");

	/* ---- HASH_OF_MAPS ---- */
	uint32_t keys[8] = { 1, 2, 3, 4 }, vals[8] = { h[1], h[2], h[3], h[0] }, count = 4;
	batch("hom update 4", BPF_MAP_UPDATE_BATCH, hom, NULL, keys, vals, &count, 0);
	uint32_t k2[2] = { 5, 6 }, v2[2] = { h[0], 999 };
	count = 2;
	batch("hom update closed fd", BPF_MAP_UPDATE_BATCH, hom, NULL, k2, v2, &count, 0);
	uint32_t k3[2] = { 6, 7 }, v3[2] = { h[1], other };
	count = 2;
	batch("hom update mismatch", BPF_MAP_UPDATE_BATCH, hom, NULL, k3, v3, &count, 0);
	uint32_t k4[1] = { 7 }, v4[1] = { arr[0] };
	count = 1;
	batch("hom update array into hash template", BPF_MAP_UPDATE_BATCH, hom, NULL, k4, v4, &count, 0);
	count = 1;
	batch("hom update elem_flags F_LOCK", BPF_MAP_UPDATE_BATCH, hom, NULL, k4, v4, &count, BPF_F_LOCK);
	count = 1;
	batch("hom update elem_flags 2", BPF_MAP_UPDATE_BATCH, hom, NULL, k4, v4, &count, 2);
	uint32_t lk[16], lv[16];
	count = 16;
	long rc = batch("hom lookup all", BPF_MAP_LOOKUP_BATCH, hom, NULL, lk, lv, &count, 0);
	if (rc == 0 || errno == ENOENT)
		show("hom lookup all", lk, lv, count);
	/* Several calls: the kernel's cursor counts buckets (of a random hash), so a call may stop
	 * with ENOSPC when a bucket does not fit: 4 at a time never meets one of 5 in practice. */
	walk("hom lookup by 4", BPF_MAP_LOOKUP_BATCH, hom, 4);

	/* An inner map kept alive by its slot only, then let go by a batch delete. */
	uint32_t h1_id = id_of_obj(h[1]);
	close(h[1]);
	int again = fd_by_id(h1_id);
	printf("h1 alive by its slot: %s\n", again < 0 ? strerror(errno) : "ok");
	if (again >= 0)
		close(again);
	uint32_t dk[3] = { 1, 9, 2 };
	count = 3;
	batch("hom delete 1, 9, 2", BPF_MAP_DELETE_BATCH, hom, NULL, dk, NULL, &count, 0);
	walk("hom after delete", BPF_MAP_LOOKUP_BATCH, hom, 8);
	again = fd_by_id(h1_id);
	printf("h1 after its slot went: %s\n", again < 0 ? strerror(errno) : "still there");
	if (again >= 0)
		close(again);
	uint32_t h3_id = id_of_obj(h[3]);
	close(h[3]);
	uint32_t k5[2] = { 2, 6 }, v5[2] = { h[2], h[2] };
	count = 2;
	batch("hom update again", BPF_MAP_UPDATE_BATCH, hom, NULL, k5, v5, &count, 0);
	walk("hom lookup_and_delete by 4", BPF_MAP_LOOKUP_AND_DELETE_BATCH, hom, 4);
	again = fd_by_id(h3_id);
	printf("h3 after lookup_and_delete: %s\n", again < 0 ? strerror(errno) : "still there");
	count = 4;
	batch("hom lookup empty", BPF_MAP_LOOKUP_BATCH, hom, NULL, lk, lv, &count, 0);

	/* ---- ARRAY_OF_MAPS ---- */
	int aom = create(BPF_MAP_TYPE_ARRAY_OF_MAPS, 4, 4, 4, arr[0]);
	printf("array_of_maps create: %s\n", aom < 0 ? strerror(errno) : "ok");
	if (aom < 0)
		return 0;
	uint32_t ak[3] = { 0, 2, 3 }, av[3] = { arr[1], arr[2], arr[0] };
	count = 2;
	batch("aom update 0, 2", BPF_MAP_UPDATE_BATCH, aom, NULL, ak, av, &count, 0);
	uint32_t ak2[2] = { 3, 4 }, av2[2] = { arr[0], arr[0] };
	count = 2;
	batch("aom update 3, 4 (out of range)", BPF_MAP_UPDATE_BATCH, aom, NULL, ak2, av2, &count, 0);
	uint32_t ak3[1] = { 1 }, av3[1] = { h[0] };
	count = 1;
	batch("aom update hash into array template", BPF_MAP_UPDATE_BATCH, aom, NULL, ak3, av3, &count, 0);
	count = 16;
	uint32_t in = 0;
	rc = batch("aom lookup all", BPF_MAP_LOOKUP_BATCH, aom, NULL, lk, lv, &count, 0);
	if (rc == 0 || errno == ENOENT)
		show("aom lookup all", lk, lv, count);
	count = 2;
	rc = batch("aom lookup 2", BPF_MAP_LOOKUP_BATCH, aom, NULL, lk, lv, &count, 0);
	if (rc == 0 || errno == ENOENT)
		show("aom lookup 2", lk, lv, count);
	printf("aom lookup 2 cursor: %u\n", out_cursor[0]);
	in = out_cursor[0];
	count = 2;
	rc = batch("aom lookup 2 more", BPF_MAP_LOOKUP_BATCH, aom, &in, lk, lv, &count, 0);
	if (rc == 0 || errno == ENOENT)
		show("aom lookup 2 more", lk, lv, count);
	count = 2;
	batch("aom lookup_and_delete", BPF_MAP_LOOKUP_AND_DELETE_BATCH, aom, NULL, lk, lv, &count, 0);
	count = 1;
	batch("aom delete", BPF_MAP_DELETE_BATCH, aom, NULL, ak, NULL, &count, 0);
	return 0;
}
