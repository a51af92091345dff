// SPDX-License-Identifier: GPL-2.0
// The process errinject makes fail: reserve_slot() hands out slots of a table, returning the
// slot number or a negative errno. For each number N read from stdin it calls reserve_slot N
// times and prints how many calls succeeded and failed and the last error seen.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOTS 1024
static unsigned char used[SLOTS];

/* The function under test: any error it returns, the caller must cope with. */
__attribute__((noinline)) int reserve_slot(unsigned hint)
{
	for (unsigned i = 0; i < SLOTS; i++) {
		unsigned s = (hint + i) % SLOTS;
		if (!used[s]) {
			used[s] = 1;
			return (int)s;
		}
	}
	return -ENOSPC;
}

static void release_slot(int s)
{
	if (s >= 0 && s < SLOTS)
		used[s] = 0;
}

int main(void)
{
	printf("ready pid=%d\n", getpid());
	fflush(stdout);
	char line[64];
	while (fgets(line, sizeof(line), stdin)) {
		unsigned long n = strtoul(line, NULL, 10);
		unsigned long ok = 0, failed = 0;
		int last_err = 0;
		for (unsigned long i = 0; i < n; i++) {
			int s = reserve_slot((unsigned)i);
			if (s < 0) {
				failed++;
				last_err = s;
			} else {
				ok++;
				release_slot(s);
			}
		}
		printf("done %lu ok=%lu failed=%lu last_error=%d (%s)\n", n, ok, failed, last_err,
		       last_err ? strerror(-last_err) : "none");
		fflush(stdout);
	}
	return 0;
}
