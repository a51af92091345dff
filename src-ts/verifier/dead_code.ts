// Rewrites a program once its reachable instructions are known, in the three steps the kernel's
// verifier takes for a privileged loader (kernel/bpf/verifier.c, after do_check):
//   1. a conditional jump one of whose successors is never reached becomes `ja` to the other
//      (`ja +off` when it is always taken, `ja +0` when never);
//   2. every unreached instruction is removed, jumps and calls across it shortened;
//   3. every `ja +0` left (from step 1 or from the program) is removed the same way.
// So `bpftool prog dump xlated` shows the program the kernel would show, and poisoned
// instructions in dead code are gone before the JIT sees them. Instruction indexes move, so the
// map relocations made at load are renumbered too.
import * as U from '../uapi/bpf';
import { Reloc } from '../kernel/prog';

const LD_IMM64 = U.BPF_LD | U.BPF_IMM | U.BPF_DW;
const BPF_JCOND = 0xe0;

export interface DeadCodeResult {
  insns: Buffer;
  relocs: Reloc[];
  /** Instructions removed in all. */
  removed: number;
}

function isCondJump(code: number): boolean {
  const cls = code & 0x07;
  const op = code & 0xf0;
  if (cls === U.BPF_JMP32) return op !== U.BPF_JA;
  if (cls !== U.BPF_JMP) return false;
  return op !== U.BPF_JA && op !== U.BPF_EXIT && op !== U.BPF_CALL;
}

function isNop(insns: Buffer, i: number): boolean {
  const o = i * 8;
  return insns[o] === (U.BPF_JMP | U.BPF_JA) && insns[o + 1] === 0 && insns.readInt16LE(o + 2) === 0 && insns.readInt32LE(o + 4) === 0;
}

/** Where the relative target of instruction i lives: 'off' (jumps), 'imm' (gotol, pseudo
 * calls, ld_imm64 of a function), or null. */
function targetField(insns: Buffer, i: number): 'off' | 'imm' | null {
  const o = i * 8;
  const code = insns[o];
  const cls = code & 0x07;
  const src = insns[o + 1] >> 4;
  if (code === LD_IMM64) return src === U.BPF_PSEUDO_FUNC ? 'imm' : null;
  if (cls !== U.BPF_JMP && cls !== U.BPF_JMP32) return null;
  const op = code & 0xf0;
  if (op === U.BPF_EXIT) return null;
  if (op === U.BPF_CALL) return src === U.BPF_PSEUDO_CALL ? 'imm' : null;
  if (op === U.BPF_JA && cls === U.BPF_JMP32) return 'imm';
  if (op === BPF_JCOND || op === U.BPF_JA || isCondJump(code)) return 'off';
  return null;
}

/** Drops the instructions with keep[i] = 0. A jump keeps its target; one whose target is
 * removed now lands on the next instruction kept, as the kernel's bpf_adj_branches() does. */
function removeInsns(insns: Buffer, keep: Uint8Array, relocs: Reloc[]): { insns: Buffer; relocs: Reloc[] } {
  const n = insns.length / 8;
  const newIdx = new Int32Array(n + 1);
  let k = 0;
  for (let i = 0; i < n; i++) {
    newIdx[i] = k;
    if (keep[i]) k++;
  }
  newIdx[n] = k;
  const out = Buffer.alloc(k * 8);
  for (let i = 0; i < n; i++) {
    if (!keep[i]) continue;
    const o = newIdx[i] * 8;
    insns.copy(out, o, i * 8, i * 8 + 8);
    const field = targetField(insns, i);
    if (!field) continue;
    const rel = field === 'off' ? insns.readInt16LE(i * 8 + 2) : insns.readInt32LE(i * 8 + 4);
    const target = Math.min(Math.max(i + 1 + rel, 0), n);
    const moved = newIdx[target] - newIdx[i] - 1;
    if (field === 'off') out.writeInt16LE(moved, o + 2);
    else out.writeInt32LE(moved, o + 4);
  }
  return { insns: out, relocs: relocs.filter((r) => keep[r.insnIdx]).map((r) => ({ ...r, insnIdx: newIdx[r.insnIdx] })) };
}

export function eliminateDeadCode(insns: Buffer, seen: Uint8Array, relocs: Reloc[]): DeadCodeResult {
  const n = insns.length / 8;
  // The common case: everything runs and nothing is a no-op jump; then there is nothing to do.
  let clean = true;
  for (let i = 0; i < n && clean; i++) if (!seen[i] || isNop(insns, i)) clean = false;
  if (clean) return { insns, relocs, removed: 0 };
  const wired = Buffer.from(insns);
  // 1. Hard-wire the branches that only ever go one way.
  for (let i = 0; i < n; i++) {
    const o = i * 8;
    if (!seen[i] || !isCondJump(wired[o])) continue;
    const off = wired.readInt16LE(o + 2);
    let ja: number;
    if (i + 1 < n && !seen[i + 1]) ja = off;
    else if (i + 1 + off >= 0 && i + 1 + off < n && !seen[i + 1 + off]) ja = 0;
    else continue;
    wired.fill(0, o, o + 8);
    wired[o] = U.BPF_JMP | U.BPF_JA;
    wired.writeInt16LE(ja, o + 2);
  }
  // 2. Remove what never runs.
  const step2 = removeInsns(wired, seen, relocs);
  // 3. Remove the no-op jumps.
  const m = step2.insns.length / 8;
  const keep = new Uint8Array(m).fill(1);
  for (let i = 0; i < m; i++) if (isNop(step2.insns, i)) keep[i] = 0;
  const step3 = removeInsns(step2.insns, keep, step2.relocs);
  return { ...step3, removed: n - step3.insns.length / 8 };
}

/** The kernel's sanitize_dead_code(): every unreached instruction becomes `ja -1`, so whatever
 * libbpf poisoned there no longer fails the per-instruction checks, and nothing can run on from
 * it. Kept as they are: jumps whose target is outside the program, so that the structural checks
 * still refuse them as the kernel's CFG check does, dead or not. */
export function neutraliseDeadCode(insns: Buffer, seen: Uint8Array): void {
  const n = insns.length / 8;
  for (let i = 0; i < n; i++) {
    if (seen[i]) continue;
    const field = targetField(insns, i);
    if (field && insns[i * 8] !== LD_IMM64) {
      const rel = field === 'off' ? insns.readInt16LE(i * 8 + 2) : insns.readInt32LE(i * 8 + 4);
      if (i + 1 + rel < 0 || i + 1 + rel >= n) continue;
    }
    insns.fill(0, i * 8, i * 8 + 8);
    insns[i * 8] = U.BPF_JMP | U.BPF_JA;
    insns.writeInt16LE(-1, i * 8 + 2);
  }
}
