// A libbpf loader for map_of_maps.bpf.c: loads the object (libbpf creates the maps of maps from
// their `__array(values, ...)` and fills their slots), attaches the probe at tc_target() of
// tailcall_victim, runs the victim (directly or through a launcher such as `bpftime start`), and
// prints which inner map each outer slot holds and what the program wrote into the inner maps.
// Then it rearranges the slots from user space (delete, update with other maps) and runs again.
//
// usage: map_of_maps_loader OBJ VICTIM [LAUNCHER ARGS...]
// With MOM_PAUSE set, it waits for a line on stdin after loading (for bpftool). With MOM_LIVE set,
// the victim is started once, before anything is loaded, and given its calls on stdin: the maps
// and their slots are all made while it runs.
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

static char **launcher;
static int nlauncher;
static const char *victim;
static struct bpf_object *obj;
static const char *const inner_names[] = { "arr_a", "arr_b", "hash_a", "hash_b" };

static FILE *live_in, *live_out; /* MOM_LIVE: the running victim's stdin and stdout */

static void start_live(void)
{
	int in[2], out[2];
	if (pipe(in) || pipe(out))
		exit(1);
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[64];
		int n = 0;
		for (int i = 0; i < nlauncher; i++)
			argv[n++] = launcher[i];
		argv[n++] = (char *)victim;
		argv[n++] = "-";
		argv[n] = NULL;
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		unsetenv("LD_PRELOAD");
		execvp(argv[0], argv);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	live_in = fdopen(in[1], "w");
	live_out = fdopen(out[0], "r");
	char line[128];
	if (!fgets(line, sizeof(line), live_out) || strncmp(line, "ready", 5)) {
		printf("victim did not start\n");
		exit(1);
	}
}

static void run_victim(const char *const *ops, int nops)
{
	fflush(stdout);
	if (live_in) {
		int done = 0;
		char line[128];
		for (int i = 0; i < nops; i++) {
			fprintf(live_in, "%s\n", ops[i]);
			fflush(live_in);
			if (fgets(line, sizeof(line), live_out) && !strncmp(line, "done", 4))
				done++;
		}
		printf("live victim did %d ops\n", done);
		return;
	}
	run_victim_with(launcher, nlauncher, victim, ops, nops);
}

static int fd_of(const char *name) { return bpf_object__find_map_fd_by_name(obj, name); }

static unsigned id_of(int fd)
{
	struct bpf_map_info info = { 0 };
	unsigned len = sizeof(info);
	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

static void print_slots(const char *outer)
{
	int fd = fd_of(outer);
	for (unsigned k = 0; k < 5; k++) {
		unsigned id = 0;
		if (bpf_map_lookup_elem(fd, &k, &id)) {
			printf("%s[%u]: %s\n", outer, k, strerror(errno));
			continue;
		}
		const char *name = "unknown map";
		for (unsigned i = 0; i < 4; i++)
			if (id_of(fd_of(inner_names[i])) == id)
				name = inner_names[i];
		printf("%s[%u]: %s\n", outer, k, name);
	}
}

static void print_inner(void)
{
	for (unsigned i = 0; i < 4; i++) {
		int fd = fd_of(inner_names[i]);
		unsigned key, next, *prev = NULL;
		/* hash order differs between implementations: print keys in order */
		unsigned long long vals[16] = { 0 };
		int have[16] = { 0 };
		while (bpf_map_get_next_key(fd, prev, &next) == 0) {
			key = next;
			prev = &key;
			unsigned long long v = 0;
			if (key < 16 && bpf_map_lookup_elem(fd, &key, &v) == 0) {
				vals[key] = v;
				have[key] = 1;
			}
		}
		printf("%s:", inner_names[i]);
		for (unsigned k = 0; k < 16; k++)
			if (have[k] && (vals[k] || i >= 2))
				printf(" %u=%llu", k, vals[k]);
		printf("\n");
	}
	int fd = fd_of("misses");
	for (unsigned k = 0; k < 2; k++) {
		unsigned long long v = 0;
		bpf_map_lookup_elem(fd, &k, &v);
		printf("misses[%u] = %llu\n", k, v);
	}
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
	if (getenv("MOM_LIVE"))
		start_live();
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		printf("load failed: %s\n", strerror(errno));
		return 1;
	}
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = "tc_target");
	struct bpf_link *link =
		bpf_program__attach_uprobe_opts(bpf_object__find_program_by_name(obj, "probe"), -1, victim, 0, &uo);
	if (!link) {
		printf("attach failed: %s\n", strerror(errno));
		return 1;
	}
	print_slots("outer_arr");
	print_slots("outer_hash");
	if (getenv("MOM_PAUSE")) {
		printf("paused\n");
		char line[16];
		if (!fgets(line, sizeof(line), stdin))
			return 0;
	}
	const char *ops1[] = { "0:1", "0:1", "0:6", "1:2", "1:2", "2:3", "3:3", "3:9", "3:9", "3:9", "4:0" };
	run_victim(ops1, 11);
	print_inner();

	/* From user space: arr_a leaves slot 0 for slot 1, hash_b replaces hash_a in slot 1. */
	unsigned k0 = 0, k1 = 1, k3 = 3;
	int a = fd_of("arr_a"), hb = fd_of("hash_b");
	printf("delete outer_arr[0]: %d\n", bpf_map_delete_elem(fd_of("outer_arr"), &k0) ? -errno : 0);
	printf("arr_a into outer_arr[1]: %d\n", bpf_map_update_elem(fd_of("outer_arr"), &k1, &a, BPF_ANY) ? -errno : 0);
	printf("hash_b into outer_hash[1]: %d\n", bpf_map_update_elem(fd_of("outer_hash"), &k1, &hb, BPF_EXIST) ? -errno : 0);
	printf("delete outer_hash[3]: %d\n", bpf_map_delete_elem(fd_of("outer_hash"), &k3) ? -errno : 0);
	print_slots("outer_arr");
	print_slots("outer_hash");
	const char *ops2[] = { "0:0", "1:0", "1:5", "3:1" };
	run_victim(ops2, 4);
	print_inner();
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
