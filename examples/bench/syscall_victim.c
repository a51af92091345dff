// SPDX-License-Identifier: GPL-2.0
// syscall_victim: times N getppid() calls, the target of a syscall tracepoint.
//
//   syscall_victim N
//
// The protocol of uprobe_victim: prints "ready pid=<pid>", waits for a line (or EOF) on
// stdin, makes WARMUP untimed calls, then N timed ones, and prints
//   target=getppid calls=<WARMUP+N> n=<N> total_ns=<ns> ns_per_call=<ns>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 1000ULL

/* The thread's CPU time (user and kernel: a kernel probe's trap, a syscall and its tracepoint all
 * run on this thread), not the wall clock: time spent waiting for a CPU while other processes run
 * on a busy machine does not count, and the figures stop moving with the machine's load. */
static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

static void wait_line(void)
{
	char c;
	while (read(STDIN_FILENO, &c, 1) == 1 && c != '\n')
		;
}

int main(int argc, char **argv)
{
	unsigned long long n, t0, t1;
	char *end;

	if (argc != 2 || (n = strtoull(argv[1], &end, 10), *end) || n == 0) {
		fprintf(stderr, "usage: syscall_victim N   (N > 0 timed getppid() calls)\n");
		return 2;
	}
	printf("ready pid=%d\n", (int)getpid());
	fflush(stdout);
	wait_line();

	/* getppid() is never cached by glibc: each call is a syscall instruction. */
	for (unsigned long long i = 0; i < WARMUP; i++)
		getppid();
	t0 = now_ns();
	for (unsigned long long i = 0; i < n; i++)
		getppid();
	t1 = now_ns();

	printf("target=getppid calls=%llu n=%llu total_ns=%llu ns_per_call=%.3f\n",
	       WARMUP + n, n, t1 - t0, (double)(t1 - t0) / (double)n);
	fflush(stdout);
	return 0;
}
