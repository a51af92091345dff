/* The addresses JIT code may hand to a helper as a callback (bpf_loop, for_each_map_elem): the
 * callee entries named by BPFTIME_JIT_RELOC_CODE relocations of loaded code. A helper calls a
 * callback value as native code only if it is one of these, so a program that passes some
 * other number (the kernel's verifier would refuse it; the structural pass here does not track
 * values) gets -EINVAL instead of a jump to a wild address.
 *
 * An open-addressing set of addresses, lock-free for readers: entries are inserted under a
 * mutex when code is loaded and turned into tombstones when it is freed (never reused, so a
 * probe never misses a live entry). When it is full, loading fails and the interpreter runs the
 * program. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include "bpftime/jit.h"

#define CB_SET_SIZE 16384u
#define CB_TOMBSTONE 1u

static uint64_t g_set[CB_SET_SIZE];
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

static inline uint32_t slot_of(uint64_t addr) { return (uint32_t)((addr >> 4) * 0x9e3779b97f4a7c15ull >> 50); }

int bpftime_jit_callback_add(uint64_t addr)
{
	int rc = -ENOSPC;
	if (addr <= CB_TOMBSTONE)
		return -EINVAL;
	pthread_mutex_lock(&g_lock);
	for (uint32_t n = 0, s = slot_of(addr); n < CB_SET_SIZE; n++, s = (s + 1) & (CB_SET_SIZE - 1)) {
		uint64_t cur = __atomic_load_n(&g_set[s], __ATOMIC_RELAXED);
		if (cur == addr) {
			rc = 0;
			break;
		}
		if (cur == 0) {
			__atomic_store_n(&g_set[s], addr, __ATOMIC_RELEASE);
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&g_lock);
	return rc;
}

void bpftime_jit_callback_remove(uint64_t addr)
{
	pthread_mutex_lock(&g_lock);
	for (uint32_t n = 0, s = slot_of(addr); n < CB_SET_SIZE; n++, s = (s + 1) & (CB_SET_SIZE - 1)) {
		uint64_t cur = __atomic_load_n(&g_set[s], __ATOMIC_RELAXED);
		if (cur == 0)
			break;
		if (cur == addr) {
			__atomic_store_n(&g_set[s], CB_TOMBSTONE, __ATOMIC_RELEASE);
			break;
		}
	}
	pthread_mutex_unlock(&g_lock);
}

int bpftime_jit_is_callback(uint64_t addr)
{
	if (addr <= CB_TOMBSTONE)
		return 0;
	for (uint32_t n = 0, s = slot_of(addr); n < CB_SET_SIZE; n++, s = (s + 1) & (CB_SET_SIZE - 1)) {
		uint64_t cur = __atomic_load_n(&g_set[s], __ATOMIC_ACQUIRE);
		if (cur == addr)
			return 1;
		if (cur == 0)
			return 0;
	}
	return 0;
}
