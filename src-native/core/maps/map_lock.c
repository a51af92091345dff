/* The writer lock of shared-memory maps (and of ring buffer producers).
 *
 * A futex word in the kernel's robust-futex format: 0 when free, else the owner's TID with the
 * FUTEX_WAITERS and FUTEX_OWNER_DIED bits. Uncontended, lock is one compare-and-swap and unlock
 * one exchange; a robust process-shared pthread mutex, used before, costs twice that (its robust
 * list bookkeeping and type dispatch were a third of a tool's hash update).
 *
 * Owner death is reported by the kernel itself, without the pthread mutex: every thread has a
 * robust list head registered with set_robust_list (libc registers one per thread), and at exit
 * (SIGKILL included) the kernel looks at the futex its `list_op_pending` entry names; if the word
 * holds the dying thread's TID it sets FUTEX_OWNER_DIED, clears the TID and wakes a waiter. A
 * lock holds that slot for the whole critical section (a thread holds at most one shared lock,
 * save a program re-entered from a signal handler, which saves and restores the slot), so the
 * libc's own list is never touched. Why not a guess by kill(tid, 0): after pid reuse (pid_max is
 * 32768 on these machines) a dead holder would look alive forever.
 * Backstop: a waiter still wakes up every WAIT_SLICE_NS and, if the TID in the word no longer
 * exists, marks the word as the kernel would have (a holder that died before its pending slot was
 * set, a thread whose robust list the kernel does not know).
 *
 * Waiters spin briefly (critical sections are a few hundred ns), then set FUTEX_WAITERS and sleep
 * in futex_wait; a thread that slept takes the lock with FUTEX_WAITERS set, since others may still
 * sleep, and unlock wakes one when the bit was set.
 *
 * The lock does not make the protected data consistent by itself: a holder may die half way.
 * Each user keeps an intent record next to its data and passes a recover function that finishes
 * or undoes the interrupted operation; the next taker of a word with FUTEX_OWNER_DIED runs it.
 */
#include "map_lock.h"

#include <errno.h>
#include <sys/syscall.h>
#include <time.h>

#include "bpftime/client.h"
#include "bpftime/helpers.h"

/* Raw system calls: errno stays the tool's (a map command that succeeds leaves it alone), and
 * the shim's and the agent's hooks of syscall() are not re-entered. */
#define RAW(nr, a1, a2, a3, a4) bpftime_raw_syscall((nr), (long)(a1), (long)(a2), (long)(a3), (long)(a4), 0, 0)

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ volatile("yield");
#endif
}

__thread struct bpftime_shlock_self bpftime_shlock_self;

/* A thread whose kernel robust list is unset (a child of a raw fork or clone, which libc did not
 * set up): this head, registered for it, so its locks are still recovered after its death. */
static __thread struct robust_list_head own_head;

#define SPINS 200
#define WAIT_SLICE_NS (50 * 1000 * 1000)

int bpftime_shlock_init(struct bpftime_shlock *l)
{
	__atomic_store_n(&l->word, 0, __ATOMIC_RELEASE);
	l->saved_pending = 0;
	return 0;
}

struct bpftime_shlock_self *bpftime_shlock_self_refill(void)
{
	struct bpftime_shlock_self *s = &bpftime_shlock_self;
	uint64_t gen = bpftime_process_gen();
	/* A cache from another process (this thread's TLS copied by fork) says nothing of this
	 * one: not the TID, not the head (libc re-registers the same address in a fork child, a raw
	 * fork registers none). `held` is this thread's: a fork child starts holding none. */
	struct robust_list_head *head = 0;
	size_t len = 0;
	if (RAW(SYS_get_robust_list, 0, &head, &len, 0) != 0 || !head) {
		own_head.list.next = &own_head.list;
		own_head.futex_offset = 0;
		own_head.list_op_pending = 0;
		head = RAW(SYS_set_robust_list, &own_head, sizeof(own_head), 0, 0) == 0 ? &own_head : 0;
	}
	if (!head) { /* no robust futexes at all: the pending slot is a dummy, the backstop works */
		own_head.futex_offset = 0;
		head = &own_head;
	}
	s->tid = (uint32_t)RAW(SYS_gettid, 0, 0, 0, 0);
	s->pending_slot = (void **)&head->list_op_pending;
	s->futex_offset = head->futex_offset;
	/* `held` stays: a fork child's thread holds what its parent thread held when it forked,
	 * which is nothing (no critical section forks). */
	__atomic_store_n(&s->gen, gen, __ATOMIC_RELEASE);
	return s;
}

static long futex(uint32_t *word, int op, uint32_t val, const struct timespec *timeout)
{
	return RAW(SYS_futex, word, op, val, timeout);
}

void bpftime_shlock_wake(struct bpftime_shlock *l)
{
	futex(&l->word, FUTEX_WAKE, 1, NULL);
}

/* The word names an owner that no longer exists: mark it as the kernel's robust-list handling
 * would have, if the word still says the same. */
static void check_owner_alive(struct bpftime_shlock *l, uint32_t v)
{
	pid_t tid = (pid_t)(v & FUTEX_TID_MASK);
	if (!tid || RAW(SYS_kill, tid, 0, 0, 0) != -ESRCH)
		return;
	uint32_t dead = (v & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
	__atomic_compare_exchange_n(&l->word, &v, dead, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

/* Takes the word when it has no owner (free, or its owner died): keeps FUTEX_WAITERS when this
 * thread slept (others may sleep too). 1 taken, 0 lost the race. */
static int take(struct bpftime_shlock *l, uint32_t v, uint32_t tid, int slept)
{
	uint32_t want = tid | (slept ? FUTEX_WAITERS : (v & FUTEX_WAITERS));
	return __atomic_compare_exchange_n(&l->word, &v, want, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

int bpftime_shlock_lock_slow(struct bpftime_shlock *l, bpftime_shlock_recover_fn recover, void *arg)
{
	struct bpftime_shlock_self *s = bpftime_shlock_me();
	int nested = s->held != 0, slept = 0, spins = 0;
	void *prev = *s->pending_slot;
	*s->pending_slot = (char *)&l->word - s->futex_offset;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	for (;;) {
		uint32_t v = __atomic_load_n(&l->word, __ATOMIC_RELAXED);
		if (!(v & FUTEX_TID_MASK)) {
			if (!take(l, v, s->tid, slept))
				continue;
			l->saved_pending = prev;
			l->owner = s;
			s->held++;
			if (v & FUTEX_OWNER_DIED) {
				/* We hold it; the data may be half-updated. Repair before anyone else sees
				 * it. If we die during the repair, the next taker repeats it. */
				if (recover)
					recover(arg);
			}
			return 0;
		}
		if (nested) {
			*s->pending_slot = prev;
			return -EBUSY;
		}
		if (spins < SPINS) {
			spins++;
			cpu_relax();
			continue;
		}
		if (!(v & FUTEX_WAITERS)) {
			uint32_t w = v | FUTEX_WAITERS;
			if (!__atomic_compare_exchange_n(&l->word, &v, w, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
				continue;
			v = w;
		}
		struct timespec slice = { 0, WAIT_SLICE_NS };
		if (futex(&l->word, FUTEX_WAIT, v, &slice) == -ETIMEDOUT)
			check_owner_alive(l, v);
		slept = 1;
	}
}
