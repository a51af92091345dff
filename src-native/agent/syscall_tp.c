/* Syscall tracepoints in this process: syscalls:sys_{enter,exit}_<name> (one syscall number)
 * and raw_syscalls:sys_{enter,exit} (every syscall), run from the agent's syscall interception
 * engine (attach/syscall, syscall_hook.h), which starts with the first such attachment and
 * stops with the last.
 *
 * The program's context is the tracepoint's record as its format file describes it:
 *   0  u16 common_type (the event id), u8 common_flags, u8 common_preempt_count, s32 common_pid
 *   8  the syscall number (int for syscalls:*, long for raw_syscalls:*; little-endian, so one
 *      64-bit store serves both)
 *  16  the six arguments (enter) or the return value (exit)
 *
 * The same engine runs kprobes, kretprobes and fentry/fexit programs on a syscall's entry function
 * (__x64_sys_<name>), which a kernel calls between the sys_enter and sys_exit tracepoints
 * (run_on_function below): bcc's syscall__ probes and its kfunc opensnoop, libbpf's
 * SEC("ksyscall"), bpftrace's kprobe:__x64_sys_* and kfunc:__x64_sys_*. bpf_override_return at such a kprobe makes the syscall return that value
 * without running, as the kernel's error injection does (the exit side still runs).
 *
 * Dispatch is lock-free: per direction and syscall number an immutable array of programs,
 * replaced whole on attach/detach (old arrays are kept: a thread may still be walking one). */
#include "agent.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "bpftime/attach.h" /* struct pt_regs */
#include "bpftime/helpers.h"
#include "bpftime/syscall_hook.h"

#define MAX_NR 1024

struct tp {
	uint32_t attach_id, tp_id;
	int exit;   /* sys_exit_*, a kretprobe or fexit */
	int kprobe; /* on the syscall's entry function, not a tracepoint: KPROBE or FENTRY */
	long nr;    /* -1: raw_syscalls, every syscall */
	struct agent_prog *prog;
	uint64_t cookie;
};

