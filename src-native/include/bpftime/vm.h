/* The eBPF interpreter: one C implementation shared by the shim, the agent and the addon.
 *
 * It runs bytecode exactly as the kernel's runtime would after the verifier accepted it
 * (Documentation/bpf/standardization/instruction-set.rst, cpu v1..v4). It does not verify
 * memory safety: that is the verifier's job (src-ts/verifier) before a program is handed to
 * an agent. What it does check at run time is everything that would otherwise make the
 * interpreter itself misbehave: unknown opcodes, jumps/calls out of the program, register
 * numbers, call depth, and an optional instruction budget.
 *
 * Conventions the loader must follow for programs run by this interpreter:
 *  - ld_imm64 pairs hold their final 64-bit value whatever src_reg says (map pointers, map
 *    value addresses, ...): the interpreter just loads (imm | next_imm << 32).
 *  - BPF_PSEUDO_FUNC ld_imm64 (callback pointers for bpf_loop, for_each_map_elem, timers)
 *    hold the absolute instruction index of the callback; the helper hands that index to
 *    bpftime_vm_call_subprog().
 */
#ifndef BPFTIME_VM_H
#define BPFTIME_VM_H
#include <stddef.h>
#include <stdint.h>
#include <linux/bpf.h>
#include "bpftime/helper_fn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The kernel's MAX_BPF_STACK and MAX_CALL_FRAMES (include/linux/filter.h and
 * include/linux/bpf_verifier.h; kernel-internal, not in the uapi headers). */
#define BPFTIME_VM_STACK_SIZE 512
#define BPFTIME_VM_MAX_CALL_DEPTH 8
/* The kernel's MAX_TAIL_CALL_CNT (include/linux/bpf.h, kernel-internal). */
#define BPFTIME_VM_MAX_TAIL_CALLS 33

struct bpftime_vm_prog {
	const struct bpf_insn *insns; /* already relocated by the loader: ld_imm64 pairs hold final 64-bit values */
	uint32_t insn_cnt;
	const bpftime_helper_fn *helpers; /* indexed by helper id (BPF_FUNC_*), NULL = absent */
	uint32_t nhelpers;
	/* Maximum number of instructions one bpftime_vm_exec() may execute (all frames and
	 * callbacks together, tail calls included); 0 = unlimited. Checked at every taken branch,
	 * call and exit, so an overrun is caught at most one straight-line block late. */
	uint64_t insn_budget;
};

/* Runs from insn 0 with r1 = ctx_arg1, r2 = ctx_arg2, r10 = top of a 512-byte stack per frame.
 * Returns 0 and stores r0 in *ret, or a negative errno (-EINVAL for an invalid instruction or a jump
 * out of range met at run time, -E2BIG for call depth > 8 or an instruction budget overrun when a
 * budget is set, -ENOENT for an absent helper). Reentrant: a helper may run another program. */
int bpftime_vm_exec(const struct bpftime_vm_prog *p, uint64_t ctx_arg1, uint64_t ctx_arg2, uint64_t *ret);

/* bpftime_vm_exec for a program entered by a tail call from JIT code: `tail_calls` were already
 * made in this execution (they count towards BPFTIME_VM_MAX_TAIL_CALLS), r2 = 0. */
int bpftime_vm_exec_tail(const struct bpftime_vm_prog *p, uint64_t ctx, uint32_t tail_calls, uint64_t *ret);
/* The same with the run's count by address: read at entry, the tail calls made written back, so
 * JIT frames below (a bpf-to-bpf caller, a helper walking a map) go on counting from there. */
int bpftime_vm_exec_tail_shared(const struct bpftime_vm_prog *p, uint64_t ctx, uint32_t *tail_calls, uint64_t *ret);

/* Callback values (BPF_PSEUDO_FUNC ld_imm64) below this are instruction indexes for the
 * interpreter (bpftime_vm_call_subprog); from it up they are addresses of JIT'ed functions,
 * called as uint64_t f(r1, r2, r3, r4, r5). Programs have at most 1M instructions and no code
 * lives in the first 64 KiB of an address space (mmap_min_addr). */
#define BPFTIME_VM_CALLBACK_ADDR_MIN (1u << 24)

/* For helpers that call back into the running program (bpf_loop, for_each_map_elem): run the subprogram
 * starting at insn index `pc` of the program currently executing on this thread, with r1..r5 = args.
 * The callback gets a fresh frame and counts towards the call depth, like in the kernel.
 * Returns -EINVAL when no program is running on this thread or pc is out of range. */
int bpftime_vm_call_subprog(uint32_t pc, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t *ret);

/* For the bpf_tail_call helper: when the helper returns, the frame that called it continues at
 * insn 0 of `next` with r1 unchanged (the helper's first argument, the context), on a fresh
 * stack; its caller frames are unaffected, as on the kernel's JITs. Returns 0 when scheduled,
 * -E2BIG when this execution already made BPFTIME_VM_MAX_TAIL_CALLS tail calls (the helper then
 * returns and the program falls through, as in the kernel), -EINVAL when no program runs on
 * this thread or `next` is empty or does not end with exit/ja. */
int bpftime_vm_tail_call(const struct bpftime_vm_prog *next);

/* Static structural check before running (opcodes valid, jump targets in range and not into the middle of ld_imm64,
 * registers < 11, no write to r10, last insn is exit or ja, call targets valid). Writes a kernel-style message into log.
 * Like the kernel it also rejects reserved fields that are set, constant shifts out of range ("invalid shift N"),
 * constant division by zero, jumps leaving their subprogram and static call chains deeper than 8 frames
 * (recursion included). Returns 0, -EINVAL (-EACCES for a write to r10, -E2BIG for depth/size, -ENOMEM). */
int bpftime_vm_check(const struct bpf_insn *insns, uint32_t insn_cnt, char *log, size_t log_size);

#ifdef __cplusplus
}
#endif
#endif
