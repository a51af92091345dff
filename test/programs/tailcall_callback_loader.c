// A libbpf loader for tailcall_callback.bpf.c: loads it (libbpf fills the prog array from its
// `.values`), puts three elements in the hash map, attaches the dispatcher at tc_target() of the
// victim (tailcall_victim.c), runs the victim with ops 0, 1 and 2 (directly, or through a
// launcher such as `bpftime start`) and prints everything the programs recorded. A failed load
// prints the verifier's verdict (the last line of its log but the statistics).
//
// usage: tailcall_callback_loader OBJ VICTIM [LAUNCHER ARGS...]
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
	"runs", "arr_cb", "arr_fall", "arr_ret", "leaf", "stop_cb", "stop_ret", "stopper",
	"hash_cb", "hash_fall", "hash_ret", "chain", "chain_fall",
};
#define NRES (sizeof(result_names) / sizeof(result_names[0]))

/* The kernel's verifier log of a failed load, so the test can say why the kernel refused it. */
static char log_buf[1 << 20];

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s OBJ VICTIM [LAUNCHER ARGS...]\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	LIBBPF_OPTS(bpf_object_open_opts, oo, .kernel_log_buf = log_buf, .kernel_log_size = sizeof(log_buf), .kernel_log_level = 1);
	struct bpf_object *obj = bpf_object__open_file(argv[1], &oo);
	if (!obj || bpf_object__load(obj)) {
		int err = errno;
		/* The verdict: the log's last line but the statistics after it. */
		const char *last = "", *stats[] = { "processed ", "verification time", "stack depth" };
		for (const char *l = log_buf; *l; l += strcspn(l, "\n") + (l[strcspn(l, "\n")] != 0)) {
			int stat = l[0] == '\n';
			for (unsigned k = 0; k < 3; k++)
				stat |= strncmp(l, stats[k], strlen(stats[k])) == 0;
			if (!stat)
				last = l;
		}
		printf("load failed: %s: %.*s\n", strerror(err), (int)strcspn(last, "\n"), last);
		return 1;
	}
	int hfd = bpf_object__find_map_fd_by_name(obj, "hash");
	for (unsigned k = 1; k <= 3; k++) {
		unsigned long long v = k * 100;
		if (bpf_map_update_elem(hfd, &k, &v, BPF_ANY)) {
			printf("filling the hash map failed: %s\n", strerror(errno));
			return 1;
		}
	}
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = "tc_target");
	struct bpf_link *link =
		bpf_program__attach_uprobe_opts(bpf_object__find_program_by_name(obj, "dispatch"), -1, argv[2], 0, &uo);
	if (!link) {
		printf("attach failed: %s\n", strerror(errno));
		return 1;
	}
	const char *ops[] = { "0:0", "1:0", "2:0" };
	run_victim_with(argv + 3, argc - 3, argv[2], ops, 3);
	int rfd = bpf_object__find_map_fd_by_name(obj, "results");
	for (unsigned k = 0; k < NRES; k++) {
		long long v = 0;
		if (bpf_map_lookup_elem(rfd, &k, &v))
			printf("%s: error %d\n", result_names[k], errno);
		else
			printf("%s: %lld\n", result_names[k], v);
	}
	bpf_link__destroy(link);
	bpf_object__close(obj);
	return 0;
}
