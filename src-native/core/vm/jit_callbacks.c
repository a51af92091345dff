/* The addresses JIT code may hand to a helper as a callback (bpf_loop, for_each_map_elem): the
 * callee entries named by BPFTIME_JIT_RELOC_CODE relocations of loaded code. A helper calls a
 * callback value as native code only if it is one of these, so a program that passes some
 * other number (the kernel's verifier would refuse it; the structural pass here does not track
 * values) gets -EINVAL instead of a jump to a wild address.
 *
 * An open-addressing set of addresses, lock-free for readers: entries are inserted under a
 * mutex when code is loaded and turned into tombstones when it is freed (never reused, so a
 * probe never misses a live entry). When it is full, loading fails and the interpreter runs the
 * program.
 *
 * Also the entry helpers call callbacks through: JIT functions take the address of the tail-call
 * count in rax (control.ts), which C cannot set for a call, so a few instructions do. */
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

#if defined(__x86_64__)
/* bpftime_jit_call_callback(fn = rdi, a1 = rsi, a2 = rdx, a3 = rcx, a4 = r8, tail_count = r9):
 * the callback's arguments move down one register, r5 = 0, rax = the count's address, and a jump
 * (not a call), so the callback returns straight to the helper with the stack as a call leaves
 * it. */
__asm__(".text\n"
	".globl bpftime_jit_call_callback\n"
	".hidden bpftime_jit_call_callback\n"
	".type bpftime_jit_call_callback, @function\n"
	"bpftime_jit_call_callback:\n"
	"\tmov %r9, %rax\n"
	"\tmov %rdi, %r11\n"
	"\tmov %rsi, %rdi\n"
	"\tmov %rdx, %rsi\n"
	"\tmov %rcx, %rdx\n"
	"\tmov %r8, %rcx\n"
	"\txor %r8d, %r8d\n"
	"\tjmp *%r11\n"
	".size bpftime_jit_call_callback, .-bpftime_jit_call_callback\n");
#else
/* No JIT code on this host: nothing registers callbacks, so helpers never get here. */
uint64_t bpftime_jit_call_callback(uint64_t fn, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint32_t *tail_count)
{
	(void)tail_count;
	return ((uint64_t(*)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t))(uintptr_t)fn)(a1, a2, a3, a4, 0);
}
#endif
