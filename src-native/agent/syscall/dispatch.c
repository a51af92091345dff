/* The C side of syshook_common (entry.S): callbacks, and the syscalls that need more than "run it
 * here" (those marked in syshook_special, handled even while no callbacks are installed).
 *
 * Threads and processes: SUD is per task and a new task starts without it, so every child that is
 * born through the trampoline arms itself before running any application code:
 *   - fork-like (no CLONE_VM, same stack): the child returns through the copied frame (exit_c);
 *   - vfork, or CLONE_VM on the caller's stack: the child runs on the parent's stack and may
 *     overwrite everything below the caller's rsp before the parent resumes, so the syscall runs
 *     with the caller's exact registers and rsp and both sides rebuild a frame afterwards from TLS
 *     (MODE_BARE; the TLS is shared with the parent, which is suspended or sharing it anyway);
 *   - a new stack (threads): the child starts at the top of that stack with nothing of ours on
 *     it, so we first write [nr][rdi][rsi][resume] just below the top and hand the kernel a stack
 *     pointer 160 bytes lower (MODE_CLONE); the child pops them and reports its exit from there.
 * rt_sigreturn must run with the signal frame at rsp: MODE_BARE too.
 *
 * Signal masks: a SUD trap with SIGSYS blocked makes the kernel reset SIGSYS to its default
 * action and kill the process. So an armed thread never blocks SIGSYS: it is taken out of every
 * mask the application installs (sigprocmask, sigaction's sa_mask, sigsuspend, ppoll, pselect6,
 * epoll_pwait[2], io_pgetevents, and the mask a signal frame restores). The application then sees
 * SIGSYS unblocked in masks it reads back; signals it queues to itself still arrive. */
#include "syshook_internal.h"
#include <errno.h>
#include <linux/sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

#ifndef CLONE_CLEAR_SIGHAND
#define CLONE_CLEAR_SIGHAND 0x100000000ULL
#endif
#define CALLED 1  /* enter callbacks ran: exit callbacks are due */
#define SKIPPED 2 /* the syscall did not run: ret 0 is not a child */
/* What a new task must do, decided by the parent before the syscall: a CLONE_VM child cannot
 * read the parent's clone_args afterwards (pthread_create's are on the parent's stack, reused at
 * once). Kept in frame->called (fork-like), the child's stack header or TLS (nr's upper half). */
#define CHILD_VALID 0x100	 /* this syscall creates tasks: ret 0 is the child */
#define CHILD_NEW_PROCESS 0x200	 /* no CLONE_VM: locks of other threads must be released */
#define CHILD_SHARES_TLS 0x400	 /* vfork, or CLONE_VM without CLONE_SETTLS */
#define CHILD_NO_ARM 0x800	 /* CLONE_CLEAR_SIGHAND: our handler is gone in the child */
#define CHILD_NO_EXIT 0x1000	 /* shares TLS and runs concurrently: no exit report */
#define CHILD_BITS 0x1f00
#define UC_SIGMASK 0x128 /* offsetof(struct ucontext, uc_sigmask), kernel x86-64 layout */
#define CHILD_HDR 160	 /* what MODE_CLONE takes off the top of a child's stack */

/* Pointers we dereference on the caller's behalf: reject what cannot be a user address rather
 * than fault (an unmapped one still faults: documented in the README). */
static int plausible(unsigned long p) { return p >= 4096 && p < (1UL << 47) - 8; }

static inline __attribute__((always_inline)) void run_callback(struct syshook_tls *t, struct syshook_frame *f,
								  int is_exit, int *skip)
{
	struct syshook_slot *s = t->slot ? t->slot : syshook_slot_get(t);
	/* seq odd before active is read: stop() clears active, then a membarrier, then waits for odd
	 * seqs, so either it sees us or we see it stopped. */
	if (s)
		__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELAXED);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&syshook_active, __ATOMIC_RELAXED)) {
		if (is_exit) {
			bpftime_syscall_exit_fn cb = syshook_exit_cb;
			if (cb)
				cb(&f->ctx);
		} else {
			bpftime_syscall_enter_fn cb = syshook_enter_cb;
			if (cb && cb(&f->ctx) == BPFTIME_SYSCALL_SKIP)
				*skip = 1;
		}
	}
	if (s)
		__atomic_store_n(&s->seq, s->seq + 1, __ATOMIC_RELEASE);
}

