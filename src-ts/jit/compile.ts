// The JIT driver: eBPF bytecode (map references still symbolic) -> x86-64 code + relocations.
//
//   decode + analyze (program.ts)   typed arrays, functions, checks, what must stay interpreted
//   facts (facts.ts)                registers known to be zero-extended, per instruction
//   one code pass                   each instruction lowered by alu.ts / mem.ts / control.ts,
//                                   jumps in their long form, recorded as sites
//   relax (relax.ts)                short jumps where they fit, final bytes and offsets
import * as O from '../asm/opcodes';
import { lowerAlu } from './alu';
import { upperZero } from './facts';
import { lowerJmp, prologue } from './control';
import { Gen } from './gen';
import { lowerLdImm64, lowerLdx, lowerSt, lowerStx } from './mem';
import { FUNC_START, SECOND_HALF, USES_MAY_GOTO, analyze, decode } from './program';
import { relax, Sites } from './relax';
import { InsnReloc, JitMapInfo, JitReject, JitResult } from './types';
import { Emitter } from './x86';

export interface CompileOptions {
  /** Map references (ld_imm64 with a map fd/value source), as recorded by PROG_LOAD. */
  relocs?: readonly InsnReloc[];
  /** The maps those references name (for inline lookups; without them, helper calls). */
  maps?: readonly JitMapInfo[];
}

const LD_IMM64 = O.BPF_LD | O.BPF_IMM | O.BPF_DW;

/** The code buffer, reused by every compile (compile is synchronous and not reentrant; the
 * output is a copy made by relax). Grows as needed, shrinks back after a huge program. */
let scratch = new Emitter(64 * 1024);
const SCRATCH_KEEP = 4 * 1024 * 1024;

export function compile(insns: Uint8Array, opts: CompileOptions = {}): JitResult {
  try {
    return compileOrThrow(insns, opts);
  } catch (err) {
    if (err instanceof JitReject) return { ok: false, kind: err.kind, reason: err.reason, insn: err.insn };
    throw err;
  }
}

function compileOrThrow(insns: Uint8Array, opts: CompileOptions): JitResult {
  const p = decode(insns);
  const L = analyze(p, opts.relocs);
  const n = p.n;
  const e = scratch;
  e.reset();
  const zx = upperZero(p, L.flags, (i) => L.relocAt.has(i) || L.funcAt.has(i));
  const g: Gen = { e, p, L, i: 0, sites: new Sites(), relocs: [], zx, skip: 0, maps: new Map((opts.maps ?? []).map((m) => [m.id, m])) };

  // offs[i]: where instruction i's code starts (after the prologue for a function's first
  // instruction; the second half of an ld_imm64 gets the offset right after it).
  // entry[i]: where the prologue of the function starting at i begins.
  const flags = L.flags;
  const offs = new Int32Array(n + 1);
  const entry = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const f = flags[i];
    if (f & FUNC_START) {
      entry[i] = e.pos;
      prologue(e, i === 0, (f & USES_MAY_GOTO) !== 0, L.frames[L.funcOf[i]]);
    }
    offs[i] = e.pos;
    if (f & SECOND_HALF) continue;
    g.i = i;
    g.skip = 0;
    lowerInsn(g);
    // Instructions a fused pattern covered (never jump targets): their code is the pattern's.
    for (let k = 0; k < g.skip; k++) offs[++i] = e.pos;
  }
  offs[n] = e.pos;

  const s = g.sites;
  for (let j = 0; j < s.target.length; j++) s.target[j] = offs[s.target[j]];
  for (let c = 0; c < s.callTarget.length; c++) s.callTarget[c] = entry[s.callTarget[c]];
  const r = relax(e.view, e.pos, s);
  for (const rel of g.relocs) {
    rel.offset = r.mapOffset(rel.offset);
    if (rel.kind === 'code') rel.addend = r.mapOffset(entry[rel.addend]);
  }
  r.mapSorted(offs);
  if (e.buf.length > SCRATCH_KEEP) scratch = new Emitter(64 * 1024);
  return { ok: true, code: r.code, relocs: g.relocs, insnOffsets: offs };
}

function lowerInsn(g: Gen): void {
  const code = g.p.code[g.i];
  switch (code & 7) {
    case O.BPF_ALU:
    case O.BPF_ALU64:
      return lowerAlu(g);
    case O.BPF_JMP:
    case O.BPF_JMP32:
      return lowerJmp(g);
    case O.BPF_LDX:
      return lowerLdx(g);
    case O.BPF_ST:
      return lowerSt(g);
    case O.BPF_STX:
      return lowerStx(g);
    case O.BPF_LD:
      if (code === LD_IMM64) return lowerLdImm64(g);
      throw new JitReject('invalid', 'BPF_LD_[ABS|IND] instructions are not supported', g.i);
  }
}
