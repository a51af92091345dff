/* Per-thread state, and the grace period stop() waits for.
 *
 * A thread's flags live in initial-exec TLS (the trampoline reads them with one %fs load). For the
 * grace period every thread that runs callbacks also owns a slot in one shared table, whose seq is
 * odd while it is inside a callback: stop() waits until each slot that was odd has moved on. Thread
 * exit is not observable here, so a slot is reused when its owner no longer exists (tgkill with
 * signal 0 answers ESRCH), which also covers the parent's threads after fork. The table is reserved
 * once (mmap, untouched pages cost nothing) so the hot path never allocates. */
#include "syshook_internal.h"
#include <errno.h>
#include <sys/mman.h>
#include <sys/syscall.h>

__thread struct syshook_tls syshook_tls __attribute__((tls_model("initial-exec")));

#define MAX_SLOTS 65536
static struct syshook_slot *slots;
static volatile unsigned nslots; /* slots handed out at least once */

int syshook_slots_init(void)
{
	if (__atomic_load_n(&slots, __ATOMIC_ACQUIRE))
		return 0;
	long p = raw6(SYS_mmap, 0, MAX_SLOTS * sizeof(struct syshook_slot), PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p < 0 && p > -4096)
		return (int)p;
	__atomic_store_n(&slots, (struct syshook_slot *)p, __ATOMIC_RELEASE);
	return 0;
}

static int tid_alive(int tid)
{
	return raw3(SYS_tgkill, syshook_getpid(), tid, 0) != -ESRCH;
}

struct syshook_slot *syshook_slot_get(struct syshook_tls *t)
{
	/* New tasks reset t->slot in dispatch.c (child_init), so a cached slot is this thread's. */
	if (t->slot)
		return t->slot;
	int me = (int)syshook_gettid();
	struct syshook_slot *tab = __atomic_load_n(&slots, __ATOMIC_ACQUIRE);
	if (!tab)
		return NULL;
	unsigned i = __atomic_fetch_add(&nslots, 1, __ATOMIC_RELAXED);
	if (i < MAX_SLOTS) {
		tab[i].seq = 0;
		__atomic_store_n(&tab[i].tid, me, __ATOMIC_RELEASE);
		return t->slot = &tab[i];
	}
	__atomic_store_n(&nslots, MAX_SLOTS, __ATOMIC_RELAXED);
	/* Full: take over the slot of a thread that is gone. Its seq is even (it cannot have died
	 * inside a callback and still be counted: a dead thread is skipped by the grace period). */
	for (i = 0; i < MAX_SLOTS; i++) {
		int owner = tab[i].tid;
		if (owner && tid_alive(owner))
			continue;
		if (__atomic_compare_exchange_n(&tab[i].tid, &owner, me, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
			tab[i].seq = 0;
			return t->slot = &tab[i];
		}
	}
	return NULL;
}

int syshook_grace_period(long timeout_ns)
{
	struct syshook_slot *tab = __atomic_load_n(&slots, __ATOMIC_ACQUIRE);
	if (!tab)
		return 0;
	unsigned n = __atomic_load_n(&nslots, __ATOMIC_RELAXED);
	if (n > MAX_SLOTS)
		n = MAX_SLOTS;
	int me = (int)syshook_gettid();
	long deadline = syshook_now_ns() + timeout_ns;
	for (unsigned i = 0; i < n; i++) {
		unsigned long s = __atomic_load_n(&tab[i].seq, __ATOMIC_ACQUIRE);
		int owner = tab[i].tid;
		if (!(s & 1) || owner == me)
			continue;
		while (__atomic_load_n(&tab[i].seq, __ATOMIC_ACQUIRE) == s && tab[i].tid == owner &&
		       tid_alive(owner)) {
			if (syshook_now_ns() > deadline)
				return -ETIMEDOUT;
			syshook_sleep_ns(100000);
		}
	}
	return 0;
}

void syshook_sleep_ns(long ns)
{
	struct {
		long sec, nsec;
	} ts = {ns / 1000000000L, ns % 1000000000L};
	raw2(SYS_nanosleep, &ts, 0);
}

long syshook_now_ns(void)
{
	struct {
		long sec, nsec;
	} ts = {0, 0};
	raw2(SYS_clock_gettime, 1 /* CLOCK_MONOTONIC */, &ts);
	return ts.sec * 1000000000L + ts.nsec;
}
