// Which instructions can run: a data-flow pass over the program that knows the value of a
// register when it is a constant the kernel's verifier also knows (immediates, arithmetic on
// them, reads of frozen read-only maps such as .rodata) and which registers hold pointers that
// cannot be NULL. A conditional jump whose outcome is fixed by such values has one successor
// only, so code behind it is never reached. This is how the kernel treats the branches libbpf
// leaves behind bpf_core_field_exists()/bpf_core_type_exists() and `const volatile` knobs, and
// the code there may hold instructions libbpf poisoned because a CO-RE relocation or a map did
// not resolve (`call 0xbad2310`, `call 2001000000 + map index`): unreachable, so never checked.
//
// The pass errs on the side of reaching: where the kernel might know more (value ranges, stack
// spills, a callee's constant arguments) it assumes both outcomes, so it never declares dead
// what the kernel would run. It stops at nothing the structural checks reject later: jumps out
// of range are simply not followed.
import * as U from '../uapi/bpf';

/** What is known about a register at one instruction. */
export type Val =
  | { k: 'unknown' }
  | { k: 'const'; v: bigint } // a scalar whose 64 bits are known
  | { k: 'ptr'; base: 'ctx' | 'fp' | 'map' | 'func' } // a pointer that cannot be NULL
  | { k: 'mapptr'; mapId: number } // the map itself (ld_imm64 of a map), as helpers take it
  | { k: 'mapval'; mapId: number; off: number }; // pointer into a map's value, known offset

export interface ReachEnv {
  /** The bytes of a frozen, BPF_F_RDONLY_PROG map's value at off (size 1, 2, 4 or 8), as a
   * little-endian unsigned number; null when the map is writable or the range is out of it. */
  readOnlyValue?(mapId: number, off: number, size: number): bigint | null;
  /** Told of every helper call each time the pass reaches it, with what is known of the
   * registers there (every state seen is one some path has; later visits may be joins). */
  onHelperCall?(insn: number, helperId: number, regs: readonly Val[]): void;
}

export interface Reachability {
  /** 1 for every instruction (both halves of an ld_imm64) some path reaches. */
  seen: Uint8Array;
}

const UNKNOWN: Val = { k: 'unknown' };
const M64 = (1n << 64n) - 1n;
const M32 = (1n << 32n) - 1n;
const LD_IMM64 = U.BPF_LD | U.BPF_IMM | U.BPF_DW;
const BPF_JCOND = 0xe0;
const BPF_MEMSX = 0x80;
const SIZE_BYTES: Record<number, number> = { [U.BPF_B]: 1, [U.BPF_H]: 2, [U.BPF_W]: 4, [U.BPF_DW]: 8 };

const cst = (v: bigint): Val => ({ k: 'const', v: v & M64 });

function sameVal(a: Val, b: Val): boolean {
  if (a.k !== b.k) return false;
  switch (a.k) {
    case 'unknown':
      return true;
    case 'const':
      return a.v === (b as typeof a).v;
    case 'ptr':
      return a.base === (b as typeof a).base;
    case 'mapval':
      return a.mapId === (b as typeof a).mapId && a.off === (b as typeof a).off;
    case 'mapptr':
      return a.mapId === (b as typeof a).mapId;
  }
}

/** Pointers that cannot be NULL. */
const nonNull = (v: Val) => v.k === 'ptr' || v.k === 'mapval' || v.k === 'mapptr';

/** The join of two facts: what holds on both incoming paths. */
function joinVal(a: Val, b: Val): Val {
  if (sameVal(a, b)) return a;
  if (a.k === 'mapval' && b.k === 'mapval' && a.mapId === b.mapId) return { k: 'ptr', base: 'map' };
  if (nonNull(a) && nonNull(b)) return { k: 'ptr', base: 'map' }; // still some non-NULL pointer
  return UNKNOWN;
}

type Regs = Val[]; // r0..r10

function entryRegs(isMain: boolean): Regs {
  const r: Regs = new Array(11).fill(UNKNOWN);
  if (isMain) r[1] = { k: 'ptr', base: 'ctx' };
  r[10] = { k: 'ptr', base: 'fp' };
  return r;
}

/** The result of an ALU operation on what is known; unknown where the kernel's tracking of
 * constants would not give an exact value either (division, byte swaps, sign-extending moves,
 * shifts by the width or more), so nothing is decided here that the kernel leaves open. */
