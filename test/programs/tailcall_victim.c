// The traced process of test/e2e/tailcall*.test.ts: calls tc_target(op, n) once for each "op:n"
// argument, where tailcall.bpf.c's dispatcher is attached. With "-" it reads "op:n" lines from
// stdin instead, answering each with "done op:n", until end of input.
#include <stdio.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline)) int tc_target(int op, int n)
{
	__asm__ volatile("" ::: "memory");
	return op + n;
}

int main(int argc, char **argv)
{
	int ran = 0;
	if (argc == 2 && !strcmp(argv[1], "-")) {
		char line[64];
		setvbuf(stdout, NULL, _IOLBF, 0);
		printf("ready pid=%d\n", (int)getpid());
		while (fgets(line, sizeof(line), stdin)) {
			int op, n;
			if (sscanf(line, "%d:%d", &op, &n) == 2) {
				tc_target(op, n);
				printf("done %d:%d\n", op, n);
			}
		}
		return 0;
	}
	for (int i = 1; i < argc; i++) {
		int op, n;
		if (sscanf(argv[i], "%d:%d", &op, &n) == 2) {
			tc_target(op, n);
			ran++;
		}
	}
	printf("victim ran %d ops\n", ran);
	return 0;
}