/* Copy of an 8-byte sigset without SIGSYS, in the frame's scratch at word `slot`. */
static long strip_set(struct syshook_frame *f, int slot, long set)
{
	if (!plausible((unsigned long)set))
		return set;
	uint64_t v = *(const volatile uint64_t *)set;
	if (!(v & SYSHOOK_SIGSYS_BIT))
		return set;
	uint64_t *w = (uint64_t *)f->scratch + slot;
	*w = v & ~SYSHOOK_SIGSYS_BIT;
	return (long)w;
}

/* pselect6 and io_pgetevents pass { const sigset_t *set; size_t size; }. */
static long strip_pair(struct syshook_frame *f, long pair)
{
	if (!plausible((unsigned long)pair))
		return pair;
	const volatile uint64_t *p = (const volatile uint64_t *)pair;
	long set = (long)p[0], size = (long)p[1];
	if (!set || size != 8)
		return pair;
	long copy = strip_set(f, 0, set);
	if (copy == set)
		return pair;
	uint64_t *w = (uint64_t *)f->scratch;
	w[1] = (uint64_t)copy;
	w[2] = 8;
	return (long)&w[1];
}

static int do_sigaction(struct syshook_frame *f)
{
	long *a = f->ctx.args;
	if (a[0] == SIGSYS && syshook_handler_installed) {
		/* Ours stays installed; the application's action is kept aside and chained. */
		struct ksigaction in, old;
		long rc = 0;
		if (a[3] != 8)
			rc = -EINVAL;
		else if ((a[1] && !plausible((unsigned long)a[1])) || (a[2] && !plausible((unsigned long)a[2])))
			rc = -EFAULT;
		if (rc == 0) {
			if (a[1])
				memcpy(&in, (const void *)a[1], sizeof(in));
			rc = syshook_sigsys_action(a[1] ? &in : NULL, &old);
			if (rc == 0 && a[2])
				memcpy((void *)a[2], &old, sizeof(old));
		}
		f->ctx.ret = rc;
		f->called |= SKIPPED;
		return MODE_SKIP;
	}
	if (a[1] && a[3] == 8 && plausible((unsigned long)a[1])) {
		struct ksigaction *k = (struct ksigaction *)f->scratch;
		memcpy(k, (const void *)a[1], sizeof(*k));
		if (k->mask & SYSHOOK_SIGSYS_BIT) {
			k->mask &= ~SYSHOOK_SIGSYS_BIT;
			a[1] = (long)k;
		}
	}
	return MODE_RUN;
}

static unsigned child_bits(long nr, uint64_t flags)
{
	unsigned b = CHILD_VALID;
	if (nr != SYS_vfork && !(flags & CLONE_VM))
		b |= CHILD_NEW_PROCESS;
	if (nr == SYS_vfork || ((flags & CLONE_VM) && !(flags & CLONE_SETTLS))) {
		b |= CHILD_SHARES_TLS;
		if (nr != SYS_vfork && !(flags & CLONE_VFORK))
			b |= CHILD_NO_EXIT;
	}
	if (flags & CLONE_CLEAR_SIGHAND)
		b |= CHILD_NO_ARM;
	return b;
}

/* nr with the child bits in its upper half, for the child's side of MODE_BARE and MODE_CLONE. */
static uint64_t nr_with_bits(long nr, unsigned bits) { return (uint32_t)nr | (uint64_t)bits << 32; }

/* MODE_BARE: the trampoline reloads every register from pt_regs, so the syscall's go there. */
static int bare(struct syshook_frame *f, struct syshook_tls *t, unsigned bits)
{
	struct pt_regs *r = f->ctx.regs;
	long *a = f->ctx.args;
	r->rax = (unsigned long)f->ctx.nr;
	r->rdi = (unsigned long)a[0];
	r->rsi = (unsigned long)a[1];
	r->rdx = (unsigned long)a[2];
	r->r10 = (unsigned long)a[3];
	r->r8 = (unsigned long)a[4];
	r->r9 = (unsigned long)a[5];
	t->vfork_resume = r->rip;
	t->vfork_nr = (long)nr_with_bits(f->ctx.nr, bits);
	return MODE_BARE;
}

/* MODE_CLONE: the child's stack top gets [nr][rdi][rsi][resume]; returns where it starts. */
static uintptr_t child_header(struct syshook_frame *f, uintptr_t top, unsigned bits)
{
	struct pt_regs *r = f->ctx.regs;
	uint64_t *h = (uint64_t *)(top - CHILD_HDR);
	h[0] = nr_with_bits(f->ctx.nr, bits);
	h[1] = r->rdi;
	h[2] = r->rsi;
	h[3] = r->rip; /* at top - 136: `ret $128` from there leaves rsp = top */
	return (uintptr_t)h;
}

