// Raw bpf() calls over the map types beyond hash/array (per-CPU array and hash, LRU hash and
// LRU per-CPU hash, queue, stack, bloom filter, LPM trie), each printed as one line with its
// result (value or errno name). test/e2e/maps-differential.test.ts runs it on the kernel and
// under the shim and requires the same lines. Nothing printed depends on ids, fd numbers,
// addresses or random seeds: hash maps are created with BPF_F_ZERO_SEED (so their iteration
// order is the kernel's jhash bucket order), and the process pins itself to one CPU so the LRU
// lists it drives behave the same on every run.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bpf_calls_util.h"

static int ncpus; /* possible CPUs: per-CPU values have one 8-byte-aligned slot each */

/* Prints "name: ok" (or the value when show is set) or "name: ERRNO". */

static long elem_cmd(int cmd, int fd, const void *k, void *v, uint64_t flags)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_fd = fd;
	a.key = (uintptr_t)k;
	a.value = (uintptr_t)v;
	a.flags = flags;
	return sys_bpf(cmd, &a, sizeof(a));
}

static long update(int fd, const void *k, const void *v, uint64_t flags)
{
	return elem_cmd(BPF_MAP_UPDATE_ELEM, fd, k, (void *)v, flags);
}
static long lookup(int fd, const void *k, void *v) { return elem_cmd(BPF_MAP_LOOKUP_ELEM, fd, k, v, 0); }
static long lookup_flags(int fd, const void *k, void *v, uint64_t f) { return elem_cmd(BPF_MAP_LOOKUP_ELEM, fd, k, v, f); }
static long lookup_del(int fd, const void *k, void *v, uint64_t flags)
{
	return elem_cmd(BPF_MAP_LOOKUP_AND_DELETE_ELEM, fd, k, v, flags);
}

static long del(int fd, const void *k)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_fd = fd;
	a.key = (uintptr_t)k;
	return sys_bpf(BPF_MAP_DELETE_ELEM, &a, sizeof(a));
}

static long next_key(int fd, const void *k, void *nk)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_fd = fd;
	a.key = (uintptr_t)k;
	a.next_key = (uintptr_t)nk;
	return sys_bpf(BPF_MAP_GET_NEXT_KEY, &a, sizeof(a));
}

/* Every key of a map with u32 keys, in get_next_key order, on one line. */
static void print_keys(const char *name, int fd)
{
	uint32_t cur, nk;
	int n = 0;
	printf("%s keys:", name);
	long r = next_key(fd, NULL, &nk);
	while (r == 0 && n < 10000) {
		printf(" %u", nk);
		cur = nk;
		n++;
		r = next_key(fd, &cur, &nk);
	}
	printf(" (%d, end %s)\n", n, ename(errno));
}

/* ---- per-CPU maps: the syscall side sees every possible CPU's value ---- */

