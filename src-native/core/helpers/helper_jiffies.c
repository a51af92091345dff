/* bpf_jiffies64: the kernel's tick counter, computed from CLOCK_MONOTONIC (which jiffies follow:
 * both start at boot and stop during suspend) as  ticks(now) + offset.
 *
 * The tick rate (CONFIG_HZ) and the offset are found once per process:
 *  - /proc/timer_list (root only) prints the current "jiffies: N": the HZ among the kernel's
 *    choices that explains N = INITIAL_JIFFIES + uptime * HZ best is the rate, and N itself
 *    pins the offset (jiffies run a few ticks off CLOCK_MONOTONIC, measured here);
 *  - else CONFIG_HZ from /boot/config-<release>, and the offset INITIAL_JIFFIES (jiffies start
 *    5 minutes before the 32-bit wrap, include/linux/jiffies.h), a few ticks off at most;
 *  - else HZ = 250, Debian's and most distributions' setting.
 * Reads use open/read on a stack buffer: this may run inside a probe on malloc.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "helpers_internal.h"

struct jiffies_clock {
	uint64_t hz;
	uint64_t offset; /* jiffies at CLOCK_MONOTONIC 0 */
};
static struct jiffies_clock jclock; /* hz == 0 until calibrated */

static uint64_t initial_jiffies(uint64_t hz) { return (uint64_t)(uint32_t)(-300 * (int64_t)hz); }

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t ticks(uint64_t ns, uint64_t hz) { return ns / 1000000000ull * hz + ns % 1000000000ull * hz / 1000000000ull; }

struct number_search {
	const char *key;
	uint64_t value;
};

static int number_line(char *line, void *ctx)
{
	struct number_search *q = ctx;
	size_t klen = strlen(q->key);
	if (strncmp(line, q->key, klen) != 0)
		return 0;
	q->value = strtoull(line + klen, NULL, 10);
	return 1;
}

/* The number after `key` at the start of a line of the file, 0 if absent. */
static uint64_t file_number_after(const char *path, const char *key)
{
	struct number_search q = { key, 0 };
	bpftime_file_each_line(path, number_line, &q);
	return q.value;
}

static void calibrate(struct jiffies_clock *c)
{
	static const uint64_t hzs[] = {100, 250, 300, 1000};
	uint64_t t0 = mono_ns();
	uint64_t j = file_number_after("/proc/timer_list", "jiffies: ");
	uint64_t now = t0 / 2 + mono_ns() / 2;
	if (j) {
		uint64_t best = 0, best_err = UINT64_MAX;
		for (size_t i = 0; i < sizeof(hzs) / sizeof(hzs[0]); i++) {
			uint64_t expect = initial_jiffies(hzs[i]) + ticks(now, hzs[i]);
			uint64_t err = expect > j ? expect - j : j - expect;
			if (err < best_err) {
				best_err = err;
				best = hzs[i];
			}
		}
		c->hz = best;
		c->offset = j - ticks(now, best);
		return;
	}
	struct utsname u;
	char path[128 + sizeof(u.release)];
	uint64_t hz = 0;
	if (uname(&u) == 0) {
		strcpy(path, "/boot/config-");
		strcat(path, u.release);
		hz = file_number_after(path, "CONFIG_HZ=");
	}
	c->hz = hz ? hz : 250;
	c->offset = initial_jiffies(c->hz);
}

uint64_t bpftime_jiffies64(void)
{
	uint64_t hz = __atomic_load_n(&jclock.hz, __ATOMIC_ACQUIRE);
	if (__builtin_expect(!hz, 0)) {
		struct jiffies_clock c;
		calibrate(&c);
		/* Racing first callers compute the same values; the offset is published first. */
		__atomic_store_n(&jclock.offset, c.offset, __ATOMIC_RELAXED);
		__atomic_store_n(&jclock.hz, c.hz, __ATOMIC_RELEASE);
		hz = c.hz;
	}
	return ticks(mono_ns(), hz) + __atomic_load_n(&jclock.offset, __ATOMIC_RELAXED);
}

BPFTIME_HELPER(jiffies64) { return bpftime_jiffies64(); }
