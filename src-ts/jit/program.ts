// The program as the code generator sees it: instructions decoded into typed arrays once, and
// the control-flow facts every pass needs (where functions start, which slots are the second
// half of an ld_imm64, which ld_imm64 carry a map relocation). Also the checks that decide
// whether a program can be compiled at all; per-instruction validity (opcode, reserved
// fields) is checked where each instruction is lowered.
import * as O from '../asm/opcodes';
import { BPF_FUNC_loop, BPF_FUNC_tail_call, BPF_PSEUDO_FUNC } from '../uapi/bpf';
import { InsnReloc, INSN_RELOC_MAP_PTR, INSN_RELOC_MAP_VALUE, JitReject } from './types';
import { FRAME_EXTRA } from './regs';

export interface Program {
  n: number;
  code: Uint8Array;
  dst: Uint8Array;
  src: Uint8Array;
  off: Int16Array;
  imm: Int32Array;
}

/** Per-instruction flags (Layout.flags). One byte array rather than one array per flag:
 * typed-array allocations are a large part of the compile time of small programs. */
/** The first instruction of a function (the main program at 0, every bpf-to-bpf call target). */
export const FUNC_START = 1;
/** The second slot of an ld_imm64 (no code of its own, not a jump target). */
export const SECOND_HALF = 2;
/** At a function's first instruction: the function contains may_goto (its prologue then
 * initialises the frame's loop counter). */
export const USES_MAY_GOTO = 4;
/** At a function's first instruction: a helper calls the function back (its address is taken
 * by a BPF_PSEUDO_FUNC ld_imm64: bpf_loop, for_each_map_elem). */
export const CALLBACK = 8;
/** Some jump in the function lands on this instruction. */
export const JUMP_TARGET = 16;

export interface Layout {
  flags: Uint8Array;
  /** Map relocations by the index of their ld_imm64. */
  relocAt: Map<number, InsnReloc>;
  /** Callback pointers: the function each BPF_PSEUDO_FUNC ld_imm64 names, by its index. */
  funcAt: Map<number, number>;
  /** The function (0 = main) each instruction belongs to. */
  funcOf: Int32Array;
  /** The frame each function builds, by function index (see control.ts). */
  frames: Frame[];
  /** bpf_loop calls emitted inline (inline.ts): the callback's first instruction by the call's
   * index. Their callback pointers (ld_imm64) emit no code: nothing else sees the address. */
  inlineLoops: Map<number, number>;
  consumedFuncRefs: Set<number>;
}

/** What a function's prologue saves and sets up (control.ts). */
export interface Frame {
  /** The main program's fixed frame, which tail calls rely on (all of SAVED, TAIL_ENTRY). */
  full: boolean;
  /** x86 callee-saved registers pushed (a subset of SAVED, in SAVED's order). */
  saved: number[];
  /** rsp lowered by the 512-byte stack + extra (rbp = eBPF r10 set up), or no stack at all. */
  stack: boolean;
  /** Bytes above the stack top: 16 or 24, whichever keeps rsp 16-byte aligned at calls. */
  extra: number;
  /** Stores the tail-call count's address it gets in rax at [rbp + 8] (it makes calls). */
  keepsCount: boolean;
  /** eBPF registers r6..r9 it must zero on entry (the ones it mentions). */
  zero: number[];
}

/** The kernel's BPF_COMPLEXITY_LIMIT_INSNS and MAX_CALL_FRAMES. */
const MAX_INSNS = 1_000_000;
export const MAX_CALL_FRAMES = 8;

const LD_IMM64 = O.BPF_LD | O.BPF_IMM | O.BPF_DW;
const CALL = O.BPF_JMP | O.BPF_CALL;
const EXIT = O.BPF_JMP | O.BPF_EXIT;
const JA = O.BPF_JMP | O.BPF_JA;
const GOTOL = O.BPF_JMP32 | O.BPF_JA;

export function decode(insns: Uint8Array): Program {
  if (insns.length % 8 !== 0) throw new JitReject('invalid', `program length ${insns.length} is not a multiple of 8`);
  const n = insns.length / 8;
  const p: Program = {
    n,
    code: new Uint8Array(n),
    dst: new Uint8Array(n),
    src: new Uint8Array(n),
    off: new Int16Array(n),
    imm: new Int32Array(n),
  };
  for (let i = 0, o = 0; i < n; i++, o += 8) {
    p.code[i] = insns[o];
    p.dst[i] = insns[o + 1] & 0xf;
    p.src[i] = insns[o + 1] >> 4;
    p.off[i] = insns[o + 2] | (insns[o + 3] << 8); // Int16Array keeps the sign
    p.imm[i] = insns[o + 4] | (insns[o + 5] << 8) | (insns[o + 6] << 16) | (insns[o + 7] << 24);
  }
  return p;
}

