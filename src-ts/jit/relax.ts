// Branch relaxation: code is emitted once with every jump in its long form (rel32) and every
// jump recorded as a site; this module then picks the 2-byte form (rel8) wherever the distance
// allows and produces the final bytes, fixing up jumps, bpf-to-bpf calls, relocation offsets
// and instruction offsets for the bytes saved. Only the sites are revisited, never the
// instructions, which keeps compile time one code pass plus a little.
//
// Why it terminates and is exact: a jump only ever goes from long to short, so code only
// shrinks and distances between two points never grow: a jump found to fit in rel8 keeps
// fitting. Iterate until no jump changes; displacements are then computed from final sizes.
import { fitsS8 } from './x86';

/** Jump sites, in code order (the order they are emitted in). */
export class Sites {
  /** Start of the long-form jump in the emitted code. */
  pos: number[] = [];
  /** Condition code, or -1 for an unconditional jmp. */
  cc: number[] = [];
  /** Code offset (long layout) the jump goes to. */
  target: number[] = [];
  /** bpf-to-bpf call sites: position of the E8 opcode, and the callee's prologue offset. */
  callPos: number[] = [];
  callTarget: number[] = [];
}

const longLen = (cc: number): number => (cc < 0 ? 5 : 6);
const saving = (cc: number): number => (cc < 0 ? 3 : 4); // long minus short length

export interface Relaxed {
  code: Buffer;
  /** Maps an offset in the emitted (long) code to the final code. */
  mapOffset(pos: number): number;
  /** The same for an ascending array of offsets, in place, in one sweep. */
  mapSorted(offsets: Int32Array): void;
}

/** Number of sites whose long form starts before pos (binary search: sites are in order). */
function sitesBefore(pos: readonly number[], at: number): number {
  let lo = 0, hi = pos.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (pos[mid] < at) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function relax(src: Buffer, len: number, s: Sites): Relaxed {
  const n = s.pos.length;
  const short = new Uint8Array(n);
  // cum[j]: bytes saved by jumps before site j; cum[n]: total.
  const cum = new Int32Array(n + 1);
  const savedBefore = (pos: number): number => {
    // jumps whose long form starts before pos (binary search: sites are sorted by pos)
    return cum[sitesBefore(s.pos, pos)];
  };
  // Site index of each jump's target (sites before it): fixed, since sites never move in the
  // long layout; the bytes saved before the target are then cum[tIdx[j]] in any iteration.
  const tIdx = new Int32Array(n);
  for (let j = 0; j < n; j++) tIdx[j] = sitesBefore(s.pos, s.target[j]);
  const prefix = () => {
    for (let j = 0; j < n; j++) cum[j + 1] = cum[j] + (short[j] ? saving(s.cc[j]) : 0);
  };

  for (let changed = n > 0; changed;) {
    changed = false;
    prefix();
    for (let j = 0; j < n; j++) {
      if (short[j]) continue;
      const start = s.pos[j] - cum[j];
      const t = s.target[j] - cum[tIdx[j]];
      if (fitsS8(t - (start + 2))) {
        short[j] = 1;
        changed = true;
      }
    }
  }
  prefix();

  // Compact in place: every byte moves left (or stays), and a jump's final form is written
  // over bytes already consumed or over its own long form, so nothing unread is overwritten.
  // copyWithin is a builtin memmove, with no allocation per segment.
  let from = 0, to = 0;
  for (let j = 0; j < n; j++) {
    const p = s.pos[j];
    if (to !== from) src.copyWithin(to, from, p);
    to += p - from;
    const cc = s.cc[j];
    const t = s.target[j] - cum[tIdx[j]];
    if (short[j]) {
      src[to] = cc < 0 ? 0xeb : 0x70 | cc;
      src[to + 1] = (t - (to + 2)) & 0xff;
      to += 2;
    } else {
      const l = longLen(cc);
      if (cc < 0) src[to] = 0xe9;
      else {
        src[to] = 0x0f;
        src[to + 1] = 0x80 | cc;
      }
      src.writeInt32LE(t - (to + l), to + l - 4);
      to += l;
    }
    from = p + longLen(cc);
  }
  if (to !== from) src.copyWithin(to, from, len);
  to += len - from;
  const out = Buffer.allocUnsafe(to);
  src.copy(out, 0, 0, to);

  const mapOffset = (pos: number): number => pos - savedBefore(pos);
  for (let c = 0; c < s.callPos.length; c++) {
    const at = mapOffset(s.callPos[c]);
    out.writeInt32LE(mapOffset(s.callTarget[c]) - (at + 5), at + 1);
  }
  const mapSorted = (offsets: Int32Array): void => {
    let j = 0;
    for (let k = 0; k < offsets.length; k++) {
      while (j < n && s.pos[j] < offsets[k]) j++;
      offsets[k] -= cum[j];
    }
  };
  return { code: out, mapOffset, mapSorted };
}
