// SPDX-License-Identifier: GPL-2.0
// What the example tools share: ending on Ctrl-C, finding the C library to probe, a clock.
// scripts/build-examples.sh puts this directory on every example's include path.
#ifndef EXAMPLE_UTIL_H
#define EXAMPLE_UTIL_H
#include <errno.h>
#include <signal.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Set by SIGINT and SIGTERM once exit_on_signals() ran: the tools' main loops end on it. */
static volatile sig_atomic_t exiting;

static void on_exit_signal(int sig)
{
	(void)sig;
	exiting = 1;
}

/* SIGINT and SIGTERM set `exiting`. No SA_RESTART: a sleep or a wait they interrupt returns. */
static inline void exit_on_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_exit_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

/* The C library mapped into this process (resolved to its real path): the one the traced
 * processes use too on this system, and where a default "malloc" lives. 0, or -errno. */
static inline int find_libc(char *out, size_t len)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[PATH_MAX + 256], real[PATH_MAX];
	int rc = -ENOENT;
	if (!maps)
		return -errno;
	while (rc && fgets(line, sizeof(line), maps)) {
		char *p = strchr(line, '/');
		if (!p)
			continue;
		p[strcspn(p, "\n")] = 0;
		const char *base = strrchr(p, '/') + 1;
		if (strncmp(base, "libc.so", 7) && strncmp(base, "libc-", 5))
			continue;
		if (realpath(p, real) && strlen(real) < len) {
			snprintf(out, len, "%s", real);
			rc = 0;
		}
	}
	fclose(maps);
	return rc;
}

/* Seconds on the monotonic clock. */
static inline double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}
#endif
