// ALU and ALU64 instructions.
//
// 32-bit forms use 32-bit x86 operations, whose writes zero-extend into the full register:
// exactly eBPF's rule for ALU results, so no explicit zero extension is needed except where an
// operation would otherwise leave the register untouched (shift by 0, 32-bit `mov r, r`).
// Immediates: x86 sign-extends imm8/imm32 to the operand size, which is eBPF's rule for ALU64
// (imm sign-extended to 64 bits); for 32-bit ops only the low 32 bits matter.
import * as O from '../asm/opcodes';
import { Gen, bindHere, fusable, invalid, readReg, shortJccForward, shortJmpForward, upperZero, writeReg } from './gen';
import { deadFrom } from './live';
import { T0, T1, T2, X } from './regs';
import {
  ALU_ADD, ALU_AND, ALU_CMP, ALU_OR, ALU_SUB, ALU_XOR, AluOp, CC_E, Emitter, RAX, RCX, RDX,
  SH_ROR, SH_SAR, SH_SHL, SH_SHR, W64, P66,
} from './x86';

// By op >> 4 (dense arrays: a lookup per instruction, on the compile-time hot path).
const GROUP1: readonly (AluOp | null)[] = [];
const SHIFT: readonly number[] = [];
for (let k = 0; k < 16; k++) {
  const op = k << 4;
  (GROUP1 as (AluOp | null)[])[k] = op === O.BPF_ADD ? ALU_ADD : op === O.BPF_SUB ? ALU_SUB : op === O.BPF_OR ? ALU_OR
    : op === O.BPF_AND ? ALU_AND : op === O.BPF_XOR ? ALU_XOR : null;
  (SHIFT as number[])[k] = op === O.BPF_LSH ? SH_SHL : op === O.BPF_RSH ? SH_SHR : op === O.BPF_ARSH ? SH_SAR : -1;
}

export function lowerAlu(g: Gen): void {
  const { e, p, i } = g;
  const code = p.code[i];
  const w = (code & 7) === O.BPF_ALU64;
  const x = (code & O.BPF_X) !== 0;
  const op = code & 0xf0;
  const d = X[writeReg(g, p.dst[i])];
  const s = x ? X[readReg(g, p.src[i])] : -1;
  const imm = p.imm[i];
  if (fused(g, d, s, x, op, imm)) return;

  const a = GROUP1[op >> 4];
  if (a) {
    if (x) e.aluRR(a, d, s, w);
    else e.aluRI(a, d, imm, w);
    return;
  }
  switch (op) {
    case O.BPF_MOV:
      return x ? movReg(g, d, s, w) : movImm(e, d, imm, w);
    case O.BPF_MUL:
      if (x) e.imulRR(d, s, w);
      else e.imulRRI(d, d, imm, w);
      return;
    case O.BPF_NEG:
      if (x) invalid(g, 'BPF_NEG with BPF_X');
      e.ext(0xf7, 3, d, w ? W64 : 0);
      return;
    case O.BPF_DIV:
    case O.BPF_MOD: {
      const off = p.off[i];
      if (off !== 0 && off !== 1) invalid(g, `${op === O.BPF_DIV ? 'div' : 'mod'} with off ${off}`);
      // Unsigned 64-bit operands known to fit in 32 bits: the 32-bit division (several times
      // faster on x86) gives the same quotient and remainder, zero-extended.
      const narrow = w && off === 0 && upperZero(g, p.dst[i]) && (x ? upperZero(g, p.src[i]) : imm >= 0);
      return divMod(e, d, x ? s : -1, imm, op === O.BPF_MOD, off === 1, w && !narrow, upperZero(g, p.dst[i]));
    }
    case O.BPF_LSH:
    case O.BPF_RSH:
    case O.BPF_ARSH:
      if (x) shiftByReg(e, SHIFT[op >> 4], d, s, w);
      else shiftByImm(e, SHIFT[op >> 4], d, imm & (w ? 63 : 31), w);
      return;
    case O.BPF_END:
      return byteSwap(g, d, w, x, imm);
    default:
      invalid(g, `unknown opcode ${code.toString(16).padStart(2, '0')}`);
  }
}

const LSH64_K = O.BPF_ALU64 | O.BPF_LSH | O.BPF_K;
const RSH64_K = O.BPF_ALU64 | O.BPF_RSH | O.BPF_K;

/** `r <<= 32; r >>= 32` at instruction j: clang's zero-extension of the low half (the rsh
 * reached only from the lsh). */
