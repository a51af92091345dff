// SPDX-License-Identifier: GPL-2.0
// ringbuf: print every malloc() of processes as it happens, through a BPF ring buffer.
//   ringbuf -p PID [-p PID...] [-d SECS] [-q]     these processes
//   ringbuf -a [-d SECS] [-q]                     every process
// Prints one line per call: "pid=<pid> tid=<tid> size=<n> comm=<comm>" (not with -q), and at
// exit "events=<n> dropped=<n> rate=<events/s>".
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
#include "ringbuf.h"
#include "ringbuf.skel.h"

static unsigned long long n_events;
static int quiet;


static int on_event(void *ctx, void *data, size_t size)
{
	const struct event *e = data;
	(void)ctx;
	if (size < sizeof(*e))
		return 0;
	n_events++;
	if (!quiet) {
		printf("pid=%u tid=%u size=%llu comm=%s\n", e->pid, e->tid, e->size, e->comm);
		fflush(stdout);
	}
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: ringbuf -p PID | -a  [-d SECS] [-q]\n");
	return 2;
}

int main(int argc, char **argv)
{
	int pids[16], npids = 0, all = 0, opt;
	double duration = 0;
	char libc[PATH_MAX];
	while ((opt = getopt(argc, argv, "p:ad:q")) != -1) {
		if (opt == 'p' && npids < 16 && atoi(optarg) > 0)
			pids[npids++] = atoi(optarg);
		else if (opt == 'a')
			all = 1;
		else if (opt == 'd')
			duration = atof(optarg);
		else if (opt == 'q')
			quiet = 1;
		else
			return usage();
	}
	if (all == (npids > 0) || find_libc(libc, sizeof(libc)) < 0)
		return usage();
	if (all)
		pids[npids++] = -1;
	struct ringbuf_bpf *skel = ringbuf_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "ringbuf: failed to load the BPF program: %s\n", strerror(errno));
		return 1;
	}
	LIBBPF_OPTS(bpf_uprobe_opts, uopts, .func_name = "malloc");
	struct bpf_link *links[16];
	for (int i = 0; i < npids; i++) {
		links[i] = bpf_program__attach_uprobe_opts(skel->progs.on_malloc, pids[i], libc, 0, &uopts);
		if (!links[i]) {
			fprintf(stderr, "ringbuf: failed to attach to malloc: %s\n", strerror(errno));
			return 1;
		}
	}
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
	if (!rb) {
		fprintf(stderr, "ringbuf: failed to open the ring buffer: %s\n", strerror(errno));
		return 1;
	}
	exit_on_signals();
	if (!all)
		printf("Tracing malloc of pid %d%s through a ring buffer. Hit Ctrl-C to end.\n", pids[0],
		       npids > 1 ? " and others" : "");
	else
		printf("Tracing malloc of every process through a ring buffer. Hit Ctrl-C to end.\n");
	fflush(stdout);
	double start = now_s(), end = duration > 0 ? start + duration : 0, first = 0, last = 0;
	while (!exiting && (!end || now_s() < end)) {
		unsigned long long before = n_events;
		int err = ring_buffer__poll(rb, 100);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "ringbuf: polling the ring buffer failed: %s\n", strerror(-err));
			break;
		}
		if (n_events != before) {
			last = now_s();
			if (!first)
				first = last;
		}
	}
	ring_buffer__consume(rb); /* whatever arrived since the last poll */
	double span = last > first ? last - first : 0;
	printf("events=%llu dropped=%llu rate=%.0f\n", n_events, (unsigned long long)skel->bss->dropped,
	       span > 0 ? n_events / span : 0.0);
	ring_buffer__free(rb);
	for (int i = 0; i < npids; i++)
		bpf_link__destroy(links[i]);
	ringbuf_bpf__destroy(skel);
	return 0;
}
