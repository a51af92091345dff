/* The per-run context (attach cookie, probed address) of the program running on this thread,
 * and the helpers that read it. Everything a run leaves for its end (a held spin lock, signals
 * to queue) sits with the context in one thread-local, struct bpftime_run_state, with a word
 * saying whether there is anything to do: starting and ending a run is then one thread-local
 * access, a test and a store, and the CPU is only looked up when the program asks for it. */
#include <stddef.h>

#include <sched.h>
#include "bpftime/spin_lock.h"
#include "helpers_internal.h"

__thread struct bpftime_run_state bpftime_run_state;

void bpftime_run_end_work(struct bpftime_run_state *s)
{
	uint32_t w = s->end_work;
	s->end_work = 0;
	if (w & BPFTIME_RUN_END_LOCK)
		bpftime_spin_lock_release_held(); /* a run never leaves a bpf_spin_lock held */
	if (w & BPFTIME_RUN_END_SIGNALS)
		bpftime_signal_flush(); /* signals are taken after the program, as on a kernel */
}

int bpftime_current_cpu(void)
{
	struct bpftime_run_ctx *c = bpftime_run_state.ctx;
	if (c && c->cpu_plus1)
		return c->cpu_plus1 - 1;
	int cpu = sched_getcpu();
	if (cpu < 0)
		cpu = 0;
	if (c)
		c->cpu_plus1 = cpu + 1;
	return cpu;
}

/* bpf_get_attach_cookie(ctx): the cookie of the link (uprobe/USDT) that ran the program, 0 when
 * it had none. */
BPFTIME_HELPER(get_attach_cookie)
{
	struct bpftime_run_ctx *c = bpftime_run_ctx_get();
	return c ? c->cookie : 0;
}

/* bpf_get_func_ip(ctx): for uprobes, the probed address. */
BPFTIME_HELPER(get_func_ip)
{
	struct bpftime_run_ctx *c = bpftime_run_ctx_get();
	return c ? c->func_ip : 0;
}
