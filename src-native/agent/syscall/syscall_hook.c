/* Public API of the syscall interception engine: start/stop, arming threads, the SIGSYS handler.
 *
 * Arming a thread = prctl(PR_SET_SYSCALL_USER_DISPATCH, ON, <entry.S's section>, &selector) with
 * SIGSYS unblocked. The prctl only acts on the calling thread and is not inherited by new tasks, so:
 *   - start() arms the caller, then queues a marked SIGSYS to every other thread, whose handler
 *     arms it (and takes SIGSYS out of the mask it returns to); it waits up to ~1 s for them,
 *     giving up early on threads that block SIGSYS or are stopped (they arm when the signal gets
 *     through). A thread that was missed is also armed at its first syscall through a rewritten site;
 *   - children arm themselves in the trampoline before running application code (dispatch.c);
 *   - stop() only clears the active flag: each armed thread turns dispatch off at its next syscall.
 *
 * The SIGSYS handler: a trap from dispatch (si_code SYS_USER_DISPATCH) tries to rewrite the site
 * (rewrite.c) and sends the thread into the trampoline (syshook_sud_entry, with the resume address
 * in rcx, which `syscall` clobbers anyway); it never runs the syscall itself, so clone, vfork and
 * rt_sigreturn are handled in one place. Any other SIGSYS (seccomp, kill) goes to the
 * application's handler, which rt_sigaction only sees virtually once ours is in place. */
#include "syshook_internal.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>

#ifndef PR_SET_SYSCALL_USER_DISPATCH
#define PR_SET_SYSCALL_USER_DISPATCH 59
#endif
#define PR_SYS_DISPATCH_OFF_ 0
#define PR_SYS_DISPATCH_ON_ 1
#define DISPATCH_BLOCK 1 /* SYSCALL_DISPATCH_FILTER_BLOCK */
#ifndef SYS_USER_DISPATCH
#define SYS_USER_DISPATCH 2 /* si_code of a dispatch SIGSYS */
#endif
#define SA_RESTORER_ 0x04000000

volatile uint8_t syshook_active;
uint8_t syshook_special[SPECIAL_NR_MAX];
/* What the callbacks want (bpftime_syscall_hook_want): every syscall until told otherwise. */
uint8_t syshook_want[WANT_NR_MAX] = { [0 ... WANT_NR_MAX - 1] = BPFTIME_SYSCALL_WANT_ENTER | BPFTIME_SYSCALL_WANT_EXIT };
uint8_t syshook_want_other = BPFTIME_SYSCALL_WANT_ENTER | BPFTIME_SYSCALL_WANT_EXIT;
uint8_t syshook_hot[SPECIAL_NR_MAX] = { [0 ... SPECIAL_NR_MAX - 1] = 1 };
bpftime_syscall_enter_fn volatile syshook_enter_cb;
bpftime_syscall_exit_fn volatile syshook_exit_cb;
struct bpftime_syscall_hook_stats syshook_stats;
int syshook_handler_installed;

/* Never changes: the selector only exists so that the kernel checks a byte we own. */
static volatile char selector = DISPATCH_BLOCK;
/* The application's SIGSYS action (virtual): two copies and the index of the current one, so the
 * SIGSYS handler reads it without a lock (it may interrupt a writer); writers take a lock. */
static struct ksigaction app_sigsys[2];
static volatile int app_sigsys_cur;
static volatile int app_sigsys_lock;
static int initialized;
static volatile int ctl_lock; /* start/stop/exclude */
static const int arm_marker = 0x5ca11;