static int do_clone(struct syshook_frame *f, struct syshook_tls *t)
{
	long *a = f->ctx.args;
	uint64_t flags = (uint64_t)a[0];
	uintptr_t newsp = (uintptr_t)a[1];
	unsigned bits = child_bits(SYS_clone, flags);
	if (newsp) {
		if (!plausible(newsp) || newsp < 4096 + CHILD_HDR)
			return MODE_RUN; /* the kernel fails it, or the child faults as it would anyway */
		a[1] = (long)child_header(f, newsp, bits);
		return MODE_CLONE;
	}
	if (flags & CLONE_VM)
		return bare(f, t, bits);
	f->called |= bits; /* fork-like: the child returns through a copy of this frame */
	return MODE_RUN;
}

static int do_clone3(struct syshook_frame *f, struct syshook_tls *t)
{
	long *a = f->ctx.args;
	size_t size = (size_t)a[1];
	if (!plausible((unsigned long)a[0]) || size < CLONE_ARGS_SIZE_VER0)
		return MODE_RUN; /* the kernel rejects it */
	const struct clone_args *ca = (const struct clone_args *)a[0];
	unsigned bits = child_bits(SYS_clone3, ca->flags);
	if (!ca->stack) {
		if (ca->flags & CLONE_VM)
			return bare(f, t, bits);
		f->called |= bits;
		return MODE_RUN;
	}
	if (ca->stack_size <= CHILD_HDR + 64)
		return MODE_RUN;
	if (size > F_SCRATCH_SIZE) {
		/* Larger than any struct clone_args we know: we cannot pass a copy of it. */
		f->ctx.ret = -E2BIG;
		f->called |= SKIPPED;
		return MODE_SKIP;
	}
	struct clone_args *copy = (struct clone_args *)f->scratch;
	memcpy(copy, ca, size);
	uintptr_t h = child_header(f, (uintptr_t)(ca->stack + ca->stack_size), bits);
	copy->stack_size = h - ca->stack;
	a[0] = (long)copy;
	return MODE_CLONE;
}

static int special(struct syshook_frame *f, struct syshook_tls *t, long nr)
{
	long *a = f->ctx.args;
	switch (nr) {
	case SYS_rt_sigprocmask:
		if (a[1] && a[0] != SIG_UNBLOCK && a[3] == 8)
			a[1] = strip_set(f, 0, a[1]);
		return MODE_RUN;
	case SYS_rt_sigsuspend:
		if (a[1] == 8)
			a[0] = strip_set(f, 0, a[0]);
		return MODE_RUN;
	case SYS_ppoll:
		if (a[3] && a[4] == 8)
			a[3] = strip_set(f, 0, a[3]);
		return MODE_RUN;
	case SYS_epoll_pwait:
	case SYS_epoll_pwait2:
		if (a[4] && a[5] == 8)
			a[4] = strip_set(f, 0, a[4]);
		return MODE_RUN;
	case SYS_pselect6:
	case SYS_io_pgetevents:
		if (a[5])
			a[5] = strip_pair(f, a[5]);
		return MODE_RUN;
	case SYS_rt_sigaction:
		return do_sigaction(f);
	case SYS_rt_sigreturn: {
		uintptr_t sp = f->ctx.regs ? ((struct pt_regs *)f->ctx.regs)->rsp : 0;
		if (plausible(sp + UC_SIGMASK))
			*(volatile uint64_t *)(sp + UC_SIGMASK) &= ~SYSHOOK_SIGSYS_BIT;
		return bare(f, t, 0);
	}
	case SYS_vfork:
		return bare(f, t, child_bits(SYS_vfork, 0));
	case SYS_fork:
		f->called |= child_bits(SYS_fork, 0);
		return MODE_RUN;
	case SYS_clone:
		return do_clone(f, t);
	case SYS_clone3:
		return do_clone3(f, t);
	default:
		return MODE_RUN;
	}
}

