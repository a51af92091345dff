/* Helpers about the current task: pid/tgid, uid/gid, comm, CPU, and the per-thread PRNG.
 *
 * "Current" is the calling thread, as in the kernel. pid_tgid is asked for by nearly every
 * tracing program, so it is cached per thread; the cache must not survive fork (the child's
 * copy of the forking thread's TLS would report the parent). Invalidation:
 *  - a process generation word on a MADV_WIPEONFORK page: the kernel zeroes it in the child of
 *    any fork, also raw fork/clone syscalls that bypass libc's atfork handlers;
 *  - pthread_atfork as well, for kernels without MADV_WIPEONFORK (< 4.14).
 * A thread's cache is valid while its recorded generation equals the process's. pid_tgid lives in
 * the thread's run state (helpers.h), which runners already hold, so the helper costs one
 * thread-local access; the PRNG state has its own generation here.
 */
#include <errno.h>
#include <stdio.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "helpers_internal.h"

struct thread_cache {
	uint64_t gen;      /* process generation the PRNG was seeded in; 0 = not seeded */
	uint64_t rnd;      /* xorshift64* state */
};

static __thread struct thread_cache tc;

static uint64_t fallback_gen;           /* used when MADV_WIPEONFORK is unavailable */
/* switched to the wipe-on-fork page once set up */
uint64_t *volatile bpftime_pid_gen_word = &fallback_gen;
#define gen_word bpftime_pid_gen_word

static void atfork_child(void)
{
	fallback_gen = 0;
	tc.gen = 0;
	bpftime_run_state.pid_gen = 0;
}

static void gen_init(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p != MAP_FAILED) {
		if (madvise(p, 4096, MADV_WIPEONFORK) == 0)
			__atomic_store_n(&gen_word, (uint64_t *)p, __ATOMIC_RELEASE);
		else
			munmap(p, 4096);
	}
	pthread_atfork(NULL, NULL, atfork_child);
}

/* Set up once, without blocking. A syscall hook may call in here at any point: from fork()'s own
 * clone (libc holds the atfork lock that pthread_atfork() takes) or from a syscall that gen_init
 * itself makes (re-entering a pthread_once would wait on itself). So the set-up is done when the
 * library loads, and a caller that finds it under way goes on with the fallback word. */
static int gen_state; /* 0: not started, 1: under way, 2: done */

