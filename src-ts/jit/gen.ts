// State shared by the lowering modules (alu.ts, mem.ts, control.ts) during one code pass, and
// the small helpers they all use.
import { Emitter } from './x86';
import { FUNC_START, JUMP_TARGET, Layout, Program, SECOND_HALF } from './program';
import { JitMapInfo, JitReject, JitReloc } from './types';
import { BPF_FP } from './regs';
import { Sites } from './relax';

export interface Gen {
  e: Emitter;
  p: Program;
  L: Layout;
  /** The instruction being lowered. */
  i: number;
  /** Jumps and calls, for relax.ts; their targets are instruction indexes until the whole
   * program is emitted, then code offsets. */
  sites: Sites;
  relocs: JitReloc[];
  /** facts.ts: registers whose upper 32 bits are zero before each instruction. */
  zx: Uint16Array;
  /** The maps the program uses, by id (CompileOptions.maps). */
  maps: Map<number, JitMapInfo>;
  /** Set by a lowering that also covered the next `skip` instructions (a fused pattern). */
  skip: number;
}

/** Instruction j can be covered by a pattern starting before it: it exists, and nothing jumps
 * or calls to it (it is only ever reached from the instruction before). */
export function fusable(g: Gen, j: number): boolean {
  return j < g.p.n && (g.L.flags[j] & (FUNC_START | JUMP_TARGET | SECOND_HALF)) === 0;
}

/** Before the current instruction, eBPF register r is known to be < 2^32. */
export const upperZero = (g: Gen, r: number): boolean => (g.zx[g.i] & (1 << r)) !== 0;

export function invalid(g: Gen, why: string): never {
  throw new JitReject('invalid', why, g.i);
}

/** The interpreter's register checks, done once at compile time instead of at every run:
 * any register read must be r0..r10, any register written r0..r9. */
export function readReg(g: Gen, r: number): number {
  if (r > BPF_FP) invalid(g, `R${r} is invalid`);
  return r;
}

export function writeReg(g: Gen, r: number): number {
  if (r > BPF_FP) invalid(g, `R${r} is invalid`);
  if (r === BPF_FP) invalid(g, 'frame pointer is read only');
  return r;
}

/** A short forward jump inside one instruction's code (e.g. around a division); returns the
 * position of its rel8, which bindHere() fills in. Such blocks are far shorter than 128 bytes. */
export function shortJccForward(e: Emitter, cc: number): number {
  e.jcc(cc, 0, true);
  return e.pos - 1;
}

export function shortJmpForward(e: Emitter): number {
  e.jmp(0, true);
  return e.pos - 1;
}

export function bindHere(e: Emitter, rel8At: number): void {
  const rel = e.pos - (rel8At + 1);
  if (rel > 127) throw new Error('JIT internal error: local jump too long');
  e.buf[rel8At] = rel;
}
