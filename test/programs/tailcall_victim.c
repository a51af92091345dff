// The traced process of test/e2e/tailcall.test.ts: calls tc_target(op, n) once for each "op:n"
// argument, where tailcall.bpf.c's dispatcher is attached.
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) int tc_target(int op, int n)
{
	__asm__ volatile("" ::: "memory");
	return op + n;
}

int main(int argc, char **argv)
{
	int ran = 0;
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
