// SPDX-License-Identifier: GPL-2.0
// errinject: make FUNC in BINARY fail: each call (or every Nth) returns ERRVAL at once, its
// body never runs. A uprobe on the function's entry calls bpf_override_return.
//
//   errinject -b BINARY -f FUNC [-e ERRVAL] [-n N] [-p PID] [-i SECS] [-d SECS]
//
// Prints "calls=<seen> injected=<failed>" every interval. On a kernel, bpf_override_return is
// only allowed on kprobes of kernel functions marked for error injection, so the attach fails
// (EINVAL); under bpftime it works at the entry of any user-space function.
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>
#include "example_util.h"
#include "errinject.skel.h"



static void usage(FILE *f)
{
	fprintf(f,
		"usage: errinject -b BINARY -f FUNC [-e ERRVAL] [-n N] [-p PID] [-i SECS] [-d SECS]\n"
		"Make FUNC in BINARY return ERRVAL without running it (bpf_override_return).\n"
		"  -b BINARY  executable or library holding FUNC\n"
		"  -f FUNC    the function (its entry is probed)\n"
		"  -e ERRVAL  value it returns (default: -5, -EIO)\n"
		"  -n N       only every Nth call (default: 1, every call)\n"
		"  -p PID     only this process (default: all)\n"
		"  -i SECS    print interval (default: 1)\n"
		"  -d SECS    stop after SECS (default: until Ctrl-C)\n");
}

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list args)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, args) : 0;
}

static void sleep_secs(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	const char *binary = NULL, *func = NULL;
	long errval = -5;
	unsigned long every = 1;
	int pid = 0, opt;
	double interval = 1, duration = 0;

	while ((opt = getopt(argc, argv, "b:f:e:n:p:i:d:h")) != -1) {
		switch (opt) {
		case 'b': binary = optarg; break;
		case 'f': func = optarg; break;
		case 'e': errval = strtol(optarg, NULL, 0); break;
		case 'n': every = strtoul(optarg, NULL, 0); break;
		case 'p': pid = atoi(optarg); break;
		case 'i': interval = atof(optarg); break;
		case 'd': duration = atof(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!binary || !func || every == 0 || interval <= 0) {
		usage(stderr);
		return 2;
	}
	libbpf_set_print(libbpf_quiet);

	struct errinject_bpf *skel = errinject_bpf__open();
	if (!skel) {
		fprintf(stderr, "errinject: cannot open the BPF object: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->errval = errval;
	skel->rodata->every = (__u32)every;
	skel->rodata->target_tgid = (__u32)pid;
	int err = errinject_bpf__load(skel);
	if (err) {
		fprintf(stderr, "errinject: cannot load the program: %s%s\n", strerror(-err),
			err == -EINVAL ? " (a kernel offers bpf_override_return to kprobes only, with "
					 "CONFIG_BPF_KPROBE_OVERRIDE; run this tool under bpftime to inject into user functions)"
				       : "");
		goto out;
	}
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = func);
	skel->links.inject = bpf_program__attach_uprobe_opts(skel->progs.inject, pid ? pid : -1, binary, 0, &uo);
	if (!skel->links.inject) {
		err = -errno;
		fprintf(stderr, "errinject: cannot attach to %s in %s: %s%s\n", func, binary, strerror(-err),
			err == -EINVAL ? " (a kernel allows bpf_override_return only on kprobes of functions marked for "
					 "error injection; run this tool under bpftime to inject into user functions)"
				       : "");
		goto out;
	}
	printf("Injecting %ld into %s in %s%s\n", errval, func, binary, every > 1 ? " (every Nth call)" : "");
	fflush(stdout);

	exit_on_signals();
	double elapsed = 0;
	while (!exiting && (duration == 0 || elapsed < duration)) {
		sleep_secs(interval);
		elapsed += interval;
		printf("calls=%llu injected=%llu\n", (unsigned long long)skel->bss->calls,
		       (unsigned long long)skel->bss->injected);
		fflush(stdout);
	}
out:
	errinject_bpf__destroy(skel);
	return err ? 1 : 0;
}
