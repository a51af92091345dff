/* The writer lock of shared-memory maps.
 *
 * Why a robust, process-shared pthread mutex and not an owner-pid spinlock:
 *  - Owner death is reported by the kernel itself: each thread registers its robust list, and
 *    when it dies (SIGKILL included) the kernel marks the futex FUTEX_OWNER_DIED and wakes a
 *    waiter, who gets EOWNERDEAD. A pid spinlock has to guess liveness with kill(pid, 0), which
 *    is wrong after pid reuse (a recycled pid keeps a dead holder "alive" forever) and needs a
 *    polling interval.
 *  - Waiters sleep in futex_wait instead of spinning. These machines have 2 cores: a spinner
 *    that burns the CPU the preempted holder needs is the classic convoy.
 *  - Uncontended lock+unlock is two atomic ops plus the robust-list bookkeeping (~20-40 ns),
 *    and only writers take it: readers of hash maps are lock-free (map_hash.c), arrays need none.
 * Cost: the mutex layout is glibc's; every process touching a region must use the same libc
 * (true for the shim, the agent and node on one host).
 *
 * The lock does not make the protected data consistent by itself: a holder may die half way.
 * Each user keeps an intent record next to its data and passes a recover function that finishes
 * or undoes the interrupted operation when the next taker gets EOWNERDEAD.
 */
#include "map_lock.h"

#include <errno.h>

/* How many shared locks this thread holds. A program that runs in a signal handler (a uprobe
 * hit inside the handler) while its thread is inside a map write must not wait for a lock its
 * own thread may hold: it tries once and fails with -EBUSY, like the kernel's map_locked. */
__thread unsigned bpftime_shlock_held;

int bpftime_shlock_init(struct bpftime_shlock *l)
{
	pthread_mutexattr_t a;
	int rc = pthread_mutexattr_init(&a);
	if (rc)
		return -rc;
	rc = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	if (!rc)
		rc = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (!rc)
		rc = pthread_mutex_init(&l->mu, &a);
	pthread_mutexattr_destroy(&a);
	return -rc;
}

/* The futex word of a glibc mutex holds the owner's TID (robust mutexes: plus FUTEX_WAITERS and
 * FUTEX_OWNER_DIED). The kernel sets OWNER_DIED when the owner dies, from the owner's robust
 * list; observed here: a waiter of a holder SIGKILLed in a narrow window can stay asleep although
 * the holder is gone (maps_lru_test's churn). So a waiter wakes up every so often, and if the
 * owner no longer exists it does what the kernel would have done: marks the word OWNER_DIED, so
 * that its next lock attempt gets EOWNERDEAD and repairs the data as usual. */
#include <linux/futex.h>
#include <signal.h>
#include <time.h>

static int owner_gone(pthread_mutex_t *mu)
{
	unsigned *word = (unsigned *)&mu->__data.__lock;
	unsigned v = __atomic_load_n(word, __ATOMIC_ACQUIRE);
	pid_t tid = (pid_t)(v & FUTEX_TID_MASK);
	if (!tid || (v & FUTEX_OWNER_DIED))
		return 0;
	if (kill(tid, 0) == 0 || errno != ESRCH)
		return 0;
	/* Only if the word still names that dead owner. */
	return __atomic_compare_exchange_n(word, &v, v | FUTEX_OWNER_DIED, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

static int lock_waiting(pthread_mutex_t *mu)
{
	for (;;) {
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		t.tv_nsec += 50 * 1000 * 1000;
		if (t.tv_nsec >= 1000000000) {
			t.tv_sec++;
			t.tv_nsec -= 1000000000;
		}
		int rc = pthread_mutex_timedlock(mu, &t);
		if (rc != ETIMEDOUT)
			return rc;
		owner_gone(mu);
	}
}

/* The trylock failed with rc: wait (unless nested), or repair after a dead holder. */
int bpftime_shlock_lock_slow(struct bpftime_shlock *l, int rc, bpftime_shlock_recover_fn recover, void *arg)
{
	if (rc == EBUSY && !bpftime_shlock_held)
		rc = lock_waiting(&l->mu);
	if (rc == EOWNERDEAD) {
		/* We hold it now; the data may be half-updated. Repair before anyone else sees it.
		 * If we die during the repair, the next taker gets EOWNERDEAD again and repeats. */
		if (recover)
			recover(arg);
		pthread_mutex_consistent(&l->mu);
		rc = 0;
	}
	if (rc)
		return -rc; /* EBUSY (nested), ENOTRECOVERABLE (cannot happen: we always repair) */
	bpftime_shlock_held++;
	return 0;
}
