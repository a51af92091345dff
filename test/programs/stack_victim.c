// Victim for the user stack tests (test/e2e/bpftrace-stack.test.ts): compiled with frame
// pointers (-O0 -fno-omit-frame-pointer), so the kernel's frame-pointer walk and ours see the
// whole chain. Commands on stdin, one per line:
//   call N   calls outer() -> middle() -> leaf() N times
//   spin MS  burns CPU in spin_hot() (called from spin_outer()) for MS milliseconds
// and answers "done <command>" after each.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

__attribute__((noinline)) int leaf(int x) { return x * 3 + 1; }
__attribute__((noinline)) int middle(int x) { return leaf(x) + 1; }
__attribute__((noinline)) int outer(int x) { return middle(x) + 2; }

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

volatile unsigned long sink;

__attribute__((noinline)) void spin_hot(double until)
{
	while (now_ms() < until)
		for (int i = 0; i < 100000; i++)
			sink += (unsigned long)i * i;
}

__attribute__((noinline)) void spin_outer(double ms) { spin_hot(now_ms() + ms); }

int main(void)
{
	printf("ready pid=%d\n", getpid());
	fflush(stdout);
	char line[128];
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = 0;
		int s = 0;
		if (!strncmp(line, "call ", 5))
			for (int i = 0, n = atoi(line + 5); i < n; i++)
				s += outer(i);
		else if (!strncmp(line, "spin ", 5))
			spin_outer(atof(line + 5));
		printf("done %s %d\n", line, s);
		fflush(stdout);
	}
	return 0;
}
