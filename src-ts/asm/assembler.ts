// Assembler for the ubpf / bpf_conformance eBPF assembly syntax, one instruction per line:
//
//   mov32 %r0, 0            add %r1, %r2          neg %r0          sdiv32 %r0, -4
//   movsx1664 %r0, %r1      be16 %r0   le64 %r0   swap32 %r0 / bswap32 %r0   (ALU64 byte swap)
//   ldxw %r0, [%r1+4]       ldxsh %r0, [%r10-2]   stw [%r1], 7     stxdw [%r10-8], %r1
//   lddw %r0, 0x1122334455667788
//   lock add [%r10-8], %r1  lock fetch xor32 [%r1+4], %r2   lock xchg ..  lock cmpxchg32 ..
//   ja +2    ja label    ja32 label (gotol)    jeq %r1, 3, +2    jsgt32 %r1, %r2, label
//   call 5 / call helper 5 / call local label / call runtime 5 (kfunc) / call %r2 (callx)
//   may_goto +3             exit                  raw 0x0000000000000095 (any 8-byte word)
//   label:                  # comment   // comment
//
// Immediates are decimal or 0x-hex, possibly negative; a 32-bit field takes anything from
// -2^31 to 2^32-1 (the bit pattern is stored). Jump targets are +N/-N or labels; `exit` names
// the first exit instruction unless a label of that name exists (bpf_conformance's rule).
// Registers %r0..%r15 are accepted (r11+ only make sense in negative tests).
import { Insn, encodeInsns, insn, wordToInsn } from './insn';
import * as O from './opcodes';

export class AsmError extends Error {
  constructor(readonly line: number, message: string) {
    super(`line ${line}: ${message}`);
    this.name = 'AsmError';
  }
}

/** Assembles a program into bytecode (8 bytes per instruction slot). */
export function assemble(text: string): Buffer {
  return encodeInsns(assembleInsns(text));
}

// A jump/call whose target is a label, fixed up once all labels are known.
interface Fixup { slot: number; label: string; field: 'off' | 'imm'; line: number }

export function assembleInsns(text: string): Insn[] {
  const out: Insn[] = [];
  const labels = new Map<string, number>();
  const fixups: Fixup[] = [];
  let firstExit = -1;

  text.split(/\r?\n/).forEach((raw, idx) => {
    const lineNo = idx + 1;
    let line = stripComment(raw).trim();
    // Any number of "label:" prefixes, possibly followed by an instruction.
    for (let m = /^([A-Za-z_.$][\w.$]*)\s*:\s*/.exec(line); m; m = /^([A-Za-z_.$][\w.$]*)\s*:\s*/.exec(line)) {
      if (labels.has(m[1])) throw new AsmError(lineNo, `duplicate label ${m[1]}`);
      labels.set(m[1], out.length);
      line = line.slice(m[0].length);
    }
    if (!line) return;
    const ctx: LineCtx = { line: lineNo, slot: out.length, fixups };
    const insns = assembleLine(line, ctx);
    if (firstExit < 0 && insns.length === 1 && insns[0].code === (O.BPF_JMP | O.BPF_EXIT)) firstExit = out.length;
    out.push(...insns);
  });

  if (!labels.has('exit') && firstExit >= 0) labels.set('exit', firstExit);
  for (const f of fixups) {
    const target = labels.get(f.label);
    if (target === undefined) throw new AsmError(f.line, `unknown label ${f.label}`);
    const rel = target - f.slot - 1;
    if (f.field === 'off') {
      if (rel < -0x8000 || rel > 0x7fff) throw new AsmError(f.line, `jump to ${f.label} out of 16-bit range`);
      out[f.slot].off = rel;
    } else {
      out[f.slot].imm = rel;
    }
  }
  return out;
}

interface LineCtx { line: number; slot: number; fixups: Fixup[] }

function stripComment(s: string): string {
  const cut = [s.indexOf('#'), s.indexOf('//')].filter((i) => i >= 0);
  return cut.length ? s.slice(0, Math.min(...cut)) : s;
}