function isZext(g: Gen, j: number, dst: number): boolean {
  const { p } = g;
  return j < p.n && fusable(g, j + 1) && p.code[j] === LSH64_K && p.imm[j] === 32 && p.dst[j] === dst &&
    p.code[j + 1] === RSH64_K && p.imm[j + 1] === 32 && p.dst[j + 1] === dst;
}

/**
 * clang's idioms for what x86 does in fewer instructions (the covered ones are never jump
 * targets, so only this path runs them):
 *   r <<= 32; r >>= 32          ->  mov r32, r32 (nothing when r is known to be zero-extended)
 *   r = s; r <<= 32; r >>= 32   ->  mov r32, s32
 *   r = s; r += imm / t         ->  lea (below)
 *   r <<= 32; s = r; s >>= 32   ->  mov s32, r32; shl r, 32
 * Returns whether the current instruction (and the ones it covers, g.skip) was lowered.
 */
function fused(g: Gen, d: number, s: number, x: boolean, op: number, imm: number): boolean {
  const { e, p, i } = g;
  if (p.code[i] === LSH64_K && imm === 32 && isZext(g, i, p.dst[i])) {
    if (!upperZero(g, p.dst[i])) e.movRR(d, d, false);
    g.skip = 1;
    return true;
  }
  if (op === O.BPF_MOV && x && p.off[i] === 0 && fusable(g, i + 1) && isZext(g, i + 1, p.dst[i])) {
    e.movRR(d, s, false);
    g.skip = 2;
    return true;
  }
  if (op === O.BPF_MOV && x && modIdiom(g)) return true;
  // r = s; r += imm / r += t  ->  lea r, [s + imm] / lea r, [s + t] (32-bit forms alike: the
  // low 32 bits of the sum, zero-extended)
  if (op === O.BPF_MOV && x && p.off[i] === 0 && fusable(g, i + 1)) {
    const j = i + 1;
    const w = (p.code[i] & 7) === O.BPF_ALU64;
    const cls = w ? O.BPF_ALU64 : O.BPF_ALU;
    if (p.dst[j] === p.dst[i] && p.code[j] === (cls | O.BPF_ADD | O.BPF_K)) {
      e.leaW(d, s, p.imm[j], w);
      g.skip = 1;
      return true;
    }
    if (p.dst[j] === p.dst[i] && p.code[j] === (cls | O.BPF_ADD | O.BPF_X) && p.src[j] <= 10) {
      // r += r after r = s adds s to itself
      const t = p.src[j] === p.dst[i] ? s : X[p.src[j]];
      if (w && loadIndexed(g, s, t)) return true;
      e.leaBI(d, s, t, 0, w);
      g.skip = 1;
      return true;
    }
  }
  // r <<= 32; s = r; s >>= 32  ->  mov s32, r32; shl r, 32 (s gets the low half, zero-extended)
  if (p.code[i] === LSH64_K && imm === 32 && fusable(g, i + 1) && fusable(g, i + 2)) {
    const a = p.dst[i], b = p.dst[i + 1];
    if (p.code[i + 1] === (O.BPF_ALU64 | O.BPF_MOV | O.BPF_X) && p.off[i + 1] === 0 && p.src[i + 1] === a && b !== a &&
      b < 10 && p.code[i + 2] === RSH64_K && p.imm[i + 2] === 32 && p.dst[i + 2] === b) {
      e.movRR(X[b], d, false);
      // The shifted r is often overwritten right after (clang keeps only the low half): then
      // the shift is dead and left out.
      if (!deadFrom(p, g.L.flags, i + 3, a)) e.shiftRI(SH_SHL, d, 32, W64);
      g.skip = 2;
      return true;
    }
  }
  return false;
}

const MOV64_X = O.BPF_ALU64 | O.BPF_MOV | O.BPF_X;
const DIV64_X = O.BPF_ALU64 | O.BPF_DIV | O.BPF_X;
const MUL64_X = O.BPF_ALU64 | O.BPF_MUL | O.BPF_X;
const SUB64_X = O.BPF_ALU64 | O.BPF_SUB | O.BPF_X;

/**
 * clang's BPF backend writes C's `n % d` (unsigned) as
 *   q = n; q /= d; q *= d; n -= q
 * which is n % d in every case, the kernel's x / 0 = 0 included (q = 0, n unchanged = n % 0).
 * When q is dead afterwards, one division's remainder does it: no multiply and subtract after
 * the division on the path that depends on it. Sizes follow divMod (32-bit when facts.ts proves
 * both operands < 2^32).
 */
