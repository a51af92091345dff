/* C side of the trampolines: run a site's handlers, and keep return addresses in a per-thread
 * shadow stack for return probes.
 *
 * Recursion guard: thread_state.seq is odd while the thread is inside a dispatcher. A handler that
 * calls a probed function (malloc, ...) reaches the dispatcher again, sees the odd seq and returns
 * at once: no handlers, no return hijack, the call simply runs. Signal handlers interrupting a
 * dispatcher are treated the same way.
 *
 * Return probes: at entry the return address at [rsp] is saved with rsp and the site, and replaced
 * by bpftime_attach_ret_tramp (the stub's return-only path calls the function instead, so its
 * return comes back through bpftime_attach_ret_tramp_call: trampoline.S). On return the trampoline's rsp is entry rsp + 8, which identifies the
 * frame: the topmost frame with that entry rsp is the live one (recursion pushes one per depth; a
 * frame left behind by longjmp at the same rsp is always older). Frames from calls that never
 * return (longjmp, exceptions, pthread_exit through a probed function) stay in the shadow stack
 * until it is full, then frames deeper than the current call on the stack are dropped (the kernel's
 * rule for uretprobes; wrong only if the thread switches between stacks, e.g. coroutines).
 * Limits: C++ exceptions and forced unwinding cannot walk through the trampoline (it has no
 * unwind info and the real return address is not on the stack), and a CET shadow stack, if the
 * process enabled one, rejects the modified return. */
#include "attach_internal.h"
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define barrier() __asm__ volatile("" ::: "memory")

static inline void seq_enter(struct thread_state *t)
{
	t->seq = t->seq + 1;
	barrier();
}

static inline void seq_exit(struct thread_state *t)
{
	barrier();
	t->seq = t->seq + 1;
}

static void missed(void)
{
	__atomic_fetch_add(&attach_stats.ret_missed, 1, __ATOMIC_RELAXED);
}

static void shadow_push(struct thread_state *t, struct site *s, struct pt_regs *regs)
{
	if (__builtin_expect(!t->frames, 0)) {
		void *m = mmap(NULL, SHADOW_CAP * sizeof(struct shadow_frame), PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED)
			return missed();
		t->frames = m;
	}
	if (__builtin_expect(t->top == SHADOW_CAP, 0)) {
		while (t->top > 0 && t->frames[t->top - 1].entry_sp < regs->rsp)
			t->top--;
		if (t->top == SHADOW_CAP)
			return missed();
	}
	uintptr_t *slot = (uintptr_t *)regs->rsp;
	struct shadow_frame *f = &t->frames[t->top];
	f->ret_addr = *slot;
	f->entry_sp = regs->rsp;
	f->site = s;
	barrier(); /* a signal handler probing in between must see a complete frame or none */
	t->top++;
	barrier();
	*slot = (uintptr_t)bpftime_attach_ret_tramp;
}

int bpftime_attach_entry_dispatch(struct site *s, struct pt_regs *regs)
{
	struct thread_state *t = attach_tls;
	if (__builtin_expect(!t, 0)) {
		t = attach_thread_state();
		if (!t)
			return BPFTIME_PROBE_CONTINUE;
	}
	if ((t->seq & 1) | t->excluded)
		return BPFTIME_PROBE_CONTINUE;
	seq_enter(t);
	int ret = BPFTIME_PROBE_CONTINUE;
	struct handler_vec *v = __atomic_load_n(&s->entry_vec, __ATOMIC_ACQUIRE);
	if (v)
		for (unsigned i = 0; i < v->n; i++)
			if (v->e[i].h(v->e[i].data, regs) == BPFTIME_PROBE_OVERRIDE)
				ret = BPFTIME_PROBE_OVERRIDE;
	/* After the entry handlers, so an override still reaches the return probes. */
	if (__atomic_load_n(&s->ret_vec, __ATOMIC_RELAXED))
		shadow_push(t, s, regs);
	seq_exit(t);
	return ret;
}

static void __attribute__((noreturn)) fatal(const char *msg)
{
	ssize_t r = write(2, msg, __builtin_strlen(msg));
	(void)r;
	abort();
}

void bpftime_attach_ret_dispatch(struct pt_regs *regs)
{
	struct thread_state *t = attach_tls;
	uintptr_t entry_sp = regs->rsp - 8;
	if (!t || !t->frames)
		fatal("bpftime: return trampoline reached on a thread without shadow frames\n");
	/* Nested in a dispatcher (a signal handler interrupted one and a hijacked call of the
	 * interrupted code returns inside it): pop the frame, but run no handlers. */
	int nested = t->seq & 1;
	if (!nested)
		seq_enter(t);
	unsigned i = t->top;
	while (i > 0 && t->frames[i - 1].entry_sp != entry_sp)
		i--;
	if (i == 0)
		fatal("bpftime: return trampoline found no shadow frame for this return\n");
	struct shadow_frame f = t->frames[i - 1];
	/* Frames above it were pushed on another stack (coroutines) or are stale: keep them. */
	for (unsigned j = i; j < t->top; j++)
		t->frames[j - 1] = t->frames[j];
	barrier();
	t->top--;
	regs->rip = f.ret_addr;
	if (!nested) {
		if (!t->excluded) {
			struct handler_vec *v = __atomic_load_n(&f.site->ret_vec, __ATOMIC_ACQUIRE);
			if (v)
				for (unsigned k = 0; k < v->n; k++)
					v->e[k].h(v->e[k].data, regs);
		}
		seq_exit(t);
	}
}
