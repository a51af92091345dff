/* Timed programs: CPU/task clock perf events (bpftrace's interval: and profile:). The context is
 * struct bpf_perf_event_data: the registers of the thread the tick interrupted, the period.
 *
 * On a kernel, a clock event of every process (pid -1) on CPU c fires once per period on that
 * CPU and runs the program in whatever thread is there: a busy traced thread, or some other
 * task (idle, with no user stack). Only processes with an agent are visible here, so a tick
 * lands in one of two places:
 *  - a *sampler* in every traced process: a timer on the process's CPU time (one period of CPU
 *    consumed = one sample, what a busy thread gets on a kernel), whose signal interrupts a
 *    running thread; the handler runs the program there, with that thread's registers (so
 *    ustack shows where the target was), if the thread is on the event's CPU;
 *  - a *ticker* in the process that opened the event: a thread ticking on the wall clock,
 *    running the program for the periods no traced thread took as the kernel's idle task
 *    (pid 0, comm swapper/N, no user registers): the stand-in for ticks in untraced tasks and
 *    the idle loop.
 * A period runs at most once per CPU: each sample stamps its time in a word of the program's
 * memfd header page that every process maps (struct bpftime_prog_clock); the ticker skips a
 * period in which a sampler ran, and a sampler skips when another took one less than half a
 * period ago. (The ticker stamps nothing: samplers and ticker tick at the same rate, and a
 * sampler kept out by the ticker's runs could stay out for good, phase-locked.) A clock
 * event of one process (pid N) only samples that process: no ticker.
 * As on a kernel, a tick that interrupts a program run of the same thread is dropped
 * (bpf_prog_active). */
#include "agent.h"
#include "setxid.h"

#include <errno.h>
#include <linux/bpf_perf_event.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "bpftime/attach.h"
#include "bpftime/helpers.h"
#include "bpftime/objfile.h"
#include "bpftime/syscall_hook.h"

/* The signal of the samplers' CPU-time timers: a real-time signal far from the ones
 * applications usually take (glibc keeps the first ones for itself). */
#define SAMPLE_SIGNAL (SIGRTMAX - 3)
#define MAX_SAMPLERS 256

