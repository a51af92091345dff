/* Calling functions in another process's thread with ptrace.
 *
 * The thread is seized (PTRACE_SEIZE: no signal is sent, nothing else in the process notices)
 * and stopped with PTRACE_INTERRUPT. Its registers and extended state (SSE/AVX...) are saved.
 * A call sets the argument registers, points rip at the function and pushes a return address of
 * 0 on the stack, below the red zone: when the function returns, the thread faults at address 0,
 * and we catch that SIGSEGV before the process sees it. At the end everything is put back.
 *
 * Syscalls: a thread stopped inside a blocking syscall (read, poll, nanosleep...) has
 * orig_rax = the syscall number and rax = -ERESTART*; left so, the kernel would "restart" that
 * syscall at the address we jump to. So calls run with orig_rax = -1, and the saved registers,
 * put back at the end, make the kernel restart the original syscall as if nothing happened.
 * A thread stopped inside a syscall is also a safe point: it holds no lock of libc's (malloc,
 * the loader) that the calls might need, which a thread stopped anywhere in user code might. So
 * seizing waits (briefly) for the thread to be in a syscall. */
#include "inject.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if !defined(__x86_64__)
#error "the injector drives x86-64 registers"
#endif

#define RED_ZONE 128
#define XSTATE_MAX (64 * 1024) /* AVX-512 and AMX state included */

struct inj_remote {
	pid_t pid, tid;
	int mem; /* /proc/PID/mem: reads and writes of the target's memory */
	int timeout_ms;
	int in_syscall;
	struct user_regs_struct saved;
	struct user_fpregs_struct fp; /* when the kernel offers no XSTATE regset */
	int have_xstate, have_fp;
	size_t xstate_len;
	uint64_t sp_low; /* lowest stack byte holding something we pushed */
	unsigned char xstate[XSTATE_MAX];
};

static int fail(char *msg, size_t n, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, n, fmt, ap);
	va_end(ap);
	return -err;
}

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* Waits for the next event of the thread, up to timeout_ms: 1 with *status, 0 on timeout,
 * -errno. Polls (WNOHANG) because waitpid has no timeout, and a tracee that never stops must
 * not hang the caller. */
static int wait_event(pid_t tid, int *status, int timeout_ms)
{
	long deadline = now_ms() + timeout_ms;
	for (int sleep_us = 100;; sleep_us = sleep_us < 10000 ? sleep_us * 2 : 10000) {
		pid_t w = waitpid(tid, status, __WALL | WNOHANG);
		if (w == tid)
			return 1;
		if (w < 0 && errno != EINTR)
			return -errno;
		if (now_ms() >= deadline)
			return 0;
		usleep((useconds_t)sleep_us);
	}
}

static int is_group_stop_signal(int sig) { return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU; }

static const char *exit_text(int status, char *buf, size_t n)
{
	if (WIFEXITED(status))
		snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
	else
		snprintf(buf, n, "was killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
	return buf;
}

/* Stops the running, seized thread: PTRACE_INTERRUPT, then waits for that stop. Signals that
 * arrive first are delivered (the application's handlers run as they would have); the thread
 * stops right after. */
static int interrupt_and_wait(struct inj_remote *r, char *msg, size_t n)
{
	if (ptrace(PTRACE_INTERRUPT, r->tid, 0, 0) < 0)
		return fail(msg, n, errno, "cannot stop thread %d: %s", r->tid, strerror(errno));
	for (;;) {
		int status, w = wait_event(r->tid, &status, r->timeout_ms);
		if (w == 0)
			return fail(msg, n, ETIMEDOUT, "thread %d did not stop within %d ms (uninterruptible sleep?)", r->tid,
				    r->timeout_ms);
		if (w < 0)
			return fail(msg, n, -w, "waiting for thread %d: %s", r->tid, strerror(-w));
		if (!WIFSTOPPED(status)) {
			char t[96];
			return fail(msg, n, ESRCH, "process %d %s", r->pid, exit_text(status, t, sizeof(t)));
		}
		if (status >> 16 == PTRACE_EVENT_STOP)
			return 0; /* our interrupt, or a group-stop: either way it is stopped */
		if (ptrace(PTRACE_CONT, r->tid, 0, (void *)(long)WSTOPSIG(status)) < 0)
			return fail(msg, n, errno, "cannot resume thread %d: %s", r->tid, strerror(errno));
	}
}

static int save_state(struct inj_remote *r, char *msg, size_t n)
{
	if (ptrace(PTRACE_GETREGS, r->tid, 0, &r->saved) < 0)
		return fail(msg, n, errno, "cannot read the registers of thread %d: %s", r->tid, strerror(errno));
	struct iovec iov = { r->xstate, sizeof(r->xstate) };
	if (ptrace(PTRACE_GETREGSET, r->tid, (void *)NT_X86_XSTATE, &iov) == 0) {
		r->have_xstate = 1;
		r->xstate_len = iov.iov_len;
	} else if (ptrace(PTRACE_GETFPREGS, r->tid, 0, &r->fp) == 0) {
		r->have_fp = 1;
	} else {
		return fail(msg, n, errno, "cannot read the FPU state of thread %d: %s", r->tid, strerror(errno));
	}
	r->in_syscall = (long long)r->saved.orig_rax >= 0;
	r->sp_low = (r->saved.rsp - RED_ZONE) & ~15ull;
	return 0;
}

static int open_mem(struct inj_remote *r, char *msg, size_t n)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)r->pid);
	r->mem = open(path, O_RDWR | O_CLOEXEC);
	if (r->mem < 0)
		return fail(msg, n, errno, "cannot open %s: %s", path, strerror(errno));
	return 0;
}

