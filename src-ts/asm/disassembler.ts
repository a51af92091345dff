// Disassembler producing the assembler's syntax (see assembler.ts), one line per instruction
// (an ld_imm64 pair is one `lddw` line). Jump targets are printed as +N/-N, so every line
// assembles on its own. Round trip is guaranteed: each line is re-assembled and compared
// with the original bytes; anything the syntax cannot carry (reserved fields set, unknown
// opcodes, ld_imm64 with a pseudo source) is printed as `raw 0x<word>` instead.
import { assembleInsns } from './assembler';
import { Insn, decodeInsns, insnToWord, sameInsn } from './insn';
import * as O from './opcodes';

const ALU_NAME = O.reverseMap(O.ALU_BINARY);
const SIGNED_NAME = O.reverseMap(O.ALU_SIGNED);
const JMP_NAME = O.reverseMap(O.JMP_COND);
const SIZE_NAME = O.reverseMap(O.SIZES);
const ATOMIC_NAME = O.reverseMap(O.ATOMIC_OPS);

export function disassemble(code: Buffer | readonly Insn[]): string[] {
  const insns = Buffer.isBuffer(code) ? decodeInsns(code) : code;
  const lines: string[] = [];
  for (let i = 0; i < insns.length;) {
    const { text, slots } = disassembleAt(insns, i);
    lines.push(text);
    i += slots;
  }
  return lines;
}

/** The line for the instruction at index i and how many slots it covers (2 for lddw). */
export function disassembleAt(insns: readonly Insn[], i: number): { text: string; slots: number } {
  const cur = insns[i];
  const isPair = cur.code === (O.BPF_LD | O.BPF_IMM | O.BPF_DW) && i + 1 < insns.length;
  const slots = isPair ? 2 : 1;
  const text = isPair ? formatLddw(cur, insns[i + 1]) : format(cur);
  const orig = insns.slice(i, i + slots);
  if (text !== null && reassemblesTo(text, orig)) return { text, slots };
  return { text: raw(cur), slots: 1 };
}

function reassemblesTo(text: string, orig: readonly Insn[]): boolean {
  try {
    const got = assembleInsns(text);
    return got.length === orig.length && got.every((g, k) => sameInsn(g, orig[k]));
  } catch {
    return false;
  }
}

const raw = (i: Insn) => `raw 0x${insnToWord(i).toString(16).padStart(16, '0')}`;
const reg = (r: number) => `%r${r}`;
const rel = (n: number) => (n >= 0 ? `+${n}` : `${n}`);
const mem = (r: number, off: number) => (off === 0 ? `[${reg(r)}]` : off > 0 ? `[${reg(r)}+${off}]` : `[${reg(r)}${off}]`);

/** Small values in decimal, large ones as the 32-bit pattern in hex (as the vectors write them). */
function imm(v: number): string {
  return v > -0x10000 && v < 0x10000 ? `${v}` : `0x${(v >>> 0).toString(16)}`;
}

function formatLddw(lo: Insn, hi: Insn): string {
  const v = (BigInt(hi.imm >>> 0) << 32n) | BigInt(lo.imm >>> 0);
  return `lddw ${reg(lo.dst)}, 0x${v.toString(16)}`;
}

function format(i: Insn): string | null {
  const cls = O.bpfClass(i.code), op = O.bpfOp(i.code), x = O.bpfSrc(i.code) === O.BPF_X;
  switch (cls) {
    case O.BPF_ALU:
    case O.BPF_ALU64: {
      const sfx = cls === O.BPF_ALU ? '32' : '';
      if (op === O.BPF_END) {
        if (cls === O.BPF_ALU64) return `bswap${i.imm} ${reg(i.dst)}`;
        return `${x ? 'be' : 'le'}${i.imm} ${reg(i.dst)}`;
      }
      if (op === O.BPF_NEG) return `neg${sfx} ${reg(i.dst)}`;
      if (op === O.BPF_MOV && x && i.off !== 0) return `movsx${i.off}${cls === O.BPF_ALU ? '32' : '64'} ${reg(i.dst)}, ${reg(i.src)}`;
      const name = i.off === 1 ? SIGNED_NAME.get(op) : ALU_NAME.get(op);
      if (!name) return null;
      return `${name}${sfx} ${reg(i.dst)}, ${x ? reg(i.src) : imm(i.imm)}`;
    }
    case O.BPF_JMP:
    case O.BPF_JMP32: {
      const sfx = cls === O.BPF_JMP32 ? '32' : '';
      if (op === O.BPF_JA) return cls === O.BPF_JMP32 ? `ja32 ${rel(i.imm)}` : `ja ${rel(i.off)}`;
      if (op === O.BPF_EXIT) return 'exit';
      if (op === O.BPF_JCOND) return `may_goto ${rel(i.off)}`;
      if (op === O.BPF_CALL) {
        if (x) return `call ${reg(i.dst)}`;
        if (i.src === O.BPF_PSEUDO_CALL) return `call local ${rel(i.imm)}`;
        if (i.src === O.BPF_PSEUDO_KFUNC_CALL) return `call runtime ${i.imm}`;
        return `call ${i.imm}`;
      }
      const name = JMP_NAME.get(op);
      if (!name) return null;
      return `${name}${sfx} ${reg(i.dst)}, ${x ? reg(i.src) : imm(i.imm)}, ${rel(i.off)}`;
    }
    case O.BPF_LDX: {
      const size = SIZE_NAME.get(O.bpfSize(i.code))!;
      const mode = O.bpfMode(i.code);
      if (mode !== O.BPF_MEM && mode !== O.BPF_MEMSX) return null;
      return `ldx${mode === O.BPF_MEMSX ? 's' : ''}${size} ${reg(i.dst)}, ${mem(i.src, i.off)}`;
    }
    case O.BPF_ST:
      return `st${SIZE_NAME.get(O.bpfSize(i.code))} ${mem(i.dst, i.off)}, ${imm(i.imm)}`;
    case O.BPF_STX: {
      const size = O.bpfSize(i.code);
      if (O.bpfMode(i.code) === O.BPF_MEM) return `stx${SIZE_NAME.get(size)} ${mem(i.dst, i.off)}, ${reg(i.src)}`;
      const fetch = (i.imm & O.BPF_FETCH) !== 0 && i.imm !== O.BPF_XCHG && i.imm !== O.BPF_CMPXCHG;
      const name = ATOMIC_NAME.get(fetch ? i.imm & ~O.BPF_FETCH : i.imm);
      if (!name || (size !== O.BPF_W && size !== O.BPF_DW)) return null;
      return `lock ${fetch ? 'fetch ' : ''}${name}${size === O.BPF_W ? '32' : ''} ${mem(i.dst, i.off)}, ${reg(i.src)}`;
    }
    default:
      return null;
  }
}