struct timer {
	uint32_t attach_id;
	uint64_t period_ns;
	uint64_t cookie;
	int32_t cpu;           /* the event's CPU, -1 for any */
	struct agent_prog *prog;
	uint64_t *claimed;     /* time of the last sample on this CPU, shared by every process; NULL: none */
	volatile int stop;
	int ticker;            /* a wall-clock thread here */
	pthread_t thread;
	int sampler;           /* a CPU-time timer here, slot in g_samplers */
	timer_t cpu_timer;
	int active;            /* sample handlers running now */
	struct timer *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct timer *g_timers;
/* Samplers by slot, read by the signal handler (no lock there). Slots are not reused, and a
 * detached sampler's struct is not freed (a handler may still hold it): a few dozen bytes per
 * profile event. */
static struct timer *g_samplers[MAX_SAMPLERS];
static int g_nsamplers;

/* Whether a traced thread was sampled on this CPU within `window` ns before `at`. */
static int sampled_since(struct timer *t, uint64_t at, uint64_t window)
{
	return t->claimed && __atomic_load_n(t->claimed, __ATOMIC_ACQUIRE) + window > at;
}

/* A sampler takes the tick at time `at` (CLOCK_MONOTONIC ns) unless another sample on this CPU
 * happened within `window` ns before it. */
static int claim_tick(struct timer *t, uint64_t at, uint64_t window)
{
	if (!t->claimed)
		return 1;
	uint64_t cur = __atomic_load_n(t->claimed, __ATOMIC_RELAXED);
	while (cur + window <= at)
		if (__atomic_compare_exchange_n(t->claimed, &cur, at, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
			return 1;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void run(struct timer *t, struct bpf_perf_event_data *ctx, int idle)
{
	ctx->sample_period = t->period_ns;
	struct bpftime_run_ctx rc = { .cookie = t->cookie, .regs = &ctx->regs, .idle = idle };
	bpftime_run_ctx_set(&rc);
	(void)agent_prog_run(t->prog, (uint64_t)(uintptr_t)ctx);
	bpftime_run_ctx_set(NULL);
}

static void *tick(void *arg)
{
	struct timer *t = arg;
	bpftime_probe_thread_exclude(1);
	bpftime_syscall_hook_exclude_thread(1);
	prctl(PR_SET_NAME, "bpftime-timer", 0, 0, 0);
	agent_setxid_thread_enter(); /* set*id calls of the program find this thread in step */
	if (t->cpu >= 0 && t->cpu < CPU_SETSIZE) { /* the event's CPU runs its ticks, as on a kernel */
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(t->cpu, &set);
		sched_setaffinity(0, sizeof(set), &set); /* best effort: a CPU outside our set stays unpinned */
	}
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SAMPLE_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &block, NULL); /* not a thread of the target: never sampled */
	/* Ticks one period after the event is enabled, then every period, as on a kernel. */
	uint64_t start = now_ns(), k = 0;
	while (!t->stop) {
		uint64_t at = start + (k + 1) * t->period_ns;
		struct timespec next = { .tv_sec = (time_t)(at / 1000000000ull), .tv_nsec = (long)(at % 1000000000ull) };
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		if (t->stop)
			break;
		if (!sampled_since(t, at, t->period_ns)) {
			struct bpf_perf_event_data ctx;
			memset(&ctx, 0, sizeof(ctx));
			run(t, &ctx, 1);
		}
		/* Every period gets its tick, late ones right away (a kernel's hrtimer is not delayed by
		 * load); only after a long stall (a stopped process) are the missed ones dropped. */
		uint64_t behind = now_ns() - at;
		k += behind > 1000000000ull ? behind / t->period_ns + 1 : 1;
	}
	agent_setxid_thread_leave();
	return NULL;
}

/* struct pt_regs from the interrupted thread's saved registers. */
static void regs_from_ucontext(struct pt_regs *r, const ucontext_t *uc)
{
	const greg_t *g = uc->uc_mcontext.gregs;
	r->r15 = g[REG_R15], r->r14 = g[REG_R14], r->r13 = g[REG_R13], r->r12 = g[REG_R12];
	r->rbp = g[REG_RBP], r->rbx = g[REG_RBX], r->r11 = g[REG_R11], r->r10 = g[REG_R10];
	r->r9 = g[REG_R9], r->r8 = g[REG_R8], r->rax = g[REG_RAX], r->rcx = g[REG_RCX];
	r->rdx = g[REG_RDX], r->rsi = g[REG_RSI], r->rdi = g[REG_RDI];
	r->orig_rax = (unsigned long)-1;
	r->rip = g[REG_RIP];
	r->cs = g[REG_CSGSFS] & 0xffff;
	r->eflags = g[REG_EFL];
	r->rsp = g[REG_RSP];
	r->ss = 0x2b; /* __USER_DS: not in the signal frame, always this for 64-bit user code */
}

static void on_sample(int sig, siginfo_t *si, void *ucv)
{
	(void)sig;
	int saved_errno = errno;
	int slot = si->si_code == SI_TIMER ? si->si_value.sival_int : -1;
	struct timer *t = slot >= 0 && slot < MAX_SAMPLERS ? __atomic_load_n(&g_samplers[slot], __ATOMIC_ACQUIRE) : NULL;
	if (!t || bpftime_run_ctx_get())
		goto out; /* unknown, or this thread is inside a program (bpf_prog_active) */
	/* Announce, then look at stop: detach stores stop, then waits for active (both seq_cst), so
	 * either we see stop or it sees us. */
	__atomic_add_fetch(&t->active, 1, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&t->stop, __ATOMIC_SEQ_CST) && (t->cpu < 0 || sched_getcpu() == t->cpu) &&
	    claim_tick(t, now_ns(), t->period_ns / 2)) {
		struct bpf_perf_event_data ctx;
		memset(&ctx, 0, sizeof(ctx));
		regs_from_ucontext(&ctx.regs, ucv);
		run(t, &ctx, 0);
	}
	__atomic_sub_fetch(&t->active, 1, __ATOMIC_SEQ_CST);
out:
	errno = saved_errno;
}

static int handler_rc;
static void install_handler(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sample;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	handler_rc = sigaction(SAMPLE_SIGNAL, &sa, NULL) < 0 ? -errno : 0;
}

static int start_sampler(struct timer *t, char *err, size_t errlen)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, install_handler);
	if (handler_rc) {
		snprintf(err, errlen, "cannot install the sampling signal handler: %s", strerror(-handler_rc));
		return handler_rc;
	}
	pthread_mutex_lock(&g_lock);
	int slot = g_nsamplers < MAX_SAMPLERS ? g_nsamplers++ : -1;
	pthread_mutex_unlock(&g_lock);
	if (slot < 0) {
		snprintf(err, errlen, "too many clock events in this process (%d)", MAX_SAMPLERS);
		return -ENOSPC;
	}
	struct sigevent sev;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_SIGNAL;
	sev.sigev_signo = SAMPLE_SIGNAL;
	sev.sigev_value.sival_int = slot;
	if (timer_create(CLOCK_PROCESS_CPUTIME_ID, &sev, &t->cpu_timer) < 0) {
		int e = errno;
		snprintf(err, errlen, "timer_create(CLOCK_PROCESS_CPUTIME_ID): %s", strerror(e));
		return -e;
	}
	__atomic_store_n(&g_samplers[slot], t, __ATOMIC_RELEASE);
	struct itimerspec its = {
		.it_interval = { .tv_sec = (time_t)(t->period_ns / 1000000000ull), .tv_nsec = (long)(t->period_ns % 1000000000ull) },
	};
	its.it_value = its.it_interval;
	timer_settime(t->cpu_timer, 0, &its, NULL);
	t->sampler = slot + 1;
	return 0;
}

