// The uprobe engine (src-native/agent/attach) and the syscall rewriting engine
// (src-native/agent/syscall) both write code pages (mprotect rwx, store, mprotect back). This test
// makes them do it on the same pages at the same time: 256 functions with a syscall site (each
// rewritten at its first trap) interleaved in the text with 256 functions that get a uprobe,
// attached and detached over and over by one thread while three threads make the syscalls. Each
// round runs in a fresh fork (so its sites are pristine) and must exit cleanly with every call's
// result, every probe hit and every syscall callback accounted for. Without the shared text lock
// (src-native/agent/text_lock.h) the engines restore each other's page protection mid-write.
// Build and run from the repository root:
//
//   gcc -O2 -g -Isrc-native/include test/native/text_lock_test.c src-native/agent/attach/*.c src-native/agent/attach/*.S src-native/agent/syscall/*.c src-native/agent/syscall/*.S -lZydis -lpthread -o /tmp/text_lock_test && /tmp/text_lock_test
//
// Ends with "N passed, M failed"; exits non-zero on any failure. For test/native/run.sh:
// native-test-extra: src-native/agent/attach/*.c src-native/agent/attach/*.S src-native/agent/syscall/*.c src-native/agent/syscall/*.S -lZydis
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpftime/attach.h"
#include "bpftime/syscall_hook.h"
#include "check.h"

/* A syscall site of the rewritable kind glibc has most (a 5-byte `mov $nr,%eax` before it), and a
 * probe-able function, alternating in the text so that both engines write the same pages. */
#define SYSFN(i)                                                                                  \
	__attribute__((noinline)) static long sysfn_##i(void)                                   \
	{                                                                                         \
		long r;                                                                           \
		__asm__ volatile("mov $" "110" ", %%eax\n\tsyscall" : "=a"(r) : : "rcx", "r11", "memory"); \
		return r;                                                                         \
	}