static void percpu_array(void)
{
	int fd = (int)report("percpu_array create", create_map(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 4, 0, 0), 0);
	size_t sz = 8 * (size_t)ncpus; /* value_size 4 rounds up to 8 per CPU */
	uint64_t *v = calloc(ncpus, 8), *out = calloc(ncpus, 8);
	for (int c = 0; c < ncpus; c++)
		v[c] = 0x1100000000ull + 10 * c + 1; /* high half is padding: kept as given */
	uint32_t k = 1;
	report("percpu_array update", update(fd, &k, v, BPF_ANY), 0);
	report("percpu_array update EXIST", update(fd, &k, v, BPF_EXIST), 0);
	report("percpu_array update NOEXIST", update(fd, &k, v, BPF_NOEXIST), 0);
	report("percpu_array update bad flags", update(fd, &k, v, 3), 0);
	report("percpu_array update F_LOCK", update(fd, &k, v, BPF_F_LOCK), 0);
	memset(out, 0xff, sz);
	report("percpu_array lookup", lookup(fd, &k, out), 0);
	int same = 1;
	for (int c = 0; c < ncpus; c++)
		same &= out[c] == v[c];
	printf("percpu_array every CPU's value back: %s\n", same ? "yes" : "no");
	k = 2;
	memset(out, 0xff, sz);
	report("percpu_array lookup untouched", lookup(fd, &k, out), 0);
	int zero = 1;
	for (int c = 0; c < ncpus; c++)
		zero &= out[c] == 0;
	printf("percpu_array untouched is zero on every CPU: %s\n", zero ? "yes" : "no");
	k = 4;
	report("percpu_array update out of range", update(fd, &k, v, BPF_ANY), 0);
	report("percpu_array lookup out of range", lookup(fd, &k, out), 0);
	report("percpu_array delete", del(fd, &k), 0);
	k = 1;
	report("percpu_array lookup_and_delete", lookup_del(fd, &k, out, 0), 0);
	print_keys("percpu_array", fd);
	report("percpu_array create mmapable", create_map(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 4, BPF_F_MMAPABLE, 0), 0);
	report("percpu_array create value 32K", create_map(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 32768, 4, 0, 0) >= 0, 1);
	report("percpu_array create value 32K+1", create_map(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 32769, 4, 0, 0), 0);
	report("percpu_array create key 8", create_map(BPF_MAP_TYPE_PERCPU_ARRAY, 8, 4, 4, 0, 0), 0);
	close(fd);
	free(v);
	free(out);
}

static void percpu_hash(int type, const char *name)
{
	char n[96];
	snprintf(n, sizeof(n), "%s create", name);
	int fd = (int)report(n, create_map(type, 4, 12, 8, BPF_F_ZERO_SEED, 0), 0);
	size_t slot = 16; /* value_size 12 rounds up to 16 per CPU */
	uint8_t *v = calloc(ncpus, slot), *out = calloc(ncpus, slot);
	for (int c = 0; c < ncpus; c++)
		for (size_t i = 0; i < slot; i++)
			v[c * slot + i] = (uint8_t)(c * 16 + i);
	uint32_t k = 5;
#define R(what, call) (snprintf(n, sizeof(n), "%s %s", name, what), report(n, call, 0))
	R("update EXIST missing", update(fd, &k, v, BPF_EXIST));
	R("update NOEXIST", update(fd, &k, v, BPF_NOEXIST));
	R("update NOEXIST again", update(fd, &k, v, BPF_NOEXIST));
	R("update bad flags", update(fd, &k, v, 77));
	R("update F_LOCK", update(fd, &k, v, BPF_F_LOCK));
	memset(out, 0xee, ncpus * slot);
	R("lookup", lookup(fd, &k, out));
	printf("%s every CPU's value back: %s\n", name, memcmp(out, v, ncpus * slot) ? "no" : "yes");
	for (int c = 0; c < ncpus; c++)
		v[c * slot] = 0xa0 + c;
	R("update EXIST", update(fd, &k, v, BPF_EXIST));
	memset(out, 0, ncpus * slot);
	lookup(fd, &k, out);
	printf("%s updated in place on every CPU: %s\n", name, memcmp(out, v, ncpus * slot) ? "no" : "yes");
	R("lookup F_LOCK", lookup_flags(fd, &k, out, BPF_F_LOCK));
	for (k = 10; k < 17; k++)
		update(fd, &k, v, BPF_ANY);
	k = 100;
	R("update when full", update(fd, &k, v, BPF_ANY));
	print_keys(name, fd);
	k = 12;
	memset(out, 0, ncpus * slot);
	R("lookup_and_delete", lookup_del(fd, &k, out, 0));
	printf("%s lookup_and_delete value: %s\n", name, memcmp(out, v, ncpus * slot) ? "no" : "yes");
	R("lookup_and_delete again", lookup_del(fd, &k, out, 0));
	R("lookup_and_delete F_LOCK", lookup_del(fd, &k, out, BPF_F_LOCK));
	k = 13;
	R("delete", del(fd, &k));
	R("delete again", del(fd, &k));
	k = 1000;
	R("next_key from missing", next_key(fd, &k, out));
	print_keys(name, fd);
#undef R
	close(fd);
	free(v);
	free(out);
}

/* ---- LRU hash: eviction order for one CPU's operations ---- */

