/* Possible-CPU mask, parsed once. See map_cpu.h. */
#include "map_cpu.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

uint32_t bpftime_map_cpu_n;
int bpftime_map_cpu_contiguous;

/* cpu id -> slot, only for a non-contiguous mask (rare: some VMs, hotplug-limited hosts). */
static uint32_t *slot_of;
static uint32_t slot_of_len;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* Parses "0-3,8,10-11\n" into slot_of; returns the number of possible CPUs (0 on error). */
static uint32_t parse_mask(const char *s)
{
	uint32_t n = 0, max_id = 0;
	/* Two passes: count and find the highest id, then number them in ascending order. */
	for (int pass = 0; pass < 2; pass++) {
		const char *p = s;
		n = 0;
		while (*p >= '0' && *p <= '9') {
			char *end;
			unsigned long a = strtoul(p, &end, 10), b = a;
			p = end;
			if (*p == '-') {
				b = strtoul(p + 1, &end, 10);
				p = end;
			}
			if (b < a || b > 65535)
				return 0;
			for (unsigned long c = a; c <= b; c++) {
				if (pass == 0 && c > max_id)
					max_id = (uint32_t)c;
				if (pass == 1)
					slot_of[c] = n;
				n++;
			}
			if (*p == ',')
				p++;
		}
		if (n == 0)
			return 0;
		if (pass == 0) {
			slot_of_len = max_id + 1;
			slot_of = malloc(sizeof(*slot_of) * slot_of_len);
			if (!slot_of)
				return 0;
			for (uint32_t i = 0; i < slot_of_len; i++)
				slot_of[i] = UINT32_MAX;
		}
	}
	return n;
}

static void init_cpus(void)
{
	char buf[4096];
	uint32_t n = 0;
	int fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t r = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (r > 0) {
			buf[r] = 0;
			n = parse_mask(buf);
		}
	}
	if (n == 0) {
		/* No sysfs (a container without it): the configured CPUs, numbered 0..n-1. */
		long c = sysconf(_SC_NPROCESSORS_CONF);
		n = c > 0 ? (uint32_t)c : 1;
		free(slot_of);
		slot_of = NULL;
		slot_of_len = 0;
	}
	int contiguous = 1;
	for (uint32_t i = 0; i < slot_of_len; i++)
		if (slot_of[i] != i)
			contiguous = 0;
	bpftime_map_cpu_contiguous = contiguous && (slot_of_len == 0 || slot_of_len == n);
	__atomic_store_n(&bpftime_map_cpu_n, n, __ATOMIC_RELEASE);
}

uint32_t bpftime_map_ncpus(void)
{
	uint32_t n = __atomic_load_n(&bpftime_map_cpu_n, __ATOMIC_ACQUIRE);
	if (__builtin_expect(n != 0, 1))
		return n;
	pthread_once(&once, init_cpus);
	return bpftime_map_cpu_n;
}

uint32_t bpftime_map_cpu_slot_of(uint32_t cpu)
{
	uint32_t n = bpftime_map_ncpus();
	if (bpftime_map_cpu_contiguous)
		return cpu < n ? cpu : UINT32_MAX;
	return cpu < slot_of_len ? slot_of[cpu] : UINT32_MAX;
}

uint32_t bpftime_map_cpu_slot_slow(int cpu)
{
	uint32_t n = bpftime_map_ncpus();
	uint32_t s = cpu >= 0 ? bpftime_map_cpu_slot_of((uint32_t)cpu) : UINT32_MAX;
	/* sched_getcpu() failing, or a CPU outside the possible mask (cannot happen on Linux):
	 * any valid slot keeps the value in the map rather than losing it. */
	return s < n ? s : (cpu > 0 ? (uint32_t)cpu % n : 0);
}