/** Jump target of a jump-class instruction other than call/exit. */
export function jumpTarget(p: Program, i: number): number {
  return i + 1 + (p.code[i] === GOTOL ? p.imm[i] : p.off[i]);
}

/** Jump-class instructions that branch (not call or exit), by opcode. */
const IS_JUMP = new Uint8Array(256);
for (let code = 0; code < 256; code++) {
  const cls = code & 7, op = code & 0xf0;
  IS_JUMP[code] = +((cls === O.BPF_JMP || cls === O.BPF_JMP32) && op !== O.BPF_CALL && op !== O.BPF_EXIT);
}

export function analyze(p: Program, relocs: readonly InsnReloc[] = []): Layout {
  const n = p.n;
  if (n === 0) throw new JitReject('invalid', 'empty program');
  if (n > MAX_INSNS) throw new JitReject('invalid', `program has ${n} instructions, more than ${MAX_INSNS}`);
  const flags = new Uint8Array(n);
  const relocAt = new Map<number, InsnReloc>();
  const funcAt = new Map<number, number>();
  flags[0] = FUNC_START;

  for (const r of relocs) {
    if (r.insnIdx < 0 || r.insnIdx + 1 >= n || p.code[r.insnIdx] !== LD_IMM64) {
      throw new JitReject('invalid', 'relocation does not name an ld_imm64', r.insnIdx);
    }
    if (r.kind !== INSN_RELOC_MAP_PTR && r.kind !== INSN_RELOC_MAP_VALUE) {
      throw new JitReject('invalid', `unknown relocation kind ${r.kind}`, r.insnIdx);
    }
    relocAt.set(r.insnIdx, r);
  }

  // Slots, calls and features the JIT leaves to the interpreter.
  const tailCalls: number[] = [];
  for (let i = 0; i < n; i++) {
    const code = p.code[i];
    if (code === LD_IMM64) {
      if (i + 1 >= n) throw new JitReject('invalid', 'ld_imm64 without its second half', i);
      flags[i + 1] |= SECOND_HALF;
      const src = p.src[i];
      if (src === BPF_PSEUDO_FUNC) {
        // Callback pointers (bpf_loop, for_each_map_elem): the address of the callee's JIT'ed
        // code, which the helper calls as a C function of five arguments.
        const t = i + 1 + p.imm[i];
        if (t < 0 || t >= n) throw new JitReject('invalid', `callback ${t} out of range`, i);
        flags[t] |= FUNC_START | CALLBACK;
        funcAt.set(i, t);
      } else if (src !== 0 && !relocAt.has(i)) {
        throw new JitReject('invalid', `ld_imm64 with src_reg ${src} but no relocation`, i);
      }
      i++;
    } else if (code === CALL) {
      const src = p.src[i];
      if (src === 0) {
        if (p.imm[i] === BPF_FUNC_tail_call) tailCalls.push(i);
      } else if (src === O.BPF_PSEUDO_CALL) {
        const t = i + 1 + p.imm[i];
        if (t < 0 || t >= n) throw new JitReject('invalid', `call to ${t} out of range`, i);
        flags[t] |= FUNC_START;
      } else if (src === O.BPF_PSEUDO_KFUNC_CALL) {
        throw new JitReject('unsupported', 'kfunc call', i);
      } else {
        throw new JitReject('invalid', `call with src_reg ${src}`, i);
      }
    }
  }

  // Per function: jumps stay inside it, it cannot fall through into the next one, may_goto.
  const funcOf = new Int32Array(n);
  const starts: number[] = [];
  for (let i = 0; i < n; i++) {
    if (flags[i] & FUNC_START) {
      if (flags[i] & SECOND_HALF) throw new JitReject('invalid', 'call into the middle of ld_imm64', i);
      starts.push(i);
    }
    funcOf[i] = starts.length - 1;
  }
  for (let f = 0; f < starts.length; f++) {
    const start = starts[f];
    const end = f + 1 < starts.length ? starts[f + 1] : n;
    const last = p.code[end - 1];
    if (flags[end - 1] & SECOND_HALF || (last !== EXIT && last !== JA && last !== GOTOL)) {
      throw new JitReject('invalid', 'last insn of a function is not an exit or jmp', end - 1);
    }
    for (let i = start; i < end; i++) {
      if (flags[i] & SECOND_HALF || !IS_JUMP[p.code[i]]) continue;
      const t = jumpTarget(p, i);
      if (t < start || t >= end) throw new JitReject('invalid', `jump out of range from insn ${i} to ${t}`, i);
      if (flags[t] & SECOND_HALF) throw new JitReject('invalid', `jump into the middle of ld_imm64 at ${t}`, i);
      flags[t] |= JUMP_TARGET;
      if ((p.code[i] & 0xf0) === O.BPF_JCOND) flags[start] |= USES_MAY_GOTO;
    }
  }

  // A tail call replaces the frame of the function that makes it. The count of tail calls lives
  // in the main function's frame; bpf-to-bpf calls, bpf_loops inlined here and helpers that call
  // back (control.ts CALLS_BACK) all hand its address to the function they call, so every
  // function may tail-call.
  const { inlineLoops, consumedFuncRefs } = findInlineLoops(p, flags, funcAt);
  checkCallDepth(p, starts, funcOf, flags, funcAt);
  return { flags, relocAt, funcAt, funcOf, frames: frames(p, starts, flags, tailCalls.map((i) => funcOf[i])), inlineLoops, consumedFuncRefs };
}

