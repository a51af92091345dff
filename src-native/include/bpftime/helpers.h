/* eBPF helpers with the kernel's ids and semantics, callable from the interpreter and the JIT.
 *
 * bpftime_helper_table[BPF_FUNC_xxx] is the implementation of helper xxx (enum bpf_func_id from
 * <linux/bpf.h>), NULL where none exists yet. All take and return the helper_fn.h convention.
 * Helpers never crash the process on a bad pointer: memory they read on the program's behalf
 * (probe_read*, %s in trace_printk) is read with bpftime_copy_from_user, which returns -EFAULT.
 */
#ifndef BPFTIME_HELPERS_H
#define BPFTIME_HELPERS_H
#include <stddef.h>
#include <stdint.h>
#include "bpftime/helper_fn.h"

#ifdef __cplusplus
extern "C" {
#endif

extern const bpftime_helper_fn bpftime_helper_table[];
extern const uint32_t bpftime_helper_table_len; /* __BPF_FUNC_MAX_ID of the uapi header */

/* What the host (agent, shim, addon) provides to helpers. */
struct bpftime_helper_host {
	/* bpf_trace_printk/bpf_trace_vprintk output: the formatted text (not NUL-terminated).
	 * NULL: write it to stderr. Called on the program's thread. */
	void (*trace_printk)(const char *text, size_t len);
	/* bpf_perf_event_output: write one sample of `size` bytes to the perf event at slot `index` of
	 * the PERF_EVENT_ARRAY map `map_id`. 0, -ENOENT (no event there), -ENOSPC (ring full: the
	 * loss is counted). NULL: -ENOENT. */
	long (*perf_output)(uint32_t map_id, uint32_t index, const void *data, uint64_t size);
	/* bpf_get_current_task / bpf_get_current_task_btf: the address of the calling thread's
	 * stand-in struct task_struct, laid out as the running kernel's (the agent: task.c). btf = 1
	 * for the _btf variant, whose programs load fields directly: everything is made current now
	 * rather than when probe_read_kernel reads it. 0 when there is none. NULL: 0. */
	uint64_t (*current_task)(int btf);
	/* Reads for probe_read_kernel[_str] and probe_read[_str] of memory the host presents as
	 * kernel memory (the task stand-ins). When [src, src + n) lies inside such memory: copies it
	 * (str: as strncpy_from_kernel_nofault, the bytes copied including the NUL) and returns
	 * >= 0. Otherwise returns -1 and the helper answers as for any other address (-ERANGE for a
	 * user address, -EFAULT for a kernel one). NULL: nothing is such memory. */
	long (*kernel_read)(void *dst, const void *src, uint32_t n, int str);
};
/* Copies *host (NULL restores the defaults). Set once before programs run. */
void bpftime_helpers_set_host(const struct bpftime_helper_host *host);
const struct bpftime_helper_host *bpftime_helpers_host(void);

/* Per-run context, thread-local, set by whoever runs a program (attach cookie, func ip). */
struct bpftime_run_ctx {
	uint64_t cookie;  /* bpf_get_attach_cookie() */
	uint64_t func_ip; /* bpf_get_func_ip(): the probed address */
	void *regs;       /* the probe's saved registers (struct pt_regs layout), or NULL */
	/* A uprobe hit (not a return) whose probed instruction is `push %rbp` or `endbr64`: the
	 * caller's frame is not linked yet, so user stack walks take the return address at
	 * regs->sp, as the kernel's perf_callchain_user does (is_uprobe_at_func_entry). */
	int32_t at_frame_push;
	/* A clock tick that fell in no traced thread (src-native/agent/timer.c): the program sees
	 * what the kernel's idle task shows, pid/tgid 0, uid/gid 0, comm "swapper/<cpu>". */
	int32_t idle;
	/* The CPU this run counts as on, plus one; 0 until bpftime_current_cpu first asks (most runs
	 * never do, and sched_getcpu on every run was a tenth of a uprobe hit). */
	int32_t cpu_plus1;
	/* Set by bpf_override_return(): the probed function must return regs->ax at once. */
	int32_t override;
	/* The task's user registers (struct pt_regs) where the context is not them: programs on a
	 * syscall's entry function (src-native/agent/syscall_tp.c), whose context points at them.
	 * User stack walks start there, and probe_read_kernel reads them (a kernel keeps them on the
	 * task's kernel stack). NULL otherwise. */
	void *user_regs;
};
/* What the calling thread's program run has in hand, in one thread-local so that starting and
 * ending a run is a few loads and stores (helper_ctx.c). */
struct bpftime_run_state {
	struct bpftime_run_ctx *ctx; /* the running program's context, NULL outside a run */
	uint32_t *held_lock;         /* a bpf_spin_lock it holds (helper_spin_lock.c) */
	uint64_t pending_group;      /* signals it asked for, bit sig - 1: to the process, */
	uint64_t pending_thread;     /* to the thread (helper_signal.c) */
	uint32_t end_work;           /* BPFTIME_RUN_END_*: what a change of run must do first */
	/* The thread's (tgid << 32 | tid), valid while pid_gen equals *bpftime_pid_gen_word (the
	 * process generation, zeroed in a fork's child: helper_task.c). Here rather than in a
	 * thread-local of its own so that a run that asks for it makes no extra TLS access. */
	uint64_t pid_gen;
	uint64_t pid_tgid;
};
#define BPFTIME_RUN_END_LOCK 1u    /* release held_lock */
#define BPFTIME_RUN_END_SIGNALS 2u /* queue the pending signals */
extern __thread struct bpftime_run_state bpftime_run_state __attribute__((visibility("hidden")));
/* Releases the lock a run left held and queues the signals it asked for. */
void bpftime_run_end_work(struct bpftime_run_state *s);

/* Installs c in the calling thread's run state s (NULL clears), after finishing what the previous
 * run left: its held spin lock is released and its signals are queued. Runners on a hot path take
 * s = bpftime_run_state_get() once (each thread-local access is a call) and keep it for the run. */
static inline void bpftime_run_state_switch(struct bpftime_run_state *s, struct bpftime_run_ctx *c)
{
	if (__builtin_expect(s->end_work != 0, 0))
		bpftime_run_end_work(s);
	s->ctx = c;
}
/* &bpftime_run_state, computed once: the empty asm keeps the compiler from recomputing the
 * address (a TLS descriptor call) at every use. */
static inline struct bpftime_run_state *bpftime_run_state_get(void)
{
	struct bpftime_run_state *s = &bpftime_run_state;
	__asm__("" : "+r"(s));
	return s;
}
static inline void bpftime_run_ctx_set(struct bpftime_run_ctx *c) { bpftime_run_state_switch(&bpftime_run_state, c); }
static inline struct bpftime_run_ctx *bpftime_run_ctx_get(void) { return bpftime_run_state.ctx; }
/* The CPU of the running program, or the thread's current CPU outside one. A kernel program runs
 * on one CPU from start to end, so everything per-CPU it touches (perf buffer slot, per-CPU map
 * values, bpf_get_smp_processor_id) must agree even if the thread migrates meanwhile: the first
 * call in a run fixes the run's CPU. */
int bpftime_current_cpu(void);

/* Fault-safe reads of this process's memory. 0 or -EFAULT (any byte unreadable; dst then holds
 * unspecified bytes). n == 0 reads nothing and succeeds. */
int bpftime_copy_from_user(void *dst, const void *src, size_t n);
/* The kernel's strncpy_from_user_nofault: copies the string at src including its NUL, at most n
 * bytes; returns the bytes copied including the NUL; if the string is longer, copies n - 1 bytes,
 * NUL-terminates and returns n; 0 when n == 0; -EFAULT on an unreadable byte before the end.
 * Nothing past the NUL is written. */
long bpftime_strncpy_from_user(char *dst, const void *src, size_t n);

/* The thread's (tgid << 32 | tid), as bpf_get_current_pid_tgid. Cached per thread and
 * invalidated by any fork (a MADV_WIPEONFORK page; pthread_atfork as a fallback). A vfork() or
 * clone(CLONE_VM) child without its own TLS shares the parent thread's cache: whoever sees such
 * a child (the agent's syscall hooks) calls bpftime_helpers_thread_reset() in the child after
 * the clone and in the parent when it resumes. */
uint64_t bpftime_current_pid_tgid(void);
void bpftime_helpers_thread_reset(void);
/* The same for a caller that holds its run state: a compare and a load when the cache is valid. */
extern uint64_t *volatile bpftime_pid_gen_word __attribute__((visibility("hidden")));
uint64_t bpftime_pid_tgid_refill(struct bpftime_run_state *s);
/* The process generation behind that cache: non-zero, different in every process (also a child of a
 * raw fork/clone), so a per-thread cache keyed by it is dropped by any fork. */
uint64_t bpftime_process_gen(void);
static inline uint64_t bpftime_run_state_pid_tgid(struct bpftime_run_state *s)
{
	uint64_t g = __atomic_load_n(__atomic_load_n(&bpftime_pid_gen_word, __ATOMIC_ACQUIRE), __ATOMIC_RELAXED);
	if (__builtin_expect(g != 0 && s->pid_gen == g, 1))
		return s->pid_tgid;
	return bpftime_pid_tgid_refill(s);
}
/* For the server's test runs (a forked process of their own): from now on the calling thread
 * reports pid_tgid as its own, as a kernel test run reports its caller as current. */
void bpftime_helpers_run_as(uint64_t pid_tgid);

/* The formatter behind trace_printk/trace_vprintk/snprintf: the kernel's bpf_bprintf_prepare
 * rules (-EINVAL for a format it rejects or more conversions than nargs), then formats into out
 * (always NUL-terminated when out_size > 0). Returns the length the full text has (without the
 * NUL), like snprintf. fmt_size bounds fmt; a NUL must occur within it. */
long bpftime_bprintf(char *out, size_t out_size, const char *fmt, uint32_t fmt_size,
		     const uint64_t *args, uint32_t nargs);

#ifdef __cplusplus
}
#endif
#endif
