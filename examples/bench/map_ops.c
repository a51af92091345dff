// SPDX-License-Identifier: GPL-2.0
// map_ops: times bpf() map commands made the way a tool makes them: raw bpf(2) through
// libc's syscall(), with the attr sizes libbpf passes. Run as root it measures the kernel;
// under LD_PRELOAD of the bpftime shim it measures the shim (and the server, for the
// commands the shim sends there).
//
//   map_ops [-t MS] [-r REPS] [OP...]
//
// OP is one of hash.lookup hash.update hash.delete hash.get_next_key array.lookup
// array.update array.get_next_key obj_get_info map_get_next_id (default: all). For each it
// prints one line:
//   op=<OP> calls=<per rep> ns_per_call=<median of REPS> runs=<ns,ns,...>
// or, when the command fails:
//   op=<OP> error=<errno name> <message>
// Each rep lasts about MS milliseconds (default 40); REPS defaults to 5.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define NKEYS 1024u
#define MAX_REPS 32
#define ATTR_END(field) (offsetof(union bpf_attr, field) + sizeof(((union bpf_attr *)0)->field))

static int hash_fd = -1, array_fd = -1;
static int fail_errno; /* first error seen inside a timed loop */

static long sys_bpf(int cmd, union bpf_attr *attr, unsigned int size)
{
	return syscall(__NR_bpf, cmd, attr, size);
}

static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static int map_create(enum bpf_map_type type, const char *name)
{
	union bpf_attr a;
	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = sizeof(uint32_t);
	a.value_size = sizeof(uint64_t);
	a.max_entries = NKEYS;
	strncpy(a.map_name, name, sizeof(a.map_name) - 1);
	return (int)sys_bpf(BPF_MAP_CREATE, &a, ATTR_END(map_extra));
}

static long elem(int cmd, int fd, const void *key, void *value_or_next, uint64_t flags)
{
	union bpf_attr a;
	memset(&a, 0, ATTR_END(flags));
	a.map_fd = (uint32_t)fd;
	a.key = (uint64_t)(uintptr_t)key;
	if (cmd == BPF_MAP_GET_NEXT_KEY)
		a.next_key = (uint64_t)(uintptr_t)value_or_next;
	else
		a.value = (uint64_t)(uintptr_t)value_or_next;
	a.flags = flags;
	return sys_bpf(cmd, &a, ATTR_END(flags));
}

static int fill(int fd)
{
	for (uint32_t k = 0; k < NKEYS; k++) {
		uint64_t v = k;
		if (elem(BPF_MAP_UPDATE_ELEM, fd, &k, &v, BPF_ANY) < 0)
			return -errno;
	}
	return 0;
}

static inline void check(long rc)
{
	if (rc < 0 && !fail_errno)
		fail_errno = errno;
}

/* Each op runs n calls and returns the ns spent in the calls it timed. */

static unsigned long long op_lookup(int fd, unsigned long n)
{
	uint64_t v;
	unsigned long long t0 = now_ns();
	for (unsigned long i = 0; i < n; i++) {
		uint32_t k = (uint32_t)i & (NKEYS - 1);
		check(elem(BPF_MAP_LOOKUP_ELEM, fd, &k, &v, 0));
	}
	return now_ns() - t0;
}

static unsigned long long op_update(int fd, unsigned long n)
{
	unsigned long long t0 = now_ns();
	for (unsigned long i = 0; i < n; i++) {
		uint32_t k = (uint32_t)i & (NKEYS - 1);
		uint64_t v = i;
		check(elem(BPF_MAP_UPDATE_ELEM, fd, &k, &v, BPF_ANY));
	}
	return now_ns() - t0;
}

/* Walks the keys; at the end (ENOENT) starts again from the first key. */
static unsigned long long op_next(int fd, unsigned long n)
{
	uint32_t cur = 0;
	int have = 0;
	unsigned long long t0 = now_ns();
	for (unsigned long i = 0; i < n; i++) {
		if (elem(BPF_MAP_GET_NEXT_KEY, fd, have ? &cur : NULL, &cur, 0) == 0) {
			have = 1;
		} else {
			check(errno == ENOENT ? 0 : -1);
			have = 0;
		}
	}
	return now_ns() - t0;
}

/* Deletes present keys: chunks of NKEYS deletes, the map refilled (untimed) between chunks. */
static unsigned long long op_delete(int fd, unsigned long n)
{
	unsigned long long spent = 0;
	unsigned long done = 0;
	while (done < n) {
		unsigned long chunk = n - done < NKEYS ? n - done : NKEYS;
		int err = fill(fd);
		if (err && !fail_errno)
			fail_errno = -err;
		unsigned long long t0 = now_ns();
		for (uint32_t k = 0; k < chunk; k++)
			check(elem(BPF_MAP_DELETE_ELEM, fd, &k, NULL, 0));
		spent += now_ns() - t0;
		done += chunk;
	}
	return spent;
}