/** Which eBPF registers instruction j may write (bits r0..r10; calls: r0..r5). */
function writes(p: Program, j: number): number {
  const code = p.code[j];
  switch (code & 7) {
    case O.BPF_ALU:
    case O.BPF_ALU64:
    case O.BPF_LDX:
    case O.BPF_LD:
      return 1 << p.dst[j];
    case O.BPF_STX:
      return (code & 0xe0) === O.BPF_ATOMIC ? (1 << p.src[j]) | (1 << p.dst[j]) | 1 : 0;
    case O.BPF_JMP:
      return (code & 0xf0) === O.BPF_CALL ? 0x3f : 0;
    default:
      return 0;
  }
}

/** Which eBPF registers instruction j may read (an over-approximation: every register field). */
function reads(p: Program, j: number): number {
  const code = p.code[j];
  if (code === LD_IMM64) return 0;
  if (code === CALL) return 0x3e;
  if (code === EXIT) return 1;
  return (1 << p.dst[j]) | (1 << p.src[j]);
}

const LOOKBACK = 32;

/** The instruction that last set eBPF register r on the only path into instruction i (no jump
 * or call lands in between), or -1 when that is not known within a few instructions. */
export function lastWrite(p: Program, flags: Uint8Array, i: number, r: number): number {
  for (let j = i - 1; j >= 0 && i - j <= LOOKBACK; j--) {
    if (flags[j + 1] & (FUNC_START | JUMP_TARGET)) return -1;
    if (flags[j] & SECOND_HALF) continue;
    const code = p.code[j];
    // Code after an exit or unconditional jump is reached only by jumps (caught above).
    if (code === EXIT || code === JA || code === GOTOL) return -1;
    if (writes(p, j) & (1 << r)) return j;
  }
  return -1;
}

/** bpf_loop calls whose callback pointer comes straight from an ld_imm64 into r2 that nothing
 * else reads: the JIT runs the loop itself and calls the callback directly. */
function findInlineLoops(p: Program, flags: Uint8Array, funcAt: Map<number, number>): { inlineLoops: Map<number, number>; consumedFuncRefs: Set<number> } {
  const inlineLoops = new Map<number, number>();
  const consumedFuncRefs = new Set<number>();
  for (let i = 0; i < p.n; i++) {
    if (flags[i] & SECOND_HALF || p.code[i] !== CALL || p.src[i] !== 0 || p.imm[i] !== BPF_FUNC_loop) continue;
    const j = lastWrite(p, flags, i, 2);
    if (j < 0 || !funcAt.has(j)) continue;
    let readsR2 = false;
    for (let k = j + 2; k < i; k++) if (!(flags[k] & SECOND_HALF) && reads(p, k) & 4) readsR2 = true;
    if (readsR2) continue;
    inlineLoops.set(i, funcAt.get(j)!);
    consumedFuncRefs.add(j);
  }
  return { inlineLoops, consumedFuncRefs };
}

