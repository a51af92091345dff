// Where the eBPF registers live in x86-64 code, chosen so that eBPF's calling convention
// lines up with the System V AMD64 ABI the helpers are compiled for:
//
//   eBPF  x86    why
//   r0    rax    return value of helpers and of bpf-to-bpf calls, no move after a call
//   r1-r5 rdi, rsi, rdx, rcx, r8   the first five SysV argument registers: a helper call is
//                                  just `call`, no argument shuffling
//   r6-r9 rbx, r13, r14, r15       callee-saved in SysV, so helpers preserve them as eBPF
//                                  requires; each JIT function saves them in its prologue
//   r10   rbp    frame pointer: top of the 512-byte stack of the current eBPF frame
//
// Scratch registers, never holding an eBPF register: r9, r10, r11 (caller-saved, free to
// clobber anywhere, helpers clobber them too). r12 is left alone.
//
// Two x86 instructions want fixed registers that eBPF registers occupy:
//  - shifts by a register count take it in cl, and rcx is r4: see alu.ts (shifts);
//  - div/idiv use rdx:rax, which are r3 and r0: see alu.ts (division).
import { RAX, RBP, RBX, RCX, RDI, RDX, RSI, R8, R9, R10, R11, R13, R14, R15 } from './x86';

/** x86 register of eBPF register r0..r10 (index = eBPF register number). */
export const X: readonly number[] = [RAX, RDI, RSI, RDX, RCX, R8, RBX, R13, R14, R15, RBP];

/** Scratch registers (see above). */
export const T0 = R9, T1 = R10, T2 = R11;

/** eBPF's r10, read-only for programs. */
export const BPF_FP = 10;

/** Callee-saved registers every JIT function saves (rbp first: it is eBPF's r10). */
export const SAVED: readonly number[] = [RBP, RBX, R13, R14, R15];

/** eBPF stack per frame (the kernel's MAX_BPF_STACK). */
export const STACK_SIZE = 512;

/** Bytes above the eBPF stack top in each full frame (control.ts): [rbp, rbp + 8) is the frame's
 * may_goto counter, [rbp + 8, rbp + 16) the address of the run's tail-call count, [rbp + 16,
 * rbp + 20) that count when the main function was entered afresh; a multiple of 16 keeps rsp
 * 16-byte aligned. */
export const FRAME_EXTRA = 32;