int inj_remote_seize(pid_t pid, pid_t tid, int timeout_ms, struct inj_remote **out, char *msg, size_t msglen)
{
	struct inj_remote *r = calloc(1, sizeof(*r));
	if (!r)
		return fail(msg, msglen, ENOMEM, "out of memory");
	r->pid = pid;
	r->tid = tid;
	r->mem = -1;
	r->timeout_ms = timeout_ms > 0 ? timeout_ms : 30000;
	if (ptrace(PTRACE_SEIZE, tid, 0, 0) < 0) {
		int e = errno;
		free(r);
		return fail(msg, msglen, e, "%s", strerror(e));
	}
	int rc = interrupt_and_wait(r, msg, msglen);
	/* Look for a safe point: a few short runs until the thread is found inside a syscall. A
	 * thread that computes without syscalls is taken where it is after that. */
	for (int tries = 0; rc == 0 && tries < 50; tries++) {
		struct user_regs_struct regs;
		if (ptrace(PTRACE_GETREGS, tid, 0, &regs) < 0 || (long long)regs.orig_rax >= 0)
			break;
		if (ptrace(PTRACE_CONT, tid, 0, 0) < 0)
			break;
		usleep(2000);
		rc = interrupt_and_wait(r, msg, msglen);
	}
	if (rc == 0)
		rc = save_state(r, msg, msglen);
	if (rc == 0)
		rc = open_mem(r, msg, msglen);
	if (rc < 0) {
		/* Stopped: let it go untouched. Not stopped: detaching is impossible, and our exit will
		 * do it (the kernel detaches a dead tracer's tracees). */
		ptrace(PTRACE_DETACH, tid, 0, 0);
		if (r->mem >= 0)
			close(r->mem);
		free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int inj_remote_in_syscall(const struct inj_remote *r) { return r->in_syscall; }

uint64_t inj_remote_push(struct inj_remote *r, const void *data, size_t len, char *msg, size_t msglen)
{
	uint64_t at = (r->sp_low - len) & ~15ull;
	if (pwrite(r->mem, data, len, (off_t)at) != (ssize_t)len) {
		fail(msg, msglen, EFAULT, "cannot write to the stack of thread %d at 0x%llx: %s", r->tid,
		     (unsigned long long)at, strerror(errno));
		return 0;
	}
	r->sp_low = at;
	return at;
}

int inj_remote_read_string(struct inj_remote *r, uint64_t addr, char *buf, size_t len)
{
	if (len == 0)
		return -EINVAL;
	/* Byte runs up to the end of each page, so a string near an unmapped page still reads. */
	size_t got = 0;
	while (got + 1 < len) {
		size_t chunk = 4096 - ((addr + got) & 4095);
		if (chunk > len - 1 - got)
			chunk = len - 1 - got;
		ssize_t k = pread(r->mem, buf + got, chunk, (off_t)(addr + got));
		if (k <= 0)
			break;
		void *z = memchr(buf + got, 0, (size_t)k);
		got += (size_t)k;
		if (z)
			return 0;
	}
	buf[got] = 0;
	return got ? 0 : -EFAULT;
}

static int is_fault(int sig) { return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE; }

int inj_remote_call(struct inj_remote *r, uint64_t fn, const uint64_t *args, int nargs, uint64_t *ret, char *msg,
		    size_t msglen)
{
	struct user_regs_struct regs = r->saved;
	/* The frame goes below everything pushed so far; rsp % 16 == 8 at the function's entry, as
	 * after a call instruction. */
	uint64_t sp = ((r->sp_low - 256) & ~15ull) - 8;
	uint64_t zero = 0;
	if (pwrite(r->mem, &zero, sizeof(zero), (off_t)sp) != sizeof(zero))
		return fail(msg, msglen, EFAULT, "cannot write to the stack of thread %d: %s", r->tid, strerror(errno));
	unsigned long long *argregs[6] = { &regs.rdi, &regs.rsi, &regs.rdx, &regs.rcx, &regs.r8, &regs.r9 };
	for (int i = 0; i < nargs && i < 6; i++)
		*argregs[i] = args[i];
	regs.rip = fn;
	regs.rsp = sp;
	regs.rax = 0;
	regs.orig_rax = -1ull;     /* no syscall to restart at fn (see the top of this file) */
	regs.eflags &= ~0x500ull;  /* the ABI wants DF clear at a call; no single-stepping (TF) */
	if (ptrace(PTRACE_SETREGS, r->tid, 0, &regs) < 0 || ptrace(PTRACE_CONT, r->tid, 0, 0) < 0)
		return fail(msg, msglen, errno, "cannot start the call in thread %d: %s", r->tid, strerror(errno));
	for (;;) {
		int status, w = wait_event(r->tid, &status, r->timeout_ms);
		if (w == 0) {
			/* Stuck (a lock that never comes free?). Stop it: putting the saved registers back
			 * abandons the call, which beats a crash at address 0 whenever it ends. */
			int rc = interrupt_and_wait(r, msg, msglen);
			return rc < 0 ? rc
				      : fail(msg, msglen, ETIMEDOUT, "the call did not return within %d ms; it was abandoned",
					     r->timeout_ms);
		}
		if (w < 0)
			return fail(msg, msglen, -w, "waiting for thread %d: %s", r->tid, strerror(-w));
		if (!WIFSTOPPED(status)) {
			char t[96];
			return fail(msg, msglen, ESRCH, "process %d %s during the call", r->pid, exit_text(status, t, sizeof(t)));
		}
		int sig = WSTOPSIG(status);
		if (status >> 16 == PTRACE_EVENT_STOP) {
			/* A job-control stop arrived meanwhile: finish first (the stop is not kept). */
			if (ptrace(PTRACE_CONT, r->tid, 0, 0) < 0)
				return fail(msg, msglen, errno, "cannot resume thread %d: %s", r->tid, strerror(errno));
			continue;
		}
		struct user_regs_struct now;
		if (ptrace(PTRACE_GETREGS, r->tid, 0, &now) < 0)
			return fail(msg, msglen, errno, "cannot read the registers of thread %d: %s", r->tid, strerror(errno));
		if (sig == SIGSEGV && now.rip == 0 && now.rsp == sp + 8) {
			*ret = now.rax; /* returned to our 0: the call is done, and the fault is never delivered */
			return 0;
		}
		siginfo_t si;
		if (is_fault(sig) && ptrace(PTRACE_GETSIGINFO, r->tid, 0, &si) == 0 && si.si_code > 0) {
			/* The call itself crashed: not delivered, so the process lives on with its registers
			 * put back (libc may be left with a lock taken, but that beats killing it). */
			return fail(msg, msglen, EFAULT, "the call crashed in the target (%s at 0x%llx)", strsignal(sig),
				    (unsigned long long)now.rip);
		}
		/* Anything else is the application's: delivered now, its handler runs and returns here. */
		if (ptrace(PTRACE_CONT, r->tid, 0, (void *)(long)(is_group_stop_signal(sig) ? 0 : sig)) < 0)
			return fail(msg, msglen, errno, "cannot resume thread %d: %s", r->tid, strerror(errno));
	}
}

int inj_remote_release(struct inj_remote *r, char *msg, size_t msglen)
{
	int rc = 0;
	if (ptrace(PTRACE_SETREGS, r->tid, 0, &r->saved) < 0)
		rc = fail(msg, msglen, errno, "cannot restore the registers of thread %d: %s", r->tid, strerror(errno));
	if (r->have_xstate) {
		struct iovec iov = { r->xstate, r->xstate_len };
		if (ptrace(PTRACE_SETREGSET, r->tid, (void *)NT_X86_XSTATE, &iov) < 0 && rc == 0)
			rc = fail(msg, msglen, errno, "cannot restore the FPU state of thread %d: %s", r->tid, strerror(errno));
	} else if (r->have_fp && ptrace(PTRACE_SETFPREGS, r->tid, 0, &r->fp) < 0 && rc == 0) {
		rc = fail(msg, msglen, errno, "cannot restore the FPU state of thread %d: %s", r->tid, strerror(errno));
	}
	if (ptrace(PTRACE_DETACH, r->tid, 0, 0) < 0 && rc == 0)
		rc = fail(msg, msglen, errno, "cannot detach from thread %d: %s", r->tid, strerror(errno));
	close(r->mem);
	free(r);
	return rc;
}