static int lru_map(int type, int max, int flags)
{
	return create_map(type, 4, 8, max, flags | BPF_F_ZERO_SEED, 0);
}

static void lru_fill(int fd, uint32_t from, uint32_t to)
{
	uint64_t v;
	for (uint32_t k = from; k < to; k++) {
		v = k * 3;
		if (update(fd, &k, &v, BPF_ANY))
			printf("lru fill %u: %s\n", k, ename(errno));
	}
}

/* Which keys are present, as ascending ranges (get_next_key order depends on the hash). */
static void lru_present(const char *name, int fd, uint32_t below)
{
	uint64_t v;
	printf("%s present:", name);
	int n = 0;
	for (uint32_t k = 0; k < below; k++) {
		if (lookup(fd, &k, &v) == 0) {
			n++;
			uint32_t e = k;
			while (e + 1 < below && lookup(fd, &(uint32_t){e + 1}, &v) == 0)
				e++;
			n += e - k;
			if (e == k)
				printf(" %u", k);
			else
				printf(" %u-%u", k, e);
			k = e;
		}
	}
	printf(" (%d)\n", n);
}

static void lru_hash(void)
{
	uint64_t v = 1, out;
	uint32_t k;
	report("lru create NO_PREALLOC", create_map(BPF_MAP_TYPE_LRU_HASH, 4, 8, 8, BPF_F_NO_PREALLOC, 0), 0);
	report("lru create NUMA+NO_COMMON_LRU", create_map(BPF_MAP_TYPE_LRU_HASH, 4, 8, 8, BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE, 0), 0);
	report("hash create NO_COMMON_LRU", create_map(BPF_MAP_TYPE_HASH, 4, 8, 8, BPF_F_NO_COMMON_LRU, 0), 0);

	/* Filling past max_entries never fails: the oldest keys go. */
	int fd = (int)report("lru create", lru_map(BPF_MAP_TYPE_LRU_HASH, 16, 0), 0);
	lru_fill(fd, 0, 16);
	lru_present("lru full", fd, 100);
	lru_fill(fd, 16, 17);
	lru_present("lru one more", fd, 100);
	lru_fill(fd, 17, 40);
	lru_present("lru after 40", fd, 100);
	print_keys("lru", fd);
	/* Flags against present and evicted keys; an update of a present key may evict others. */
	k = 39;
	report("lru update NOEXIST present", update(fd, &k, &v, BPF_NOEXIST), 0);
	lru_present("lru after failed NOEXIST", fd, 100);
	k = 0;
	report("lru update EXIST evicted", update(fd, &k, &v, BPF_EXIST), 0);
	k = 38;
	report("lru update EXIST present", update(fd, &k, &v, BPF_EXIST), 0);
	lru_present("lru after EXIST", fd, 100);
	report("lru update bad flags", update(fd, &k, &v, 4), 0);
	report("lru lookup", lookup(fd, &k, &out), 0);
	printf("lru value: %llu\n", (unsigned long long)out);
	report("lru lookup_and_delete", lookup_del(fd, &k, &out, 0), 0);
	report("lru lookup_and_delete again", lookup_del(fd, &k, &out, 0), 0);
	k = 37;
	report("lru delete", del(fd, &k), 0);
	report("lru delete again", del(fd, &k), 0);
	lru_fill(fd, 100, 110);
	lru_present("lru after deletes and 10 more", fd, 200);
	close(fd);

	/* Updates of present keys mark them used: they outlive keys never touched again. */
	fd = (int)report("lru create 2", lru_map(BPF_MAP_TYPE_LRU_HASH, 32, 0), 0);
	lru_fill(fd, 0, 32);
	for (k = 0; k < 8; k++)
		update(fd, &k, &v, BPF_EXIST);
	lru_fill(fd, 32, 48);
	lru_present("lru touched survive", fd, 100);
	lru_fill(fd, 48, 96);
	lru_present("lru much later", fd, 100);
	close(fd);

	/* Per-CPU LRU lists (this process runs on one CPU: only its share of the map is used). */
	fd = (int)report("lru create NO_COMMON_LRU", lru_map(BPF_MAP_TYPE_LRU_HASH, 4 * ncpus, BPF_F_NO_COMMON_LRU), 0);
	lru_fill(fd, 0, 12);
	lru_present("lru percpu-lists", fd, 100);
	close(fd);
	fd = (int)report("lru create NO_COMMON_LRU odd size", lru_map(BPF_MAP_TYPE_LRU_HASH, 4 * ncpus + 1, BPF_F_NO_COMMON_LRU), 0);
	lru_fill(fd, 0, 12);
	lru_present("lru percpu-lists rounded", fd, 100);
	close(fd);

	/* LRU per-CPU hash: per-CPU values, in-place updates, the same eviction. */
	fd = (int)report("lru_percpu create", lru_map(BPF_MAP_TYPE_LRU_PERCPU_HASH, 16, 0), 0);
	uint64_t *pv = calloc(ncpus, 8), *po = calloc(ncpus, 8);
	for (int c = 0; c < ncpus; c++)
		pv[c] = 7 + c;
	for (k = 0; k < 24; k++)
		update(fd, &k, pv, BPF_ANY);
	lru_present("lru_percpu", fd, 100);
	k = 23;
	report("lru_percpu lookup", lookup(fd, &k, po), 0);
	printf("lru_percpu every CPU's value back: %s\n", memcmp(po, pv, 8 * ncpus) ? "no" : "yes");
	report("lru_percpu update EXIST", update(fd, &k, pv, BPF_EXIST), 0);
	report("lru_percpu update NOEXIST present", update(fd, &k, pv, BPF_NOEXIST), 0);
	lru_present("lru_percpu after NOEXIST", fd, 100);
	report("lru_percpu lookup_and_delete", lookup_del(fd, &k, po, 0), 0);
	printf("lru_percpu lookup_and_delete value: %s\n", memcmp(po, pv, 8 * ncpus) ? "no" : "yes");
	k = 0;
	report("lru_percpu update EXIST evicted", update(fd, &k, pv, BPF_EXIST), 0);
	lru_present("lru_percpu after EXIST", fd, 100);
	print_keys("lru_percpu", fd);
	free(pv);
	free(po);
	close(fd);
}

