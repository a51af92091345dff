/* Internals shared by the interpreter loop (interp.c) and its entry points (exec.c). */
#ifndef BPFTIME_VM_INTERNAL_H
#define BPFTIME_VM_INTERNAL_H
#include <stdint.h>
#include "bpftime/vm.h"

#define VM_LIKELY(x) __builtin_expect(!!(x), 1)
#define VM_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* One bpftime_vm_exec() in progress on this thread. Frames of the same execution (bpf-to-bpf
 * calls, helper callbacks) share it; a helper that runs another program starts a new one,
 * linked through `outer`, so nested runs never see each other's state. */
struct vm_exec {
	const struct bpftime_vm_prog *prog;      /* program of the innermost running frame */
	struct vm_exec *outer;                   /* the execution this one interrupted, or NULL */
	const struct bpftime_vm_prog *tail_next; /* set by bpftime_vm_tail_call, taken when the helper returns */
	int64_t budget;                          /* instructions left; INT64_MAX when unlimited */
	uint32_t depth;                          /* live frames */
	uint32_t tail_calls;                     /* tail calls made so far */
};

/* The execution running on this thread (innermost), or NULL. */
extern __thread struct vm_exec *bpftime_vm_current;

/* Runs one frame of `prog` from insn `pc` with r1..r5 = args[0..4] until its exit; nested
 * bpf-to-bpf calls recurse into this function, each with its own stack. The caller has
 * checked that pc < prog->insn_cnt and that vm_prog_runnable(prog). */
int bpftime_vm_run_frame(struct vm_exec *ex, const struct bpftime_vm_prog *prog, uint32_t pc,
			 const uint64_t args[5], uint64_t *ret);

/* The interpreter never checks for running off the end of the program: it relies on the
 * last instruction being one that cannot fall through (exit, ja, gotol), which is also the
 * kernel's rule ("last insn is not an exit or jmp"). One O(1) check per program run. */
static inline int vm_prog_runnable(const struct bpftime_vm_prog *p)
{
	uint8_t last;

	if (!p || !p->insns || p->insn_cnt == 0)
		return 0;
	last = p->insns[p->insn_cnt - 1].code;
	return last == (BPF_JMP | BPF_EXIT) || last == (BPF_JMP | BPF_JA) || last == (BPF_JMP32 | BPF_JA);
}

#endif
