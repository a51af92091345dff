/* Victim for test/e2e/user-ringbuf-uprobe.test.ts: calls tick() argv[1] times (default 3). */
#include <stdio.h>
#include <stdlib.h>

__attribute__((noinline)) void tick(int i)
{
	__asm__ volatile("" : : "r"(i) : "memory");
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 3;
	for (int i = 0; i < n; i++)
		tick(i);
	printf("done\n");
	return 0;
}
