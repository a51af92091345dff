/* Libraries the process loads after an attachment was made: the kernel's uprobes follow the file,
 * so a uprobe on a library that is not mapped yet waits (probes.c) and must be installed as soon as
 * the library appears, before the program can call into it.
 *
 * The agent learns of new libraries where debuggers do: the dynamic loader calls r_debug.r_brk
 * (glibc's _dl_debug_state, an empty function) after each change of the list of loaded objects,
 * with r_state RT_CONSISTENT once the new objects are mapped, before they are relocated or their
 * constructors run. An entry probe of the agent's own there (the uprobe engine, attach.h: a jmp
 * over the `ret` and the padding after it, no trap) retries the waiting attachments on the thread
 * that loads, so a probe is in before dlopen returns, and even before the library's constructors
 * run, as on the kernel. It sees every way in: dlopen, dlmopen, and glibc's own loads (NSS and
 * iconv modules); it works the same whether the agent was preloaded or injected by
 * `bpftime attach` (where interposing the dlopen symbol is impossible: the bindings are made); and
 * it leaves dlopen's own view of its caller alone (a wrapper, or a return probe on dlopen, would
 * make the agent the caller, whose namespace and RUNPATH then decide where libraries are found).
 * No polling. The probe exists only while some attachment waits.
 *
 * The handler runs with the loader's lock held: everything it reaches (probes.c's rescan, the
 * engine's attach) takes no lock that another thread holds while it waits for the loader's lock
 * (the engine looks symbols up before taking its own lock; a rescan already running on the
 * agent's thread is asked to run again instead of waited for). */
#include "agent.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "bpftime/attach.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bpftime_probe *g_probe;
static uint32_t g_watch_tgid; /* the process whose agent waits; a forked child holds a copy of the probe */

static int on_link_map_change(void *data, struct pt_regs *regs)
{
	(void)regs;
	const struct r_debug *r = data;
	/* In a forked child (no agent thread, the parent's connection) nothing waits for us. */
	if ((uint32_t)(bpftime_current_pid_tgid() >> 32) != g_watch_tgid)
		return BPFTIME_PROBE_CONTINUE;
	if (__atomic_load_n(&r->r_state, __ATOMIC_RELAXED) == RT_CONSISTENT)
		agent_probes_rescan();
	return BPFTIME_PROBE_CONTINUE;
}

int agent_dlwatch_start(char *err, size_t errlen)
{
	int rc = 0;
	pthread_mutex_lock(&g_lock);
	if (!g_probe) {
		g_watch_tgid = (uint32_t)getpid();
		struct r_debug *r = dlsym(RTLD_DEFAULT, "_r_debug");
		char msg[256];
		if (!r || !r->r_brk) {
			snprintf(err, errlen, "the dynamic loader has no r_debug: libraries loaded later are not seen");
			rc = -1;
		} else if (bpftime_probe_attach((void *)r->r_brk, 0, on_link_map_change, r, &g_probe, msg, sizeof(msg)) != 0) {
			snprintf(err, errlen, "cannot watch the dynamic loader (r_brk %#lx) for libraries loaded later: %s",
				 (unsigned long)r->r_brk, msg);
			g_probe = NULL;
			rc = -1;
		}
	}
	pthread_mutex_unlock(&g_lock);
	return rc;
}

void agent_dlwatch_stop(void)
{
	pthread_mutex_lock(&g_lock);
	if (g_probe)
		bpftime_probe_detach(g_probe); /* 1 (a thread inside): nothing of ours to free */
	g_probe = NULL;
	pthread_mutex_unlock(&g_lock);
}

void agent_dlwatch_after_fork_child(void)
{
	pthread_mutex_init(&g_lock, NULL);
	g_watch_tgid = (uint32_t)getpid();
}
