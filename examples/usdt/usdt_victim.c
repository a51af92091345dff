// A victim with a USDT probe guarded by a semaphore: `usdt_victim` prints "ready pid=<pid>",
// then for each line N read from stdin fires the probe bpftime:request N times (with the
// request number and a label as arguments) and prints "done N". The semaphore is non-zero only
// while a tracer is attached, as USDT users expect.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define _SDT_HAS_SEMAPHORES 1 /* the probe notes name the semaphore below */
#include <sys/sdt.h>

volatile unsigned short bpftime_request_semaphore __attribute__((section(".probes")));

static void put(const char *s) { (void)!write(1, s, strlen(s)); }

int main(void)
{
	char buf[64];
	snprintf(buf, sizeof(buf), "ready pid=%d\n", getpid());
	put(buf);
	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf) - 1);
		if (n <= 0)
			return 0;
		buf[n] = 0;
		if (buf[0] == 'q')
			return 0;
		long count = strtol(buf, NULL, 10);
		long fired = 0;
		for (long i = 0; i < count; i++) {
			if (bpftime_request_semaphore) {
				DTRACE_PROBE2(bpftime, request, i, "label");
				fired++;
			}
		}
		snprintf(buf, sizeof(buf), "done %ld fired %ld\n", count, fired);
		put(buf);
	}
}
