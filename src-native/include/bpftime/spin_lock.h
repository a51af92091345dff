/* struct bpf_spin_lock in map values: a 4-byte lock in shared memory, taken by programs
 * (bpf_spin_lock/bpf_spin_unlock) in any process and by the syscall side's BPF_F_LOCK lookups
 * and updates, so one lock serialises all of them.
 *
 * The word holds the owner's thread id (0 = free). Waiters spin, then yield; a waiter that has
 * waited long checks whether the owner still exists and takes over a lock whose owner died
 * (a process SIGKILLed while holding it never blocks the others forever). */
#ifndef BPFTIME_SPIN_LOCK_H
#define BPFTIME_SPIN_LOCK_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void bpftime_spin_lock(uint32_t *lock);
void bpftime_spin_unlock(uint32_t *lock);

/* The lock a program took with bpf_spin_lock and has not released, if any, is released when
 * its run ends (the kernel's verifier refuses programs that exit holding one; the structural
 * pass here cannot, so the runtime makes sure no lock outlives the run). */
void bpftime_spin_lock_release_held(void);

#ifdef __cplusplus
}
#endif
#endif
