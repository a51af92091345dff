/* Per-thread state of the hooking engine and the grace periods detach waits for.
 *
 * The hot path only touches the calling thread's own state (reached through one initial-exec TLS
 * pointer), so hits on many threads never share a cache line. States live in mmap'ed blocks we own,
 * linked into an append-only registry and recycled when a thread exits, so a detaching thread can
 * read any state at any time without it being freed under it. Claiming and publishing states is
 * lock-free: the first hit of a thread can happen in a signal handler or inside malloc.
 *
 * Grace period (userspace RCU, membarrier flavour): a thread's seq is odd while it is inside a
 * dispatcher. The reader sets it with a plain store, no fence; the writer publishes the new handler
 * vector, then membarrier(PRIVATE_EXPEDITED) makes every running thread execute a full barrier, so
 * afterwards each thread either sees the new vector or has its odd seq visible. The writer then
 * waits for each odd seq to change. */
#include "attach_internal.h"
#include <string.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE 4096UL
#define GRACE_TIMEOUT_NS 2000000000L /* a handler blocked this long: leak instead of waiting forever */

__thread struct thread_state *attach_tls __attribute__((tls_model("initial-exec")));
/* Set once this thread's key destructor ran: it is exiting, no new state for it. */
static __thread unsigned char tls_exiting __attribute__((tls_model("initial-exec")));

static struct thread_state *volatile registry;
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void on_thread_exit(void *v)
{
	struct thread_state *t = v;
	tls_exiting = 1;
	attach_tls = NULL;
	/* Frames left here belong to calls that will never return (longjmp'd or pthread_exit'ed
	 * through). The frames mapping stays with the state for its next owner. */
	t->top = 0;
	t->excluded = 0;
	if (t->restored) /* no marks for the next owner's frames (unwind.c) */
		memset(t->restored, 0, SHADOW_CAP * sizeof(*t->restored));
	__atomic_store_n(&t->in_use, 0, __ATOMIC_RELEASE);
}

static void make_key(void)
{
	pthread_key_create(&exit_key, on_thread_exit);
}

static struct thread_state *claim_free(void)
{
	for (struct thread_state *t = registry; t; t = t->next) {
		int expect = 0;
		if (!t->in_use && __atomic_compare_exchange_n(&t->in_use, &expect, 1, 0, __ATOMIC_ACQUIRE,
							      __ATOMIC_RELAXED))
			return t;
	}
	return NULL;
}

/* A fresh page of states: the first one is ours, the rest go to the registry free. */
static struct thread_state *claim_new_block(void)
{
	void *mem = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	struct thread_state *b = mem;
	size_t n = PAGE / sizeof(*b);
	for (size_t i = 0; i + 1 < n; i++)
		b[i].next = &b[i + 1];
	b[0].in_use = 1;
	struct thread_state *head = registry;
	do
		b[n - 1].next = head;
	while (!__atomic_compare_exchange_n(&registry, &head, b, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
	return &b[0];
}

struct thread_state *attach_thread_state(void)
{
	struct thread_state *t = attach_tls;
	if (t)
		return t;
	if (tls_exiting)
		return NULL;
	t = claim_free();
	if (!t)
		t = claim_new_block();
	if (!t)
		return NULL;
	t->top = 0;
	t->excluded = 0;
	attach_tls = t;
	/* pthread_setspecific may calloc for high key numbers: keep probes on calloc quiet. */
	t->seq++;
	pthread_once(&key_once, make_key);
	pthread_setspecific(exit_key, t);
	t->seq++;
	return t;
}

static long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

int attach_grace_period(void)
{
	if (attach_membarrier(0) < 0) {
		/* No membarrier: readers' seq stores drain from store buffers within nanoseconds;
		 * a short sleep stands in for the barrier. */
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	struct thread_state *self = attach_tls;
	long deadline = now_ns() + GRACE_TIMEOUT_NS;
	for (struct thread_state *t = registry; t; t = t->next) {
		if (t == self || !t->in_use)
			continue;
		unsigned long q = t->seq;
		if (!(q & 1))
			continue;
		while (t->seq == q && t->in_use) {
			if (now_ns() > deadline)
				return -ETIMEDOUT;
			sched_yield();
		}
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return 0;
}

void attach_threads_after_fork_child(void)
{
	/* Only the forking thread exists in the child. Its frames stay (its calls still return). */
	for (struct thread_state *t = registry; t; t = t->next) {
		if (t == attach_tls)
			continue;
		if (t->seq & 1)
			t->seq++;
		t->top = 0;
		t->in_use = 0;
	}
}
