// Calls bump() N times in each of T threads (argv[1], argv[2]), then prints "done".
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static unsigned long n_calls;

__attribute__((noinline)) void bump(unsigned long i)
{
	__asm__ volatile("" ::"r"(i) : "memory");
}

static void *worker(void *arg)
{
	for (unsigned long i = 0; i < n_calls; i++)
		bump(i);
	return arg;
}

int main(int argc, char **argv)
{
	n_calls = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000;
	int threads = argc > 2 ? atoi(argv[2]) : 2;
	pthread_t t[64];
	for (int i = 0; i < threads && i < 64; i++)
		pthread_create(&t[i], NULL, worker, NULL);
	for (int i = 0; i < threads && i < 64; i++)
		pthread_join(t[i], NULL);
	printf("done\n");
	return 0;
}