static void spin_lock(volatile int *l)
{
	while (__atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE))
		syshook_sleep_ns(50000);
}
static void spin_unlock(volatile int *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

static int errmsg(char *err, size_t errlen, int rc, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", msg, strerror(-rc));
	return rc;
}

/* ---- arming ---- */
int syshook_arm_self(struct syshook_tls *t)
{
	uint64_t bit = SYSHOOK_SIGSYS_BIT;
	raw4(SYS_rt_sigprocmask, SIG_UNBLOCK, &bit, NULL, 8);
	long rc = raw5(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_ON_, (long)syshook_text_start,
		       (long)(syshook_text_end - syshook_text_start), &selector);
	if (rc == 0) {
		t->armed = 1;
		__atomic_fetch_add(&syshook_stats.threads_armed, 1, __ATOMIC_RELAXED);
	}
	return (int)rc;
}

void syshook_disarm_self(struct syshook_tls *t)
{
	raw5(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF_, 0, 0, 0);
	t->armed = 0;
}

/* ---- threads to arm at start ---- */
#define MAX_ROSTER 8192
static struct {
	volatile int tid;
	volatile int acked;
	int given_up;
	struct syshook_blocked blocked; /* what it was blocked in when signalled */
} roster[MAX_ROSTER];
static volatile int roster_n;

#define MAX_EXCLUDED 64
static volatile int excluded_tids[MAX_EXCLUDED];

static int (*foreign_owns)(int tid);

void bpftime_syscall_hook_foreign_threads(int (*owns)(int tid))
{
	__atomic_store_n(&foreign_owns, owns, __ATOMIC_RELEASE);
}

static int is_excluded_tid(int tid)
{
	for (int i = 0; i < MAX_EXCLUDED; i++)
		if (excluded_tids[i] == tid)
			return 1;
	int (*owns)(int) = __atomic_load_n(&foreign_owns, __ATOMIC_ACQUIRE);
	return owns && owns(tid);
}

static void ack(int tid)
{
	int n = roster_n;
	for (int i = 0; i < n; i++)
		if (roster[i].tid == tid)
			roster[i].acked = 1;
}

/* A thread that blocks SIGSYS or is stopped will not take our signal soon: do not wait for it. */
static int unreachable(int tid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	long fd = raw3(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	long n = raw3(SYS_read, fd, buf, sizeof(buf) - 1);
	raw1(SYS_close, fd);
	if (n <= 0)
		return 1;
	buf[n] = 0;
	const char *st = strstr(buf, "\nState:\t");
	if (st && (st[8] == 'T' || st[8] == 't' || st[8] == 'Z' || st[8] == 'X'))
		return 1;
	const char *blk = strstr(buf, "\nSigBlk:\t");
	if (blk) {
		unsigned long long m = strtoull(blk + 9, NULL, 16);
		if (m & SYSHOOK_SIGSYS_BIT)
			return 1;
	}
	return 0;
}

/* Signal each thread not yet in the roster; returns how many were new. */
static int signal_new_threads(int me, int pid)
{
	long fd = raw3(SYS_openat, AT_FDCWD, "/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	char buf[4096];
	int fresh = 0;
	for (;;) {
		long n = raw3(SYS_getdents64, fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			off += d->d_reclen;
			int tid = atoi(d->d_name);
			if (tid <= 0 || tid == me || is_excluded_tid(tid))
				continue;
			int known = 0;
			for (int i = 0; i < roster_n && !known; i++)
				known = roster[i].tid == tid;
			if (known || roster_n == MAX_ROSTER)
				continue;
			int i = roster_n;
			roster[i].tid = tid;
			roster[i].acked = 0;
			roster[i].given_up = 0;
			syshook_blocked_read(tid, &roster[i].blocked);
			__atomic_store_n(&roster_n, i + 1, __ATOMIC_RELEASE);
			siginfo_t si;
			memset(&si, 0, sizeof(si));
			si.si_signo = SIGSYS;
			si.si_code = SI_QUEUE;
			si.si_pid = pid;
			si.si_uid = (uid_t)raw0(SYS_getuid);
			si.si_value.sival_ptr = (void *)&arm_marker;
			if (raw4(SYS_rt_tgsigqueueinfo, pid, tid, SIGSYS, &si) < 0)
				roster[i].given_up = 1; /* gone already */
			fresh++;
		}
	}
	raw1(SYS_close, fd);
	return fresh;
}

static void arm_others(void)
{
	int me = (int)syshook_gettid(), pid = (int)syshook_getpid();
	__atomic_store_n(&roster_n, 0, __ATOMIC_RELEASE);
	long t0 = syshook_now_ns();
	int checked_reach = 0;
	for (;;) {
		/* Threads created meanwhile by threads not armed yet were not born armed: rescan. */
		int fresh = signal_new_threads(me, pid);
		int pending = 0, waiting = 0;
		for (int i = 0; i < roster_n; i++) {
			if (roster[i].acked || roster[i].given_up)
				continue;
			if (raw3(SYS_tgkill, pid, roster[i].tid, 0) == -ESRCH) {
				roster[i].given_up = 1;
				continue;
			}
			pending++;
			if (!checked_reach || !unreachable(roster[i].tid))
				waiting++;
		}
		long elapsed = syshook_now_ns() - t0;
		if (elapsed > 20000000L)
			checked_reach = 1;
		if ((!fresh && !waiting) || elapsed > 1000000000L) {
			syshook_stats.threads_pending = (unsigned long)pending;
			return;
		}
		syshook_sleep_ns(500000);
	}
}

/* ---- SIGSYS ---- */
static struct ksigaction app_action(void)
{
	return app_sigsys[__atomic_load_n(&app_sigsys_cur, __ATOMIC_ACQUIRE) & 1];
}

static void set_app_action(const struct ksigaction *a)
{
	int cur = __atomic_load_n(&app_sigsys_cur, __ATOMIC_RELAXED) & 1;
	app_sigsys[!cur] = *a;
	__atomic_store_n(&app_sigsys_cur, !cur, __ATOMIC_RELEASE);
}

static void chain(int sig, siginfo_t *si, void *uc)
{
	struct ksigaction a = app_action();
	if ((a.flags & SA_RESETHAND) && !__atomic_exchange_n(&app_sigsys_lock, 1, __ATOMIC_ACQUIRE)) {
		struct ksigaction dfl = {SIG_DFL, 0, NULL, 0};
		set_app_action(&dfl);
		spin_unlock(&app_sigsys_lock);
	}
	if (a.handler == SIG_IGN)
		return;
	if (a.handler == SIG_DFL) {
		/* Without us this signal would have killed the process (dumping core): let it. */
		struct ksigaction dfl = {SIG_DFL, 0, NULL, 0};
		raw4(SYS_rt_sigaction, SIGSYS, &dfl, NULL, 8);
		raw3(SYS_tgkill, syshook_getpid(), syshook_gettid(), SIGSYS);
		return;
	}
	/* The handler's mask, but never SIGSYS (see dispatch.c); our return restores the old mask. */
	uint64_t m = a.mask & ~SYSHOOK_SIGSYS_BIT;
	raw4(SYS_rt_sigprocmask, SIG_BLOCK, &m, NULL, 8);
	if (a.flags & SA_SIGINFO)
		((void (*)(int, siginfo_t *, void *))a.handler)(sig, si, uc);
	else
		((void (*)(int))a.handler)(sig);
}

static void sigsys_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	greg_t *g = uc->uc_mcontext.gregs;
	if (si->si_code == SYS_USER_DISPATCH) {
		uintptr_t resume = (uintptr_t)g[REG_RIP];
		const uint8_t *insn = (const uint8_t *)(resume - 2);
		__atomic_fetch_add(&syshook_stats.traps, 1, __ATOMIC_RELAXED);
		if (insn[0] == 0x0f && insn[1] == 0x05) {
			syshook_rewrite_site(resume - 2);
			g[REG_RCX] = (greg_t)resume;
			g[REG_RIP] = (greg_t)syshook_sud_entry;
		} else {
			/* int $0x80 from 64-bit code: the 32-bit ABI; run it untraced. */
			g[REG_RAX] = syshook_raw_int80(g[REG_RAX], g[REG_RBX], g[REG_RCX], g[REG_RDX], g[REG_RSI],
						       g[REG_RDI], g[REG_RBP]);
		}
		return;
	}
	if (si->si_code == SI_QUEUE && si->si_value.sival_ptr == (void *)&arm_marker &&
	    si->si_pid == (pid_t)syshook_getpid()) {
		struct syshook_tls *t = &syshook_tls;
		if (__atomic_load_n(&syshook_active, __ATOMIC_RELAXED) && !t->excluded)
			syshook_arm_self(t);
		/* The mask restored on return: keep SIGSYS out of it. */
		((uint64_t *)&uc->uc_sigmask)[0] &= ~SYSHOOK_SIGSYS_BIT;
		int tid = (int)syshook_gettid(), n = roster_n;
		for (int i = 0; i < n; i++)
			if (roster[i].tid == tid)
				syshook_restart_if_interrupted(ucv, &roster[i].blocked, t->armed); /* arm_restart.c */
		ack(tid);
		return;
	}
	chain(sig, si, ucv);
}

int syshook_sigsys_action(const struct ksigaction *act, struct ksigaction *old)
{
	spin_lock(&app_sigsys_lock);
	if (old)
		*old = app_action();
	if (act)
		set_app_action(act);
	spin_unlock(&app_sigsys_lock);
	return 0;
}

static int install_handler(void)
{
	struct ksigaction cur;
	long rc = raw4(SYS_rt_sigaction, SIGSYS, NULL, &cur, 8);
	if (rc < 0)
		return (int)rc;
	if (cur.handler == (void *)sigsys_handler)
		return 0;
	/* SA_NODEFER: SIGSYS is never blocked, not even inside this handler (dispatch.c). */
	struct ksigaction sa = {(void *)sigsys_handler, SA_SIGINFO | SA_RESTART | SA_NODEFER | SA_RESTORER_,
				(void *)syshook_restorer, 0};
	spin_lock(&app_sigsys_lock);
	set_app_action(&cur);
	spin_unlock(&app_sigsys_lock);
	rc = raw4(SYS_rt_sigaction, SIGSYS, &sa, NULL, 8);
	if (rc == 0)
		syshook_handler_installed = 1;
	return (int)rc;
}

/* Handlers installed before we started may block SIGSYS while they run. */
static void sanitize_handler_masks(void)
{
	for (int sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP || sig == SIGSYS)
			continue;
		struct ksigaction cur;
		if (raw4(SYS_rt_sigaction, sig, NULL, &cur, 8) < 0)
			continue;
		if (cur.handler == SIG_DFL || cur.handler == SIG_IGN || !(cur.mask & SYSHOOK_SIGSYS_BIT))
			continue;
		cur.mask &= ~SYSHOOK_SIGSYS_BIT;
		raw4(SYS_rt_sigaction, sig, &cur, NULL, 8);
	}
}

/* Guards the want tables' writers only (no syscall inside: a callback may take it). */
static volatile int want_lock;

/* syshook_hot from syshook_special and the want tables; called with want_lock held. */
static void recompute_hot(void)
{
	for (int b = 0; b < SPECIAL_NR_MAX; b++) {
		uint8_t h = syshook_special[b] | (syshook_want_other != 0);
		for (int nr = b; nr < WANT_NR_MAX; nr += SPECIAL_NR_MAX)
			h |= syshook_want[nr] != 0;
		__atomic_store_n(&syshook_hot[b], h ? 1 : 0, __ATOMIC_RELAXED);
	}
}

void bpftime_syscall_hook_want(const uint8_t *want, size_t n, uint8_t other)
{
	spin_lock(&want_lock);
	/* want before hot: a thread that finds a number hot finds what is wanted of it. */
	for (size_t nr = 0; nr < WANT_NR_MAX; nr++)
		__atomic_store_n(&syshook_want[nr], (uint8_t)((nr < n ? want[nr] : 0) | other), __ATOMIC_RELAXED);
	__atomic_store_n(&syshook_want_other, other, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	recompute_hot();
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	spin_unlock(&want_lock);
}

static void init_special(void)
{
	static const int nrs[] = {SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigreturn, SYS_rt_sigsuspend,
				  SYS_ppoll,	     SYS_pselect6,	 SYS_epoll_pwait,   SYS_epoll_pwait2,
				  SYS_io_pgetevents, SYS_clone,		 SYS_clone3,	    SYS_vfork,
				  SYS_fork /* the child must arm itself: C */};
	for (size_t i = 0; i < sizeof(nrs) / sizeof(nrs[0]); i++)
		syshook_special[nrs[i] & (SPECIAL_NR_MAX - 1)] = 1;
	spin_lock(&want_lock);
	recompute_hot();
	spin_unlock(&want_lock);
}

static int membarrier_expedited(void)
{
	long rc = raw2(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0);
	if (rc == -EPERM && raw2(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0) == 0)
		rc = raw2(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0);
	return (int)rc;
}

/* ---- API ---- */
int bpftime_syscall_hook_start(bpftime_syscall_enter_fn enter, bpftime_syscall_exit_fn exit, char *err,
			       size_t errlen)
{
	struct syshook_tls *t = &syshook_tls;
	spin_lock(&ctl_lock);
	if (__atomic_load_n(&syshook_active, __ATOMIC_ACQUIRE)) {
		syshook_enter_cb = enter;
		syshook_exit_cb = exit;
		spin_unlock(&ctl_lock);
		return 0;
	}
	int rc = 0;
	if (!initialized) {
		/* Turning it off is harmless and tells whether the kernel has it at all. */
		long probe = raw5(SYS_prctl, PR_SET_SYSCALL_USER_DISPATCH, PR_SYS_DISPATCH_OFF_, 0, 0, 0);
		if (probe < 0) {
			spin_unlock(&ctl_lock);
			return errmsg(err, errlen, -ENOSYS, "Syscall User Dispatch is not available");
		}
		init_special();
		if ((rc = syshook_slots_init()) < 0) {
			spin_unlock(&ctl_lock);
			return errmsg(err, errlen, rc, "cannot reserve the thread table");
		}
		raw2(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0);
		raw2(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0);
		syshook_rewrite_init();
		initialized = 1;
	}
	/* Again at every start: something may have replaced ours through a path we did not see. */
	if ((rc = install_handler()) < 0) {
		spin_unlock(&ctl_lock);
		return errmsg(err, errlen, rc, "cannot install the SIGSYS handler");
	}
	sanitize_handler_masks();
	syshook_enter_cb = enter;
	syshook_exit_cb = exit;
	__atomic_store_n(&syshook_active, 1, __ATOMIC_SEQ_CST);
	if (!t->excluded && (rc = syshook_arm_self(t)) < 0) {
		__atomic_store_n(&syshook_active, 0, __ATOMIC_SEQ_CST);
		spin_unlock(&ctl_lock);
		return errmsg(err, errlen, rc, "prctl(PR_SET_SYSCALL_USER_DISPATCH)");
	}
	arm_others();
	spin_unlock(&ctl_lock);
	return 0;
}

void bpftime_syscall_hook_stop(void)
{
	struct syshook_tls *t = &syshook_tls;
	spin_lock(&ctl_lock);
	if (__atomic_load_n(&syshook_active, __ATOMIC_ACQUIRE)) {
		__atomic_store_n(&syshook_active, 0, __ATOMIC_SEQ_CST);
		/* Pairs with run_callback's plain stores: after this every thread either shows an odd
		 * seq or will read active == 0. */
		if (membarrier_expedited() < 0)
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
		syshook_grace_period(1000000000L);
	}
	if (t->armed)
		syshook_disarm_self(t);
	spin_unlock(&ctl_lock);
}

void bpftime_syscall_hook_exclude_thread(int excluded)
{
	struct syshook_tls *t = &syshook_tls;
	int tid = (int)syshook_gettid();
	spin_lock(&ctl_lock);
	for (int i = 0; i < MAX_EXCLUDED; i++) {
		if (excluded_tids[i] == tid)
			excluded_tids[i] = 0;
	}
	if (excluded) {
		for (int i = 0; i < MAX_EXCLUDED; i++) {
			if (excluded_tids[i] == 0) {
				excluded_tids[i] = tid;
				break;
			}
		}
	}
	t->excluded = excluded ? 1 : 0;
	if (excluded && t->armed)
		syshook_disarm_self(t);
	spin_unlock(&ctl_lock);
}

/* A fork child has only the forking thread, which was not inside start/stop or the SIGSYS
 * action update: locks other threads held are released (their holders do not exist here). */
void syshook_after_fork_child(void)
{
	__atomic_store_n(&ctl_lock, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&app_sigsys_lock, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&roster_n, 0, __ATOMIC_RELEASE);
	syshook_rewrite_after_fork_child();
}

void bpftime_syscall_hook_get_stats(struct bpftime_syscall_hook_stats *st)
{
	*st = syshook_stats;
}
