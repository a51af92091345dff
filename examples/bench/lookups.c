// SPDX-License-Identifier: GPL-2.0
// lookups: attaches a uprobe whose program makes N map lookups per hit (lookups.bpf.c).
//
//   lookups -b BINARY -f FUNC -p PID [-m hash|array] [-n N] [-i SECS]
//
// Prints "Tracing ...", then every interval the program's cumulative hit count as
// "pid=<PID> count=<hits>" and "--", the format of examples/malloc, until SIGINT/SIGTERM.
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include "example_util.h"
#include "lookups.skel.h"

#define NKEYS 64 /* as in lookups.bpf.c */



static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_DEBUG ? 0 : vfprintf(stderr, fmt, ap);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: lookups -b BINARY -f FUNC -p PID [-m hash|array] [-n N] [-i SECS]\n");
}

int main(int argc, char **argv)
{
	const char *binary = NULL, *func = NULL, *kind = "hash";
	long pid = 0, n = 0;
	double interval = 1;
	struct lookups_bpf *skel;
	struct bpf_program *prog;
	char *end;
	int c, err;

	while ((c = getopt(argc, argv, "b:f:p:m:n:i:h")) != -1) {
		switch (c) {
		case 'b': binary = optarg; break;
		case 'f': func = optarg; break;
		case 'p': pid = strtol(optarg, &end, 10); if (*end || pid <= 0) pid = 0; break;
		case 'm': kind = optarg; break;
		case 'n': n = strtol(optarg, &end, 10); if (*end || n < 0 || n > 1024) n = -1; break;
		case 'i': interval = strtod(optarg, &end); if (*end || !(interval > 0)) interval = 0; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!binary || !func || !pid || n < 0 || !interval || (strcmp(kind, "hash") && strcmp(kind, "array"))) {
		usage(stderr);
		return 2;
	}
	libbpf_set_print(libbpf_print);

	skel = lookups_bpf__open();
	if (!skel) {
		fprintf(stderr, "lookups: open failed: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->nlookups = (__u32)n;
	err = lookups_bpf__load(skel);
	if (err) {
		fprintf(stderr, "lookups: load failed: %s\n", strerror(-err));
		lookups_bpf__destroy(skel);
		return 1;
	}
	/* Both maps hold keys 0..NKEYS-1, so every lookup finds its element. */
	for (__u32 k = 0; k < NKEYS; k++) {
		__u64 v = k;
		if (bpf_map__update_elem(skel->maps.hmap, &k, sizeof(k), &v, sizeof(v), 0) ||
		    bpf_map__update_elem(skel->maps.amap, &k, sizeof(k), &v, sizeof(v), 0)) {
			fprintf(stderr, "lookups: filling the maps failed: %s\n", strerror(errno));
			lookups_bpf__destroy(skel);
			return 1;
		}
	}
	prog = strcmp(kind, "hash") ? skel->progs.lookup_array : skel->progs.lookup_hash;

	LIBBPF_OPTS(bpf_uprobe_opts, uopts, .func_name = func);
	struct bpf_link *link = bpf_program__attach_uprobe_opts(prog, (int)pid, binary, 0, &uopts);
	if (!link) {
		fprintf(stderr, "lookups: attaching to %s in %s failed: %s\n", func, binary, strerror(errno));
		lookups_bpf__destroy(skel);
		return 1;
	}

	exit_on_signals();

	printf("Tracing %s in %s with %ld %s lookups per hit... Hit Ctrl-C to end.\n", func, binary, n, kind);
	fflush(stdout);
	while (!exiting) {
		struct timespec ts = { (time_t)interval, (long)((interval - (double)(time_t)interval) * 1e9) };
		nanosleep(&ts, NULL);
		printf("pid=%ld count=%llu\n--\n", pid, (unsigned long long)*(volatile __u64 *)&skel->bss->hits);
		fflush(stdout);
	}
	bpf_link__destroy(link);
	lookups_bpf__destroy(skel);
	return 0;
}
