// Jumps, calls, exit, and the frame every JIT function builds.
//
// Frame of one eBPF function (the main program and every bpf-to-bpf callee alike):
//
//   [return address]                 rsp = 8 (mod 16) at entry (SysV)
//   push rbp, rbx, r13, r14, r15     eBPF r10 and r6..r9 of the caller: eBPF callee-saved
//   sub rsp, 512 + 16                -> rsp = 0 (mod 16): helpers are called with the
//                                       alignment SysV requires, no adjustment per call
//   rbp = rsp + 512                  eBPF r10: [rsp, rbp) is this frame's 512-byte stack
//   [rbp, rbp + 8)                   may_goto counter (only set when the function uses it)
//   [rbp + 8, rbp + 16)              the address of the run's count of tail calls, which every
//                                    bpf-to-bpf call passes to its callee in rax (r0, which a
//                                    callee never reads: its prologue zeroes it)
//   [rbp + 16, rbp + 20)             that count, when this is the main function entered afresh
//
// The main function's code starts with the frame set-up and a zeroed count (its address in rax);
// a tail call from another program keeps its own frame (all have this shape) and jumps just past
// them (BPFTIME_JIT_TAIL_ENTRY, jit.h) with the address of the count it uses in rax, so one
// count serves the whole run while frames are replaced (the kernel's tail_call_cnt_ptr): tail
// calls made by a target that replaced a bpf-to-bpf callee or a callback still count when control
// is back in the frames below.
//
// Registers are zeroed on entry as the interpreter does (r0, r6..r9; and r3..r5 in the main
// program), so even a program that reads a register before writing it behaves the same in both
// engines. After a helper or bpf-to-bpf call, r1..r5 hold whatever the callee left (SysV
// caller-saved), which is eBPF's contract (the kernel verifier rejects reading them).
import * as O from '../asm/opcodes';
import { Gen, bindHere, fusable, invalid, readReg, shortJccForward } from './gen';
import {
  BPF_FUNC_find_vma, BPF_FUNC_for_each_map_elem, BPF_FUNC_loop, BPF_FUNC_map_lookup_elem, BPF_FUNC_tail_call,
  BPF_FUNC_user_ringbuf_drain,
} from '../uapi/bpf';
import { inlineLoop, inlineMapLookup } from './inline';
import { Frame, jumpTarget } from './program';
import { FRAME_EXTRA, SAVED, STACK_SIZE, T0, T1, T2, X } from './regs';
import {
  ALU_ADD, ALU_CMP, ALU_SUB, ALU_XOR, CC_A, CC_AE, CC_B, CC_BE, CC_E, CC_G, CC_GE, CC_L, CC_LE, CC_NE, CC_S,
  Emitter, RAX, RBP, RBX, RCX, RDI, RDX, RSI, RSP, R8, R13, R14, R15,
} from './x86';

/** The kernel's BPF_MAX_LOOPS: how often one frame's may_goto falls through. */
export const MAX_LOOPS = 8 * 1024 * 1024;

/** x86 condition of each conditional jump op, by op >> 4 (-1: not a conditional jump). */
const COND: readonly number[] = (() => {
  const m = new Map([
    [O.BPF_JEQ, CC_E], [O.BPF_JNE, CC_NE], [O.BPF_JSET, CC_NE],
    [O.BPF_JGT, CC_A], [O.BPF_JGE, CC_AE], [O.BPF_JLT, CC_B], [O.BPF_JLE, CC_BE],
    [O.BPF_JSGT, CC_G], [O.BPF_JSGE, CC_GE], [O.BPF_JSLT, CC_L], [O.BPF_JSLE, CC_LE],
  ]);
  return Array.from({ length: 16 }, (_, k) => m.get(k << 4) ?? -1);
})();

const ZERO_MAIN: readonly number[] = [RAX, RDX, RCX, R8, RBX, R13, R14, R15]; // r0, r3-r9
const ZERO_SUB: readonly number[] = [RAX, RBX, R13, R14, R15]; // r0, r6-r9

const JA = O.BPF_JMP | O.BPF_JA;
const GOTOL = O.BPF_JMP32 | O.BPF_JA;

/** Bytes before the tail entry of the main function (jit.h BPFTIME_JIT_TAIL_ENTRY): past
 * `xor eax, eax` and the frame set-up, which a tail call keeps from the frame it replaces (every
 * function's frame has the same shape). */
export const TAIL_ENTRY = 34;
/** The kernel's MAX_TAIL_CALL_CNT. */
export const MAX_TAIL_CALLS = 33;
const TAIL_COUNT = 8; // [rbp + 8]: the count's address
const TAIL_CELL = 16; // [rbp + 16]: the count of a run that started in this frame

