// SPDX-License-Identifier: GPL-2.0
// uprobe_victim: times N calls of an empty function, the target of a uprobe.
//
//   uprobe_victim N
//
// Prints "ready pid=<pid>", waits for a line (or EOF) on stdin so that a tracer
// can attach first, makes WARMUP untimed calls, then N timed ones, and prints
//   calls=<WARMUP+N> n=<N> total_ns=<ns> ns_per_call=<ns>
// "calls" is what a tracer counting bench_target should have seen.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 1000ULL

/* An empty function with the usual frame-pointer prologue. It is written in
 * assembly because at -O2 the C compiler shrinks an empty function to a lone
 * one-byte `ret`, which no jump-based hook can patch without spilling into
 * whatever follows; real functions have a prologue. Being assembly it can't be
 * inlined, and every loop iteration is a real call of a global symbol. */
__asm__(".text\n"
	".globl bench_target\n"
	".type bench_target, @function\n"
	"bench_target:\n"
	"\tpush %rbp\n"
	"\tmov %rsp, %rbp\n"
	"\tpop %rbp\n"
	"\tret\n"
	".size bench_target, .-bench_target\n");
void bench_target(void);

static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	unsigned long long n, t0, t1;
	char *end, c;

	if (argc != 2 || (n = strtoull(argv[1], &end, 10), *end) || n == 0) {
		fprintf(stderr, "usage: uprobe_victim N   (N > 0 timed calls)\n");
		return 2;
	}
	printf("ready pid=%d\n", (int)getpid());
	fflush(stdout);

	/* Start trigger: the rest of a line, or EOF when nobody drives us. */
	while (read(STDIN_FILENO, &c, 1) == 1 && c != '\n')
		;

	for (unsigned long long i = 0; i < WARMUP; i++)
		bench_target();
	t0 = now_ns();
	for (unsigned long long i = 0; i < n; i++)
		bench_target();
	t1 = now_ns();

	printf("calls=%llu n=%llu total_ns=%llu ns_per_call=%.3f\n",
	       WARMUP + n, n, t1 - t0, (double)(t1 - t0) / (double)n);
	fflush(stdout);
	return 0;
}
