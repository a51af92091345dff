/* One lock for every write to the process's code (its text pages), shared by the uprobe engine
 * (attach/patch.c) and the syscall rewriting engine (syscall/rewrite.c).
 *
 * Both write code the same way: mprotect the page(s) r-x -> rwx, store, mprotect back to what the
 * page was. Two such writes on one page at the same moment would fault: the first to finish makes
 * the page r-x again while the other is still storing. Holding this lock from the check of the
 * bytes to the restored protection makes them take turns.
 *
 * The syscall engine rewrites from its SIGSYS handler, which must never wait: it only tries
 * (text_lock_try) and, when the lock is busy, lets that syscall go through the trap path and
 * rewrites the site at a later trap. The uprobe engine waits (text_lock_acquire); the holder it
 * waits for is then a rewrite, which is short and waits for nothing, or another probe patch
 * (those are serialised by the engine's own lock first).
 *
 * Header-only (a weak, hidden word) so that each engine's native test links it without the other,
 * and the agent library has exactly one. After fork only the forking thread exists: whoever held
 * the lock is gone (its half-done work is unpublished or checked again), so children reset it. */
#ifndef BPFTIME_AGENT_TEXT_LOCK_H
#define BPFTIME_AGENT_TEXT_LOCK_H
#include <sys/syscall.h>

__attribute__((weak, visibility("hidden"))) int bpftime_text_lock_word;

static inline int text_lock_try(void)
{
	return __atomic_exchange_n(&bpftime_text_lock_word, 1, __ATOMIC_ACQUIRE) == 0;
}

static inline void text_lock_release(void) { __atomic_store_n(&bpftime_text_lock_word, 0, __ATOMIC_RELEASE); }

static inline void text_lock_reset_after_fork(void) { text_lock_release(); }

/* Waits with a raw nanosleep (no libc wrapper: it may be the very function being patched). */
static inline void text_lock_acquire(void)
{
	while (!text_lock_try()) {
		struct {
			long sec, nsec;
		} ts = {0, 20000};
		long ret;
		__asm__ volatile("syscall"
				 : "=a"(ret)
				 : "a"((long)SYS_nanosleep), "D"(&ts), "S"(0L)
				 : "rcx", "r11", "memory");
		(void)ret;
	}
}
#endif
