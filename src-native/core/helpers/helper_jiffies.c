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

/* The number after `key` in the file, 0 if absent. The file is scanned in chunks; a line is
 * assumed shorter than half the buffer. */
static uint64_t file_number_after(const char *path, const char *key)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char buf[4096];
	size_t have = 0, klen = strlen(key);
	uint64_t v = 0;
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
		buf[have] = 0;
		char *hit = strstr(buf, key);
		if (hit && strchr(hit + klen, '\n')) {
			v = strtoull(hit + klen, NULL, 10);
			break;
		}
		/* Keep the tail: the key may straddle the chunk boundary. */
		size_t keep = have > sizeof(buf) / 2 ? sizeof(buf) / 2 : have;
		memmove(buf, buf + have - keep, keep);
		have = keep;
	}
	close(fd);
	return v;
}

static void calibrate(struct jiffies_clock *c)
{
	static const uint64_t hzs[] = {100, 250, 300, 1000};
	uint64_t t0 = mono_ns();
	uint64_t j = file_number_after("/proc/timer_list", "\njiffies: ");
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
		hz = file_number_after(path, "\nCONFIG_HZ=");
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
