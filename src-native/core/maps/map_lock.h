/* A lock that lives in shared memory, is taken by threads of many processes, and survives the
 * death (SIGKILL) of a holder. See map_lock.c for why it is a robust process-shared pthread mutex. */
#ifndef BPFTIME_MAP_LOCK_H
#define BPFTIME_MAP_LOCK_H
#include <pthread.h>

struct bpftime_shlock {
	pthread_mutex_t mu;
};

/* Once, by the region's creator, on zeroed memory. 0 or -errno. */
int bpftime_shlock_init(struct bpftime_shlock *l);

/* Called with the lock held when the previous holder died inside its critical section: must
 * bring the protected state back to consistency. It may itself be interrupted by a death, so it
 * must be idempotent (the next taker runs it again). */
typedef void (*bpftime_shlock_recover_fn)(void *arg);

/* 0 when held; -EBUSY when this thread already holds a shared lock and this one is taken (a
 * program re-entered from a signal handler: waiting could deadlock, the kernel answers -EBUSY
 * too); other -errno on a broken lock. */
int bpftime_shlock_lock_slow(struct bpftime_shlock *l, int rc, bpftime_shlock_recover_fn recover, void *arg);

/* How many shared locks this thread holds (map_lock.c). */
extern __thread unsigned bpftime_shlock_held __attribute__((visibility("hidden")));

/* Inline: the uncontended lock is on every map write a tool makes (a few hundred instructions). */
static inline int bpftime_shlock_lock(struct bpftime_shlock *l, bpftime_shlock_recover_fn recover, void *arg)
{
	int rc = pthread_mutex_trylock(&l->mu);
	if (__builtin_expect(rc == 0, 1)) {
		bpftime_shlock_held++;
		return 0;
	}
	return bpftime_shlock_lock_slow(l, rc, recover, arg);
}

static inline void bpftime_shlock_unlock(struct bpftime_shlock *l)
{
	bpftime_shlock_held--;
	pthread_mutex_unlock(&l->mu);
}

#endif