/* A new task (fork child, thread, vfork child) runs this before any application code. */
static void child_init(struct syshook_tls *t, unsigned bits)
{
	if (bits & CHILD_NEW_PROCESS)
		syshook_after_fork_child();
	if (!(bits & CHILD_SHARES_TLS)) {
		t->slot = NULL; /* the parent's, or the TLS image's */
		t->armed = 0;	/* the kernel does not carry dispatch over to a new task */
		t->busy = 0;
	}
	if (!__atomic_load_n(&syshook_active, __ATOMIC_RELAXED) || t->excluded || (bits & CHILD_NO_ARM))
		return;
	if (bits & CHILD_SHARES_TLS) {
		/* The parent's flags: arm the child task without touching them. */
		struct syshook_tls tmp = *t;
		syshook_arm_self(&tmp);
	} else {
		syshook_arm_self(t);
	}
}

static inline __attribute__((always_inline)) void run_exit(struct syshook_frame *f, struct syshook_tls *t)
{
	if (t->busy || t->excluded)
		return;
	t->busy = 1;
	run_callback(t, f, 1, NULL);
	t->busy = 0;
}

void syshook_exit_c(struct syshook_frame *f)
{
	struct syshook_tls *t = &syshook_tls;
	long nr = f->ctx.nr;
	((struct pt_regs *)f->ctx.regs)->rax = (unsigned long)f->ctx.ret;
	/* The child of a fork-like clone resumes on its copy of the parent's frame. */
	(void)nr;
	if (f->ctx.ret == 0 && (f->called & CHILD_VALID) && !(f->called & SKIPPED))
		child_init(t, (unsigned)f->called & CHILD_BITS);
	if (f->called & CALLED)
		run_exit(f, t);
}

void syshook_exit_only_c(struct syshook_frame *f)
{
	struct syshook_tls *t = &syshook_tls;
	struct pt_regs *r = f->ctx.regs;
	unsigned bits = (unsigned)(r->orig_rax >> 32); /* from the parent (nr_with_bits) */
	r->orig_rax = (uint32_t)r->orig_rax;
	f->ctx.nr = (long)r->orig_rax;
	f->ctx.args[0] = (long)r->rdi;
	f->ctx.args[1] = (long)r->rsi;
	f->ctx.args[2] = (long)r->rdx;
	f->ctx.args[3] = (long)r->r10;
	f->ctx.args[4] = (long)r->r8;
	f->ctx.args[5] = (long)r->r9;
	f->ctx.ret = (long)r->rax;
	f->called = 0;
	if (f->ctx.ret == 0 && (bits & CHILD_VALID)) {
		child_init(t, bits);
		/* A child sharing the parent's TLS while the parent runs on would flip the parent's
		 * busy flag: no exit report for it. */
		if (bits & CHILD_NO_EXIT)
			return;
	}
	if (__atomic_load_n(&syshook_active, __ATOMIC_RELAXED))
		run_exit(f, t);
}

int syshook_dispatch_c(struct syshook_frame *f)
{
	struct pt_regs *r = f->ctx.regs;
	struct syshook_tls *t = &syshook_tls;
	long nr = (long)r->orig_rax;
	long *a = f->ctx.args;
	f->ctx.nr = nr;
	a[0] = (long)r->rdi;
	a[1] = (long)r->rsi;
	a[2] = (long)r->rdx;
	a[3] = (long)r->r10;
	a[4] = (long)r->r8;
	a[5] = (long)r->r9;
	f->ctx.ret = 0;
	f->called = 0;
	r->rax = (unsigned long)-ENOSYS;
	uint8_t was_busy = t->busy;
	t->busy = 1; /* syscalls made from here on (by callbacks) run without callbacks */
	if (!was_busy && !t->excluded) {
		if (__atomic_load_n(&syshook_active, __ATOMIC_RELAXED)) {
			if (__builtin_expect(!t->armed, 0))
				syshook_arm_self(t); /* a thread the broadcast could not reach */
			int skip = 0;
			f->called = CALLED;
			run_callback(t, f, 0, &skip);
			if (skip) {
				f->called |= SKIPPED;
				t->busy = 0;
				goto done;
			}
		} else if (t->armed) {
			syshook_disarm_self(t); /* stopped: back to zero cost for this thread */
		}
	}
	if (syshook_special[nr & (SPECIAL_NR_MAX - 1)]) {
		int mode = special(f, t, nr);
		if (mode == MODE_SKIP) {
			t->busy = was_busy;
			goto done;
		}
		if (mode != MODE_RUN) {
			t->busy = was_busy;
			return mode; /* the trampoline runs it */
		}
	}
	t->busy = was_busy;
	/* A fork child returns from here too, on its copy of this stack. */
	f->ctx.ret = syshook_raw6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
done:
	syshook_exit_c(f);
	return MODE_DONE;
}
