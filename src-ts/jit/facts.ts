// What is known about register values before each instruction, for the code generator to pick
// cheaper forms. One fact for now: "the upper 32 bits of this register are zero".
//
// clang's BPF backend works on 64-bit registers and zero-extends 32-bit values explicitly
// (`r <<= 32; r >>= 32`), then uses 64-bit operations on them, e.g. a 64-bit division for C's
// `u32 % u32`. On x86 a 64-bit div is several times slower than a 32-bit one, and gives the same
// quotient and remainder when both operands fit in 32 bits; a zero-extension of a register
// already known to be zero-extended is a no-op.
//
// The analysis is forward, within straight-line code only: at every jump target and function
// start nothing is known (no merging of paths), and calls forget r0..r5. That keeps it one
// linear pass and obviously sound: a fact holds on the only path that reaches the instruction.
import * as O from '../asm/opcodes';
import { Program, FUNC_START, JUMP_TARGET, SECOND_HALF } from './program';

const ALL = 0x7ff; // r0..r10
const CALL_CLOBBERS = 0x3f; // r0..r5

/** zx[i]: bit r set when eBPF register r holds a value < 2^32 just before instruction i. */
export function upperZero(p: Program, flags: Uint8Array, hasReloc: (i: number) => boolean): Uint16Array {
  const n = p.n;
  const zx = new Uint16Array(n);
  let m = 0;
  for (let i = 0; i < n; i++) {
    if (flags[i] & (FUNC_START | JUMP_TARGET)) m = 0;
    zx[i] = m;
    if (flags[i] & SECOND_HALF) continue;
    m = step(p, i, m, hasReloc) & ALL;
  }
  return zx;
}

const bit = (r: number): number => (r <= 10 ? 1 << r : 0);

function step(p: Program, i: number, m: number, hasReloc: (i: number) => boolean): number {
  const code = p.code[i];
  const cls = code & 7;
  const d = p.dst[i], s = p.src[i];
  const dk = (m & bit(d)) !== 0;
  const set = (known: boolean): number => (known ? m | bit(d) : m & ~bit(d));
  switch (cls) {
    case O.BPF_ALU: {
      // Every 32-bit ALU result is zero-extended, except the 64-bit byte-order ones: to_le
      // (a no-op) and to_be (a full swap).
      if ((code & 0xf0) === O.BPF_END && p.imm[i] === 64) return set(dk && (code & O.BPF_X) === 0);
      return set(true);
    }
    case O.BPF_ALU64: {
      const op = code & 0xf0;
      const x = (code & O.BPF_X) !== 0;
      const imm = p.imm[i];
      const sk = x ? (m & bit(s)) !== 0 : imm >= 0;
      switch (op) {
        case O.BPF_MOV:
          return set(p.off[i] === 0 && sk);
        case O.BPF_RSH:
          return set(dk || (!x && (imm & 63) >= 32));
        case O.BPF_AND:
          return set(dk || sk);
        case O.BPF_OR:
        case O.BPF_XOR:
          return set(dk && sk);
        case O.BPF_DIV:
        case O.BPF_MOD:
          // Unsigned: the result is at most the dividend (x / 0 = 0, x % 0 = x).
          return set(p.off[i] === 0 && dk);
        case O.BPF_END:
          return set(imm === 16 || imm === 32);
        default:
          return set(false);
      }
    }
    case O.BPF_LDX:
      // Plain loads of 1, 2 and 4 bytes zero-extend; sign-extending ones and 8-byte ones do not.
      return set((code & 0xe0) === O.BPF_MEM && (code & 0x18) !== O.BPF_DW);
    case O.BPF_LD:
      if (code === (O.BPF_LD | O.BPF_IMM | O.BPF_DW)) {
        return set(p.src[i] === 0 && !hasReloc(i) && i + 1 < p.n && p.imm[i + 1] === 0);
      }
      return set(false);
    case O.BPF_STX:
      // Atomics may write src or r0: forget them.
      if ((code & 0xe0) === O.BPF_ATOMIC) return m & ~bit(s) & ~bit(d) & ~1;
      return m;
    case O.BPF_ST:
      return m;
    case O.BPF_JMP:
      if ((code & 0xf0) === O.BPF_CALL) return m & ~CALL_CLOBBERS;
      return m;
    default:
      return m;
  }
}
