/* A lock that lives in shared memory, is taken by threads of many processes, and survives the
 * death (SIGKILL) of a holder. See map_lock.c for the design: a futex word holding the owner's
 * TID, made robust through the thread's kernel robust list. */
#ifndef BPFTIME_MAP_LOCK_H
#define BPFTIME_MAP_LOCK_H
#include <linux/futex.h>
#include <stdint.h>

struct bpftime_shlock_self;

struct bpftime_shlock {
	/* 0: free. Else the owner's TID | FUTEX_WAITERS (someone sleeps, or may) | FUTEX_OWNER_DIED
	 * (the owner died holding it: TID part 0, the next taker repairs). The kernel's robust-futex
	 * format, so the kernel itself marks a dead owner. */
	uint32_t word;
	uint32_t pad;
	/* The owner's previous robust-list pending entry, put back at unlock (a nested lock taken
	 * from a signal handler). Written and read only by the owner. */
	void *saved_pending;
	/* The owner's thread cache (process-local, like saved_pending): unlock needs no
	 * thread-local lookup. */
	struct bpftime_shlock_self *owner;
	uint64_t reserved[2];
};
/* The size of the pthread_mutex_t it replaced: region layouts that embed it keep their offsets. */
_Static_assert(sizeof(struct bpftime_shlock) == 40, "shared lock size");

/* Once, by the region's creator, on zeroed memory. 0 or -errno. */
int bpftime_shlock_init(struct bpftime_shlock *l);

/* Called with the lock held when the previous holder died inside its critical section: must
 * bring the protected state back to consistency. It may itself be interrupted by a death, so it
 * must be idempotent (the next taker runs it again). */
typedef void (*bpftime_shlock_recover_fn)(void *arg);

/* What a thread knows about itself, cached (map_lock.c): valid while gen is the process's. */
struct bpftime_shlock_self {
	uint64_t gen;        /* bpftime_process_gen() when filled; 0: not yet */
	uint32_t tid;        /* gettid(): what goes in the lock word */
	unsigned held;       /* how many shared locks this thread holds */
	void **pending_slot; /* &robust_list_head.list_op_pending of this thread, never NULL */
	long futex_offset;   /* the head's: entry + futex_offset is the futex word */
};
extern __thread struct bpftime_shlock_self bpftime_shlock_self __attribute__((visibility("hidden")));
extern uint64_t *volatile bpftime_pid_gen_word __attribute__((visibility("hidden")));

/* Fills the cache for this thread in this process. */
struct bpftime_shlock_self *bpftime_shlock_self_refill(void);

/* The contended (or nested, or owner-died) lock: 0 when held; -EBUSY when this thread already
 * holds a shared lock and this one is taken (a program re-entered from a signal handler: waiting
 * could deadlock, the kernel answers -EBUSY too). */
int bpftime_shlock_lock_slow(struct bpftime_shlock *l, bpftime_shlock_recover_fn recover, void *arg);
void bpftime_shlock_wake(struct bpftime_shlock *l);

static inline struct bpftime_shlock_self *bpftime_shlock_me(void)
{
	struct bpftime_shlock_self *s = &bpftime_shlock_self;
	uint64_t g = __atomic_load_n(__atomic_load_n(&bpftime_pid_gen_word, __ATOMIC_ACQUIRE), __ATOMIC_RELAXED);
	if (__builtin_expect(g == 0 || s->gen != g, 0))
		return bpftime_shlock_self_refill();
	return s;
}

/* Inline: the uncontended lock is on every map write (a tool's map update is ~150 instructions
 * in all): a store announcing the lock to the kernel's robust list, and one compare-and-swap. */
static inline int bpftime_shlock_lock(struct bpftime_shlock *l, bpftime_shlock_recover_fn recover, void *arg)
{
	struct bpftime_shlock_self *s = bpftime_shlock_me();
	if (__builtin_expect(s->held == 0, 1)) {
		/* Pending before the CAS: a death right after it still reaches the kernel. */
		*s->pending_slot = (char *)&l->word - s->futex_offset;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		uint32_t expected = 0;
		if (__builtin_expect(__atomic_compare_exchange_n(&l->word, &expected, s->tid, 0, __ATOMIC_ACQUIRE,
								 __ATOMIC_RELAXED), 1)) {
			l->saved_pending = 0;
			l->owner = s;
			s->held = 1;
			return 0;
		}
		*s->pending_slot = 0;
	}
	return bpftime_shlock_lock_slow(l, recover, arg);
}

static inline void bpftime_shlock_unlock(struct bpftime_shlock *l)
{
	struct bpftime_shlock_self *s = l->owner; /* read before the release, as saved_pending */
	void *prev = l->saved_pending;
	uint32_t old = __atomic_exchange_n(&l->word, 0, __ATOMIC_RELEASE);
	/* After the release: a death in between leaves a pending entry whose word is no longer
	 * ours, which the kernel ignores (or, word 0, answers by waking a waiter). */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	*s->pending_slot = prev;
	s->held--;
	if (__builtin_expect(old & FUTEX_WAITERS, 0))
		bpftime_shlock_wake(l);
}

#endif
