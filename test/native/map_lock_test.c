/* The shared writer lock (src-native/core/maps/map_lock.c) on its own: mutual exclusion between
 * threads and processes, the kernel marking a lock whose holder died (robust list, through libc's
 * head or, for a raw fork child, our own), the backstop for a holder the kernel was not told
 * about, the recover callback running once per death, nested locking from a signal handler,
 * and the TID in the word after fork. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src-native/core/maps/map_lock.h"
#include "check.h"

struct shared {
	struct bpftime_shlock lock;
	uint64_t counter;  /* incremented under the lock, non-atomically */
	uint32_t recovered;
	uint32_t child_tid;
};

static struct shared *sh;

static void recover(void *arg)
{
	((struct shared *)arg)->recovered++;
}

static uint32_t word(void) { return __atomic_load_n(&sh->lock.word, __ATOMIC_ACQUIRE); }

/* ---- mutual exclusion: threads and processes, contended (waiters sleep and are woken) ---- */

enum { THREADS = 4, PROCS = 3, ROUNDS = 100000 };

static void count(void)
{
	for (int i = 0; i < ROUNDS; i++) {
		if (bpftime_shlock_lock(&sh->lock, recover, sh) != 0)
			_exit(3);
		uint64_t c = sh->counter;
		if ((i & 1023) == 0)
			sched_yield(); /* hold it across a reschedule now and then: others must sleep */
		sh->counter = c + 1;
		bpftime_shlock_unlock(&sh->lock);
	}
}

static void *count_thread(void *arg)
{
	count();
	return NULL;
}

