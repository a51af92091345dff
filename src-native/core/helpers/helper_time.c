/* Clocks: the kernel's ktime accessors map onto the POSIX clocks with the same definition
 * (read through the vDSO, no syscall). */
#include <time.h>

#include "helpers_internal.h"

static inline uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;
	if (clock_gettime(id, &ts))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

BPFTIME_HELPER(ktime_get_ns) { return clock_ns(CLOCK_MONOTONIC); }
/* Includes time spent suspended. */
BPFTIME_HELPER(ktime_get_boot_ns) { return clock_ns(CLOCK_BOOTTIME); }
/* Tick resolution, cheaper: the kernel's ktime_get_coarse_ns. */
BPFTIME_HELPER(ktime_get_coarse_ns) { return clock_ns(CLOCK_MONOTONIC_COARSE); }
BPFTIME_HELPER(ktime_get_tai_ns) { return clock_ns(CLOCK_TAI); }