function alu(code: number, off: number, dst: Val, src: Val): Val {
  const is64 = (code & 0x07) === U.BPF_ALU64;
  const op = code & 0xf0;
  if (op === U.BPF_MOV) {
    if (off !== 0) return UNKNOWN; // movsx
    if (is64) return src;
    return src.k === 'const' ? cst(src.v & M32) : UNKNOWN;
  }
  // Pointer arithmetic: a non-NULL pointer plus or minus a constant stays a non-NULL pointer.
  if (is64 && (op === U.BPF_ADD || op === U.BPF_SUB) && src.k === 'const') {
    const delta = Number(BigInt.asIntN(64, src.v)) * (op === U.BPF_SUB ? -1 : 1);
    if (dst.k === 'mapval') return { k: 'mapval', mapId: dst.mapId, off: dst.off + delta };
    if (dst.k === 'ptr') return dst;
    if (dst.k === 'mapptr') return { k: 'ptr', base: 'map' };
  }
  if (dst.k !== 'const' || (src.k !== 'const' && op !== U.BPF_NEG)) return UNKNOWN;
  const bits = is64 ? 64n : 32n;
  const mask = is64 ? M64 : M32;
  const a = dst.v & mask;
  const b = src.k === 'const' ? src.v & mask : 0n;
  const signed = (x: bigint) => (is64 ? BigInt.asIntN(64, x) : BigInt.asIntN(32, x));
  let r: bigint;
  switch (op) {
    case U.BPF_ADD: r = a + b; break;
    case U.BPF_SUB: r = a - b; break;
    case U.BPF_MUL: r = a * b; break;
    case U.BPF_OR: r = a | b; break;
    case U.BPF_AND: r = a & b; break;
    case U.BPF_XOR: r = a ^ b; break;
    case U.BPF_LSH: if (b >= bits) return UNKNOWN; r = a << b; break;
    case U.BPF_RSH: if (b >= bits) return UNKNOWN; r = a >> b; break;
    case U.BPF_ARSH: if (b >= bits) return UNKNOWN; r = signed(a) >> b; break;
    default: return UNKNOWN; // div, mod, neg, end
  }
  return cst(r & mask);
}

/** Whether a conditional jump is taken: true, false, or null when it depends on the run. */
export function branchTaken(op: number, is32: boolean, a: Val, b: Val): boolean | null {
  if (a.k === 'const' && b.k === 'const') {
    const mask = is32 ? M32 : M64;
    const x = a.v & mask;
    const y = b.v & mask;
    const sx = is32 ? BigInt.asIntN(32, x) : BigInt.asIntN(64, x);
    const sy = is32 ? BigInt.asIntN(32, y) : BigInt.asIntN(64, y);
    switch (op) {
      case U.BPF_JEQ: return x === y;
      case U.BPF_JNE: return x !== y;
      case U.BPF_JGT: return x > y;
      case U.BPF_JGE: return x >= y;
      case U.BPF_JLT: return x < y;
      case U.BPF_JLE: return x <= y;
      case U.BPF_JSGT: return sx > sy;
      case U.BPF_JSGE: return sx >= sy;
      case U.BPF_JSLT: return sx < sy;
      case U.BPF_JSLE: return sx <= sy;
      case U.BPF_JSET: return (x & y) !== 0n;
      default: return null;
    }
  }
  // A pointer that cannot be NULL compared (64-bit) with 0: only (in)equality is decided.
  const zero = (v: Val) => v.k === 'const' && v.v === 0n;
  if (!is32 && ((nonNull(a) && zero(b)) || (zero(a) && nonNull(b)))) {
    if (op === U.BPF_JEQ) return false;
    if (op === U.BPF_JNE) return true;
  }
  return null;
}

