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
static __thread unsigned tls_held;

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

int bpftime_shlock_lock(struct bpftime_shlock *l, bpftime_shlock_recover_fn recover, void *arg)
{
	int rc = tls_held ? pthread_mutex_trylock(&l->mu) : pthread_mutex_lock(&l->mu);
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
	tls_held++;
	return 0;
}

void bpftime_shlock_unlock(struct bpftime_shlock *l)
{
	tls_held--;
	pthread_mutex_unlock(&l->mu);
}