function modIdiom(g: Gen): boolean {
  const { e, p, i } = g;
  if (p.code[i] !== MOV64_X || p.off[i] !== 0 || !fusable(g, i + 1) || !fusable(g, i + 2) || !fusable(g, i + 3)) return false;
  const q = p.dst[i], n = p.src[i];
  const dv = p.src[i + 1];
  if (q === n || dv === q || n > 9 || dv > 10) return false;
  if (p.code[i + 1] !== DIV64_X || p.off[i + 1] !== 0 || p.dst[i + 1] !== q) return false;
  if (p.code[i + 2] !== MUL64_X || p.dst[i + 2] !== q || p.src[i + 2] !== dv) return false;
  if (p.code[i + 3] !== SUB64_X || p.dst[i + 3] !== n || p.src[i + 3] !== q) return false;
  if (!deadFrom(p, g.L.flags, i + 4, q)) return false;
  const narrow = upperZero(g, n) && upperZero(g, dv);
  divMod(e, X[n], X[dv], 0, true, false, !narrow, upperZero(g, n));
  g.skip = 3;
  return true;
}

/** After `r = s; r += t` at i, i + 1: a load through r next (`x = *(r + off)`) with r dead after
 * it (or x = r) is one load from [s + t + off], no address computed in r (an indexed array
 * read). The address is the same 64-bit sum either way. */
function loadIndexed(g: Gen, s: number, t: number): boolean {
  const { e, p, i } = g;
  const j = i + 2, r = p.dst[i];
  if (!fusable(g, j) || (p.code[j] & 7) !== O.BPF_LDX || p.src[j] !== r) return false;
  const mode = p.code[j] & 0xe0;
  const size = [4, 2, 1, 8][(p.code[j] >> 3) & 3];
  if (mode !== O.BPF_MEM && !(mode === O.BPF_MEMSX && size !== 8)) return false;
  const x = p.dst[j];
  if (x > 9 || (x !== r && !deadFrom(p, g.L.flags, j + 1, r))) return false;
  e.loadBI(X[x], s, t, p.off[j], size, mode === O.BPF_MEMSX);
  g.skip = 2;
  return true;
}

function movImm(e: Emitter, d: number, imm: number, w: boolean): void {
  // 64-bit: imm sign-extended; 32-bit: imm's bit pattern, zero-extended.
  if (w) e.movImm64(d, imm, imm < 0 ? -1 : 0);
  else e.movImm64(d, imm, 0);
}

/** mov / movsx (cpu v4: off = 8, 16, 32 sign-extends the low bits of src). */
function movReg(g: Gen, d: number, s: number, w: boolean): void {
  const { e, p, i } = g;
  const off = p.off[i];
  if (off === 0) {
    // A 32-bit mov to itself still zero-extends: it must be emitted.
    if (d !== s || !w) e.movRR(d, s, w);
  } else if (off === 8 || off === 16 || (off === 32 && w)) {
    e.movsx(d, s, off, w);
  } else {
    invalid(g, `mov with off ${off}`);
  }
}

/** x86 masks the count of a shift by cl to 5 (32-bit) or 6 (64-bit) bits: eBPF's rule.
 * The count must be in cl, and rcx is eBPF's r4: park r4 in a scratch register around the
 * shift unless the count already is r4. */
function shiftByReg(e: Emitter, ext: number, d: number, s: number, w: boolean): void {
  if (s === RCX) {
    e.shiftRCl(ext, d, w); // also right when d is rcx: the count is read before the write
    return;
  }
  e.movRR(T2, RCX, true);
  e.movRR(RCX, s, true);
  if (d === RCX) {
    // r4 is the value to shift: it now lives in T2; shift it there, result back to r4.
    e.shiftRCl(ext, T2, w);
    e.movRR(RCX, T2, true);
  } else {
    e.shiftRCl(ext, d, w);
    e.movRR(RCX, T2, true);
  }
}

function shiftByImm(e: Emitter, ext: number, d: number, n: number, w: boolean): void {
  if (n !== 0) e.shiftRI(ext, d, n, w ? W64 : 0);
  else if (!w) e.movRR(d, d, false); // a 32-bit op by 0 still zero-extends dst
}

/**
 * div/mod, unsigned (off 0) or signed (off 1, cpu v4), with the kernel's semantics and never a
 * trap: x / 0 = 0, x % 0 = x, INT_MIN / -1 = INT_MIN (i.e. -x), INT_MIN % -1 = 0. These are
 * what the kernel verifier's rewrites produce (a branch around the division for a zero divisor,
 * neg / 0 for a divisor of -1), and what the interpreter computes.
 *
 * x86 div/idiv divide rdx:rax, which hold eBPF r3 and r0: both are parked in scratch registers
 * (unless one of them is the destination) and a divisor in r0 or r3 goes to a third one first,
 * so any combination of dst and src registers works. dstZx: d is known to be < 2^32 (facts.ts).
 */
