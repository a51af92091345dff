// SPDX-License-Identifier: GPL-2.0
// malloc: count calls of a user-space function per process with a uprobe.
//
//   malloc [-b BINARY] [-f FUNC] [-p PID] [-i SECS] [-d SECS] [-v]
//
// Every interval it prints the cumulative count of every process seen, sorted
// by pid, as "pid=<pid> count=<n>" lines closed by "--".
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include "example_util.h"
#include "malloc.skel.h"

struct opts {
	const char *binary; /* NULL: the libc this tool runs with */
	const char *func;
	int pid;            /* -1: every process */
	double interval;
	double duration;    /* 0: until Ctrl-C */
	int verbose;
	int retprobe;       /* count returns (uretprobe) instead of calls */
};

struct entry {
	__u32 pid;
	__u64 count;
};



static void usage(FILE *f)
{
	fprintf(f,
		"usage: malloc [-b BINARY] [-f FUNC] [-p PID] [-i SECS] [-d SECS] [-r] [-v]\n"
		"Count calls of FUNC in BINARY per process with a uprobe.\n"
		"  -b BINARY  binary or library to probe (default: the libc in use)\n"
		"  -f FUNC    function to count (default: malloc)\n"
		"  -p PID     only this process (default: all)\n"
		"  -i SECS    print interval (default: 1)\n"
		"  -d SECS    stop after SECS (default: 0, until Ctrl-C)\n"
		"  -r         count returns (uretprobe) instead of calls\n"
		"  -v         show libbpf's debug output\n");
}

static int verbose_libbpf;

// libbpf's warnings explain most failures; its debug chatter only with -v.
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_DEBUG && !verbose_libbpf)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	int c;
	char *end;

	while ((c = getopt(argc, argv, "b:f:p:i:d:rvh")) != -1) {
		switch (c) {
		case 'b': o->binary = optarg; break;
		case 'f': o->func = optarg; break;
		case 'p':
			errno = 0;
			o->pid = (int)strtol(optarg, &end, 10);
			if (errno || *end || o->pid < -1 || o->pid == 0) {
				fprintf(stderr, "malloc: invalid pid '%s' (a process id, or -1 for all)\n", optarg);
				return -1;
			}
			break;
		case 'i':
			o->interval = strtod(optarg, &end);
			if (*end || !(o->interval > 0)) {
				fprintf(stderr, "malloc: invalid interval '%s' (seconds > 0)\n", optarg);
				return -1;
			}
			break;
		case 'd':
			o->duration = strtod(optarg, &end);
			if (*end || o->duration < 0) {
				fprintf(stderr, "malloc: invalid duration '%s' (seconds, 0 = until Ctrl-C)\n", optarg);
				return -1;
			}
			break;
		case 'r': o->retprobe = 1; break;
		case 'v': o->verbose = 1; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "malloc: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	return 0;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

// One block: every pid in the map, sorted, then "--".
static int print_counts(struct bpf_map *map, struct entry *ents, size_t cap)
{
	__u32 key, next, *cur = NULL;
	size_t n = 0;
	int err;

	while (n < cap && (err = bpf_map__get_next_key(map, cur, &next, sizeof(next))) == 0) {
		__u64 val;

		/* A key deleted between the two calls is simply skipped. */
		if (bpf_map__lookup_elem(map, &next, sizeof(next), &val, sizeof(val), 0) == 0) {
			ents[n].pid = next;
			ents[n].count = val;
			n++;
		}
		key = next;
		cur = &key;
	}
	if (n < cap && err != -ENOENT) {
		char msg[128];
		libbpf_strerror(err, msg, sizeof(msg));
		fprintf(stderr, "malloc: reading the counts map failed: %s\n", msg);
		return err;
	}
	qsort(ents, n, sizeof(*ents), cmp_entry);
	for (size_t i = 0; i < n; i++)
		printf("pid=%u count=%llu\n", ents[i].pid, (unsigned long long)ents[i].count);
	printf("--\n");
	fflush(stdout);
	return 0;
}

// Sleep until the monotonic time `t` or a signal.
static void sleep_until(double t)
{
	struct timespec ts = { .tv_sec = (time_t)t };
	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	while (!exiting && clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static void explain_errno(int err)
{
	if (err == -EPERM || err == -EACCES)
		fprintf(stderr, "  hint: kernel BPF needs root (CAP_BPF and CAP_PERFMON); "
				"without root, run the tool under bpftime: "
				"node bin/bpftime.js load examples/malloc/malloc ...\n");
}

int main(int argc, char **argv)
{
	struct opts o = { .func = "malloc", .pid = -1, .interval = 1, .duration = 0 };
	char libc[PATH_MAX], msg[128];
	struct malloc_bpf *skel;
	struct bpf_link *link;
	struct entry *ents;
	size_t cap;
	double start, next, deadline;
	int err;

	if (parse_args(argc, argv, &o))
		return 2;
	verbose_libbpf = o.verbose;
	libbpf_set_print(libbpf_print);

	if (!o.binary) {
		err = find_libc(libc, sizeof(libc));
		if (err) {
			fprintf(stderr, "malloc: cannot find the C library in /proc/self/maps; "
					"name the binary to probe with -b PATH\n");
			return 1;
		}
		o.binary = libc;
	}
	if (access(o.binary, R_OK)) {
		fprintf(stderr, "malloc: cannot read %s: %s; check the -b path\n", o.binary, strerror(errno));
		return 1;
	}

	skel = malloc_bpf__open_and_load();
	if (!skel) {
		err = -errno;
		libbpf_strerror(err, msg, sizeof(msg));
		fprintf(stderr, "malloc: failed to load the BPF program: %s\n", msg);
		explain_errno(err);
		return 1;
	}

	LIBBPF_OPTS(bpf_uprobe_opts, uopts, .func_name = o.func, .retprobe = o.retprobe);
	link = bpf_program__attach_uprobe_opts(skel->progs.count_calls, o.pid, o.binary, 0, &uopts);
	if (!link) {
		err = -errno;
		libbpf_strerror(err, msg, sizeof(msg));
		fprintf(stderr, "malloc: failed to attach a uprobe to %s in %s: %s\n", o.func, o.binary, msg);
		if (err == -ESRCH)
			fprintf(stderr, "  hint: no process %d is running; check the -p pid\n", o.pid);
		else if (err == -ENOENT)
			fprintf(stderr, "  hint: is '%s' a function symbol of %s? (nm -D %s | grep -w %s)\n",
				o.func, o.binary, o.binary, o.func);
		explain_errno(err);
		malloc_bpf__destroy(skel);
		return 1;
	}
	skel->links.count_calls = link; /* destroyed with the skeleton */

	cap = bpf_map__max_entries(skel->maps.counts);
	ents = calloc(cap, sizeof(*ents));
	if (!ents) {
		fprintf(stderr, "malloc: out of memory\n");
		malloc_bpf__destroy(skel);
		return 1;
	}

	exit_on_signals();

	printf("Tracing %s%s in %s... Hit Ctrl-C to end.\n", o.retprobe ? "returns of " : "", o.func, o.binary);
	fflush(stdout);

	start = next = now_s();
	deadline = o.duration > 0 ? start + o.duration : 0;
	err = 0;
	while (!exiting && !err) {
		double wake;

		next += o.interval;
		wake = deadline && deadline < next ? deadline : next;
		sleep_until(wake);
		err = print_counts(skel->maps.counts, ents, cap);
		if (deadline && now_s() >= deadline)
			break;
	}

	free(ents);
	malloc_bpf__destroy(skel);
	return err ? 1 : 0;
}
