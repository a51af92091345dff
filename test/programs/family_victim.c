// family_victim: a process that forks and execs on request, for the tests of what follows a
// process family (test/e2e/process-family.test.ts). Reads commands from stdin, one per line:
//   beat    calls beat(1) and opens /nonexistent/family-marker-parent, prints "beat done"
//   fork    forks a child that, until its parent quits, burns CPU, calls beat(2) and opens
//           /nonexistent/family-marker-child every ~20 ms; prints "child pid=C"
//   exec    execs this binary again (same pid); the new image calls beat(3), opens
//           /nonexistent/family-marker-exec, prints "image pid=P" and reads commands on
//   quit    stops the child (SIGTERM), waits for it and exits 0
// Prints "ready pid=P" when it starts reading. A uprobe on beat and syscall tracepoints on openat
// see which process of the family ran what.
#define _GNU_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

__attribute__((noinline)) int beat(int who)
{
	__asm__ volatile("" ::: "memory");
	return who + 1;
}

static void mark(const char *who)
{
	char path[128];
	snprintf(path, sizeof(path), "/nonexistent/family-marker-%s", who);
	int fd = open(path, O_RDONLY);
	if (fd >= 0)
		close(fd);
}

static void burn_ms(long ms)
{
	struct timespec a, b;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
	do
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
	while ((b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000 < ms);
}

static void child_loop(pid_t parent)
{
	while (getppid() == parent) {
		burn_ms(10);
		beat(2);
		mark("child");
		usleep(10000);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && !strcmp(argv[1], "image")) {
		beat(3);
		mark("exec");
		printf("image pid=%d\n", getpid());
	} else {
		printf("ready pid=%d\n", getpid());
	}
	pid_t child = 0;
	char line[64];
	while (fgets(line, sizeof(line), stdin)) {
		if (!strncmp(line, "beat", 4)) {
			beat(1);
			mark("parent");
			printf("beat done\n");
		} else if (!strncmp(line, "fork", 4)) {
			pid_t me = getpid();
			child = fork();
			if (child == 0)
				child_loop(me);
			printf("child pid=%d\n", child);
		} else if (!strncmp(line, "exec", 4)) {
			char self[PATH_MAX];
			ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
			if (n <= 0)
				return 1;
			self[n] = 0;
			execl(self, self, "image", (char *)NULL);
			perror("execl");
			return 1;
		} else if (!strncmp(line, "quit", 4)) {
			break;
		}
	}
	if (child > 0) {
		kill(child, SIGTERM);
		waitpid(child, NULL, 0);
	}
	return 0;
}