static void ensure_gen(void)
{
	if (__atomic_load_n(&gen_state, __ATOMIC_ACQUIRE) == 2)
		return;
	int expected = 0;
	if (!__atomic_compare_exchange_n(&gen_state, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	gen_init();
	__atomic_store_n(&gen_state, 2, __ATOMIC_RELEASE);
}

__attribute__((constructor)) static void gen_init_at_load(void)
{
	ensure_gen();
}

/* The current process generation, set on first use in each process: pid-derived, so a child's
 * differs from the parent's whose TLS it inherited. Also the key of map_lock.c's thread cache. */
uint64_t bpftime_process_gen(void)
{
	uint64_t *w = __atomic_load_n(&gen_word, __ATOMIC_ACQUIRE);
	uint64_t g = __atomic_load_n(w, __ATOMIC_ACQUIRE);
	if (g)
		return g;
	uint64_t want = ((uint64_t)getpid() << 1) | 1, expected = 0;
	__atomic_compare_exchange_n(w, &expected, want, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	return __atomic_load_n(w, __ATOMIC_ACQUIRE);
}

static uint64_t seed_rnd(uint64_t pid_tgid)
{
	uint64_t s;
	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		s = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ pid_tgid ^ (uint64_t)ts.tv_sec;
	}
	return s ? s : 0x2545f4914f6cdd1dull;
}

/* Out of line: inlined, its calls made bpf_get_current_pid_tgid and every caller of the cache save
 * and restore four registers on each hit to serve the one miss after a fork. */
__attribute__((noinline)) uint64_t bpftime_pid_tgid_refill(struct bpftime_run_state *s)
{
	ensure_gen();
	uint64_t g = bpftime_process_gen();
	uint64_t pt = ((uint64_t)(uint32_t)getpid() << 32) | (uint32_t)syscall(SYS_gettid);
	s->pid_tgid = pt;
	s->pid_gen = g;
	return pt;
}

static inline int rnd_valid(void)
{
	uint64_t g = __atomic_load_n(__atomic_load_n(&gen_word, __ATOMIC_ACQUIRE), __ATOMIC_RELAXED);
	return __builtin_expect(g != 0 && tc.gen == g, 1);
}

static __attribute__((noinline)) void rnd_refill(void)
{
	uint64_t pt = bpftime_current_pid_tgid();
	tc.rnd = seed_rnd(pt);
	tc.gen = bpftime_run_state.pid_gen;
}

uint64_t bpftime_current_pid_tgid(void)
{
	return bpftime_run_state_pid_tgid(bpftime_run_state_get());
}

void bpftime_helpers_thread_reset(void)
{
	bpftime_run_state.pid_gen = 0;
	tc.gen = 0;
}

/* The thread's cache says pid_tgid from now on (until a fork), at no cost to the helper. */
void bpftime_helpers_run_as(uint64_t pid_tgid)
{
	struct bpftime_run_state *s = bpftime_run_state_get();
	(void)bpftime_run_state_pid_tgid(s);
	s->pid_tgid = pid_tgid;
}

static int in_idle_tick(void)
{
	struct bpftime_run_ctx *rc = bpftime_run_ctx_get();
	return rc && rc->idle;
}

BPFTIME_HELPER(get_current_pid_tgid)
{
	struct bpftime_run_state *s = bpftime_run_state_get();
	if (__builtin_expect(s->ctx != NULL && s->ctx->idle, 0))
		return 0;
	return bpftime_run_state_pid_tgid(s);
}

/* gid << 32 | uid: the real ids (current_uid/current_gid). Not cached: setuid() may change
 * them at any time. In a user namespace these are the namespace's ids; the kernel reports
 * init_user_ns ids. */
BPFTIME_HELPER(get_current_uid_gid)
{
	if (in_idle_tick())
		return 0;
	return ((uint64_t)(uint32_t)getgid() << 32) | (uint32_t)getuid();
}

/* bpf_get_current_comm(buf, size): the calling thread's name (what pthread_setname_np and
 * prctl(PR_SET_NAME) set, the executable's basename by default), strscpy_pad semantics:
 * at most size - 1 bytes, NUL-terminated, rest zero-filled. 0, or -EINVAL with buf zeroed. */
BPFTIME_HELPER(get_current_comm)
{
	char *buf = (char *)(uintptr_t)r1;
	uint32_t size = (uint32_t)r2;
	char name[17] = {0}; /* TASK_COMM_LEN + 1 for safety */
	if (!buf || size == 0)
		return (uint64_t)-EINVAL;
	if (in_idle_tick())
		snprintf(name, sizeof(name), "swapper/%d", bpftime_current_cpu());
	else if (prctl(PR_GET_NAME, name, 0, 0, 0) != 0) {
		memset(buf, 0, size);
		return (uint64_t)-EINVAL;
	}
	size_t n = strnlen(name, 16);
	if (n > size - 1)
		n = size - 1;
	memcpy(buf, name, n);
	memset(buf + n, 0, size - n);
	return 0;
}

/* The CPU of the running program: fixed for the run (see bpftime_run_ctx_set). */
BPFTIME_HELPER(get_smp_processor_id)
{
	return (uint64_t)bpftime_current_cpu();
}

/* A per-thread xorshift64* stream (the kernel keeps one per CPU), reseeded after fork so
 * parent and child do not repeat each other. Not cryptographic, as the kernel's isn't. */
BPFTIME_HELPER(get_prandom_u32)
{
	if (!rnd_valid())
		rnd_refill();
	uint64_t x = tc.rnd;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	tc.rnd = x;
	return (uint32_t)((x * 0x2545f4914f6cdd1dull) >> 32);
}
