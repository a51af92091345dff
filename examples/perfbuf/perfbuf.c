// SPDX-License-Identifier: GPL-2.0
// perfbuf: print every malloc() of a process as it happens, through a perf buffer.
//   perfbuf -p PID [-d SECS]
// Prints one line per call: "pid=<pid> tid=<tid> size=<n> comm=<comm>", and at exit
// "events=<n> lost=<n>".
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include "example_util.h"
#include "perfbuf.h"
#include "perfbuf.skel.h"

static unsigned long long n_events, n_lost;


static void on_sample(void *ctx, int cpu, void *data, __u32 size)
{
	const struct event *e = data;
	(void)ctx;
	(void)cpu;
	if (size < sizeof(*e))
		return;
	n_events++;
	printf("pid=%u tid=%u size=%llu comm=%s\n", e->pid, e->tid, e->size, e->comm);
	fflush(stdout);
}

static void on_lost(void *ctx, int cpu, __u64 cnt)
{
	(void)ctx;
	fprintf(stderr, "perfbuf: lost %llu events on CPU %d\n", (unsigned long long)cnt, cpu);
	n_lost += cnt;
}

int main(int argc, char **argv)
{
	int pid = -1, opt;
	double duration = 0;
	char libc[PATH_MAX];
	while ((opt = getopt(argc, argv, "p:d:")) != -1) {
		if (opt == 'p')
			pid = atoi(optarg);
		else if (opt == 'd')
			duration = atof(optarg);
		else {
			fprintf(stderr, "usage: perfbuf -p PID [-d SECS]\n");
			return 2;
		}
	}
	if (pid <= 0 || find_libc(libc, sizeof(libc)) < 0) {
		fprintf(stderr, "usage: perfbuf -p PID [-d SECS]\n");
		return 2;
	}
	struct perfbuf_bpf *skel = perfbuf_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "perfbuf: failed to load the BPF program: %s\n", strerror(errno));
		return 1;
	}
	LIBBPF_OPTS(bpf_uprobe_opts, uopts, .func_name = "malloc");
	skel->links.on_malloc = bpf_program__attach_uprobe_opts(skel->progs.on_malloc, pid, libc, 0, &uopts);
	if (!skel->links.on_malloc) {
		fprintf(stderr, "perfbuf: failed to attach to malloc for pid %d: %s\n", pid, strerror(errno));
		return 1;
	}
	struct perf_buffer *pb = perf_buffer__new(bpf_map__fd(skel->maps.events), 8, on_sample, on_lost, NULL, NULL);
	if (!pb) {
		fprintf(stderr, "perfbuf: failed to open the perf buffer: %s\n", strerror(errno));
		return 1;
	}
	exit_on_signals();
	printf("Tracing malloc of pid %d through a perf buffer. Hit Ctrl-C to end.\n", pid);
	fflush(stdout);
	double end = duration > 0 ? now_s() + duration : 0;
	while (!exiting && (!end || now_s() < end)) {
		int err = perf_buffer__poll(pb, 100);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "perfbuf: polling the perf buffer failed: %s\n", strerror(-err));
			break;
		}
	}
	printf("events=%llu lost=%llu\n", n_events, n_lost);
	perf_buffer__free(pb);
	perfbuf_bpf__destroy(skel);
	return 0;
}
