// x86-64 instruction encoder: just the forms the eBPF JIT needs, written straight into a
// growable byte buffer (no intermediate objects: compile speed matters, the server JITs every
// program it loads).
//
// Encoding facts used here (Intel SDM vol. 2, ch. 2):
//  - REX = 0100WRXB: W selects 64-bit operands, R/X/B extend ModRM.reg, SIB.index and
//    ModRM.rm/SIB.base to r8..r15. A REX prefix (even an empty 0x40) is needed to address
//    sil/dil/spl/bpl as byte registers: without one, encodings 4..7 mean ah/ch/dh/bh.
//  - ModRM.rm = 100 (rsp, r12) as a memory base needs a SIB byte; rm = 101 (rbp, r13) with
//    mod = 00 means rip-relative, so those bases always carry a displacement.
//  - Legacy prefixes (lock F0, operand size 66) come before REX, REX right before the opcode.
//  - Any write to a 32-bit register zero-extends into the full 64-bit register.

/** x86-64 general-purpose register numbers (the encoding, REX bit included). */
export const RAX = 0, RCX = 1, RDX = 2, RBX = 3, RSP = 4, RBP = 5, RSI = 6, RDI = 7;
export const R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15;

/** Condition codes (the low nibble of Jcc / SETcc / CMOVcc). */
export const CC_B = 0x2, CC_AE = 0x3, CC_E = 0x4, CC_NE = 0x5, CC_BE = 0x6, CC_A = 0x7;
export const CC_S = 0x8;
export const CC_L = 0xc, CC_GE = 0xd, CC_LE = 0xe, CC_G = 0xf;

/** Group-1 ALU opcodes: `op r/m, reg` form and the /ext of the immediate form (81 / 83). */
export const ALU_ADD = { rm: 0x01, ext: 0 };
export const ALU_OR = { rm: 0x09, ext: 1 };
export const ALU_AND = { rm: 0x21, ext: 4 };
export const ALU_SUB = { rm: 0x29, ext: 5 };
export const ALU_XOR = { rm: 0x31, ext: 6 };
export const ALU_CMP = { rm: 0x39, ext: 7 };
export type AluOp = typeof ALU_ADD;

/** Shift group (C1 / D3) extensions. */
export const SH_ROR = 1, SH_SHL = 4, SH_SHR = 5, SH_SAR = 7;

const fitsS8 = (v: number): boolean => v >= -128 && v <= 127;

/** Operand-size flags for the generic encoders. */
export const W64 = 1;      // REX.W
export const P66 = 2;      // 16-bit operand (66 prefix)
export const BYTE_REG = 4; // ModRM.reg is a byte register (force REX for sil/dil/bpl/spl)
export const BYTE_RM = 8;  // ModRM.rm is a byte register (register-direct forms)

export class Emitter {
  buf: Uint8Array;
  /** The same memory as a Buffer (for Buffer#copy without a view per call). */
  view: Buffer;
  pos = 0;

  constructor(capacity = 4096) {
    this.buf = new Uint8Array(capacity);
    this.view = Buffer.from(this.buf.buffer, 0, capacity);
  }

  reset(): void {
    this.pos = 0;
  }

