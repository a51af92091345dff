// "Is this register dead here?" for the peephole patterns of alu.ts: a short forward scan of
// straight-line code from instruction j, which answers yes only when the register is written
// before anything reads it on the one path that leaves j (no jump or call on the way: those stop
// the scan with "maybe live"), or when an exit comes first and it is not r0. Jump targets inside
// the scanned range do not matter: the question is about the path from j, whatever else enters
// later.
import * as O from '../asm/opcodes';
import { Program, SECOND_HALF } from './program';

const LIMIT = 16;
const LD_IMM64 = O.BPF_LD | O.BPF_IMM | O.BPF_DW;
const STOP = -1;
const EXIT = O.BPF_JMP | O.BPF_EXIT;

/** Registers instruction k reads (bits), exact for ALU, loads and stores; STOP for control flow
 * and anything else the scan does not follow. */
function readsOf(p: Program, k: number): number {
  const code = p.code[k];
  const d = 1 << p.dst[k], s = 1 << p.src[k];
  switch (code & 7) {
    case O.BPF_ALU:
    case O.BPF_ALU64: {
      const op = code & 0xf0, x = (code & O.BPF_X) !== 0;
      if (op === O.BPF_MOV) return x ? s : 0;
      if (op === O.BPF_NEG || op === O.BPF_END) return d;
      return d | (x ? s : 0);
    }
    case O.BPF_LDX:
      return s;
    case O.BPF_ST:
      return d;
    case O.BPF_STX:
      return d | s | 1; // atomics (cmpxchg) also read r0
    case O.BPF_LD:
      return code === LD_IMM64 ? 0 : STOP;
    default:
      return STOP;
  }
}

/** Registers instruction k writes (called only for what readsOf lets through; atomics may write
 * src or r0, which only makes the scan stop later, never wrongly). */
function writesOf(p: Program, k: number): number {
  const cls = p.code[k] & 7;
  return cls === O.BPF_ALU || cls === O.BPF_ALU64 || cls === O.BPF_LDX || cls === O.BPF_LD ? 1 << p.dst[k] : 0;
}

/** eBPF register r is overwritten, unread, on the path that starts at instruction j. */
export function deadFrom(p: Program, flags: Uint8Array, j: number, r: number): boolean {
  const bit = 1 << r;
  for (let k = j, seen = 0; k < p.n && seen < LIMIT; k++) {
    if (flags[k] & SECOND_HALF) continue;
    seen++;
    // exit reads r0 only; r6..r9 go back to what the function's prologue saved (control.ts).
    if (p.code[k] === EXIT) return r !== 0;
    const rd = readsOf(p, k);
    if (rd === STOP || rd & bit) return false;
    if (writesOf(p, k) & bit) return true;
  }
  return false;
}
