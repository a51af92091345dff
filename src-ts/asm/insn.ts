// struct bpf_insn as a plain object, and its 8-byte little-endian encoding:
//   code u8 | dst_reg:4 (low nibble) src_reg:4 (high nibble) | off s16 | imm s32
// (the bitfield order is that of <linux/bpf.h> on little-endian hosts, which is what eBPF
// bytecode uses everywhere).

export interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number; // signed 16-bit
  imm: number; // signed 32-bit
}

export const INSN_SIZE = 8;

export function insn(code: number, dst = 0, src = 0, off = 0, imm = 0): Insn {
  return { code, dst, src, off, imm };
}

export function encodeInsns(insns: readonly Insn[]): Buffer {
  const buf = Buffer.alloc(insns.length * INSN_SIZE);
  insns.forEach((i, n) => {
    const o = n * INSN_SIZE;
    buf.writeUInt8(i.code & 0xff, o);
    buf.writeUInt8((i.dst & 0xf) | ((i.src & 0xf) << 4), o + 1);
    buf.writeInt16LE(i.off, o + 2);
    buf.writeInt32LE(i.imm, o + 4);
  });
  return buf;
}

export function decodeInsns(buf: Buffer): Insn[] {
  if (buf.length % INSN_SIZE !== 0) throw new RangeError(`bytecode length ${buf.length} is not a multiple of 8`);
  const out: Insn[] = [];
  for (let o = 0; o < buf.length; o += INSN_SIZE) {
    const regs = buf.readUInt8(o + 1);
    out.push({ code: buf.readUInt8(o), dst: regs & 0xf, src: regs >> 4, off: buf.readInt16LE(o + 2), imm: buf.readInt32LE(o + 4) });
  }
  return out;
}

/** The instruction as one little-endian 64-bit word (the `-- raw` form of the conformance files). */
export function insnToWord(i: Insn): bigint {
  return encodeInsns([i]).readBigUInt64LE(0);
}

export function wordToInsn(w: bigint): Insn {
  const b = Buffer.alloc(INSN_SIZE);
  b.writeBigUInt64LE(BigInt.asUintN(64, w));
  return decodeInsns(b)[0];
}

export function sameInsn(a: Insn, b: Insn): boolean {
  return a.code === b.code && a.dst === b.dst && a.src === b.src && a.off === b.off && a.imm === b.imm;
}
