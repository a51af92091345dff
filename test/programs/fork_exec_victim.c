// fork_exec_victim: a process family for `bpftime start` (and --no-follow) tests. Calls tick()
// 100 times; a forked child (no exec) calls it 200 times; another child execs this binary with
// "exec", which calls it 300 times. Prints "parent=P fork=F exec=E" once all are done.
// A uprobe on tick (in this binary) counts per pid what each process ran.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

__attribute__((noinline)) int tick(int n)
{
	__asm__ volatile("" ::: "memory");
	return n + 1;
}

static void ticks(int n)
{
	for (int i = 0; i < n; i++)
		tick(i);
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "exec")) {
		ticks(300);
		return 0;
	}
	ticks(100);
	pid_t f = fork();
	if (f == 0) {
		ticks(200);
		_exit(0);
	}
	int st;
	waitpid(f, &st, 0);
	pid_t e = fork();
	if (e == 0) {
		execl("/proc/self/exe", argv[0], "exec", (char *)NULL);
		_exit(127);
	}
	waitpid(e, &st, 0);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 1;
	printf("parent=%d fork=%d exec=%d\n", getpid(), f, e);
	return 0;
}
