// Victim for test/e2e/perf-first.test.ts: prints "ready pid=<pid>", then calls fire(n) once for
// the n-th SIGUSR1 it receives (taken with sigwaitinfo, so fire runs on the main thread).
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

__attribute__((noinline)) int fire(int seq)
{
	__asm__ volatile("" ::: "memory");
	return seq;
}

int main(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	printf("ready pid=%d\n", getpid());
	fflush(stdout);
	for (int n = 1;; n++) {
		if (sigwaitinfo(&set, NULL) < 0)
			return 1;
		fire(n);
		printf("fired %d\n", n);
		fflush(stdout);
	}
}