export function prologue(e: Emitter, main: boolean, mayGoto: boolean, frame: Frame): void {
  if (!frame.full) return slimPrologue(e, mayGoto, frame);
  const at = e.pos;
  for (let k = 0; k < SAVED.length; k++) e.push(SAVED[k]);
  e.aluRI(ALU_SUB, RSP, STACK_SIZE + FRAME_EXTRA, true);
  e.lea(RBP, RSP, STACK_SIZE);
  if (main) {
    // A run starts here: its count, zero. A tail call enters past this with its own in rax.
    e.storeImm(RBP, TAIL_CELL, 0, 4);
    e.lea(RAX, RBP, TAIL_CELL);
    // The tail entry must be even: the resolver tags a program without JIT code in bit 0.
    if (e.pos - at !== TAIL_ENTRY) throw new Error('JIT internal error: tail entry moved');
  }
  e.store(RBP, TAIL_COUNT, RAX, 8); // the count's address (callbacks too: see CALLS_BACK)
  if (mayGoto) e.storeImm(RBP, 0, MAX_LOOPS, 8);
  const zero = main ? ZERO_MAIN : ZERO_SUB;
  for (let k = 0; k < zero.length; k++) e.aluRR(ALU_XOR, zero[k], zero[k], false);
}

/** A function that makes no tail calls: only what it uses (Frame in program.ts). */
function slimPrologue(e: Emitter, mayGoto: boolean, frame: Frame): void {
  for (const r of frame.saved) e.push(r);
  if (frame.stack) {
    e.aluRI(ALU_SUB, RSP, STACK_SIZE + frame.extra, true);
    e.lea(RBP, RSP, STACK_SIZE);
  }
  if (frame.keepsCount) e.store(RBP, TAIL_COUNT, RAX, 8);
  if (mayGoto) e.storeImm(RBP, 0, MAX_LOOPS, 8);
  e.aluRR(ALU_XOR, RAX, RAX, false);
  for (const r of frame.zero) e.aluRR(ALU_XOR, X[r], X[r], false);
}

function epilogue(e: Emitter, frame: Frame): void {
  if (!frame.full) {
    if (frame.stack) e.lea(RSP, RBP, frame.extra);
    for (let k = frame.saved.length - 1; k >= 0; k--) e.pop(frame.saved[k]);
    e.ret();
    return;
  }
  e.lea(RSP, RBP, FRAME_EXTRA);
  for (let k = SAVED.length - 1; k >= 0; k--) e.pop(SAVED[k]);
  e.ret();
}

/** Jump (cc < 0: unconditional) to the body of instruction t: emitted in the long form with
 * a zero displacement and recorded; relax.ts chooses the final form and displacement. */
function jumpTo(g: Gen, cc: number, t: number): void {
  const { e, sites } = g;
  sites.pos.push(e.pos);
  sites.cc.push(cc);
  sites.target.push(t);
  if (cc < 0) e.jmp(0, false);
  else e.jcc(cc, 0, false);
}

export function lowerJmp(g: Gen): void {
  const { e, p, i } = g;
  const code = p.code[i];
  const w = (code & 7) === O.BPF_JMP;
  const x = (code & O.BPF_X) !== 0;
  const op = code & 0xf0;

  switch (op) {
    case O.BPF_JA: {
      if (x) invalid(g, `unknown opcode ${code.toString(16)}`);
      const t = jumpTarget(p, i); // ja uses off, gotol (JMP32) imm
      if (t !== i + 1) jumpTo(g, -1, t);
      return;
    }
    case O.BPF_CALL:
      if (!w || x) invalid(g, `unknown opcode ${code.toString(16)}`);
      return call(g);
    case O.BPF_EXIT:
      if (!w || x) invalid(g, `unknown opcode ${code.toString(16)}`);
      return epilogue(e, g.L.frames[g.L.funcOf[i]]);
    case O.BPF_JCOND:
      if (!w || x || p.src[i] !== O.BPF_MAY_GOTO) invalid(g, `unknown opcode ${code.toString(16)}`);
      // Falls through while the frame's allowance lasts, then always branches.
      e.cmpMI8(RBP, 0, 0, true);
      jumpTo(g, CC_E, jumpTarget(p, i));
      e.subMI8(RBP, 0, 1, true);
      return;
  }
  const cc = COND[op >> 4];
  if (cc < 0) invalid(g, `unknown opcode ${code.toString(16)}`);
  const d = X[readReg(g, p.dst[i])];
  let t = jumpTarget(p, i);
  let c = cc;
  // `if cond goto L; goto M; L:` (clang's switch lowering): one jump on the inverse condition
  // to M, falling through to L, instead of a conditional jump over an unconditional one. Only
  // when nothing else lands on the `goto M`, which then needs no code of its own.
  if (t === i + 2 && fusable(g, i + 1) && (p.code[i + 1] === JA || p.code[i + 1] === GOTOL) &&
    jumpTarget(p, i + 1) !== i + 1) {
    t = jumpTarget(p, i + 1);
    c = cc ^ 1; // x86 condition codes come in pairs: flipping bit 0 inverts
    g.skip = 1;
  }
  if (x) {
    const s = X[readReg(g, p.src[i])];
    if (t === i + 1) return;
    if (op === O.BPF_JSET) e.testRR(d, s, w);
    else e.aluRR(ALU_CMP, d, s, w);
  } else {
    if (t === i + 1) return;
    const imm = p.imm[i];
    if (op === O.BPF_JSET) e.testRI(d, imm, w);
    else if (imm === 0 && (op === O.BPF_JEQ || op === O.BPF_JNE)) e.testRR(d, d, w);
    else e.aluRI(ALU_CMP, d, imm, w); // x86 sign-extends imm, as eBPF does for 64-bit compares
  }
  jumpTo(g, c, t);
}

