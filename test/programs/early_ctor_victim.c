// early_ctor_victim: main of the early_ctor_lib test (see there); prints what main sees.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int early_ctor_lib_ready(void);

int main(void)
{
	getppid(); /* the marker of main's start */
	sigset_t cur;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	printf("main: SIGUSR1 blocked=%d ready=%d\n", sigismember(&cur, SIGUSR1), early_ctor_lib_ready());
	return 0;
}
