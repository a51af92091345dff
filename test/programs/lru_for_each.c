/* Driver for lru_for_each.bpf.c (test/e2e/lru-for-each-differential.test.ts): on CPU 0, fills an
 * LRU map (LRU_HASH, then LRU_PERCPU_HASH) from user space, runs bpf_for_each_map_elem over it,
 * fills past max_entries and prints which keys survived; then the same with lookups of keys
 * [0, 8) from a program before the walk (those survive: a lookup is a use, a walk is not). The
 * same binary runs on the kernel and under the shim; the outputs must be identical.
 *
 * usage: lru_for_each OBJ */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

static int ncpus;

static void run(const char *what, struct bpf_object *obj, const char *name)
{
	struct bpf_program *p = bpf_object__find_program_by_name(obj, name);
	LIBBPF_OPTS(bpf_test_run_opts, o, .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = 0);
	int rc = bpf_prog_test_run_opts(bpf_program__fd(p), &o);
	printf("%s: rc=%d retval=%d", what, rc < 0 ? -errno : rc, (int)o.retval);
	int res = bpf_object__find_map_fd_by_name(obj, "result");
	for (__u32 i = 0; i < 3; i++) {
		__u64 v = 0, zero = 0;
		bpf_map_lookup_elem(res, &i, &v);
		bpf_map_update_elem(res, &i, &zero, BPF_ANY);
		printf(" %llu", (unsigned long long)v);
	}
	printf("\n");
}

static void fill(int fd, __u32 from, __u32 to)
{
	__u64 *v = calloc(ncpus, 8);
	for (__u32 k = from; k < to; k++) {
		for (int c = 0; c < ncpus; c++)
			v[c] = k * 10 + c;
		if (bpf_map_update_elem(fd, &k, v, BPF_ANY))
			printf("fill %u: %s\n", k, strerror(errno));
	}
	free(v);
}

static void present(const char *what, int fd)
{
	__u64 *v = calloc(ncpus, 8);
	printf("%s:", what);
	for (__u32 k = 0; k < 64; k++)
		if (bpf_map_lookup_elem(fd, &k, v) == 0)
			printf(" %u", k);
	printf("\n");
	free(v);
}

static void clear(int fd)
{
	for (__u32 k = 0; k < 64; k++)
		bpf_map_delete_elem(fd, &k);
}

static void round_(int which, const char *obj_path)
{
	struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
	if (!obj || libbpf_get_error(obj)) {
		printf("open failed\n");
		exit(1);
	}
	if (bpf_object__load(obj)) {
		printf("load failed: %s\n", strerror(errno));
		exit(1);
	}
	const char *type = which ? "lru_percpu" : "lru";
	int fd = bpf_object__find_map_fd_by_name(obj, which ? "lru_pcpu" : "lru");
	const char *walk = which ? "walk_lru_pcpu" : "walk_lru", *touch = which ? "touch_lru_pcpu" : "touch_lru";
	char what[128];

	/* A walk over a full map, then 16 new keys: the oldest 16 go, as with no walk at all. */
	fill(fd, 0, 32);
	snprintf(what, sizeof(what), "%s walk full", type);
	run(what, obj, walk);
	fill(fd, 32, 48);
	snprintf(what, sizeof(what), "%s after walk and 16 more", type);
	present(what, fd);
	snprintf(what, sizeof(what), "%s walk again", type);
	run(what, obj, walk);
	fill(fd, 48, 60);
	snprintf(what, sizeof(what), "%s after walk and 12 more", type);
	present(what, fd);

	/* Lookups from a program are uses: keys 0-7 outlive the others, walk or not. */
	clear(fd);
	fill(fd, 0, 32);
	snprintf(what, sizeof(what), "%s touch 0-7", type);
	run(what, obj, touch);
	snprintf(what, sizeof(what), "%s walk touched", type);
	run(what, obj, walk);
	fill(fd, 32, 48);
	snprintf(what, sizeof(what), "%s touched then 16 more", type);
	present(what, fd);
	bpf_object__close(obj);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc < 2)
		return 2;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	if (sched_setaffinity(0, sizeof(set), &set))
		perror("sched_setaffinity");
	ncpus = libbpf_num_possible_cpus();
	printf("loaded\n");
	round_(0, argv[1]);
	round_(1, argv[1]);
	return 0;
}