function divMod(e: Emitter, d: number, s: number, imm: number, mod: boolean, signed: boolean, w: boolean, dstZx = false): void {
  if (s < 0) {
    // Divisor known at compile time: only the path it takes is emitted.
    if (imm === 0) return divByZero(e, d, mod, w);
    if (signed && imm === -1) return divByMinusOne(e, d, mod, w);
    if (w) e.movImm64(T2, imm, imm < 0 ? -1 : 0);
    else e.movRI32(T2, imm);
    return divCore(e, d, T2, mod, signed, w);
  }
  // The divisor is used where it is, unless it sits in rax or rdx, which the division takes.
  const dv = s === RAX || s === RDX ? T2 : s;
  if (dv === T2) e.movRR(T2, s, w);
  e.testRR(dv, dv, w);
  if (mod && !signed && (w || dstZx)) {
    // x % 0 = x, and x needs no zero extension: a zero divisor skips the division, and the
    // usual path has no jump over the zero case.
    const done = shortJccForward(e, CC_E);
    divCore(e, d, dv, mod, signed, w);
    bindHere(e, done);
    return;
  }
  const toZero = shortJccForward(e, CC_E);
  let toMinusOne = -1;
  if (signed) {
    e.aluRI(ALU_CMP, dv, -1, w);
    toMinusOne = shortJccForward(e, CC_E);
  }
  divCore(e, d, dv, mod, signed, w);
  const done1 = shortJmpForward(e);
  bindHere(e, toZero);
  divByZero(e, d, mod, w);
  let done2 = -1;
  if (signed) {
    done2 = shortJmpForward(e);
    bindHere(e, toMinusOne);
    divByMinusOne(e, d, mod, w);
  }
  bindHere(e, done1);
  if (done2 >= 0) bindHere(e, done2);
}

/** d = d / dv or d % dv, dv neither 0 nor (signed) -1, nor rax or rdx. */
function divCore(e: Emitter, d: number, dv: number, mod: boolean, signed: boolean, w: boolean): void {
  if (d !== RAX) e.movRR(T0, RAX, true);
  if (d !== RDX) e.movRR(T1, RDX, true);
  if (d !== RAX) e.movRR(RAX, d, w);
  if (signed) {
    // cqo / cdq: sign-extend rax into rdx
    e.ensure(2);
    if (w) e.b(0x48);
    e.b(0x99);
  } else {
    e.aluRR(ALU_XOR, RDX, RDX, false);
  }
  e.ext(0xf7, signed ? 7 : 6, dv, w ? W64 : 0);
  const result = mod ? RDX : RAX;
  if (d !== result) e.movRR(d, result, w);
  if (d !== RAX) e.movRR(RAX, T0, true);
  if (d !== RDX) e.movRR(RDX, T1, true);
}

function divByZero(e: Emitter, d: number, mod: boolean, w: boolean): void {
  if (!mod) e.aluRR(ALU_XOR, d, d, false);
  else if (!w) e.movRR(d, d, false); // x % 0 = x, zero-extended for the 32-bit form
}

function divByMinusOne(e: Emitter, d: number, mod: boolean, w: boolean): void {
  if (!mod) e.ext(0xf7, 3, d, w ? W64 : 0); // neg: INT_MIN stays INT_MIN, as the kernel
  else e.aluRR(ALU_XOR, d, d, false);
}

/** Byte order. On this little-endian target to_le only truncates to the width; to_be and the
 * cpu-v4 unconditional bswap (ALU64 | END | TO_LE) swap. 16-bit swaps rotate the low word and
 * zero-extend it; bswap of a 32-bit register zero-extends by itself. */
function byteSwap(g: Gen, d: number, w: boolean, toBe: boolean, imm: number): void {
  const { e } = g;
  if (w && toBe) invalid(g, 'unknown opcode df');
  if (imm !== 16 && imm !== 32 && imm !== 64) invalid(g, `byte swap of width ${imm}`);
  const swap = w || toBe;
  if (!swap) {
    if (imm === 16) e.movzx16(d, d);
    else if (imm === 32) e.movRR(d, d, false);
    return;
  }
  if (imm === 16) {
    e.shiftRI(SH_ROR, d, 8, P66);
    e.movzx16(d, d);
  } else {
    e.bswap(d, imm === 64);
  }
}
