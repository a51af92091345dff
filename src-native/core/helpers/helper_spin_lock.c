/* bpf_spin_lock / bpf_spin_unlock on the struct bpf_spin_lock of a map value (shared memory, so
 * the lock works across every process running programs on the map and against the syscall
 * side's BPF_F_LOCK copies: bpftime/spin_lock.h). Like the kernel, a program holds at most one
 * lock at a time; one still held when the run ends is released then (bpftime_run_ctx_set). */
#include "bpftime/spin_lock.h"
#include "helpers_internal.h"

/* The held lock lives in the thread's run state (bpftime/helpers.h), whose end_work bit makes
 * the end of the run release it. */
BPFTIME_HELPER(spin_lock)
{
	uint32_t *l = (uint32_t *)(uintptr_t)r1;
	bpftime_spin_lock(l);
	struct bpftime_run_state *s = &bpftime_run_state;
	s->held_lock = l;
	s->end_work |= BPFTIME_RUN_END_LOCK;
	return 0;
}

BPFTIME_HELPER(spin_unlock)
{
	uint32_t *l = (uint32_t *)(uintptr_t)r1;
	struct bpftime_run_state *s = &bpftime_run_state;
	if (s->held_lock == l) {
		s->held_lock = NULL;
		s->end_work &= ~BPFTIME_RUN_END_LOCK;
	}
	bpftime_spin_unlock(l);
	return 0;
}

void bpftime_spin_lock_release_held(void)
{
	struct bpftime_run_state *s = &bpftime_run_state;
	uint32_t *l = s->held_lock;
	s->end_work &= ~BPFTIME_RUN_END_LOCK;
	if (__builtin_expect(l != NULL, 0)) {
		s->held_lock = NULL;
		bpftime_spin_unlock(l);
	}
}