/* ---- queue and stack ---- */

static void queue_stack(int type, const char *name)
{
	char n[96];
	uint32_t v, out = 0, k = 0;
#define R(what, call) (snprintf(n, sizeof(n), "%s %s", name, what), report(n, call, 0))
	R("create key_size 4", create_map(type, 4, 4, 3, 0, 0));
	R("create value_size 0", create_map(type, 0, 0, 3, 0, 0));
	R("create NO_PREALLOC", create_map(type, 0, 4, 3, BPF_F_NO_PREALLOC, 0));
	int fd = (int)R("create", create_map(type, 0, 4, 3, 0, 0));
	R("peek empty", lookup(fd, NULL, &out));
	R("pop empty", lookup_del(fd, NULL, &out, 0));
	for (v = 1; v <= 3; v++)
		R("push", update(fd, NULL, &v, BPF_ANY));
	R("push full", update(fd, NULL, &v, BPF_ANY));
	R("push NOEXIST", update(fd, NULL, &v, BPF_NOEXIST));
	R("push bad flags", update(fd, NULL, &v, 5));
	R("push with key", update(fd, &k, &v, BPF_ANY));
	v = 4;
	R("push EXIST when full", update(fd, NULL, &v, BPF_EXIST));
	R("peek", lookup(fd, NULL, &out));
	printf("%s peek value: %u\n", name, out);
	R("peek with key", lookup(fd, &k, &out));
	R("pop with flags", lookup_del(fd, NULL, &out, BPF_F_LOCK));
	R("pop with key", lookup_del(fd, &k, &out, 0));
	R("delete", del(fd, NULL));
	R("next_key", next_key(fd, NULL, &out));
	printf("%s pops:", name);
	while (lookup_del(fd, NULL, &out, 0) == 0)
		printf(" %u", out);
	printf(" (%s)\n", ename(errno));
	v = 9;
	R("push EXIST not full", update(fd, NULL, &v, BPF_EXIST));
	R("peek after", lookup(fd, NULL, &out));
	printf("%s peek value: %u\n", name, out);
#undef R
	close(fd);
}

