// Random valid eBPF programs for differential testing of the JIT against the interpreter.
//
// Shape of every program (r1 = mem, 256 bytes, never written; r10 = frame pointer):
//   prologue  data registers r0, r2..r9 get random 64-bit values; the 64-byte stack area
//             [r10-64, r10) is filled from them, so nothing read is uninitialised
//   body      units: ALU/ALU64 ops of every kind (div/mod by zero and INT_MIN / -1 included,
//             shifts by any amount, byte swaps, movsx), constant reloads, memory units
//             (loads, sign-extending loads, stores, atomics, acquire/release on the stack or on
//             mem[0..64), through r10, r1, or a data register made a pointer for the unit),
//             forward jumps of every condition (ja, gotol, may_goto too) over whole units, near
//             (rel8) and sometimes far (rel32), and bpf-to-bpf calls
//   epilogue  data registers stored to mem[128..200), the stack area copied to mem[64..128)
//   exit      r0 is the result
//   subprograms (30% of programs, 1-2): own stack area initialised first, then the same kinds
//             of units (calls only to later subprograms: no recursion); r0 is returned
//   callbacks the main body may call bpf_loop(0..6, stub, mem, 0): the stub (one per
//             subprogram a loop uses, after them) calls its subprogram with r1 = mem and stops the loop
//             on ((r0 + index) & 1); the loop's count lands in r0. The main prologue keeps
//             mem at [r10-72] to get r1 back after the helper.
// Since both engines get the same mem and every address is derived from r1/r10 only inside
// one unit, the final r0 and mem bytes must match exactly. Jumps only go forward, so every
// program terminates.
import { Insn, encodeInsns, insn } from '../../src-ts/asm/insn';
import * as O from '../../src-ts/asm/opcodes';
import { BPF_FUNC_loop, BPF_PSEUDO_FUNC } from '../../src-ts/uapi/bpf';

export const MEM_SIZE = 256;
const DATA = [0, 2, 3, 4, 5, 6, 7, 8, 9];
const STACK = 64; // bytes of stack used: [r10 - 64, r10)
const WORK = 64;  // bytes of mem the body may touch: mem[0, 64)

