/* The compute kernels of compute_kernels.h compiled natively (-O2), timed as the kernel times a
 * test run (a loop of runs between two clock reads): the baseline of the test-run benchmark.
 *
 * usage: compute_native NAME REPEAT  ->  prints "result=<64-bit hex> ns_per_run=<float>" */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define KERNEL_INLINE static __attribute__((noinline))
#include "compute_kernels.h"

static u8 buf[BUF_SIZE] __attribute__((aligned(8)));

static long loop_cb(u32 i, void *c)
{
	return loop_step(i, c);
}

/* bpf_loop as the kernel's helper does it: an indirect call per iteration. */
static u64 k_loop(const u8 *b)
{
	struct loop_ctx c = { b, 0x9e3779b97f4a7c15ull };
	long (*volatile cb)(u32, void *) = loop_cb;
	for (u32 i = 0; i < LOOP_ITERS; i++)
		if (cb(i, &c))
			break;
	return c.s;
}

#include "compute_fill.h"

static u64 run(const char *name)
{
	if (!strcmp(name, "primes")) return k_primes(buf);
	if (!strcmp(name, "log2")) return k_log2(buf);
	if (!strcmp(name, "memcpy")) return k_memcpy(buf);
	if (!strcmp(name, "strcmp")) return k_strcmp(buf);
	if (!strcmp(name, "switch")) return k_switch(buf);
	if (!strcmp(name, "hash")) return k_hash(buf);
	if (!strcmp(name, "loop")) return k_loop(buf);
	fprintf(stderr, "unknown kernel %s\n", name);
	exit(2);
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: compute_native NAME REPEAT\n");
		return 2;
	}
	compute_fill(buf);
	long repeat = atol(argv[2]);
	u64 r = 0;
	/* The name is resolved once: the loop times the kernel alone. */
	u64 (*fn)(const u8 *) = NULL;
	const char *n = argv[1];
	if (!strcmp(n, "primes")) fn = k_primes;
	else if (!strcmp(n, "log2")) fn = k_log2;
	else if (!strcmp(n, "memcpy")) fn = (u64 (*)(const u8 *))k_memcpy;
	else if (!strcmp(n, "strcmp")) fn = k_strcmp;
	else if (!strcmp(n, "switch")) fn = k_switch;
	else if (!strcmp(n, "hash")) fn = k_hash;
	else if (!strcmp(n, "loop")) fn = k_loop;
	else r = run(n);
	u64 (*volatile call)(const u8 *) = fn;
	double t0 = now_ns();
	for (long k = 0; k < repeat; k++)
		r = call(buf);
	double t1 = now_ns();
	printf("result=%016llx ns_per_run=%.2f\n", (unsigned long long)r, (t1 - t0) / (repeat > 0 ? repeat : 1));
	return 0;
}