/* ---- bloom filter: with BPF_F_ZERO_SEED its bits (false positives too) are the kernel's ---- */

static void bloom(void)
{
	report("bloom create key_size 4", create_map(BPF_MAP_TYPE_BLOOM_FILTER, 4, 4, 100, 0, 3), 0);
	report("bloom create map_extra 16", create_map(BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 100, 0, 16), 0);
	report("bloom create NO_PREALLOC", create_map(BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 100, BPF_F_NO_PREALLOC, 0), 0);
	report("hash create map_extra", create_map(BPF_MAP_TYPE_HASH, 4, 4, 100, 0, 1), 0);
	int fd = (int)report("bloom create", create_map(BPF_MAP_TYPE_BLOOM_FILTER, 0, 4, 64, BPF_F_ZERO_SEED, 3), 0);
	uint32_t v, k = 0;
	for (v = 0; v < 200; v += 4)
		if (update(fd, NULL, &v, BPF_ANY))
			printf("bloom push %u: %s\n", v, ename(errno));
	v = 1;
	report("bloom push EXIST", update(fd, NULL, &v, BPF_EXIST), 0);
	report("bloom push with key", update(fd, &k, &v, BPF_ANY), 0);
	int hits = 0, fp = 0;
	for (v = 0; v < 2000; v++) {
		uint32_t q = v; /* the kernel reads the value and writes nothing back */
		long r = lookup(fd, NULL, &q);
		if (v % 4 == 0 && v < 200) {
			if (r)
				printf("bloom false negative %u: %s\n", v, ename(errno));
			else
				hits++;
		} else if (r == 0) {
			fp++;
		}
	}
	printf("bloom pushed found: %d, false positives: %d\n", hits, fp);
	v = 1;
	report("bloom lookup absent", lookup(fd, NULL, &(uint32_t){100001}), 0);
	report("bloom lookup with key", lookup(fd, &k, &v), 0);
	report("bloom delete", del(fd, NULL), 0);
	report("bloom next_key", next_key(fd, NULL, &v), 0);
	report("bloom lookup_and_delete", lookup_del(fd, NULL, &v, 0), 0);
	close(fd);
	/* Odd value size: the byte-wise hash. */
	fd = (int)report("bloom create value 5", create_map(BPF_MAP_TYPE_BLOOM_FILTER, 0, 5, 32, BPF_F_ZERO_SEED, 0), 0);
	uint8_t b5[5] = {1, 2, 3, 4, 5};
	report("bloom push 5", update(fd, NULL, b5, BPF_ANY), 0);
	fp = 0;
	for (int i = 0; i < 1000; i++) {
		uint8_t q[5] = {(uint8_t)i, (uint8_t)(i >> 8), 3, 4, 5};
		fp += lookup(fd, NULL, q) == 0;
	}
	printf("bloom value 5 positives: %d, pushed found: %s\n", fp, lookup(fd, NULL, b5) ? "no" : "yes");
	close(fd);
}

/* ---- LPM trie ---- */

struct lpm4 {
	uint32_t prefixlen;
	uint8_t data[4];
};

static struct lpm4 pfx(unsigned a, unsigned b, unsigned c, unsigned d, unsigned len)
{
	struct lpm4 k = {len, {(uint8_t)a, (uint8_t)b, (uint8_t)c, (uint8_t)d}};
	return k;
}

static void lpm_print_keys(int fd)
{
	struct lpm4 cur, nk;
	printf("lpm keys:");
	int n = 0;
	long r = next_key(fd, NULL, &nk);
	while (r == 0 && n < 1000) {
		printf(" %u.%u.%u.%u/%u", nk.data[0], nk.data[1], nk.data[2], nk.data[3], nk.prefixlen);
		cur = nk;
		n++;
		r = next_key(fd, &cur, &nk);
	}
	printf(" (%d, end %s)\n", n, ename(errno));
}

