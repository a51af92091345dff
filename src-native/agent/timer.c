/* Timed programs: CPU/task clock perf events (bpftrace's interval:), run every period on a
 * thread of the agent in the process that opened them. The context is struct
 * bpf_perf_event_data (registers of no particular thread here, the sample period). */
#include "agent.h"

#include <errno.h>
#include <linux/bpf_perf_event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "bpftime/attach.h"
#include "bpftime/helpers.h"
#include "bpftime/syscall_hook.h"

struct timer {
	uint32_t attach_id;
	uint64_t period_ns;
	uint64_t cookie;
	struct agent_prog *prog;
	volatile int stop;
	pthread_t thread;
	struct timer *next;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct timer *g_timers;

static void *tick(void *arg)
{
	struct timer *t = arg;
	bpftime_probe_thread_exclude(1);
	bpftime_syscall_hook_exclude_thread(1);
	prctl(PR_SET_NAME, "bpftime-timer", 0, 0, 0);
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	while (!t->stop) {
		uint64_t ns = (uint64_t)next.tv_nsec + t->period_ns;
		next.tv_sec += (time_t)(ns / 1000000000ull);
		next.tv_nsec = (long)(ns % 1000000000ull);
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
		if (t->stop)
			break;
		struct bpf_perf_event_data ctx;
		memset(&ctx, 0, sizeof(ctx));
		ctx.sample_period = t->period_ns;
		struct bpftime_run_ctx rc = { .cookie = t->cookie, .regs = &ctx.regs };
		bpftime_run_ctx_set(&rc);
		uint64_t ret;
		ret = agent_prog_run(t->prog, (uint64_t)(uintptr_t)&ctx);
		(void)ret;
		bpftime_run_ctx_set(NULL);
	}
	return NULL;
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
	if (pthread_create(&t->thread, NULL, tick, t) != 0) {
		free(t);
		snprintf(err, errlen, "cannot start a timer thread");
		return -EAGAIN;
	}
	pthread_mutex_lock(&g_lock);
	t->next = g_timers;
	g_timers = t;
	pthread_mutex_unlock(&g_lock);
	snprintf(err, errlen, "timer every %llu ns", (unsigned long long)t->period_ns);
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
	t->stop = 1;
	if (!pthread_equal(t->thread, pthread_self()))
		pthread_join(t->thread, NULL);
	agent_prog_put(t->prog);
	free(t);
}
