/* bpf_spin_lock / bpf_spin_unlock on the struct bpf_spin_lock of a map value (shared memory, so
 * the lock works across every process running programs on the map and against the syscall
 * side's BPF_F_LOCK copies: bpftime/spin_lock.h). Like the kernel, a program holds at most one
 * lock at a time; one still held when the run ends is released then (bpftime_run_ctx_set). */
#include "bpftime/spin_lock.h"
#include "helpers_internal.h"

static __thread uint32_t *held;

BPFTIME_HELPER(spin_lock)
{
	uint32_t *l = (uint32_t *)(uintptr_t)r1;
	bpftime_spin_lock(l);
	held = l;
	return 0;
}

BPFTIME_HELPER(spin_unlock)
{
	uint32_t *l = (uint32_t *)(uintptr_t)r1;
	if (held == l)
		held = NULL;
	bpftime_spin_unlock(l);
	return 0;
}

void bpftime_spin_lock_release_held(void)
{
	if (__builtin_expect(held != NULL, 0)) {
		bpftime_spin_unlock(held);
		held = NULL;
	}
}
