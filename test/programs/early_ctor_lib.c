// early_ctor_lib: a library whose constructor runs before the agent's (a program's libraries are
// initialised before a preloaded one) and does what the agent's LD_AUDIT stage must survive while
// it records: a signal mask change (emulated on the handler's frame), a signal handler (its
// rt_sigreturn ends the recording) and a fork. Used by early_ctor_victim.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t got;
static void on_usr2(int s) { got = s; }

__attribute__((constructor)) static void early_ctor(void)
{
	sigset_t set, cur;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigprocmask(SIG_BLOCK, NULL, &cur);
	printf("ctor: SIGUSR1 blocked=%d\n", sigismember(&cur, SIGUSR1));
	signal(SIGUSR2, on_usr2);
	raise(SIGUSR2);
	printf("ctor: handler ran=%d\n", got == SIGUSR2);
	pid_t p = fork();
	if (p == 0)
		syscall(SYS_exit, 7); /* exit, not exit_group: the tests wait for the process's exit_group */
	int st = 0;
	waitpid(p, &st, 0);
	printf("ctor: child exit=%d\n", WEXITSTATUS(st));
	fflush(stdout);
}

int early_ctor_lib_ready(void) { return got == SIGUSR2; }
