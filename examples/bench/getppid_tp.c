// SPDX-License-Identifier: GPL-2.0
// getppid_tp: counts one process's getppid() calls with a program on the
// syscalls:sys_enter_getppid tracepoint (getppid_tp.bpf.c).
//
//   getppid_tp -p PID [-i SECS]
//
// Prints "Tracing ...", then every interval "pid=<PID> count=<calls>" and "--" (the format of
// examples/malloc) until SIGINT/SIGTERM.
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
#include "getppid_tp.skel.h"



static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_DEBUG ? 0 : vfprintf(stderr, fmt, ap);
}

int main(int argc, char **argv)
{
	long pid = 0;
	double interval = 1;
	struct getppid_tp_bpf *skel;
	char *end;
	int c, err;

	while ((c = getopt(argc, argv, "p:i:h")) != -1) {
		switch (c) {
		case 'p': pid = strtol(optarg, &end, 10); if (*end || pid <= 0) pid = 0; break;
		case 'i': interval = strtod(optarg, &end); if (*end || !(interval > 0)) interval = 0; break;
		default:
			fprintf(c == 'h' ? stdout : stderr, "usage: getppid_tp -p PID [-i SECS]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	if (!pid || !interval) {
		fprintf(stderr, "usage: getppid_tp -p PID [-i SECS]\n");
		return 2;
	}
	libbpf_set_print(libbpf_print);

	skel = getppid_tp_bpf__open();
	if (!skel) {
		fprintf(stderr, "getppid_tp: open failed: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->target_tgid = (__u32)pid;
	err = getppid_tp_bpf__load(skel);
	if (!err)
		err = getppid_tp_bpf__attach(skel);
	if (err) {
		fprintf(stderr, "getppid_tp: load/attach failed: %s\n", strerror(-err));
		getppid_tp_bpf__destroy(skel);
		return 1;
	}

	exit_on_signals();

	printf("Tracing getppid() of pid %ld... Hit Ctrl-C to end.\n", pid);
	fflush(stdout);
	while (!exiting) {
		struct timespec ts = { (time_t)interval, (long)((interval - (double)(time_t)interval) * 1e9) };
		nanosleep(&ts, NULL);
		printf("pid=%ld count=%llu\n--\n", pid, (unsigned long long)*(volatile __u64 *)&skel->bss->hits);
		fflush(stdout);
	}
	getppid_tp_bpf__destroy(skel);
	return 0;
}