int agent_timer_attach(const struct bpftime_attach *a, struct agent_prog *prog, char *err, size_t errlen)
{
	struct timer *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	t->attach_id = a->attach_id;
	t->period_ns = a->offset ? a->offset : 1;
	t->cookie = a->cookie;
	t->prog = prog;
	t->cpu = (int32_t)a->tp_id;
	if (prog->stats) {
		struct bpftime_prog_clock *c =
			(void *)((char *)prog->stats - BPFTIME_PROG_STATS_OFF + BPFTIME_PROG_CLOCK_OFF);
		t->claimed = &c->claimed[t->cpu < 0 ? BPFTIME_PROG_CLOCK_SLOTS - 1 : t->cpu % (BPFTIME_PROG_CLOCK_SLOTS - 1)];
	}
	/* ref_ctr_offset names the process that keeps the wall-clock tick (0: none). */
	t->ticker = a->ref_ctr_offset == (uint64_t)getpid();
	int rc = t->ticker ? 0 : start_sampler(t, err, errlen);
	if (rc == 0 && t->ticker && pthread_create(&t->thread, NULL, tick, t) != 0) {
		snprintf(err, errlen, "cannot start a timer thread");
		rc = -EAGAIN;
	}
	if (rc < 0) {
		free(t);
		return rc;
	}
	pthread_mutex_lock(&g_lock);
	t->next = g_timers;
	g_timers = t;
	pthread_mutex_unlock(&g_lock);
	snprintf(err, errlen, "%s every %llu ns%s", t->ticker ? "timer" : "sampler on CPU time",
		 (unsigned long long)t->period_ns, t->cpu >= 0 ? " on one CPU" : "");
	return 0;
}

void agent_timer_detach(uint32_t attach_id)
{
	pthread_mutex_lock(&g_lock);
	struct timer **pp = &g_timers, *t = NULL;
	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->attach_id == attach_id) {
			t = *pp;
			*pp = t->next;
			break;
		}
	pthread_mutex_unlock(&g_lock);
	if (!t)
		return;
	__atomic_store_n(&t->stop, 1, __ATOMIC_SEQ_CST);
	if (t->ticker && !pthread_equal(t->thread, pthread_self()))
		pthread_join(t->thread, NULL);
	if (t->sampler) {
		__atomic_store_n(&g_samplers[t->sampler - 1], NULL, __ATOMIC_RELEASE);
		timer_delete(t->cpu_timer);
		/* A handler that loaded t before the slot was cleared finishes its run first. */
		while (__atomic_load_n(&t->active, __ATOMIC_SEQ_CST))
			sched_yield();
		agent_prog_put(t->prog);
		return; /* t stays: see g_samplers */
	}
	agent_prog_put(t->prog);
	free(t);
}

/* A fork copies neither the CPU-time timers nor the ticker threads: the structs stay (a sample
 * handler of the parent's may have been running on the forking thread), the slots are emptied. */
void agent_timer_after_fork_child(void)
{
	pthread_mutex_init(&g_lock, NULL);
	for (struct timer *t = g_timers; t; t = t->next) {
		t->stop = 1;
		if (t->sampler)
			__atomic_store_n(&g_samplers[t->sampler - 1], NULL, __ATOMIC_RELEASE);
	}
	g_timers = NULL;
}
