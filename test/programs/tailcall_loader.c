// A libbpf loader for tailcall.bpf.c: loads the object (libbpf fills the prog array from its
// `.values`), fills the maps the programs walk, attaches the dispatcher at tc_target() of the
// victim, runs the victim (directly, or through a launcher such as `bpftime start`), and prints
// the prog array's slots and everything the programs recorded. Then it empties one slot and fills
// another from user space and runs the victim again.
//
// usage: tailcall_loader OBJ VICTIM [LAUNCHER ARGS...]
// With TAILCALL_PAUSE set, it waits for a line on stdin after loading (for bpftool).
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loader_util.h"

static const char *const result_names[] = {
	"dispatch", "fall", "fall_op",
	"loop_ret", "loop_sum", "loop_badflags", "loop_e2big", "loop_zero",
	"hash_n", "hash_sum", "arr_n", "arr_sum", "pcpu_n", "pcpu_sum", "lru_n", "lru_sum", "phash_n",
	"each_badflags", "hash_stop_n",
	"chain", "chain_fall", "nested", "nested_fall", "sub_loop",
	"subtail", "subtail_after",
};
#define NRES (sizeof(result_names) / sizeof(result_names[0]))

static char **launcher;
static int nlauncher;
static const char *victim;

static void run_victim(const char *const *ops, int nops)
{
	run_victim_with(launcher, nlauncher, victim, ops, nops);
}

static void print_results(struct bpf_object *obj)
{
	int fd = bpf_object__find_map_fd_by_name(obj, "results");
	for (unsigned k = 0; k < NRES; k++) {
		long long v = 0;
		if (bpf_map_lookup_elem(fd, &k, &v))
			printf("%s: error %d\n", result_names[k], errno);
		else
			printf("%s: %lld\n", result_names[k], v);
	}
}

static unsigned prog_id(int fd)
{
	struct bpf_prog_info info = { 0 };
	unsigned len = sizeof(info);
	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

static void print_slots(struct bpf_object *obj)
{
	int fd = bpf_object__find_map_fd_by_name(obj, "jmp_table");
	for (unsigned k = 0; k < 9; k++) {
		unsigned id = 0;
		if (bpf_map_lookup_elem(fd, &k, &id)) {
			printf("slot %u: %s\n", k, strerror(errno));
			continue;
		}
		struct bpf_program *p;
		const char *name = "unknown program";
		bpf_object__for_each_program(p, obj)
			if (prog_id(bpf_program__fd(p)) == id)
				name = bpf_program__name(p);
		printf("slot %u: %s\n", k, name);
	}
}

static int fill(struct bpf_object *obj)
{
	int ncpu = libbpf_num_possible_cpus();
	int fd = bpf_object__find_map_fd_by_name(obj, "squares");
	for (unsigned k = 1; k <= 10; k++) {
		unsigned long long v = k * k;
		if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
			return -1;
	}
	fd = bpf_object__find_map_fd_by_name(obj, "arr");
	for (unsigned k = 0; k < 8; k++) {
		unsigned long long v = k * 10;
		if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
			return -1;
	}
	fd = bpf_object__find_map_fd_by_name(obj, "pcpu");
	unsigned long long *pv = calloc(ncpu, 8);
	for (unsigned k = 0; k < 4; k++) {
		for (int c = 0; c < ncpu; c++)
			pv[c] = (k + 1) * 7;
		if (bpf_map_update_elem(fd, &k, pv, BPF_ANY))
			return -1;
	}
	free(pv);
	fd = bpf_object__find_map_fd_by_name(obj, "lru");
	for (unsigned long long k = 100; k < 105; k++) {
		unsigned v = (unsigned)k * 2;
		if (bpf_map_update_elem(fd, &k, &v, BPF_ANY))
			return -1;
	}
	fd = bpf_object__find_map_fd_by_name(obj, "phash");
	unsigned *pu = calloc(ncpu, 8);
	for (unsigned k = 1; k <= 3; k++)
		if (bpf_map_update_elem(fd, &k, pu, BPF_ANY))
			return -1;
	free(pu);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s OBJ VICTIM [LAUNCHER ARGS...]\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	victim = argv[2];
	launcher = argv + 3;
	nlauncher = argc - 3;
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		printf("load failed: %s\n", strerror(errno));
		return 1;
	}
	if (fill(obj)) {
		printf("filling maps failed: %s\n", strerror(errno));
		return 1;
	}
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = "tc_target");
	struct bpf_link *link =
		bpf_program__attach_uprobe_opts(bpf_object__find_program_by_name(obj, "dispatch"), -1, victim, 0, &uo);
	if (!link) {
		printf("attach failed: %s\n", strerror(errno));
		return 1;
	}
	print_slots(obj);
	if (getenv("TAILCALL_PAUSE")) {
		/* For tools that inspect the loaded objects (bpftool): go on at a line on stdin. */
		printf("paused\n");
		char line[16];
		if (!fgets(line, sizeof(line), stdin))
			return 0;
	}
	const char *ops1[] = { "0:10", "0:100", "1:0", "2:0", "3:7", "4:3", "5:0", "100:0" };
	run_victim(ops1, 8);
	print_results(obj);

	/* From user space: empty the chain's slot, put the chain in slot 6. */
	int jt = bpf_object__find_map_fd_by_name(obj, "jmp_table");
	unsigned k = 2, k6 = 6;
	int chain = bpf_program__fd(bpf_object__find_program_by_name(obj, "stage_chain"));
	printf("delete slot 2: %d\n", bpf_map_delete_elem(jt, &k) ? -errno : 0);
	printf("chain into slot 6: %d\n", bpf_map_update_elem(jt, &k6, &chain, BPF_ANY) ? -errno : 0);
	print_slots(obj);
	const char *ops2[] = { "2:0", "6:0" };
	run_victim(ops2, 2);
	print_results(obj);

	int afd = bpf_object__find_map_fd_by_name(obj, "arr");
	for (unsigned i = 0; i < 8; i++) {
		unsigned long long v = 0;
		bpf_map_lookup_elem(afd, &i, &v);
		printf("arr[%u] = %llu\n", i, v);
	}
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