/**
 * The frame of each function. The main program keeps the full fixed frame (tail calls enter
 * programs past it), as does any function that makes tail calls (the target's epilogue pops all
 * of SAVED). Other functions save only the r6..r9 they mention, and build a stack only when
 * they use r10, call anything, or use may_goto: a small callback runs with no frame at all.
 */
function frames(p: Program, starts: number[], flags: Uint8Array, tailFuncs: number[]): Frame[] {
  const out: Frame[] = [];
  for (let f = 0; f < starts.length; f++) {
    const end = f + 1 < starts.length ? starts[f + 1] : p.n;
    if (f === 0 || tailFuncs.includes(f)) {
      out.push({ full: true, saved: [...SAVED_X], stack: true, extra: FRAME_EXTRA, keepsCount: true, zero: [6, 7, 8, 9] });
      continue;
    }
    let mention = 0, calls = false;
    for (let i = start(starts, f); i < end; i++) {
      if (flags[i] & SECOND_HALF) continue;
      mention |= reads(p, i) | writes(p, i);
      if (p.code[i] === CALL) calls = true;
    }
    const stack = calls || (mention & (1 << 10)) !== 0 || (flags[starts[f]] & USES_MAY_GOTO) !== 0;
    const zero = [6, 7, 8, 9].filter((r) => mention & (1 << r));
    const saved = SAVED_X.filter((x, k) => (k === 0 ? stack : (mention & (1 << SAVED_REG[k])) !== 0));
    // Entry: rsp = 8 (mod 16); after the pushes 8 + 8 * saved.length; the stack and extra bring
    // it to 0 (mod 16).
    const extra = saved.length % 2 === 1 ? 16 : 24;
    out.push({ full: false, saved, stack, extra, keepsCount: calls, zero });
  }
  return out;
}

const start = (starts: number[], f: number): number => starts[f];
/** SAVED (regs.ts) as x86 numbers and the eBPF register each holds: rbp = r10, rbx = r6, r13-r15 = r7-r9. */
const SAVED_X = [5, 3, 13, 14, 15];
const SAVED_REG = [10, 6, 7, 8, 9];

/** Recursion and chains deeper than the kernel's 8 frames (callbacks included) are rejected
 * statically, so the generated code needs no run-time depth counter. */
function checkCallDepth(p: Program, starts: number[], funcOf: Int32Array, flags: Uint8Array, funcAt: Map<number, number>): void {
  const nf = starts.length;
  if (nf === 1) return;
  const callees: number[][] = starts.map(() => []);
  for (let i = 0; i < p.n; i++) {
    if (!(flags[i] & SECOND_HALF) && p.code[i] === CALL && p.src[i] === O.BPF_PSEUDO_CALL) {
      callees[funcOf[i]].push(funcOf[i + 1 + p.imm[i]]);
    }
  }
  // A callback runs in a frame of its own below the helper that the function taking its
  // address calls: it counts as a call from there, as in the kernel's verifier.
  for (const [i, t] of funcAt) callees[funcOf[i]].push(funcOf[t]);
  const state = new Uint8Array(nf); // 0 new, 1 on the path, 2 done
  const frames = new Int32Array(nf);
  // pathLen: frames on the current call path, this one included. Bounding it keeps the walk
  // (and its JS recursion) at most MAX_CALL_FRAMES deep whatever the program.
  const tooDeep = (f: number) => new JitReject('invalid', `call chain deeper than ${MAX_CALL_FRAMES} frames`, starts[f]);
  const visit = (f: number, pathLen: number): number => {
    if (pathLen > MAX_CALL_FRAMES) throw tooDeep(f);
    if (state[f] === 2) {
      if (pathLen - 1 + frames[f] > MAX_CALL_FRAMES) throw tooDeep(f);
      return frames[f];
    }
    if (state[f] === 1) throw new JitReject('invalid', `recursive call into the function at ${starts[f]}`, starts[f]);
    state[f] = 1;
    let deepest = 0;
    for (const g of callees[f]) deepest = Math.max(deepest, visit(g, pathLen + 1));
    state[f] = 2;
    frames[f] = deepest + 1;
    return frames[f];
  };
  visit(0, 1);
}
