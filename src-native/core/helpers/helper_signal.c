/* bpf_send_signal / bpf_send_signal_thread: a signal to the current process / thread (bpftrace's
 * kill()), as the kernel's bpf_send_signal_common with no target task: SEND_SIG_PRIV, i.e. the
 * receiver sees si_code SI_KERNEL with si_pid 0 and si_uid 0, not a kill() from itself. Signals
 * queued to oneself may carry any si_code, so rt_(tg)sigqueueinfo gives exactly that siginfo.
 * The kernel queues the signal at once but the thread only takes it on its way back to user mode,
 * after the program has finished (a SIGKILL does not cut a program short: its later output,
 * bpftrace's exit() included, still goes out). Here a signal queued to oneself is taken as soon
 * as the syscall returns, so the signals a run asks for are queued when the run ends
 * (bpftime_signal_flush, called whenever a run's context changes). */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helpers_internal.h"

#define KERNEL_NSIG 64 /* the kernel's _NSIG on x86-64 (glibc's NSIG counts one more) */

/* Signals asked for by the running program are kept in the thread's run state
 * (bpftime/helpers.h): pending_group, pending_thread, bit sig - 1. */

static long queue_now(uint32_t sig, int thread)
{
	uint64_t pid_tgid = bpftime_current_pid_tgid();
	pid_t tgid = (pid_t)(pid_tgid >> 32), tid = (pid_t)(uint32_t)pid_tgid;
	siginfo_t info;
	memset(&info, 0, sizeof(info));
	info.si_signo = (int)sig;
	info.si_code = SI_KERNEL;
	long rc = thread ? syscall(SYS_rt_tgsigqueueinfo, tgid, tid, (int)sig, &info)
			 : syscall(SYS_rt_sigqueueinfo, tgid, (int)sig, &info);
	return rc < 0 ? -errno : 0;
}

void bpftime_signal_flush(void)
{
	struct bpftime_run_state *s = &bpftime_run_state;
	s->end_work &= ~BPFTIME_RUN_END_SIGNALS;
	uint64_t g = s->pending_group, t = s->pending_thread;
	if (__builtin_expect(!(g | t), 1))
		return;
	/* Cleared before queuing: a handler run by a queued signal may run programs of its own. */
	s->pending_group = s->pending_thread = 0;
	for (uint32_t sig = 1; sig <= KERNEL_NSIG; sig++) {
		if (g & (1ull << (sig - 1)))
			queue_now(sig, 0);
		if (t & (1ull << (sig - 1)))
			queue_now(sig, 1);
	}
}

static long send_signal(uint32_t sig, int thread)
{
	struct bpftime_run_ctx *rc = bpftime_run_ctx_get();
	if (rc && rc->idle)
		return -EPERM; /* the idle task is a kernel thread */
	if ((uint32_t)(bpftime_current_pid_tgid() >> 32) == 1)
		return -EPERM; /* never the init process (is_global_init) */
	if (sig > KERNEL_NSIG)
		return -EINVAL; /* valid_signal() */
	if (sig == 0)
		return 0; /* group_send_sig_info checks permission only */
	if (!bpftime_run_ctx_get())
		return queue_now(sig, thread); /* called outside a program run */
	struct bpftime_run_state *s = &bpftime_run_state;
	if (thread)
		s->pending_thread |= 1ull << (sig - 1);
	else
		s->pending_group |= 1ull << (sig - 1);
	s->end_work |= BPFTIME_RUN_END_SIGNALS;
	return 0;
}

/* bpf_send_signal(u32 sig): to the whole process (PIDTYPE_TGID). */
BPFTIME_HELPER(send_signal) { return (uint64_t)send_signal((uint32_t)r1, 0); }

/* bpf_send_signal_thread(sig): to the calling thread only (PIDTYPE_PID). */
BPFTIME_HELPER(send_signal_thread) { return (uint64_t)send_signal((uint32_t)r1, 1); }