/** Assembles one instruction line (no label, no comment) into one or two slots. */
function assembleLine(line: string, ctx: LineCtx): Insn[] {
  const sp = line.search(/\s/);
  const mnem = (sp < 0 ? line : line.slice(0, sp)).toLowerCase();
  const rest = sp < 0 ? '' : line.slice(sp).trim();
  const ops = rest ? rest.split(',').map((s) => s.trim()) : [];
  const fail = (msg: string): never => { throw new AsmError(ctx.line, msg); };
  const want = (n: number) => { if (ops.length !== n) fail(`${mnem} takes ${n} operand(s), got ${ops.length}`); };
  const R = (s: string) => parseReg(s, ctx);

  let m: RegExpExecArray | null;

  if (mnem === 'exit') { want(0); return [insn(O.BPF_JMP | O.BPF_EXIT)]; }
  if (mnem === 'raw') { want(1); return [wordToInsn(parseInt64(ops[0], ctx))]; }
  if (mnem === 'lddw') {
    want(2);
    const v = BigInt.asUintN(64, parseInt64(ops[1], ctx));
    return [
      insn(O.BPF_LD | O.BPF_IMM | O.BPF_DW, R(ops[0]), 0, 0, Number(BigInt.asIntN(32, v))),
      insn(0, 0, 0, 0, Number(BigInt.asIntN(32, v >> 32n))),
    ];
  }
  if (mnem === 'lock') return [assembleLock(rest, ctx)];
  if (mnem === 'call') return [assembleCall(rest, ctx)];
  if (mnem === 'ja' || mnem === 'ja32' || mnem === 'gotol' || mnem === 'may_goto') {
    want(1);
    const long = mnem === 'ja32' || mnem === 'gotol';
    const i = mnem === 'may_goto' ? insn(O.BPF_JMP | O.BPF_JCOND | O.BPF_K, 0, O.BPF_MAY_GOTO)
      : insn((long ? O.BPF_JMP32 : O.BPF_JMP) | O.BPF_JA | O.BPF_K);
    setTarget(i, long ? 'imm' : 'off', ops[0], ctx);
    return [i];
  }

  // Conditional jumps: jeq[32] dst, src|imm, target
  if ((m = /^(j[a-z]+?)(32)?$/.exec(mnem)) && O.JMP_COND.has(m[1])) {
    want(3);
    const i = insn((m[2] ? O.BPF_JMP32 : O.BPF_JMP) | O.JMP_COND.get(m[1])!, R(ops[0]));
    setSource(i, ops[1], ctx);
    setTarget(i, 'off', ops[2], ctx);
    return [i];
  }

  // Byte order: be/le (ALU class, convert from host order), swap/bswap (ALU64, unconditional)
  if ((m = /^(be|le|swap|bswap)(16|32|64)$/.exec(mnem))) {
    want(1);
    const code = m[1] === 'be' ? O.BPF_ALU | O.BPF_END | O.BPF_TO_BE
      : m[1] === 'le' ? O.BPF_ALU | O.BPF_END | O.BPF_TO_LE : O.BPF_ALU64 | O.BPF_END | O.BPF_TO_LE;
    return [insn(code, R(ops[0]), 0, 0, Number(m[2]))];
  }
  if ((m = /^neg(32|64)?$/.exec(mnem))) {
    want(1);
    return [insn((m[1] === '32' ? O.BPF_ALU : O.BPF_ALU64) | O.BPF_NEG | O.BPF_K, R(ops[0]))];
  }
  // movsx<from><to>: sign-extending move (cpu v4), off = source width.
  if ((m = /^movsx(8|16|32)(32|64)$/.exec(mnem))) {
    want(2);
    return [insn((m[2] === '32' ? O.BPF_ALU : O.BPF_ALU64) | O.BPF_MOV | O.BPF_X, R(ops[0]), R(ops[1]), Number(m[1]))];
  }
  if ((m = /^([a-z]+?)(32|64)?$/.exec(mnem)) && (O.ALU_BINARY.has(m[1]) || O.ALU_SIGNED.has(m[1]))) {
    want(2);
    const op = O.ALU_BINARY.get(m[1]) ?? O.ALU_SIGNED.get(m[1])!;
    const i = insn((m[2] === '32' ? O.BPF_ALU : O.BPF_ALU64) | op, R(ops[0]), 0, O.ALU_SIGNED.has(m[1]) ? 1 : 0);
    setSource(i, ops[1], ctx);
    return [i];
  }

  // Memory: ldx[s]<size> dst, [src+off]   st<size> [dst+off], imm   stx<size> [dst+off], src
  if ((m = /^(ldxs|ldx|stx|st)(b|h|w|dw)$/.exec(mnem)) && !(m[1] === 'ldxs' && m[2] === 'dw')) {
    want(2);
    const size = O.SIZES.get(m[2])!;
    if (m[1] === 'ldx' || m[1] === 'ldxs') {
      const [src, off] = parseMem(ops[1], ctx);
      return [insn(O.BPF_LDX | (m[1] === 'ldxs' ? O.BPF_MEMSX : O.BPF_MEM) | size, R(ops[0]), src, off)];
    }
    const [dst, off] = parseMem(ops[0], ctx);
    if (m[1] === 'stx') return [insn(O.BPF_STX | O.BPF_MEM | size, dst, R(ops[1]), off)];
    return [insn(O.BPF_ST | O.BPF_MEM | size, dst, 0, off, parseImm32(ops[1], ctx))];
  }

  return fail(`unknown mnemonic ${mnem}`);
}

