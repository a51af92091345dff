/* The per-run context (attach cookie, probed address) of the program running on this thread,
 * and the helpers that read it. */
#include <stddef.h>

#include <sched.h>
#include "bpftime/spin_lock.h"
#include "helpers_internal.h"

static __thread struct bpftime_run_ctx *tls_run_ctx;

void bpftime_run_ctx_set(struct bpftime_run_ctx *c)
{
	bpftime_spin_lock_release_held(); /* a run never leaves a bpf_spin_lock held */
	bpftime_signal_flush();           /* signals are taken after the program, as on a kernel */
	if (c) {
		int cpu = sched_getcpu();
		c->cpu = cpu < 0 ? 0 : cpu;
	}
	tls_run_ctx = c;
}

int bpftime_current_cpu(void)
{
	struct bpftime_run_ctx *c = tls_run_ctx;
	if (c)
		return c->cpu;
	int cpu = sched_getcpu();
	return cpu < 0 ? 0 : cpu;
}

struct bpftime_run_ctx *bpftime_run_ctx_get(void) { return tls_run_ctx; }

/* bpf_get_attach_cookie(ctx): the cookie of the link (uprobe/USDT) that ran the program, 0 when
 * it had none. */
BPFTIME_HELPER(get_attach_cookie)
{
	struct bpftime_run_ctx *c = tls_run_ctx;
	return c ? c->cookie : 0;
}

/* bpf_get_func_ip(ctx): for uprobes, the probed address. */
BPFTIME_HELPER(get_func_ip)
{
	struct bpftime_run_ctx *c = tls_run_ctx;
	return c ? c->func_ip : 0;
}
