// What the libbpf loaders of the e2e tests share (tailcall_loader.c, map_of_maps_loader.c): running
// the victim with its operations, directly or through a launcher such as `bpftime start`, once the
// programs are attached. Include after <stdio.h>, <stdlib.h>, <sys/wait.h>, <unistd.h>.
#ifndef LOADER_UTIL_H
#define LOADER_UTIL_H
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs `launcher... victim ops...` without the shim (the victim is traced, not a tool) and prints
 * "victim exit N". */
static inline void run_victim_with(char *const *launcher, int nlauncher, const char *victim, const char *const *ops, int nops)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		char *argv[64];
		int n = 0;
		for (int i = 0; i < nlauncher && n < 62; i++)
			argv[n++] = launcher[i];
		argv[n++] = (char *)victim;
		for (int i = 0; i < nops && n < 63; i++)
			argv[n++] = (char *)ops[i];
		argv[n] = NULL;
		unsetenv("LD_PRELOAD");
		execvp(argv[0], argv);
		_exit(127);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	printf("victim exit %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}
#endif