// lock [fetch] <op>[32] [dst+off], src
function assembleLock(rest: string, ctx: LineCtx): Insn {
  const m = /^(fetch\s+)?([a-z]+?)(32|64)?\s+(\[[^\]]*\])\s*,\s*(\S+)$/i.exec(rest);
  if (!m) throw new AsmError(ctx.line, `bad lock operands: ${rest}`);
  const name = m[2].toLowerCase();
  const op = O.ATOMIC_OPS.get(name);
  if (op === undefined) throw new AsmError(ctx.line, `unknown atomic operation ${name}`);
  const always = op === O.BPF_XCHG || op === O.BPF_CMPXCHG; // these imply fetch
  if (m[1] && always) throw new AsmError(ctx.line, `${name} always fetches; drop "fetch"`);
  const [dst, off] = parseMem(m[4], ctx);
  const size = m[3] === '32' ? O.BPF_W : O.BPF_DW;
  return insn(O.BPF_STX | O.BPF_ATOMIC | size, dst, parseReg(m[5], ctx), off, m[1] ? op | O.BPF_FETCH : op);
}

// call N | call helper N | call local target | call runtime N | call %rX
function assembleCall(rest: string, ctx: LineCtx): Insn {
  const words = rest.split(/\s+/).filter(Boolean);
  const code = O.BPF_JMP | O.BPF_CALL;
  if (words.length === 1 && words[0].startsWith('%')) return insn(code | O.BPF_X, parseReg(words[0], ctx));
  if (words.length === 1) return insn(code, 0, 0, 0, parseImm32(words[0], ctx));
  if (words.length === 2 && words[0] === 'helper') {
    if (words[1].startsWith('%')) return insn(code | O.BPF_X, parseReg(words[1], ctx));
    return insn(code, 0, 0, 0, parseImm32(words[1], ctx));
  }
  if (words.length === 2 && words[0] === 'runtime') return insn(code, 0, O.BPF_PSEUDO_KFUNC_CALL, 0, parseImm32(words[1], ctx));
  if (words.length === 2 && words[0] === 'local') {
    const i = insn(code, 0, O.BPF_PSEUDO_CALL);
    setTarget(i, 'imm', words[1], ctx);
    return i;
  }
  throw new AsmError(ctx.line, `bad call operands: ${rest}`);
}

function parseReg(s: string, ctx: LineCtx): number {
  const m = /^%r(\d+)$/i.exec(s.trim());
  if (!m || Number(m[1]) > 15) throw new AsmError(ctx.line, `bad register ${s}`);
  return Number(m[1]);
}

// Register or 32-bit immediate second operand of ALU ops and conditional jumps.
function setSource(i: Insn, s: string, ctx: LineCtx): void {
  if (s.startsWith('%')) {
    i.code |= O.BPF_X;
    i.src = parseReg(s, ctx);
  } else {
    i.code |= O.BPF_K;
    i.imm = parseImm32(s, ctx);
  }
}

function setTarget(i: Insn, field: 'off' | 'imm', s: string, ctx: LineCtx): void {
  if (/^[+-]?(0x[0-9a-f]+|\d+)$/i.test(s)) {
    i[field] = field === 'off' ? parseOff16(s, ctx) : parseImm32(s, ctx);
  } else if (/^[A-Za-z_.$][\w.$]*$/.test(s)) {
    ctx.fixups.push({ slot: ctx.slot, label: s, field, line: ctx.line });
  } else {
    throw new AsmError(ctx.line, `bad jump target ${s}`);
  }
}

// [%rN], [%rN+off], [%rN-off]
function parseMem(s: string, ctx: LineCtx): [number, number] {
  const m = /^\[\s*(%r\d+)\s*(?:([+-])\s*(0x[0-9a-f]+|\d+))?\s*\]$/i.exec(s);
  if (!m) throw new AsmError(ctx.line, `bad memory operand ${s}`);
  const off = m[2] ? parseOff16(m[2] + m[3], ctx) : 0;
  return [parseReg(m[1], ctx), off];
}

function parseInt64(s: string, ctx: LineCtx): bigint {
  const m = /^([+-]?)(0x[0-9a-f]+|\d+)$/i.exec(s.trim());
  if (!m) throw new AsmError(ctx.line, `bad number ${s}`);
  const v = m[1] === '-' ? -BigInt(m[2]) : BigInt(m[2]);
  if (v < -(1n << 63n) || v >= 1n << 64n) throw new AsmError(ctx.line, `${s} does not fit in 64 bits`);
  return v;
}

/** A 32-bit field: accepts -2^31..2^32-1 and stores the bit pattern as a signed int32. */
function parseImm32(s: string, ctx: LineCtx): number {
  const v = parseInt64(s, ctx);
  if (v < -(1n << 31n) || v >= 1n << 32n) throw new AsmError(ctx.line, `${s} does not fit in 32 bits`);
  return Number(BigInt.asIntN(32, v));
}

/** A 16-bit offset: accepts -2^15..2^16-1 and stores the bit pattern as a signed int16. */
function parseOff16(s: string, ctx: LineCtx): number {
  const v = parseInt64(s, ctx);
  if (v < -(1n << 15n) || v >= 1n << 16n) throw new AsmError(ctx.line, `${s} does not fit in 16 bits`);
  return Number(BigInt.asIntN(16, v));
}