/** bpf_tail_call(r1 = ctx, r2 = map, r3 = index): the resolver (tail.c) answers with the code
 * to continue in, or with the errno the call falls through with (r0). On success the target
 * runs in this frame's place, r1 unchanged, and returns to this frame's caller. */
/** T1 = the address of the tail-call count: in the main function's frame, or passed down. */
function countAddress(g: Gen): void {
  countAddressTo(g, T1);
}

export function countAddressTo(g: Gen, r: number): void {
  g.e.load(r, RBP, TAIL_COUNT, 8, false);
}

function tailCall(g: Gen): void {
  const { e } = g;
  e.push(RDI); // ctx, twice: rsp stays 16-byte aligned for the call
  e.push(RDI);
  e.movRR(RDI, RSI, true);
  e.movRR(RSI, RDX, true);
  countAddress(g);
  e.load(RDX, T1, 0, 4, false);
  const at = e.movabs(T2, 0, 0);
  g.relocs.push({ offset: at, kind: 'tail_resolve', id: 0, addend: 0 });
  e.callR(T2);
  e.pop(RDI);
  e.pop(RDI);
  e.testRR(RAX, RAX, true);
  const fallThrough = shortJccForward(e, CC_S);
  e.movRR(T2, RAX, true);
  // count + 1, in the run's count, which the target goes on using (its address in rax).
  countAddress(g);
  e.load(RAX, T1, 0, 4, false);
  e.aluRI(ALU_ADD, RAX, 1, false);
  e.store(T1, 0, RAX, 4);
  e.movRR(RAX, T1, true);
  // JIT code: its tail entry takes over this frame as it is (rsp = rbp - 512, the registers
  // saved for this frame's caller), so nothing is torn down.
  e.testRI(T2, 1, false);
  const interp = shortJccForward(e, CC_NE);
  e.jmpR(T2);
  // Bit 0 set: a program without JIT code; bpftime_jit_tail_interp(ctx, prog, &count), a C
  // function, runs it from this frame (which holds the count when the run started here), whose
  // epilogue then returns its r0 as the target's own would.
  bindHere(e, interp);
  e.lea(RSI, T2, -1);
  e.movRR(RDX, RAX, true);
  const at2 = e.movabs(T2, 0, 0);
  g.relocs.push({ offset: at2, kind: 'tail_interp', id: 0, addend: 0 });
  e.callR(T2);
  e.lea(RSP, RBP, FRAME_EXTRA);
  for (let k = SAVED.length - 1; k >= 0; k--) e.pop(SAVED[k]);
  e.ret();
  bindHere(e, fallThrough);
}

/** Helpers that call the program back take the tail-call count's address as a hidden sixth
 * argument (r9, T0) and enter the callback with it in rax (helper_callbacks.c), so tail calls in
 * callbacks count towards the run's limit and replace the callback's frame, as in the kernel. */
const CALLS_BACK = new Set([BPF_FUNC_loop, BPF_FUNC_for_each_map_elem, BPF_FUNC_find_vma, BPF_FUNC_user_ringbuf_drain]);

function call(g: Gen): void {
  const { e, p, i } = g;
  if (p.src[i] === 0 && p.imm[i] === BPF_FUNC_tail_call) return tailCall(g);
  if (p.src[i] === 0 && p.imm[i] === BPF_FUNC_map_lookup_elem && inlineMapLookup(g)) return;
  const loopCallee = g.L.inlineLoops.get(i);
  if (loopCallee !== undefined) return inlineLoop(g, loopCallee);
  if (p.src[i] === 0) {
    // Helper: arguments already sit in the SysV registers. The helper's address differs per
    // process, so it is a movabs immediate the loader patches.
    if (CALLS_BACK.has(p.imm[i])) countAddressTo(g, T0);
    const at = e.movabs(T2, 0, 0);
    g.relocs.push({ offset: at, kind: 'helper', id: p.imm[i] >>> 0, addend: 0 });
    e.callR(T2);
    return;
  }
  // bpf-to-bpf (the only other kind program.ts lets through): a direct call to the callee's
  // prologue, which builds its own frame; rax carries the tail-call count's address.
  countAddressTo(g, RAX);
  g.sites.callPos.push(e.pos);
  g.sites.callTarget.push(i + 1 + p.imm[i]);
  e.callRel(0);
}