static void lpm_match(int fd, unsigned a, unsigned b, unsigned c, unsigned d, unsigned len)
{
	struct lpm4 k = pfx(a, b, c, d, len);
	uint64_t v = 0;
	long r = lookup(fd, &k, &v);
	if (r)
		printf("lpm lookup %u.%u.%u.%u/%u: %s\n", a, b, c, d, len, ename(errno));
	else
		printf("lpm lookup %u.%u.%u.%u/%u: %llu\n", a, b, c, d, len, (unsigned long long)v);
}

static void lpm(void)
{
	report("lpm create without NO_PREALLOC", create_map(BPF_MAP_TYPE_LPM_TRIE, 8, 8, 16, 0, 0), 0);
	report("lpm create key 4", create_map(BPF_MAP_TYPE_LPM_TRIE, 4, 8, 16, BPF_F_NO_PREALLOC, 0), 0);
	report("lpm create key 261", create_map(BPF_MAP_TYPE_LPM_TRIE, 261, 8, 16, BPF_F_NO_PREALLOC, 0), 0);
	report("lpm create value 0", create_map(BPF_MAP_TYPE_LPM_TRIE, 8, 0, 16, BPF_F_NO_PREALLOC, 0), 0);
	report("lpm create ZERO_SEED", create_map(BPF_MAP_TYPE_LPM_TRIE, 8, 8, 16, BPF_F_NO_PREALLOC | BPF_F_ZERO_SEED, 0), 0);
	int fd = (int)report("lpm create", create_map(BPF_MAP_TYPE_LPM_TRIE, 8, 8, 6, BPF_F_NO_PREALLOC, 0), 0);
	struct lpm4 k;
	uint64_t v;
	struct {
		struct lpm4 k;
		uint64_t v;
	} ins[] = {
		{pfx(192, 168, 0, 0, 16), 1}, {pfx(192, 168, 0, 0, 24), 2}, {pfx(192, 168, 128, 0, 24), 3},
		{pfx(192, 168, 1, 0, 24), 5}, {pfx(10, 0, 0, 0, 8), 6},
	};
	for (size_t i = 0; i < sizeof(ins) / sizeof(ins[0]); i++)
		report("lpm insert", update(fd, &ins[i].k, &ins[i].v, BPF_NOEXIST), 0);
	lpm_print_keys(fd);
	lpm_match(fd, 192, 168, 0, 7, 32);
	lpm_match(fd, 192, 168, 1, 7, 32);
	lpm_match(fd, 192, 168, 2, 7, 32);
	lpm_match(fd, 192, 168, 128, 9, 32);
	lpm_match(fd, 192, 169, 0, 1, 32);
	lpm_match(fd, 10, 1, 2, 3, 32);
	lpm_match(fd, 192, 168, 0, 0, 16);
	lpm_match(fd, 192, 168, 0, 0, 15);
	lpm_match(fd, 192, 168, 0, 0, 33);
	k = pfx(192, 168, 0, 0, 16);
	v = 11;
	report("lpm update NOEXIST present", update(fd, &k, &v, BPF_NOEXIST), 0);
	report("lpm update EXIST present", update(fd, &k, &v, BPF_EXIST), 0);
	k = pfx(192, 168, 0, 0, 23); /* the intermediate node's prefix */
	report("lpm update EXIST intermediate", update(fd, &k, &v, BPF_EXIST), 0);
	report("lpm delete intermediate", del(fd, &k), 0);
	report("lpm update bad flags", update(fd, &k, &v, 4), 0);
	k.prefixlen = 33;
	report("lpm update prefixlen 33", update(fd, &k, &v, BPF_ANY), 0);
	report("lpm delete prefixlen 33", del(fd, &k), 0);
	k = pfx(172, 16, 0, 0, 12);
	v = 7;
	report("lpm insert 6th", update(fd, &k, &v, BPF_ANY), 0);
	k = pfx(172, 32, 0, 0, 12);
	report("lpm insert when full", update(fd, &k, &v, BPF_ANY), 0);
	k = pfx(192, 168, 0, 0, 24);
	v = 22;
	report("lpm replace when full", update(fd, &k, &v, BPF_ANY), 0);
	k = pfx(192, 168, 0, 0, 23);
	v = 23;
	report("lpm fill intermediate when full", update(fd, &k, &v, BPF_ANY), 0);
	lpm_print_keys(fd);
	lpm_match(fd, 192, 168, 0, 1, 32);
	lpm_match(fd, 172, 20, 1, 1, 32);
	report("lpm lookup_and_delete", lookup_del(fd, &k, &v, 0), 0);
	k = pfx(192, 168, 0, 0, 16);
	report("lpm delete with children", del(fd, &k), 0);
	report("lpm delete again", del(fd, &k), 0);
	lpm_match(fd, 192, 168, 2, 7, 32);
	lpm_print_keys(fd);
	k = pfx(192, 168, 1, 0, 24);
	report("lpm delete leaf", del(fd, &k), 0);
	lpm_print_keys(fd);
	k = pfx(192, 168, 0, 0, 24);
	report("lpm next_key of last", next_key(fd, &k, &k), 0);
	k = pfx(1, 2, 3, 4, 32);
	report("lpm next_key missing", next_key(fd, &k, &k), 0);
	printf("lpm next_key missing gives: %u.%u.%u.%u/%u\n", k.data[0], k.data[1], k.data[2], k.data[3], k.prefixlen);
	k.prefixlen = 40;
	report("lpm next_key invalid", next_key(fd, &k, &k), 0);
	/* Delete everything in get_next_key order, then the trie is empty. */
	struct lpm4 nk;
	while (next_key(fd, NULL, &nk) == 0)
		if (del(fd, &nk))
			break;
	report("lpm next_key empty", next_key(fd, NULL, &nk), 0);
	close(fd);

	/* A wider random-looking set: key order and matches over 200 prefixes. */
	fd = (int)report("lpm create big", create_map(BPF_MAP_TYPE_LPM_TRIE, 8, 8, 256, BPF_F_NO_PREALLOC, 0), 0);
	uint32_t x = 12345;
	for (int i = 0; i < 200; i++) {
		x = x * 1103515245 + 12345;
		k = pfx(x >> 24, (x >> 16) & 0xf0, 0, 0, 4 + (x >> 8) % 17);
		/* bits past the prefix are cleared, as tools do */
		uint32_t be = ((uint32_t)k.data[0] << 24) | ((uint32_t)k.data[1] << 16);
		be &= k.prefixlen ? ~0u << (32 - k.prefixlen) : 0;
		k.data[0] = be >> 24;
		k.data[1] = (be >> 16) & 0xff;
		v = i;
		update(fd, &k, &v, BPF_ANY);
	}
	lpm_print_keys(fd);
	unsigned sum = 0, found = 0;
	for (unsigned a = 0; a < 256; a += 3) {
		k = pfx(a, (a * 7) & 0xff, 1, 1, 32);
		if (lookup(fd, &k, &v) == 0) {
			found++;
			sum += (unsigned)v;
		}
	}
	printf("lpm big matches: %u, sum %u\n", found, sum);
	close(fd);
}

int main(void)
{
	/* One CPU for the whole run: the LRU lists it drives are that CPU's. */
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
	ncpus = (int)sysconf(_SC_NPROCESSORS_CONF);
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
	if (f) {
		int a, b;
		char sep;
		ncpus = 0;
		while (fscanf(f, "%d%c", &a, &sep) == 2) {
			b = a;
			if (sep == '-' && fscanf(f, "%d%c", &b, &sep) < 1)
				break;
			ncpus += b - a + 1;
			if (sep != ',')
				break;
		}
		fclose(f);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	percpu_array();
	percpu_hash(BPF_MAP_TYPE_PERCPU_HASH, "percpu_hash");
	lru_hash();
	queue_stack(BPF_MAP_TYPE_QUEUE, "queue");
	queue_stack(BPF_MAP_TYPE_STACK, "stack");
	bloom();
	lpm();
	return 0;
}