#define UPFN(i)                                                                    \
	__attribute__((noinline)) static int upfn_##i(int x)                       \
	{                                                                          \
		__asm__ volatile("" ::: "memory");                                 \
		return x * 7 + (int)(0x##i % 97);                                  \
	}
#define PAIR(i) SYSFN(i) UPFN(i)
#define P4(a) PAIR(a##0) PAIR(a##1) PAIR(a##2) PAIR(a##3)
#define P16(a) P4(a##0) P4(a##1) P4(a##2) P4(a##3)
#define P64(a) P16(a##0) P16(a##1) P16(a##2) P16(a##3)
#define P256(a) P64(a##0) P64(a##1) P64(a##2) P64(a##3)
P256(1)

#define T4(a, f) f##a##0, f##a##1, f##a##2, f##a##3,
#define T16(a, f) T4(a##0, f) T4(a##1, f) T4(a##2, f) T4(a##3, f)
#define T64(a, f) T16(a##0, f) T16(a##1, f) T16(a##2, f) T16(a##3, f)
#define T256(a, f) T64(a##0, f) T64(a##1, f) T64(a##2, f) T64(a##3, f)
#define N 256
static long (*const sysfns[N])(void) = {T256(1, sysfn_)};
static int (*const upfns[N])(int) = {T256(1, upfn_)};
/* The value upfn i returns for x (its name is i's digits in base 4, read as hex). */
static int upfn_expect(int i, int x)
{
	unsigned hex = 1;
	for (int d = 3; d >= 0; d--)
		hex = hex * 16 + ((unsigned)i >> (2 * d) & 3);
	return x * 7 + (int)(hex % 97);
}

static long enters, exits, getppids;
static int on_enter(struct bpftime_syscall_ctx *c)
{
	__atomic_add_fetch(&enters, 1, __ATOMIC_RELAXED);
	if (c->nr == SYS_getppid)
		__atomic_add_fetch(&getppids, 1, __ATOMIC_RELAXED);
	return BPFTIME_SYSCALL_RUN;
}
static void on_exit_cb(struct bpftime_syscall_ctx *c) { __atomic_add_fetch(&exits, 1, __ATOMIC_RELAXED); }

static long hits;
static int on_hit(void *data, struct pt_regs *regs)
{
	__atomic_add_fetch(&hits, 1, __ATOMIC_RELAXED);
	return BPFTIME_PROBE_CONTINUE;
}

static pid_t parent;
static int callers_done;
static long bad_results;

static void *caller(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	for (int pass = 0; pass < 4; pass++)
		for (int k = 0; k < N; k++) {
			int i = (int)((k * 97u + seed * 61u + (unsigned)pass * 13u) % N); /* each thread its own order */
			if (sysfns[i]() != parent)
				__atomic_add_fetch(&bad_results, 1, __ATOMIC_RELAXED);
		}
	__atomic_add_fetch(&callers_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* One round in a fresh process: exit status 0 when everything added up. */
static int round_child(void)
{
	parent = getppid();
	char err[256];
	if (bpftime_syscall_hook_start(on_enter, on_exit_cb, err, sizeof(err)) != 0) {
		fprintf(stderr, "syscall hook: %s\n", err);
		return 2;
	}
	pthread_t th[3];
	for (int t = 0; t < 3; t++)
		pthread_create(&th[t], NULL, caller, (void *)(uintptr_t)(t + 1));
	long attached = 0, calls = 0, attach_failures = 0;
	/* At least 3 passes, and on until the callers are done (bounded). */
	for (int pass = 0; pass < 3 || (__atomic_load_n(&callers_done, __ATOMIC_ACQUIRE) < 3 && pass < 200); pass++) {
		for (int i = 0; i < N; i++) {
			struct bpftime_probe *p;
			if (bpftime_probe_attach((void *)upfns[i], 0, on_hit, NULL, &p, err, sizeof(err)) != 0) {
				if (attach_failures++ == 0)
					fprintf(stderr, "attach upfn %d: %s\n", i, err);
				continue;
			}
			attached++;
			calls++;
			if (upfns[i](i) != upfn_expect(i, i))
				__atomic_add_fetch(&bad_results, 1, __ATOMIC_RELAXED);
			bpftime_probe_detach(p);
		}
	}
	for (int t = 0; t < 3; t++)
		pthread_join(th[t], NULL);
	bpftime_syscall_hook_stop();
	struct bpftime_syscall_hook_stats st;
	bpftime_syscall_hook_get_stats(&st);
	int ok = bad_results == 0 && attach_failures == 0 && hits == calls && attached == calls &&
		 getppids >= 3 * 4 * N && enters >= exits && st.sites_rewritten > 0;
	if (!ok)
		fprintf(stderr, "bad=%ld attach_failures=%ld hits=%ld calls=%ld getppids=%ld rewritten=%lu\n", bad_results,
			attach_failures, hits, calls, getppids, st.sites_rewritten);
	return ok ? 0 : 1;
}

int main(void)
{
	int rounds = 60, clean = 0;
	for (int r = 0; r < rounds; r++) {
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0)
			_exit(round_child());
		int status = 0;
		waitpid(pid, &status, 0);
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
			clean++;
		else if (WIFSIGNALED(status))
			fprintf(stderr, "round %d: killed by signal %d (%s)\n", r, WTERMSIG(status), strsignal(WTERMSIG(status)));
		else
			fprintf(stderr, "round %d: exit %d\n", r, WEXITSTATUS(status));
	}
	printf("%d of %d rounds clean (uprobes patched and syscall sites rewritten on the same pages at once)\n", clean,
	       rounds);
	EQ(clean, rounds);
	/* The functions really share pages: otherwise this test proves nothing. */
	int shared = 0;
	for (int i = 0; i < N; i++)
		shared += ((uintptr_t)sysfns[i] >> 12) == ((uintptr_t)upfns[i] >> 12);
	CHECK(shared > N / 2);
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
