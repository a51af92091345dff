// SPDX-License-Identifier: GPL-2.0
// uprobe_victim: times N calls of an empty function, the target of a uprobe.
//
//   uprobe_victim N [bench_target|bench_target_sub]
//
// Prints "ready pid=<pid>", waits for a line (or EOF) on stdin so that a tracer
// can attach first, makes WARMUP untimed calls, then N timed ones, and prints
//   target=<FUNC> calls=<WARMUP+N> n=<N> total_ns=<ns> ns_per_call=<ns>
// "calls" is what a tracer counting FUNC should have seen.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 1000ULL

/* Two empty functions with the two usual x86-64 prologues. They are written in
 * assembly because at -O2 the C compiler shrinks an empty function to a lone
 * one-byte `ret`, which no jump-based hook can patch without spilling into
 * whatever follows; real functions have a prologue. Being assembly they can't
 * be inlined, and every loop iteration is a real call of a global symbol.
 *
 * The prologue matters to the kernel: it emulates a probed `push %rbp` but has
 * to single-step most other first instructions, such as `sub $8, %rsp`, which
 * costs several times more per hit. */
__asm__(".text\n"
	".globl bench_target\n"
	".type bench_target, @function\n"
	"bench_target:\n"
	"\tpush %rbp\n"
	"\tmov %rsp, %rbp\n"
	"\tpop %rbp\n"
	"\tret\n"
	".size bench_target, .-bench_target\n"
	".globl bench_target_sub\n"
	".type bench_target_sub, @function\n"
	"bench_target_sub:\n"
	"\tsub $8, %rsp\n"
	"\tadd $8, %rsp\n"
	"\tret\n"
	".size bench_target_sub, .-bench_target_sub\n");
void bench_target(void);
void bench_target_sub(void);

/* The thread's CPU time (user and kernel: a kernel probe's trap, a syscall and its tracepoint all
 * run on this thread), not the wall clock: time spent waiting for a CPU while other processes run
 * on a busy machine does not count, and the figures stop moving with the machine's load. */
static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ULL + (unsigned long long)ts.tv_nsec;
}

/* One loop per target: a direct call, as in real code. */
#define CALLS(fn, count) do { for (unsigned long long i_ = 0; i_ < (count); i_++) fn(); } while (0)

int main(int argc, char **argv)
{
	unsigned long long n, t0, t1;
	const char *target = argc > 2 ? argv[2] : "bench_target";
	int sub = !strcmp(target, "bench_target_sub");
	char *end, c;

	if (argc < 2 || argc > 3 || (n = strtoull(argv[1], &end, 10), *end) || n == 0 ||
	    (!sub && strcmp(target, "bench_target"))) {
		fprintf(stderr, "usage: uprobe_victim N [bench_target|bench_target_sub]   (N > 0 timed calls)\n");
		return 2;
	}
	printf("ready pid=%d\n", (int)getpid());
	fflush(stdout);

	/* Start trigger: the rest of a line, or EOF when nobody drives us. */
	while (read(STDIN_FILENO, &c, 1) == 1 && c != '\n')
		;

	if (sub) {
		CALLS(bench_target_sub, WARMUP);
		t0 = now_ns();
		CALLS(bench_target_sub, n);
		t1 = now_ns();
	} else {
		CALLS(bench_target, WARMUP);
		t0 = now_ns();
		CALLS(bench_target, n);
		t1 = now_ns();
	}

	printf("target=%s calls=%llu n=%llu total_ns=%llu ns_per_call=%.3f\n",
	       target, WARMUP + n, n, t1 - t0, (double)(t1 - t0) / (double)n);
	fflush(stdout);
	return 0;
}
