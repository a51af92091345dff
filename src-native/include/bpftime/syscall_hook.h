/* The agent's syscall interception engine: every syscall of every thread of the process reaches a
 * callback before and after the kernel runs it, with no page-zero mapping, sysctl or privilege.
 *
 * Discovery is Syscall User Dispatch (prctl PR_SET_SYSCALL_USER_DISPATCH): a `syscall` instruction
 * outside the engine's own code raises SIGSYS instead of entering the kernel. The engine then runs
 * the syscall through its trampoline and, where it can prove it safe, rewrites that site so the next
 * time costs a jump instead of a signal. Code loaded later (dlopen) and generated code are discovered
 * the same way. See src-native/agent/syscall/README.md for the mechanism and its limits. */
#ifndef BPFTIME_SYSCALL_HOOK_H
#define BPFTIME_SYSCALL_HOOK_H
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Called on the thread making the syscall. nr and args as the kernel sees them
 * (args[0..5] = rdi, rsi, rdx, r10, r8, r9).
 * enter: may return BPFTIME_SYSCALL_SKIP with c->ret set to make the syscall not happen (error
 *        injection); else BPFTIME_SYSCALL_RUN. Changes to c->args are what the kernel gets.
 * exit:  sees the return value in c->ret (nr and args as at enter). Not called for syscalls that do
 *        not return (rt_sigreturn, exit, a successful execve).
 * regs: the kernel-layout struct pt_regs of the caller at the syscall instruction (rip = the
 * address after it, orig_ax = nr, ax = -ENOSYS at enter and the result at exit).
 * Callbacks may make syscalls themselves (helpers: getpid, clock_gettime, ...): those run without
 * callbacks. They may use SSE registers freely (xmm0-15 are preserved for the caller) but must not
 * leave AVX upper halves or x87 state changed. */
struct bpftime_syscall_ctx {
	long nr;
	long args[6];
	long ret;
	void *regs;
};
enum { BPFTIME_SYSCALL_RUN = 0, BPFTIME_SYSCALL_SKIP = 1 };
typedef int (*bpftime_syscall_enter_fn)(struct bpftime_syscall_ctx *c);
typedef void (*bpftime_syscall_exit_fn)(struct bpftime_syscall_ctx *c);

/* Start (or, when already started, switch to these callbacks; either may be NULL). Arms the calling
 * thread at once and every other thread of the process by a signal (SIGSYS, queued with a marker);
 * threads created later are armed as they start. Waits up to ~1 s for the other threads to arm: a
 * thread that keeps SIGSYS blocked (or is stopped) is armed when it unblocks it; meanwhile it is only
 * intercepted at already rewritten sites (bpftime_syscall_hook_get_stats: threads_pending).
 * Returns 0 or -errno (-ENOSYS: the kernel has no Syscall User Dispatch), with a message in err. */
int bpftime_syscall_hook_start(bpftime_syscall_enter_fn enter, bpftime_syscall_exit_fn exit, char *err,
			       size_t errlen);

/* Which syscalls the callbacks are for; every one until this is first called. want[nr] (nr < n) is
 * BPFTIME_SYSCALL_WANT_ENTER | _EXIT or 0, `other` is OR'ed into every number (raw_syscalls) and
 * is what numbers from 1024 up (and negative ones) get. An armed thread runs a syscall nobody wants
 * plainly, without building a frame; the enter (exit) callback is only called for numbers that
 * want it. Syscalls the engine handles itself (clone, vfork, fork, rt_sigreturn, signal masks) may
 * still reach both callbacks. Takes effect at once for every thread; may be called from a
 * callback (it makes no syscall and takes no lock a callback could hold). */
enum { BPFTIME_SYSCALL_WANT_ENTER = 1, BPFTIME_SYSCALL_WANT_EXIT = 2 };
void bpftime_syscall_hook_want(const unsigned char *want, size_t n, unsigned char other);

/* No more callbacks from the moment it returns (a callback already running on another thread may
 * still finish: stop waits up to 1 s for those). Each thread then turns Syscall User Dispatch off for
 * itself at its next syscall; rewritten sites stay and cost a few ns. */
void bpftime_syscall_hook_stop(void);

/* The calling thread (the agent's own threads) never runs callbacks (excluded = 1), is not armed,
 * and is not signalled by start. excluded = 0 undoes it (the thread is armed at the next start). */
void bpftime_syscall_hook_exclude_thread(int excluded);

/* Threads of the process that belong to its host, not to the application, for which owns(tid)
 * says nonzero: start() neither signals them nor waits for them to arm, so they stay untraced.
 * In a tool's process that is the shim's server watcher, which blocks every signal (start would
 * wait 20 ms for it before reading its mask). */
void bpftime_syscall_hook_foreign_threads(int (*owns)(int tid));

struct bpftime_syscall_hook_stats {
	unsigned long traps;		/* SIGSYS raised by Syscall User Dispatch */
	unsigned long sites_rewritten;	/* syscall sites now jumping to a stub */
	unsigned long sites_unrewritable; /* sites that keep trapping (no safe rewrite; see README) */
	unsigned long threads_armed;	/* arm operations done (threads, children, re-arms) */
	unsigned long threads_pending;	/* threads signalled by the last start that have not armed yet */
};
void bpftime_syscall_hook_get_stats(struct bpftime_syscall_hook_stats *st);

#ifdef __cplusplus
}
#endif
#endif
