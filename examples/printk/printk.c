// SPDX-License-Identifier: GPL-2.0
// printk: attach a uprobe on libc's malloc in one process; the program prints each call with
// bpf_printk. Read the lines from the trace pipe:
//   printk -p PID            (then: cat /sys/kernel/tracing/trace_pipe)
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include "example_util.h"
#include "printk.skel.h"


int main(int argc, char **argv)
{
	int pid = -1;
	char libc[PATH_MAX];
	if (argc == 3 && !strcmp(argv[1], "-p"))
		pid = atoi(argv[2]);
	if (pid <= 0) {
		fprintf(stderr, "usage: printk -p PID\n");
		return 2;
	}
	if (find_libc(libc, sizeof(libc)) < 0) {
		fprintf(stderr, "printk: cannot find the C library in /proc/self/maps\n");
		return 1;
	}
	struct printk_bpf *skel = printk_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "printk: failed to load the BPF program: %s\n", strerror(errno));
		return 1;
	}
	LIBBPF_OPTS(bpf_uprobe_opts, uopts, .func_name = "malloc");
	skel->links.print_malloc = bpf_program__attach_uprobe_opts(skel->progs.print_malloc, pid, libc, 0, &uopts);
	if (!skel->links.print_malloc) {
		fprintf(stderr, "printk: failed to attach to malloc in %s for pid %d: %s\n", libc, pid, strerror(errno));
		printk_bpf__destroy(skel);
		return 1;
	}
	exit_on_signals();
	printf("Printing malloc calls of pid %d to the trace pipe. Hit Ctrl-C to end.\n", pid);
	fflush(stdout);
	while (!exiting)
		pause();
	printk_bpf__destroy(skel);
	return 0;
}