static void test_exclusion(void)
{
	sh->counter = 0;
	pid_t kids[PROCS];
	for (int p = 0; p < PROCS; p++) {
		kids[p] = fork();
		if (kids[p] == 0) {
			alarm(120);
			pthread_t t[THREADS];
			for (int i = 0; i < THREADS; i++)
				pthread_create(&t[i], NULL, count_thread, NULL);
			for (int i = 0; i < THREADS; i++)
				pthread_join(t[i], NULL);
			_exit(0);
		}
	}
	int clean = 1;
	for (int p = 0; p < PROCS; p++) {
		int st;
		waitpid(kids[p], &st, 0);
		clean &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	CHECK(clean);
	EQ(sh->counter, (uint64_t)PROCS * THREADS * ROUNDS);
	EQ(word(), 0);
	EQ(sh->recovered, 0);
}

/* ---- a holder SIGKILLed: the kernel marks the word, the next taker recovers ---- */

static long raw_fork(void)
{
	return syscall(SYS_fork); /* no libc fork handlers: the child's robust list is unset */
}

static void test_holder_killed(int raw)
{
	sh->recovered = 0;
	pid_t kid = raw ? (pid_t)raw_fork() : fork();
	if (kid == 0) {
		bpftime_shlock_lock(&sh->lock, recover, sh);
		sh->child_tid = (uint32_t)syscall(SYS_gettid);
		raise(SIGKILL);
		_exit(0);
	}
	waitpid(kid, NULL, 0);
	/* Before anyone waited: the kernel's robust-list walk at the child's death marked it. */
	EQ(sh->child_tid, (uint32_t)kid);
	EQ(word(), FUTEX_OWNER_DIED);
	EQ(bpftime_shlock_lock(&sh->lock, recover, sh), 0);
	EQ(sh->recovered, 1);
	EQ(word() & FUTEX_TID_MASK, (uint32_t)syscall(SYS_gettid));
	bpftime_shlock_unlock(&sh->lock);
	EQ(word(), 0);
	EQ(bpftime_shlock_lock(&sh->lock, recover, sh), 0); /* repaired once, not again */
	bpftime_shlock_unlock(&sh->lock);
	EQ(sh->recovered, 1);
}

/* A waiter asleep while the holder dies is woken by the kernel and takes over. */
static void test_waiter_woken(void)
{
	sh->recovered = 0;
	int go[2];
	if (pipe(go))
		return;
	pid_t holder = fork();
	if (holder == 0) {
		bpftime_shlock_lock(&sh->lock, recover, sh);
		char c = 1;
		if (write(go[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	char c;
	EQ(read(go[0], &c, 1), 1);
	pid_t waiter = fork();
	if (waiter == 0) {
		alarm(30);
		int rc = bpftime_shlock_lock(&sh->lock, recover, sh);
		bpftime_shlock_unlock(&sh->lock);
		_exit(rc == 0 && sh->recovered == 1 ? 0 : 2);
	}
	/* until the waiter sleeps with FUTEX_WAITERS set */
	for (int i = 0; i < 5000 && !(word() & FUTEX_WAITERS); i++)
		usleep(1000);
	CHECK(word() & FUTEX_WAITERS);
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	int st;
	waitpid(waiter, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	EQ(word(), 0);
	close(go[0]);
	close(go[1]);
}

/* The backstop: a word naming a thread that no longer exists, which no robust list covered (here
 * written by hand with a reaped child's TID), is taken over after a waiter's sleep slice. */
static void test_backstop(void)
{
	sh->recovered = 0;
	pid_t kid = fork();
	if (kid == 0)
		_exit(0);
	waitpid(kid, NULL, 0);
	__atomic_store_n(&sh->lock.word, (uint32_t)kid, __ATOMIC_RELEASE);
	EQ(bpftime_shlock_lock(&sh->lock, recover, sh), 0);
	EQ(sh->recovered, 1);
	bpftime_shlock_unlock(&sh->lock);
	EQ(word(), 0);
}

/* ---- nesting: a second lock from a signal handler while one is held ---- */

static struct bpftime_shlock *other;
static int nested_rc_same = 1, nested_rc_other = 1;

static void on_usr1(int sig)
{
	nested_rc_same = bpftime_shlock_lock(&sh->lock, NULL, NULL); /* held by us: -EBUSY */
	nested_rc_other = bpftime_shlock_lock(other, NULL, NULL);    /* free: taken */
	if (nested_rc_other == 0)
		bpftime_shlock_unlock(other);
}

static void *robust_pending(void)
{
	struct robust_list_head *head;
	size_t len;
	if (syscall(SYS_get_robust_list, 0, &head, &len) != 0)
		return (void *)-1;
	return head->list_op_pending;
}

static void test_nested(void)
{
	other = (struct bpftime_shlock *)(sh + 1);
	bpftime_shlock_init(other);
	signal(SIGUSR1, on_usr1);
	EQ(bpftime_shlock_lock(&sh->lock, NULL, NULL), 0);
	void *pending = robust_pending();
	CHECK(pending != NULL && pending != (void *)-1);
	raise(SIGUSR1);
	EQ(nested_rc_same, -EBUSY);
	EQ(nested_rc_other, 0);
	CHECK(robust_pending() == pending); /* the outer lock is still the one the kernel sees */
	bpftime_shlock_unlock(&sh->lock);
	CHECK(robust_pending() == NULL);
	EQ(word(), 0);
	EQ(other->word, 0);
	signal(SIGUSR1, SIG_DFL);
}

/* ---- after fork, the child's word holds the child's TID ---- */

static void test_fork_tid(void)
{
	EQ(bpftime_shlock_lock(&sh->lock, NULL, NULL), 0); /* fill this thread's cache */
	bpftime_shlock_unlock(&sh->lock);
	pid_t kid = fork();
	if (kid == 0) {
		bpftime_shlock_lock(&sh->lock, NULL, NULL);
		sh->child_tid = word() & FUTEX_TID_MASK;
		bpftime_shlock_unlock(&sh->lock);
		_exit(0);
	}
	waitpid(kid, NULL, 0);
	EQ(sh->child_tid, (uint32_t)kid);
}

int main(void)
{
	sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 1;
	EQ(bpftime_shlock_init(&sh->lock), 0);
	test_exclusion();
	test_holder_killed(0);
	test_holder_killed(1);
	test_waiter_woken();
	test_backstop();
	test_nested();
	test_fork_tid();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