export function findReachable(insns: Buffer, env: ReachEnv = {}): Reachability {
  const n = insns.length / 8;
  const seen = new Uint8Array(n);
  const state: Array<Regs | undefined> = new Array(n);
  // Instructions whose state changed since they were last processed, swept in program order
  // (so straight-line code is done in one sweep; a back edge asks for another).
  const dirty = new Uint8Array(n);
  let cursor = -1;
  let again = false;
  const push = (to: number) => {
    dirty[to] = 1;
    if (to <= cursor) again = true;
  };
  const flow = (to: number, regs: Regs) => {
    if (to < 0 || to >= n) return; // the structural checks report it
    const old = state[to];
    if (!old) {
      state[to] = regs;
      push(to);
      return;
    }
    // Most joins change nothing: look before allocating a new state.
    let r = 0;
    while (r < 11 && sameVal(old[r], joinVal(old[r], regs[r]))) r++;
    if (r === 11) return;
    state[to] = old.map((v, k) => joinVal(v, regs[k]));
    push(to);
  };
  const enterSubprog = (at: number) => flow(at, entryRegs(false));

  flow(0, entryRegs(true));
  for (let sweep = true; sweep; sweep = again) {
    again = false;
    for (cursor = 0; cursor < n; cursor++) {
      if (!dirty[cursor]) continue;
      dirty[cursor] = 0;
      const i = cursor;
      const regs = state[i]!;
      const o = i * 8;
      const code = insns[o];
      const dst = insns[o + 1] & 0x0f;
      const src = insns[o + 1] >> 4;
      const off = insns.readInt16LE(o + 2);
      const imm = insns.readInt32LE(o + 4);
      seen[i] = 1;
      if (dst > 10 || src > 10) continue; // rejected by the structural checks
      const next = regs.slice();
      const cls = code & 0x07;
      switch (cls) {
        case U.BPF_ALU:
        case U.BPF_ALU64: {
          const srcVal = (code & 0x08) === U.BPF_X ? regs[src] : cst(BigInt(imm));
          next[dst] = alu(code, off, regs[dst], srcVal);
          flow(i + 1, next);
          break;
        }
        case U.BPF_LD: {
          if (code !== LD_IMM64 || i + 1 >= n) break;
          seen[i + 1] = 1;
          const lo = BigInt(insns.readUInt32LE(o + 4));
          const hi = BigInt(insns.readUInt32LE(o + 12));
          if (src === 0) next[dst] = cst((hi << 32n) | lo);
          else if (src === U.BPF_PSEUDO_MAP_VALUE || src === U.BPF_PSEUDO_MAP_IDX_VALUE) next[dst] = { k: 'mapval', mapId: imm, off: Number(hi) };
          else if (src === U.BPF_PSEUDO_FUNC) {
            next[dst] = { k: 'ptr', base: 'func' };
            enterSubprog(i + 1 + imm); // a callback: runs with arguments of its caller's choosing
          } else if (src === U.BPF_PSEUDO_MAP_FD) next[dst] = { k: 'mapptr', mapId: imm }; // imm: the map's id by now
          else if (src === U.BPF_PSEUDO_MAP_IDX) next[dst] = { k: 'ptr', base: 'map' };
          else next[dst] = UNKNOWN;
          flow(i + 2, next);
          break;
        }
        case U.BPF_LDX: {
          next[dst] = UNKNOWN;
          const base = regs[src];
          const size = SIZE_BYTES[code & 0x18];
          if (base.k === 'mapval' && env.readOnlyValue && ((code & 0xe0) === U.BPF_MEM || (code & 0xe0) === BPF_MEMSX)) {
            const v = env.readOnlyValue(base.mapId, base.off + off, size);
            if (v !== null) {
              const bits = BigInt(size * 8);
              next[dst] = cst((code & 0xe0) === BPF_MEMSX ? BigInt.asIntN(Number(bits), v) : v);
            }
          }
          flow(i + 1, next);
          break;
        }
        case U.BPF_ST:
          flow(i + 1, next);
          break;
        case U.BPF_STX:
          if ((code & 0xe0) === U.BPF_ATOMIC) {
            if (imm === U.BPF_CMPXCHG) next[0] = UNKNOWN;
            else if (imm & U.BPF_FETCH) next[src] = UNKNOWN;
          }
          flow(i + 1, next);
          break;
        case U.BPF_JMP:
        case U.BPF_JMP32: {
          const op = code & 0xf0;
          if (op === U.BPF_EXIT) break;
          if (op === U.BPF_CALL) {
            if (src === U.BPF_PSEUDO_CALL) enterSubprog(i + 1 + imm);
            else if (src === 0) env.onHelperCall?.(i, imm, regs);
            // Helpers and subprograms clobber r0-r5; r6-r9 and the frame pointer survive.
            for (let r = 0; r <= 5; r++) next[r] = UNKNOWN;
            flow(i + 1, next);
            break;
          }
          if (op === U.BPF_JA) {
            flow(i + 1 + (cls === U.BPF_JMP32 ? imm : off), next);
            break;
          }
          if (op === BPF_JCOND) {
            flow(i + 1, next);
            flow(i + 1 + off, next);
            break;
          }
          const b = (code & 0x08) === U.BPF_X ? regs[src] : cst(BigInt(imm));
          const taken = branchTaken(op, cls === U.BPF_JMP32, regs[dst], b);
          if (taken !== false) flow(i + 1 + off, next);
          if (taken !== true) flow(i + 1, next);
          break;
        }
      }
    }
  }
  return { seen };
}