/* A command the bpftime shim sends to the server: information about a map fd. */
static unsigned long long op_info(int fd, unsigned long n)
{
	struct bpf_map_info info;
	union bpf_attr a;
	unsigned long long t0 = now_ns();
	for (unsigned long i = 0; i < n; i++) {
		memset(&a, 0, ATTR_END(info));
		a.info.bpf_fd = (uint32_t)fd;
		a.info.info_len = sizeof(info);
		a.info.info = (uint64_t)(uintptr_t)&info;
		check(sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, ATTR_END(info)));
	}
	return now_ns() - t0;
}

/* Another one, with no fd: the first map id. */
static unsigned long long op_next_id(int fd, unsigned long n)
{
	union bpf_attr a;
	(void)fd;
	unsigned long long t0 = now_ns();
	for (unsigned long i = 0; i < n; i++) {
		memset(&a, 0, ATTR_END(open_flags));
		a.start_id = 0;
		check(sys_bpf(BPF_MAP_GET_NEXT_ID, &a, ATTR_END(open_flags)));
	}
	return now_ns() - t0;
}

struct op {
	const char *name;
	int *fd;
	unsigned long long (*run)(int fd, unsigned long n);
};

static const struct op OPS[] = {
	{ "hash.lookup", &hash_fd, op_lookup },
	{ "hash.update", &hash_fd, op_update },
	{ "hash.delete", &hash_fd, op_delete },
	{ "hash.get_next_key", &hash_fd, op_next },
	{ "array.lookup", &array_fd, op_lookup },
	{ "array.update", &array_fd, op_update },
	{ "array.get_next_key", &array_fd, op_next },
	{ "obj_get_info", &hash_fd, op_info },
	{ "map_get_next_id", &hash_fd, op_next_id },
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void measure(const struct op *op, double ms, int reps)
{
	double runs[MAX_REPS];
	unsigned long n = 1;
	unsigned long long t;

	fail_errno = 0;
	/* Calibrate: double the count until a batch takes 1/8 of a rep. */
	for (;;) {
		t = op->run(*op->fd, n);
		if (fail_errno)
			goto failed;
		if ((double)t >= ms * 1e6 / 8 || n >= (1UL << 30))
			break;
		n *= 2;
	}
	n = (unsigned long)((double)n * (ms * 1e6) / (double)(t ? t : 1));
	if (n < 1)
		n = 1;
	op->run(*op->fd, n < 1000 ? n : 1000); /* warm */
	for (int r = 0; r < reps; r++) {
		t = op->run(*op->fd, n);
		if (fail_errno)
			goto failed;
		runs[r] = (double)t / (double)n;
	}
	if (op->run == op_delete && fill(*op->fd) < 0) /* leave the map full for the next op */
		fail_errno = errno;
	printf("op=%s calls=%lu ns_per_call=", op->name, n);
	{
		double sorted[MAX_REPS];
		memcpy(sorted, runs, sizeof(double) * (size_t)reps);
		qsort(sorted, (size_t)reps, sizeof(double), cmp_double);
		double med = reps % 2 ? sorted[reps / 2] : (sorted[reps / 2 - 1] + sorted[reps / 2]) / 2;
		printf("%.3f runs=", med);
	}
	for (int r = 0; r < reps; r++)
		printf("%s%.3f", r ? "," : "", runs[r]);
	printf("\n");
	fflush(stdout);
	return;
failed:
	printf("op=%s error=%s %s\n", op->name, strerrorname_np(fail_errno) ? strerrorname_np(fail_errno) : "?",
	       strerror(fail_errno));
	fflush(stdout);
	fill(*op->fd);
}

int main(int argc, char **argv)
{
	double ms = 40;
	int reps = 5, c, err;
	char *end;

	while ((c = getopt(argc, argv, "t:r:h")) != -1) {
		switch (c) {
		case 't':
			ms = strtod(optarg, &end);
			if (*end || !(ms > 0)) {
				fprintf(stderr, "map_ops: -t wants milliseconds > 0\n");
				return 2;
			}
			break;
		case 'r':
			reps = (int)strtol(optarg, &end, 10);
			if (*end || reps < 1 || reps > MAX_REPS) {
				fprintf(stderr, "map_ops: -r wants 1..%d\n", MAX_REPS);
				return 2;
			}
			break;
		default:
			fprintf(stderr, "usage: map_ops [-t MS] [-r REPS] [OP...]\n");
			return c == 'h' ? 0 : 2;
		}
	}

	hash_fd = map_create(BPF_MAP_TYPE_HASH, "bench_hash");
	array_fd = map_create(BPF_MAP_TYPE_ARRAY, "bench_array");
	if (hash_fd < 0 || array_fd < 0) {
		fprintf(stderr, "map_ops: BPF_MAP_CREATE failed: %s%s\n", strerror(errno),
			errno == EPERM ? " (kernel BPF needs root)" : "");
		return 1;
	}
	if ((err = fill(hash_fd)) || (err = fill(array_fd))) {
		fprintf(stderr, "map_ops: filling the maps failed: %s\n", strerror(-err));
		return 1;
	}

	for (size_t i = 0; i < sizeof(OPS) / sizeof(OPS[0]); i++) {
		int want = optind == argc;
		for (int k = optind; k < argc; k++)
			want |= !strcmp(argv[k], OPS[i].name);
		if (want)
			measure(&OPS[i], ms, reps);
	}
	return 0;
}