struct tp_list {
	uint32_t n;
	const struct tp *tps[];
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tp *g_all[256];
static uint32_t g_nall;
static int g_started;
/* [0] enter, [1] exit; per number, and index MAX_NR for the raw (every syscall) ones. */
static const struct tp_list *g_lists[2][MAX_NR + 1];
/* The programs on syscall entry functions (k(ret)probes, fentry/fexit): [0] entry, [1] return. */
static const struct tp_list *g_klists[2][MAX_NR];
/* The exit of an execve that returned in this image is still to be reported (see below). */
static int g_exec_exit_pending;
static void publish_want(void);

/* s: the thread's run state, taken once per syscall (each thread-local access is a call). */
static inline __attribute__((always_inline)) void run(const struct tp *t, const struct bpftime_syscall_ctx *c,
							int exit, struct bpftime_run_state *s)
{
	uint64_t rec[8];
	uint32_t tid = (uint32_t)bpftime_run_state_pid_tgid(s);
	rec[0] = (uint64_t)(t->tp_id & 0xffff) | ((uint64_t)tid << 32);
	rec[1] = (uint64_t)c->nr;
	if (exit) {
		rec[2] = (uint64_t)c->ret;
		for (int i = 3; i < 8; i++)
			rec[i] = 0;
	} else {
		for (int i = 0; i < 6; i++)
			rec[2 + i] = (uint64_t)c->args[i];
	}
	struct bpftime_run_ctx rc = { .cookie = t->cookie, .regs = c->regs };
	struct bpftime_run_ctx *outer = s->ctx;
	bpftime_run_state_switch(s, &rc);
	(void)agent_prog_run(t->prog, (uint64_t)(uintptr_t)rec);
	bpftime_run_state_switch(s, outer);
}

enum { KPROBE = 1, FENTRY = 2 };

/* A program on the syscall's entry function. A k(ret)probe's context is the struct pt_regs a
 * kernel's probe there sees; an fentry/fexit program's is the function's arguments as u64s (the
 * user registers' address), then for fexit its return value, as a kernel's trampoline passes them.
 * For a kprobe at the entry, rdi holds the address of the task's user registers (the
 * syscall wrappers take them so: PT_REGS_PARM1_SYSCALL, bcc's syscall__ rewriting), here the
 * caller's registers at the syscall instruction; at the return, rax holds the result. User
 * stack walks start from those user registers, as a kernel's do (task_pt_regs). Returns 1 when
 * a kprobe program called bpf_override_return: the syscall does not run and returns c->ret. */
static __attribute__((noinline)) int run_on_function(const struct tp *t, struct bpftime_syscall_ctx *c, int exit,
						 struct bpftime_run_state *s)
{
	/* user: the task's registers for this syscall (an early syscall replayed after the exec
	 * comes with the registers of the current one: its number and arguments are put in). */
	struct pt_regs user = *(const struct pt_regs *)c->regs;
	user.orig_rax = (unsigned long)c->nr;
	user.rdi = (unsigned long)c->args[0];
	user.rsi = (unsigned long)c->args[1];
	user.rdx = (unsigned long)c->args[2];
	user.r10 = (unsigned long)c->args[3];
	user.r8 = (unsigned long)c->args[4];
	user.r9 = (unsigned long)c->args[5];
	user.rax = exit ? (unsigned long)c->ret : (unsigned long)-ENOSYS;
	/* regs: what a kernel's kprobe sees there. The wrapper's arguments are the registers' address
	 * and (6.x's x64_sys_call) the syscall number; at the return, the result. The rest is kernel
	 * state no program can rely on: zeros. */
	struct pt_regs regs = { 0 };
	if (exit) {
		regs.rax = (unsigned long)c->ret;
	} else {
		regs.rdi = (unsigned long)(uintptr_t)&user;
		regs.rsi = (unsigned long)c->nr;
	}
	uint64_t args[2] = { (uint64_t)(uintptr_t)&user, (uint64_t)c->ret };
	struct bpftime_run_ctx rc = { .cookie = t->cookie, .regs = &regs, .user_regs = &user };
	struct bpftime_run_ctx *outer = s->ctx;
	bpftime_run_state_switch(s, &rc);
	(void)agent_prog_run(t->prog, t->kprobe == FENTRY ? (uint64_t)(uintptr_t)args : (uint64_t)(uintptr_t)&regs);
	bpftime_run_state_switch(s, outer);
	if (!rc.override)
		return 0;
	c->ret = (long)regs.rax;
	return 1;
}

/* The agent's own syscalls on an application thread (its start: creating its thread, waiting for
 * the attachments) are not the application's: a kernel without bpftime would not see them. */
static __thread int t_quiet __attribute__((tls_model("initial-exec")));

int agent_syscall_tp_quiet(int on)
{
	int was = t_quiet;
	t_quiet = on;
	return was;
}

/* Inlined into each callback: one call from the trampoline to the program. In the kernel's
 * order: the sys_enter tracepoints, then the kprobes on the entry function; at the return the
 * kretprobes, then the sys_exit tracepoints. Returns 1 when a kprobe overrode the syscall. */
static inline __attribute__((always_inline)) int dispatch(struct bpftime_syscall_ctx *c, int exit)
{
	if (agent_not_followed_here() || t_quiet)
		return 0;
	int in = c->nr >= 0 && c->nr < MAX_NR;
	const struct tp_list *raw = __atomic_load_n(&g_lists[exit][MAX_NR], __ATOMIC_ACQUIRE);
	const struct tp_list *one = in ? __atomic_load_n(&g_lists[exit][c->nr], __ATOMIC_ACQUIRE) : NULL;
	const struct tp_list *k = in ? __atomic_load_n(&g_klists[exit][c->nr], __ATOMIC_ACQUIRE) : NULL;
	if (!raw && !one && !k)
		return 0;
	struct bpftime_run_state *s = bpftime_run_state_get();
	/* A program's own syscalls (probe_read_user's process_vm_readv, the pid cache's getpid and
	 * gettid, the task stand-ins' /proc reads) are not the application's: a kernel's helpers
	 * make none, and no tracepoint fires inside a program there (bpf_prog_active). */
	if (s->ctx)
		return 0;
	int override = 0;
	for (uint32_t i = 0; exit && k && i < k->n; i++)
		run_on_function(k->tps[i], c, 1, s);
	for (uint32_t i = 0; raw && i < raw->n; i++)
		run(raw->tps[i], c, exit, s);
	for (uint32_t i = 0; one && i < one->n; i++)
		run(one->tps[i], c, exit, s);
	for (uint32_t i = 0; !exit && k && i < k->n; i++)
		override |= run_on_function(k->tps[i], c, 0, s);
	return override;
}

/* A successful execve returns in the new image, before this agent existed there, so the engine
 * never sees that exit; the kernel reports it (ret 0) before the new image runs. The agent's
 * constructor marks it pending once the attachments are in (agent_syscall_tp_exec_returned), and
 * the main thread's next syscall reports it first, from inside the hook like every other exit, so
 * the programs' own syscalls stay unseen. Reported as execve: which of execve/execveat the old
 * image made is not known here (execveat is rare). */
void agent_syscall_tp_exec_returned(void)
{
	/* Only tracepoints that existed at the exec see its exit: those the agent installed before
	 * the process went on (a later attachment must not get a stale report). */
	pthread_mutex_lock(&g_lock);
	if (g_started) {
		__atomic_store_n(&g_exec_exit_pending, 1, __ATOMIC_RELEASE);
		publish_want();
	}
	pthread_mutex_unlock(&g_lock);
}

/* One syscall the image made before the agent existed (early.c): its enter and its exit. */
static void replay_early(void *now, long nr, const uint64_t args[6], long ret)
{
	struct bpftime_syscall_ctx c = { .nr = nr, .regs = ((const struct bpftime_syscall_ctx *)now)->regs };
	for (int i = 0; i < 6; i++)
		c.args[i] = (long)args[i];
	dispatch(&c, 0);
	c.ret = ret;
	dispatch(&c, 1);
}

static __attribute__((noinline)) void report_exec_exit(const struct bpftime_syscall_ctx *now)
{
	uint64_t pt = bpftime_current_pid_tgid();
	int pending = 1;
	if ((uint32_t)pt != (uint32_t)(pt >> 32) || /* the exec'ing thread is the main thread now */
	    !__atomic_compare_exchange_n(&g_exec_exit_pending, &pending, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return;
	publish_want(); /* back to the syscalls that have programs */
	struct bpftime_syscall_ctx c = { .nr = SYS_execve, .ret = 0, .regs = now->regs };
	dispatch(&c, 1);
	agent_early_replay(replay_early, (void *)now); /* then what the image did before the agent */
}

static int on_enter(struct bpftime_syscall_ctx *c)
{
	if (__builtin_expect(__atomic_load_n(&g_exec_exit_pending, __ATOMIC_RELAXED), 0))
		report_exec_exit(c);
	return dispatch(c, 0) ? BPFTIME_SYSCALL_SKIP : BPFTIME_SYSCALL_RUN;
}

static void on_exit_(struct bpftime_syscall_ctx *c)
{
	/* A vfork child (or any CLONE_VM child without its own TLS: posix_spawn's) shares its
	 * parent thread's TLS, and with it the helpers' pid cache: both sides drop it when the call
	 * returns to them, before any program runs there (helpers.h). Flags are not looked at:
	 * clone3's live in memory the child may not read, and a needless reset costs two syscalls
	 * next to a clone. */
	if (__builtin_expect(c->nr == SYS_vfork || c->nr == SYS_clone || c->nr == SYS_clone3, 0))
		bpftime_helpers_thread_reset();
	dispatch(c, 1);
}

/* Tells the engine which syscalls have programs (derived from g_lists, so it needs no g_lock: a
 * callback calls it too), so that the others run without a frame or a callback, and a syscall whose
 * programs are all at enter (or exit) makes one callback. While an exec's exit waits to be reported
 * every syscall's enter is wanted: the next one of the main thread reports it. The spin lock orders
 * concurrent publishers; nothing inside makes a syscall. */
static volatile int g_want_lock;
static void publish_want(void)
{
	static unsigned char want[MAX_NR];
	while (__atomic_test_and_set(&g_want_lock, __ATOMIC_ACQUIRE))
		__builtin_ia32_pause();
	unsigned char other = 0;
	if (__atomic_load_n(&g_lists[0][MAX_NR], __ATOMIC_ACQUIRE) ||
	    __atomic_load_n(&g_exec_exit_pending, __ATOMIC_ACQUIRE))
		other |= BPFTIME_SYSCALL_WANT_ENTER;
	if (__atomic_load_n(&g_lists[1][MAX_NR], __ATOMIC_ACQUIRE))
		other |= BPFTIME_SYSCALL_WANT_EXIT;
	for (int nr = 0; nr < MAX_NR; nr++)
		want[nr] = (__atomic_load_n(&g_lists[0][nr], __ATOMIC_ACQUIRE) || __atomic_load_n(&g_klists[0][nr], __ATOMIC_ACQUIRE)
				    ? BPFTIME_SYSCALL_WANT_ENTER : 0) |
			   (__atomic_load_n(&g_lists[1][nr], __ATOMIC_ACQUIRE) || __atomic_load_n(&g_klists[1][nr], __ATOMIC_ACQUIRE)
				    ? BPFTIME_SYSCALL_WANT_EXIT : 0);
	/* The exit of a task-creating call resets the helpers' pid cache (on_exit_). The engine hands
	 * those calls to its C side, which calls both callbacks anyway; wanted here all the same. */
	want[SYS_vfork] |= BPFTIME_SYSCALL_WANT_EXIT;
	want[SYS_clone] |= BPFTIME_SYSCALL_WANT_EXIT;
	want[SYS_clone3] |= BPFTIME_SYSCALL_WANT_EXIT;
	bpftime_syscall_hook_want(want, MAX_NR, other);
	__atomic_clear(&g_want_lock, __ATOMIC_RELEASE);
}

static int in_list(const struct tp *t, int exit, int kprobe, int slot)
{
	return t->exit == exit && t->kprobe == kprobe && (t->nr < 0 ? MAX_NR : t->nr) == slot;
}

/* Rebuilds the list of t's kind, direction and number from g_all; called with g_lock held. */
static void rebuild(const struct tp *t)
{
	int exit = t->exit, kprobe = t->kprobe, slot = t->nr < 0 ? MAX_NR : (int)t->nr;
	uint32_t n = 0;
	for (uint32_t i = 0; i < g_nall; i++)
		if (in_list(g_all[i], exit, kprobe, slot))
			n++;
	struct tp_list *l = NULL;
	if (n) {
		l = malloc(sizeof(*l) + n * sizeof(l->tps[0]));
		if (!l)
			return;
		l->n = 0;
		for (uint32_t i = 0; i < g_nall; i++)
			if (in_list(g_all[i], exit, kprobe, slot))
				l->tps[l->n++] = g_all[i];
	}
	__atomic_store_n(kprobe ? &g_klists[exit][slot] : &g_lists[exit][slot], l, __ATOMIC_RELEASE);
}

int agent_syscall_tp_attach(const struct bpftime_attach *a, const char *path, struct agent_prog *prog, char *err,
			    size_t errlen)
{
	/* path is "syscalls/sys_enter_openat" or "raw_syscalls/sys_exit"; for k(ret)probes the
	 * function, "__x64_sys_openat". */
	int kprobe = a->kind == BPFTIME_ATTACH_SYSCALL_KPROBE || a->kind == BPFTIME_ATTACH_SYSCALL_KRETPROBE ? KPROBE
		     : a->kind == BPFTIME_ATTACH_SYSCALL_FENTRY || a->kind == BPFTIME_ATTACH_SYSCALL_FEXIT	   ? FENTRY
													   : 0;
	const char *ev = strchr(path, '/');
	ev = ev ? ev + 1 : path;
	int exit = kprobe ? a->kind == BPFTIME_ATTACH_SYSCALL_KRETPROBE || a->kind == BPFTIME_ATTACH_SYSCALL_FEXIT
			  : strncmp(ev, "sys_exit", 8) == 0;
	int raw = !kprobe && strncmp(path, "raw_syscalls/", 13) == 0;
	long nr = raw ? -1 : (long)a->offset;
	if (!raw && (nr < 0 || nr >= MAX_NR)) {
		snprintf(err, errlen, "%s: syscall number %ld is out of range", path, nr);
		return -EINVAL;
	}
	struct tp *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*t = (struct tp){ a->attach_id, a->tp_id, exit, kprobe, nr, prog, a->cookie };
	pthread_mutex_lock(&g_lock);
	if (g_nall == sizeof(g_all) / sizeof(g_all[0])) {
		pthread_mutex_unlock(&g_lock);
		free(t);
		snprintf(err, errlen, "too many syscall tracepoint attachments in one process");
		return -E2BIG;
	}
	/* In the lists before the engine starts: starting it interrupts the other threads (its
	 * arming signal), and a thread woken so makes its next syscall at once, which must find
	 * this program there. */
	g_all[g_nall++] = t;
	rebuild(t);
	publish_want();
	if (!g_started) {
		int rc = bpftime_syscall_hook_start(on_enter, on_exit_, err, errlen);
		if (rc < 0) {
			g_nall--;
			rebuild(t);
			publish_want();
			pthread_mutex_unlock(&g_lock);
			free(t); /* no callback ran: the engine never started */
			return rc;
		}
		g_started = 1;
	}
	pthread_mutex_unlock(&g_lock);
	static const char *const kinds[3][2] = { { "", "" }, { "kprobe:", "kretprobe:" }, { "fentry:", "fexit:" } };
	snprintf(err, errlen, "%s%s (%s)", kinds[kprobe][exit], path,
		 raw ? "every syscall" : "syscall interception");
	return 0;
}

void agent_syscall_tp_detach(uint32_t attach_id)
{
	pthread_mutex_lock(&g_lock);
	for (uint32_t i = 0; i < g_nall; i++) {
		if (g_all[i]->attach_id != attach_id)
			continue;
		struct tp *t = g_all[i];
		g_all[i] = g_all[--g_nall];
		rebuild(t);
		publish_want();
		agent_prog_put(t->prog);
		/* t stays allocated: a thread may be running it from an old list. */
		break;
	}
	if (g_nall == 0 && g_started) {
		bpftime_syscall_hook_stop();
		g_started = 0;
	}
	pthread_mutex_unlock(&g_lock);
}