/** xorshift128+ on 32-bit halves, enough for reproducible test data. */
export class Rng {
  private s = new Uint32Array(4);
  constructor(seed: number) {
    let x = seed >>> 0 || 1;
    for (let k = 0; k < 4; k++) {
      // splitmix32 to spread the seed
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[k] = (z ^ (z >>> 16)) >>> 0 || 1;
    }
  }
  u32(): number {
    const s = this.s;
    let t = s[3];
    const u = s[0];
    s[3] = s[2]; s[2] = s[1]; s[1] = u;
    t ^= t << 11; t ^= t >>> 8;
    s[0] = (t ^ u ^ (u >>> 19)) >>> 0;
    return s[0];
  }
  int(n: number): number {
    return this.u32() % n;
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  chance(p: number): boolean {
    return this.u32() / 0x100000000 < p;
  }
}

const INTERESTING_64: readonly bigint[] = [
  0n, 1n, 2n, 7n, 8n, 31n, 32n, 33n, 63n, 64n, 65n, 0xffn, 0x80n, 0x7fffn, 0x8000n, 0xffffn,
  0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 0x8000000000000000n, 0x7fffffffffffffffn,
  0xffffffffffffffffn, 0xfffffffffffffffen, 0xffffffff80000000n, 0xffffffff00000000n,
  0x00000000ffffff80n, 0x0123456789abcdefn,
];
const INTERESTING_32: readonly number[] = [
  0, 1, -1, 2, -2, 7, 8, 31, 32, 33, 63, 64, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff,
  0x7fffffff, -0x80000000, -0x7fffffff, 0x12345678, -0x12345678,
];

function rand64(r: Rng): bigint {
  if (r.chance(0.5)) return r.pick(INTERESTING_64);
  return (BigInt(r.u32()) << 32n) | BigInt(r.u32());
}

function rand32(r: Rng): number {
  if (r.chance(0.6)) return r.pick(INTERESTING_32);
  return r.u32() | 0;
}

function lddw(dst: number, v: bigint): Insn[] {
  const u = BigInt.asUintN(64, v);
  return [
    insn(O.BPF_LD | O.BPF_IMM | O.BPF_DW, dst, 0, 0, Number(BigInt.asIntN(32, u))),
    insn(0, 0, 0, 0, Number(BigInt.asIntN(32, u >> 32n))),
  ];
}

// A body unit: instructions, a jump whose offset is fixed once all units exist, or a
// bpf-to-bpf call to subprogram `sub`, fixed once all functions are laid out.
type Unit = { insns: Insn[] } | { jump: Insn; skip: number; field: 'off' | 'imm' } | { call: number } | { loop: number; nr: number };

const BINOPS = [O.BPF_ADD, O.BPF_SUB, O.BPF_MUL, O.BPF_DIV, O.BPF_OR, O.BPF_AND, O.BPF_LSH, O.BPF_RSH,
  O.BPF_MOD, O.BPF_XOR, O.BPF_MOV, O.BPF_ARSH];
const CONDS = [O.BPF_JEQ, O.BPF_JNE, O.BPF_JSET, O.BPF_JGT, O.BPF_JGE, O.BPF_JLT, O.BPF_JLE,
  O.BPF_JSGT, O.BPF_JSGE, O.BPF_JSLT, O.BPF_JSLE];
const SIZES: readonly [number, number][] = [[O.BPF_B, 1], [O.BPF_H, 2], [O.BPF_W, 4], [O.BPF_DW, 8]];

function aluUnit(r: Rng): Unit {
  const cls = r.chance(0.5) ? O.BPF_ALU64 : O.BPF_ALU;
  const dst = r.pick(DATA);
  const k = r.int(20);
  if (k === 0) return { insns: [insn(cls | O.BPF_NEG | O.BPF_K, dst)] };
  if (k === 1) {
    // movsx: 8/16/32 for ALU64, 8/16 for ALU
    const off = cls === O.BPF_ALU64 ? r.pick([8, 16, 32]) : r.pick([8, 16]);
    return { insns: [insn(cls | O.BPF_MOV | O.BPF_X, dst, r.pick(DATA), off)] };
  }
  if (k === 2) {
    // to_le / to_be (ALU) or bswap (ALU64 | TO_LE)
    const src = cls === O.BPF_ALU64 ? O.BPF_TO_LE : r.pick([O.BPF_TO_LE, O.BPF_TO_BE]);
    return { insns: [insn(cls | O.BPF_END | src, dst, 0, 0, r.pick([16, 32, 64]))] };
  }
  const op = r.pick(BINOPS);
  const signed = (op === O.BPF_DIV || op === O.BPF_MOD) && r.chance(0.5) ? 1 : 0;
  if (r.chance(0.5)) return { insns: [insn(cls | op | O.BPF_X, dst, r.pick(DATA), signed)] };
  let imm = rand32(r);
  // Constant shifts: mostly in range (the verifier's rule), sometimes not (both engines mask).
  if ((op === O.BPF_LSH || op === O.BPF_RSH || op === O.BPF_ARSH) && r.chance(0.8)) {
    imm = r.int(cls === O.BPF_ALU64 ? 64 : 32);
  }
  return { insns: [insn(cls | op | O.BPF_K, dst, 0, signed, imm)] };
}

/** Loads, stores and atomics through one base for the unit. */
function memUnit(r: Rng): Unit {
  const out: Insn[] = [];
  const onStack = r.chance(0.5);
  const regionLo = onStack ? -STACK : 0; // offsets relative to r10 or r1
  let base = onStack ? 10 : 1;
  let adj = 0;
  let ptr = -1; // data register used as a pointer in this unit
  if (r.chance(0.4)) {
    ptr = r.pick(DATA);
    adj = r.int(9) * 8 - (onStack ? 64 : 0); // ptr = r10 - 64..0 or r1 + 0..64, 8-aligned
    out.push(insn(O.BPF_ALU64 | O.BPF_MOV | O.BPF_X, ptr, base));
    if (adj) out.push(insn(O.BPF_ALU64 | O.BPF_ADD | O.BPF_K, ptr, 0, 0, adj));
    base = ptr;
  }
  const others = DATA.filter((d) => d !== ptr);
  const n = 1 + r.int(3);
  let ptrClobbered = false;
  for (let a = 0; a < n && !ptrClobbered; a++) {
    const [sz, bytes] = r.pick(SIZES);
    const last = a === n - 1;
    // An offset inside the region, relative to the base (aligned for atomics).
    const at = (align: number) => regionLo + r.int((WORK - bytes) / align + 1) * align - adj;
    const kind = r.int(7);
    if (kind === 0 || kind === 1) {
      const signed = kind === 1 && sz !== O.BPF_DW;
      const dst = last ? r.pick(DATA) : r.pick(others);
      out.push(insn(O.BPF_LDX | (signed ? O.BPF_MEMSX : O.BPF_MEM) | sz, dst, base, at(1)));
      ptrClobbered = dst === ptr;
    } else if (kind === 2) {
      out.push(insn(O.BPF_ST | O.BPF_MEM | sz, base, 0, at(1), rand32(r)));
    } else if (kind === 3) {
      out.push(insn(O.BPF_STX | O.BPF_MEM | sz, base, r.pick(others), at(1)));
    } else if (kind === 4) {
      // acquire / release, any size
      if (r.chance(0.5)) {
        const dst = last ? r.pick(DATA) : r.pick(others);
        out.push(insn(O.BPF_STX | O.BPF_ATOMIC | sz, dst, base, at(bytes), O.BPF_LOAD_ACQ));
        ptrClobbered = dst === ptr;
      } else {
        out.push(insn(O.BPF_STX | O.BPF_ATOMIC | sz, base, r.pick(others), at(bytes), O.BPF_STORE_REL));
      }
    } else {
      // read-modify-write atomics: 32/64 bits
      const [asz, abytes] = r.chance(0.5) ? [O.BPF_W, 4] : [O.BPF_DW, 8];
      const op = r.pick([O.BPF_ADD, O.BPF_OR, O.BPF_AND, O.BPF_XOR, O.BPF_ADD | O.BPF_FETCH, O.BPF_OR | O.BPF_FETCH,
        O.BPF_AND | O.BPF_FETCH, O.BPF_XOR | O.BPF_FETCH, O.BPF_XCHG, O.BPF_CMPXCHG]);
      if (op === O.BPF_CMPXCHG && ptr === 0 && !last) continue; // it writes r0, the pointer
      const off = regionLo + r.int((WORK - abytes) / abytes + 1) * abytes - adj;
      out.push(insn(O.BPF_STX | O.BPF_ATOMIC | asz, base, r.pick(others), off, op));
      ptrClobbered = op === O.BPF_CMPXCHG && ptr === 0;
    }
  }
  // The pointer must not outlive the unit: its value differs between the engines' runs.
  if (ptr >= 0 && !ptrClobbered) out.push(...lddw(ptr, rand64(r)));
  return { insns: out };
}

function jumpUnit(r: Rng): Unit {
  // Mostly a few units; sometimes far enough for the rel32 form (branch relaxation).
  const skip = r.chance(0.15) ? 4 + r.int(40) : r.int(4);
  const k = r.int(14);
  if (k === 0) return { jump: insn(O.BPF_JMP | O.BPF_JA), skip, field: 'off' };
  if (k === 1) return { jump: insn(O.BPF_JMP32 | O.BPF_JA), skip, field: 'imm' }; // gotol
  if (k === 2) return { jump: insn(O.BPF_JMP | O.BPF_JCOND, 0, O.BPF_MAY_GOTO), skip, field: 'off' };
  const cls = r.chance(0.5) ? O.BPF_JMP : O.BPF_JMP32;
  const op = r.pick(CONDS);
  const dst = r.pick(DATA);
  if (r.chance(0.5)) return { jump: insn(cls | op | O.BPF_X, dst, r.chance(0.1) ? dst : r.pick(DATA)), skip, field: 'off' };
  return { jump: insn(cls | op | O.BPF_K, dst, 0, 0, rand32(r)), skip, field: 'off' };
}

export interface FuzzCase {
  code: Buffer;
  mem: Buffer;
}

/** Stores data registers into the frame's 64-byte stack area so nothing read is uninitialised. */
function initStack(): Insn[] {
  const out: Insn[] = [];
  for (let k = 0; k < STACK / 8; k++) out.push(insn(O.BPF_STX | O.BPF_MEM | O.BPF_DW, 10, DATA[k], -8 * (k + 1)));
  return out;
}

/** Random units of one function. Subprograms `firstSub`.. exist and may be called (only later
 * ones, so there is no recursion and the depth stays small). */
function units(r: Rng, count: number, firstSub: number, nsub: number): Unit[] {
  const out: Unit[] = [];
  for (let u = 0; u < count; u++) {
    const k = r.int(20);
    if (k < 10) out.push(aluUnit(r));
    else if (k < 12) out.push({ insns: lddw(r.pick(DATA), rand64(r)) });
    else if (k < 15) out.push(memUnit(r));
    else if (k < 19 || firstSub >= nsub) out.push(jumpUnit(r));
    else if (firstSub === 0 && r.chance(0.4)) {
      out.push({ loop: r.int(nsub), nr: r.int(7) });
      out.push({ insns: [2, 3, 4, 5].flatMap((d) => lddw(d, rand64(r))) });
    } else {
      out.push({ call: firstSub + r.int(nsub - firstSub) });
      // r1..r5 do not survive a call (eBPF's ABI; the JIT leaves the callee's values there,
      // the interpreter the caller's): the caller reloads the data ones. r1 (mem) is never
      // written by anyone, so it does survive.
      out.push({ insns: [2, 3, 4, 5].flatMap((d) => lddw(d, rand64(r))) });
    }
  }
  return out;
}

interface Laid { insns: Insn[]; calls: { at: number; sub: number }[]; loops: { at: number; sub: number }[] }

/** Mem is kept here by the main prologue (below the stack area the epilogue copies out). */
const MEM_SAVE = -72;

/** bpf_loop(nr, stub of `sub`, mem, 0); the ld_imm64's offset is filled in by generate(). */
function loopInsns(nr: number): Insn[] {
  return [
    insn(O.BPF_ALU64 | O.BPF_MOV | O.BPF_X, 3, 1),
    insn(O.BPF_ALU64 | O.BPF_MOV | O.BPF_K, 1, 0, 0, nr),
    insn(O.BPF_LD | O.BPF_IMM | O.BPF_DW, 2, BPF_PSEUDO_FUNC),
    insn(0),
    insn(O.BPF_ALU64 | O.BPF_MOV | O.BPF_K, 4, 0, 0, 0),
    insn(O.BPF_JMP | O.BPF_CALL, 0, 0, 0, BPF_FUNC_loop),
    insn(O.BPF_LDX | O.BPF_MEM | O.BPF_DW, 1, 10, MEM_SAVE),
  ];
}
const LOOP_LEN = 7;
const LOOP_FUNC_AT = 2;

function layout(us: Unit[]): Laid {
  const len = (u: Unit): number => ('insns' in u ? u.insns.length : 'loop' in u ? LOOP_LEN : 1);
  const out: Laid = { insns: [], calls: [], loops: [] };
  us.forEach((u, idx) => {
    if ('insns' in u) {
      out.insns.push(...u.insns);
    } else if ('loop' in u) {
      out.loops.push({ at: out.insns.length + LOOP_FUNC_AT, sub: u.loop });
      out.insns.push(...loopInsns(u.nr));
    } else if ('call' in u) {
      out.calls.push({ at: out.insns.length, sub: u.call });
      out.insns.push(insn(O.BPF_JMP | O.BPF_CALL, 0, O.BPF_PSEUDO_CALL));
    } else {
      let dist = 0;
      for (let k = 1; k <= u.skip && idx + k < us.length; k++) dist += len(us[idx + k]);
      out.insns.push({ ...u.jump, [u.field]: dist });
    }
  });
  return out;
}

export function generate(r: Rng): FuzzCase {
  const nsub = r.chance(0.3) ? 1 + r.int(2) : 0;
  // Main: registers and stack initialised, body, registers and stack copied out to mem.
  const pro: Insn[] = [];
  for (const d of DATA) pro.push(...lddw(d, rand64(r)));
  pro.push(...initStack());
  pro.push(insn(O.BPF_STX | O.BPF_MEM | O.BPF_DW, 10, 1, MEM_SAVE));
  const main = layout(units(r, 10 + r.int(50), 0, nsub));
  const epi: Insn[] = [];
  DATA.forEach((d, k) => epi.push(insn(O.BPF_STX | O.BPF_MEM | O.BPF_DW, 1, d, 128 + 8 * k)));
  for (let k = 0; k < STACK / 8; k++) {
    epi.push(insn(O.BPF_LDX | O.BPF_MEM | O.BPF_DW, 2, 10, -STACK + 8 * k));
    epi.push(insn(O.BPF_STX | O.BPF_MEM | O.BPF_DW, 1, 2, 64 + 8 * k));
  }
  epi.push(insn(O.BPF_JMP | O.BPF_EXIT));

  const all: Insn[] = [...pro, ...main.insns, ...epi];
  const calls = main.calls.map((c) => ({ at: c.at + pro.length, sub: c.sub }));
  // Subprograms: r1 = mem and r2..r5 = the caller's values as arguments, r0 and r6..r9 start
  // at zero in both engines; own stack initialised first; r0 is the return value.
  const subStart: number[] = [];
  for (let sub = 0; sub < nsub; sub++) {
    subStart.push(all.length);
    const body = layout(units(r, 5 + r.int(20), sub + 1, nsub));
    const base = all.length + STACK / 8;
    all.push(...initStack(), ...body.insns, insn(O.BPF_JMP | O.BPF_EXIT));
    calls.push(...body.calls.map((c) => ({ at: c.at + base, sub: c.sub })));
  }
  for (const c of calls) all[c.at] = { ...all[c.at], imm: subStart[c.sub] - c.at - 1 };
  // Callback stubs: r6 = r2 = index, r1 = mem (the callback's ctx), call the subprogram, and stop
  // the loop on ((r0 + index) & 1).
  const loops = main.loops.map((l) => ({ at: l.at + pro.length, sub: l.sub }));
  const stubStart: number[] = [];
  for (let sub = 0; sub < nsub; sub++) {
    stubStart.push(all.length);
    // Only stubs a loop names: an unnamed one would be dead code inside the last function.
    if (!loops.some((l) => l.sub === sub)) continue;
    const at = all.length + 3;
    all.push(
      insn(O.BPF_ALU64 | O.BPF_MOV | O.BPF_X, 6, 1),
      insn(O.BPF_ALU64 | O.BPF_MOV | O.BPF_X, 1, 2),
      // r2 (the ctx: an address, which differs between the engines' copies of mem) becomes
      // the index, so the subprogram's arguments are data.
      insn(O.BPF_ALU64 | O.BPF_MOV | O.BPF_X, 2, 6),
      insn(O.BPF_JMP | O.BPF_CALL, 0, O.BPF_PSEUDO_CALL, 0, subStart[sub] - at - 1),
      insn(O.BPF_ALU64 | O.BPF_ADD | O.BPF_X, 0, 6),
      insn(O.BPF_ALU64 | O.BPF_AND | O.BPF_K, 0, 0, 0, 1),
      insn(O.BPF_JMP | O.BPF_EXIT),
    );
  }
  for (const l of loops) all[l.at] = { ...all[l.at], imm: stubStart[l.sub] - l.at - 1 };

  const mem = Buffer.alloc(MEM_SIZE);
  for (let k = 0; k < MEM_SIZE; k += 4) mem.writeUInt32LE(r.u32(), k);
  return { code: encodeInsns(all), mem };
}