  /** Room for at least n more bytes (every x86 instruction is at most 15). */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const nb = new Uint8Array(cap);
    nb.set(this.buf.subarray(0, this.pos));
    this.buf = nb;
    this.view = Buffer.from(nb.buffer, 0, cap);
  }

  // --- raw pieces -------------------------------------------------------------------------
  b(x: number): void {
    this.buf[this.pos++] = x;
  }

  d16(x: number): void {
    this.buf[this.pos++] = x & 0xff;
    this.buf[this.pos++] = (x >>> 8) & 0xff;
  }

  d32(x: number): void {
    const b = this.buf;
    b[this.pos++] = x & 0xff;
    b[this.pos++] = (x >>> 8) & 0xff;
    b[this.pos++] = (x >>> 16) & 0xff;
    b[this.pos++] = (x >>> 24) & 0xff;
  }

  /** Emits `opcode` (one byte, or two when > 0xff: 0x0fXX). */
  private opc(op: number): void {
    if (op > 0xff) this.b(op >>> 8);
    this.b(op & 0xff);
  }

  /** Optional 66 prefix and REX for operands reg (ModRM.reg), idx, base (ModRM.rm/base). */
  private pre(flags: number, reg: number, base: number, regIsByte: boolean, rmIsByte: boolean): void {
    if (flags & P66) this.b(0x66);
    const v = (flags & W64 ? 8 : 0) | ((reg & 8) >> 1) | ((base & 8) >> 3);
    const force = (regIsByte && reg >= 4 && reg < 8) || (rmIsByte && base >= 4 && base < 8);
    if (v || force) this.b(0x40 | v);
  }

  /** ModRM (+SIB, +disp) for a [base + disp] memory operand. */
  private mem(reg: number, base: number, disp: number): void {
    const lo = base & 7;
    const mod = disp === 0 && lo !== 5 ? 0 : fitsS8(disp) ? 1 : 2;
    this.b((mod << 6) | ((reg & 7) << 3) | lo);
    if (lo === 4) this.b(0x24); // SIB: no index, base = rsp/r12
    if (mod === 1) this.b(disp & 0xff);
    else if (mod === 2) this.d32(disp);
  }

  // --- generic forms ----------------------------------------------------------------------
  /** `op reg, rm` / `op rm, reg` in register-direct form (ModRM.mod = 11). */
  rr(op: number, reg: number, rm: number, flags: number): void {
    this.ensure(16);
    this.pre(flags, reg, rm, (flags & BYTE_REG) !== 0, (flags & BYTE_RM) !== 0);
    this.opc(op);
    this.b(0xc0 | ((reg & 7) << 3) | (rm & 7));
  }

  /** `op` with a [base + disp] memory operand and ModRM.reg = reg (a register or an /ext). */
  rm(op: number, reg: number, base: number, disp: number, flags: number): void {
    this.ensure(16);
    this.pre(flags, reg, base, (flags & BYTE_REG) !== 0, false);
    this.opc(op);
    this.mem(reg, base, disp);
  }

  /** Single-operand group instruction on a register: `op /ext rm`. */
  ext(op: number, ext: number, rm: number, flags: number): void {
    this.rr(op, ext, rm, flags);
  }

  // --- ALU --------------------------------------------------------------------------------
  /** `op dst, src` (dst = dst op src). */
  aluRR(a: AluOp, dst: number, src: number, w: boolean): void {
    this.rr(a.rm, src, dst, w ? W64 : 0);
  }

  /** `op dst, imm` with imm sign-extended from 8 or 32 bits. */
  aluRI(a: AluOp, dst: number, imm: number, w: boolean): void {
    if (fitsS8(imm)) {
      this.rr(0x83, a.ext, dst, w ? W64 : 0);
      this.b(imm & 0xff);
    } else {
      this.rr(0x81, a.ext, dst, w ? W64 : 0);
      this.d32(imm);
    }
  }

  /** `cmp dword/qword [base + disp], imm8`. */
  cmpMI8(base: number, disp: number, imm: number, w: boolean): void {
    this.rm(0x83, ALU_CMP.ext, base, disp, w ? W64 : 0);
    this.b(imm & 0xff);
  }

  /** `sub dword/qword [base + disp], imm8`. */
  subMI8(base: number, disp: number, imm: number, w: boolean): void {
    this.rm(0x83, ALU_SUB.ext, base, disp, w ? W64 : 0);
    this.b(imm & 0xff);
  }

  /** `test a, b`. */
  testRR(a: number, b: number, w: boolean): void {
    this.rr(0x85, b, a, w ? W64 : 0);
  }

  /** `test r, imm32` (sign-extended for 64-bit). */
  testRI(r: number, imm: number, w: boolean): void {
    this.rr(0xf7, 0, r, w ? W64 : 0);
    this.d32(imm);
  }

  /** `mov dst, src` (32-bit form zero-extends). */
  movRR(dst: number, src: number, w: boolean): void {
    this.rr(0x89, src, dst, w ? W64 : 0);
  }

  /** Loads a 64-bit constant with the shortest encoding. */
  movImm64(dst: number, lo: number, hi: number): void {
    // lo, hi: the two 32-bit halves (any sign).
    const l = lo >>> 0, h = hi >>> 0;
    if (h === 0) {
      if (l === 0) this.aluRR(ALU_XOR, dst, dst, false);
      else this.movRI32(dst, l);
    } else if (h === 0xffffffff && l >= 0x80000000) {
      this.movRIsx(dst, l | 0);
    } else {
      this.movabs(dst, l, h);
    }
  }

  /** `mov r32, imm32` (zero-extends). */
  movRI32(dst: number, imm: number): void {
    this.ensure(16);
    if (dst & 8) this.b(0x41);
    this.b(0xb8 + (dst & 7));
    this.d32(imm);
  }

  /** `mov r64, imm32` sign-extended (REX.W C7 /0). */
  movRIsx(dst: number, imm: number): void {
    this.rr(0xc7, 0, dst, W64);
    this.d32(imm);
  }

  /** `movabs r64, imm64`; returns the offset of the 8-byte immediate (for relocations). */
  movabs(dst: number, lo: number, hi: number): number {
    this.ensure(16);
    this.b(0x48 | ((dst & 8) >> 3));
    this.b(0xb8 + (dst & 7));
    const at = this.pos;
    this.d32(lo);
    this.d32(hi);
    return at;
  }

  /** `mov dst, [base + disp]` / zero- and sign-extending loads. size: 1, 2, 4, 8. */
  load(dst: number, base: number, disp: number, size: number, signed: boolean): void {
    if (size === 8) this.rm(0x8b, dst, base, disp, W64);
    else if (size === 4) {
      if (signed) this.rm(0x63, dst, base, disp, W64); // movsxd
      else this.rm(0x8b, dst, base, disp, 0);
    } else {
      const op = (size === 1 ? 0x0fb6 : 0x0fb7) + (signed ? 8 : 0); // movzx / movsx
      this.rm(op, dst, base, disp, signed ? W64 : 0);
    }
  }

  /** load() from [base + index + disp] (SIB form). index must not be rsp. */
  loadBI(dst: number, base: number, index: number, disp: number, size: number, signed: boolean): void {
    this.ensure(16);
    let op: number, w: boolean;
    if (size === 8) { op = 0x8b; w = true; }
    else if (size === 4) { op = signed ? 0x63 : 0x8b; w = signed; }
    else { op = (size === 1 ? 0x0fb6 : 0x0fb7) + (signed ? 8 : 0); w = signed; }
    const rex = (w ? 8 : 0) | ((dst & 8) >> 1) | ((index & 8) >> 2) | ((base & 8) >> 3);
    if (rex) this.b(0x40 | rex);
    this.opc(op);
    // mod 00 with base rbp/r13 would mean "no base": those take a zero disp8.
    const mod = disp === 0 && (base & 7) !== 5 ? 0 : fitsS8(disp) ? 1 : 2;
    this.b((mod << 6) | ((dst & 7) << 3) | 4);
    this.b(((index & 7) << 3) | (base & 7));
    if (mod === 1) this.b(disp & 0xff);
    else if (mod === 2) this.d32(disp);
  }

  /** `mov [base + disp], src` of the given size. */
  store(base: number, disp: number, src: number, size: number): void {
    if (size === 1) this.rm(0x88, src, base, disp, BYTE_REG);
    else this.rm(0x89, src, base, disp, size === 8 ? W64 : size === 2 ? P66 : 0);
  }

  /** `mov [base + disp], imm` of the given size (imm sign-extended to 64 for size 8). */
  storeImm(base: number, disp: number, imm: number, size: number): void {
    if (size === 1) {
      this.rm(0xc6, 0, base, disp, 0);
      this.b(imm & 0xff);
    } else if (size === 2) {
      this.rm(0xc7, 0, base, disp, P66);
      this.d16(imm);
    } else {
      this.rm(0xc7, 0, base, disp, size === 8 ? W64 : 0);
      this.d32(imm);
    }
  }

  /** Register-to-register sign extension: movsx dst, src8/src16 and movsxd dst, src32. */
  movsx(dst: number, src: number, fromBits: number, w: boolean): void {
    if (fromBits === 32) this.rr(0x63, dst, src, W64);
    else this.rr(fromBits === 8 ? 0x0fbe : 0x0fbf, dst, src, (w ? W64 : 0) | (fromBits === 8 ? BYTE_RM : 0));
  }

  /** movzx dst32, src16. */
  movzx16(dst: number, src: number): void {
    this.rr(0x0fb7, dst, src, 0);
  }

  /** Shift/rotate group by an immediate count: `op r, imm8`. */
  shiftRI(ext: number, r: number, n: number, flags: number): void {
    this.rr(0xc1, ext, r, flags);
    this.b(n & 0xff);
  }

  /** Shift group by cl: `op r, cl`. */
  shiftRCl(ext: number, r: number, w: boolean): void {
    this.rr(0xd3, ext, r, w ? W64 : 0);
  }

  /** `bswap r32/r64`. */
  bswap(r: number, w: boolean): void {
    this.ensure(16);
    const rex = (w ? 8 : 0) | ((r & 8) >> 3);
    if (rex) this.b(0x40 | rex);
    this.b(0x0f);
    this.b(0xc8 + (r & 7));
  }

  /** imul dst, src (dst *= src). */
  imulRR(dst: number, src: number, w: boolean): void {
    this.rr(0x0faf, dst, src, w ? W64 : 0);
  }

  /** imul dst, src, imm (sign-extended imm). */
  imulRRI(dst: number, src: number, imm: number, w: boolean): void {
    if (fitsS8(imm)) {
      this.rr(0x6b, dst, src, w ? W64 : 0);
      this.b(imm & 0xff);
    } else {
      this.rr(0x69, dst, src, w ? W64 : 0);
      this.d32(imm);
    }
  }

  /** `lea dst, [base + index + disp]` (32-bit dst: the sum truncated and zero-extended). index
   * must not be rsp, which the SIB byte cannot name as an index. */
  leaBI(dst: number, base: number, index: number, disp: number, w: boolean): void {
    this.ensure(16);
    const rex = (w ? 8 : 0) | ((dst & 8) >> 1) | ((index & 8) >> 2) | ((base & 8) >> 3);
    if (rex) this.b(0x40 | rex);
    this.b(0x8d);
    // mod 00 with base rbp/r13 would mean "no base": those take a zero disp8.
    const mod = disp === 0 && (base & 7) !== 5 ? 0 : fitsS8(disp) ? 1 : 2;
    this.b((mod << 6) | ((dst & 7) << 3) | 4);
    this.b(((index & 7) << 3) | (base & 7));
    if (mod === 1) this.b(disp & 0xff);
    else if (mod === 2) this.d32(disp);
  }

  /** `lea dst, [base + disp]`, 32-bit dst when !w. */
  leaW(dst: number, base: number, disp: number, w: boolean): void {
    this.rm(0x8d, dst, base, disp, w ? W64 : 0);
  }

  /** `lea dst, [base + disp]`. */
  lea(dst: number, base: number, disp: number): void {
    this.rm(0x8d, dst, base, disp, W64);
  }

  // --- stack, control flow ----------------------------------------------------------------
  push(r: number): void {
    this.ensure(4);
    if (r & 8) this.b(0x41);
    this.b(0x50 + (r & 7));
  }

  pop(r: number): void {
    this.ensure(4);
    if (r & 8) this.b(0x41);
    this.b(0x58 + (r & 7));
  }

  ret(): void {
    this.ensure(1);
    this.b(0xc3);
  }

  /** `call r` (FF /2). */
  callR(r: number): void {
    this.rr(0xff, 2, r, 0);
  }

  /** `jmp r` (FF /4). */
  jmpR(r: number): void {
    this.rr(0xff, 4, r, 0);
  }

  /** `call rel32`, rel from the end of the instruction. */
  callRel(rel: number): void {
    this.ensure(8);
    this.b(0xe8);
    this.d32(rel);
  }

  /** `jmp rel8` (2 bytes) or `jmp rel32` (5 bytes); rel from the end of the instruction. */
  jmp(rel: number, short: boolean): void {
    this.ensure(8);
    if (short) {
      this.b(0xeb);
      this.b(rel & 0xff);
    } else {
      this.b(0xe9);
      this.d32(rel);
    }
  }

  /** `jcc rel8` (2 bytes) or `jcc rel32` (6 bytes); rel from the end of the instruction. */
  jcc(cc: number, rel: number, short: boolean): void {
    this.ensure(8);
    if (short) {
      this.b(0x70 | cc);
      this.b(rel & 0xff);
    } else {
      this.b(0x0f);
      this.b(0x80 | cc);
      this.d32(rel);
    }
  }

  /** lock prefix for the next instruction. */
  lock(): void {
    this.ensure(1);
    this.b(0xf0);
  }
}

export { fitsS8 };
