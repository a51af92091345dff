/* Possible CPUs and the calling thread's CPU slot, for per-CPU map values and per-CPU LRU lists.
 *
 * A per-CPU value has one slot per POSSIBLE CPU (the kernel's for_each_possible_cpu order), not
 * per online CPU: a CPU that goes offline keeps its slot and its values, and the syscall side
 * always reads and writes bpftime_map_ncpus() slots. The slot of CPU c is its ordinal in the
 * possible mask (c itself when the mask is 0..n-1, the usual case).
 */
#ifndef BPFTIME_MAP_CPU_H
#define BPFTIME_MAP_CPU_H
#include <sched.h>
#include <stdint.h>
#include "bpftime/helpers.h"

/* Number of possible CPUs (/sys/devices/system/cpu/possible, parsed once). At least 1. */
uint32_t bpftime_map_ncpus(void);

/* Filled by the first bpftime_map_ncpus() call; every map that uses slots called it at open. */
extern uint32_t bpftime_map_cpu_n;
extern int bpftime_map_cpu_contiguous; /* possible mask is 0..n-1 */
uint32_t bpftime_map_cpu_slot_slow(int cpu);

/* The slot of the CPU the calling thread runs on now. Read fresh on every call rather than cached
 * per thread: with glibc >= 2.35 sched_getcpu() reads the rseq area the kernel keeps current
 * (one TLS load), so a cache would save nothing and could only go stale after a migration, which
 * would let two threads on two CPUs share one slot. */
static inline uint32_t bpftime_map_cpu_slot(void)
{
	/* Inside a program run the CPU is fixed for the run (helpers.h), as the kernel runs a
	 * program on one CPU throughout; outside one, the thread's current CPU. */
	int cpu = bpftime_current_cpu();
	if (__builtin_expect(bpftime_map_cpu_contiguous && (unsigned)cpu < bpftime_map_cpu_n, 1))
		return (uint32_t)cpu;
	return bpftime_map_cpu_slot_slow(cpu);
}

/* The slot of kernel CPU id `cpu`, or UINT32_MAX if that CPU is not possible. */
uint32_t bpftime_map_cpu_slot_of(uint32_t cpu);

#endif
