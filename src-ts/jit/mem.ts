// ld_imm64, loads, stores and atomics.
//
// eBPF addresses are [reg + off16]; x86 has [reg + disp32], so every access is one
// instruction. No bounds checks: memory safety is the verifier's job, as in the kernel's JITs.
// x86 is TSO, so load-acquire and store-release are plain moves.
import * as O from '../asm/opcodes';
import { Gen, invalid, readReg, writeReg } from './gen';
import { T0, T1, T2, X } from './regs';
import { INSN_RELOC_MAP_PTR } from './types';
import { ALU_ADD, ALU_AND, ALU_OR, ALU_XOR, AluOp, CC_NE, Emitter, RAX, W64 } from './x86';

/** Access size in bytes by the size field (BPF_W 0x00, BPF_H 0x08, BPF_B 0x10, BPF_DW 0x18). */
const SIZE = [4, 2, 1, 8];
const sizeOf = (code: number): number => SIZE[(code >> 3) & 3];

export function lowerLdImm64(g: Gen): void {
  const { e, p, i } = g;
  const d = X[writeReg(g, p.dst[i])];
  const r = g.L.relocAt.get(i);
  const callback = g.L.funcAt.get(i);
  if (g.L.consumedFuncRefs.has(i)) {
    // The callback of a bpf_loop emitted inline, which calls it directly: no address needed.
  } else if (callback !== undefined) {
    // The callee's address in this process: a movabs the loader patches with code base +
    // addend. The addend is the callee's instruction index until compile.ts knows its offset.
    const at = e.movabs(d, 0, 0);
    g.relocs.push({ offset: at, kind: 'code', id: 0, addend: callback });
  } else if (r) {
    // Per-process address: a movabs whose immediate the loader patches.
    const at = e.movabs(d, 0, 0);
    const ptr = r.kind === INSN_RELOC_MAP_PTR;
    g.relocs.push({ offset: at, kind: ptr ? 'map_ptr' : 'map_value', id: r.mapId, addend: ptr ? 0 : r.off });
  } else {
    e.movImm64(d, p.imm[i], p.imm[i + 1]);
  }
}

export function lowerLdx(g: Gen): void {
  const { e, p, i } = g;
  const code = p.code[i];
  const mode = code & 0xe0;
  const size = sizeOf(code);
  if (mode !== O.BPF_MEM && !(mode === O.BPF_MEMSX && size !== 8)) invalid(g, `unknown opcode ${hex(code)}`);
  const d = X[writeReg(g, p.dst[i])];
  const s = X[readReg(g, p.src[i])];
  e.load(d, s, p.off[i], size, mode === O.BPF_MEMSX);
}

export function lowerSt(g: Gen): void {
  const { e, p, i } = g;
  const code = p.code[i];
  if ((code & 0xe0) !== O.BPF_MEM) invalid(g, `unknown opcode ${hex(code)}`);
  e.storeImm(X[readReg(g, p.dst[i])], p.off[i], p.imm[i], sizeOf(code));
}

export function lowerStx(g: Gen): void {
  const { e, p, i } = g;
  const code = p.code[i];
  const mode = code & 0xe0;
  const size = sizeOf(code);
  const base = X[readReg(g, p.dst[i])];
  const src = X[readReg(g, p.src[i])];
  const off = p.off[i];
  if (mode === O.BPF_MEM) return e.store(base, off, src, size);
  if (mode !== O.BPF_ATOMIC) invalid(g, `unknown opcode ${hex(code)}`);

  const imm = p.imm[i];
  if (imm === O.BPF_LOAD_ACQ) {
    // dst = *(src + off): registers in the LDX roles.
    return e.load(X[writeReg(g, p.dst[i])], src, off, size, false);
  }
  if (imm === O.BPF_STORE_REL) return e.store(base, off, src, size);
  if (size !== 4 && size !== 8) invalid(g, `atomic op ${hex(imm)} on ${size} bytes`);
  const w = size === 8;
  const wf = w ? W64 : 0;
  switch (imm) {
    // Plain read-modify-write ops: one locked instruction, nothing comes back.
    case O.BPF_ADD: return lockedRmw(e, ALU_ADD, base, off, src, wf);
    case O.BPF_OR: return lockedRmw(e, ALU_OR, base, off, src, wf);
    case O.BPF_AND: return lockedRmw(e, ALU_AND, base, off, src, wf);
    case O.BPF_XOR: return lockedRmw(e, ALU_XOR, base, off, src, wf);
    case O.BPF_ADD | O.BPF_FETCH:
      writeReg(g, p.src[i]);
      e.lock();
      e.rm(0x0fc1, src, base, off, wf); // xadd: src receives the old value
      return;
    case O.BPF_XCHG:
      writeReg(g, p.src[i]);
      e.rm(0x87, src, base, off, wf); // xchg with memory is implicitly locked
      return;
    case O.BPF_CMPXCHG:
      // Compares rax (eBPF r0) with memory; rax receives the old value in both outcomes (on
      // success it already equals it). A successful 32-bit cmpxchg does not write eax, so
      // zero-extend r0 explicitly, as eBPF requires.
      e.lock();
      e.rm(0x0fb1, src, base, off, wf);
      if (!w) e.movRR(RAX, RAX, false);
      return;
    case O.BPF_OR | O.BPF_FETCH:
      writeReg(g, p.src[i]);
      return fetchLoop(e, ALU_OR, base, off, src, w);
    case O.BPF_AND | O.BPF_FETCH:
      writeReg(g, p.src[i]);
      return fetchLoop(e, ALU_AND, base, off, src, w);
    case O.BPF_XOR | O.BPF_FETCH:
      writeReg(g, p.src[i]);
      return fetchLoop(e, ALU_XOR, base, off, src, w);
    default:
      invalid(g, `unknown atomic op ${hex(imm)}`);
  }
}

function lockedRmw(e: Emitter, a: AluOp, base: number, off: number, src: number, wf: number): void {
  e.lock();
  e.rm(a.rm, src, base, off, wf);
}

/**
 * Fetching or/and/xor have no x86 instruction that returns the old value: a compare-exchange
 * loop. cmpxchg needs the expected value in rax, which is eBPF r0, so r0 is parked in T1 (and
 * when r0 is the address base, T1 serves as the base, holding the same value). The operand is
 * copied to T0 first because src may be r0 too.
 *   T1 = rax; T0 = src; rax = [b]; loop: T2 = rax op T0; lock cmpxchg [b], T2; jne loop
 *   src = rax (old value); rax = T1 unless src is r0
 */
function fetchLoop(e: Emitter, a: AluOp, base: number, off: number, src: number, w: boolean): void {
  const wf = w ? W64 : 0;
  e.movRR(T1, RAX, true);
  e.movRR(T0, src, true);
  const b = base === RAX ? T1 : base;
  e.rm(0x8b, RAX, b, off, wf);
  const loop = e.pos;
  e.movRR(T2, RAX, w);
  e.aluRR(a, T2, T0, w);
  e.lock();
  e.rm(0x0fb1, T2, b, off, wf);
  e.jcc(CC_NE, loop - (e.pos + 2), true);
  if (src !== RAX) {
    e.movRR(src, RAX, w);
    e.movRR(RAX, T1, true);
  } else if (!w) {
    e.movRR(RAX, RAX, false); // already zero-extended by the 32-bit load/cmpxchg; kept explicit
  }
}

const hex = (v: number): string => (v >>> 0).toString(16).padStart(2, '0');
