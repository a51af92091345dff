// The two engines the JIT tests compare, behind typed wrappers: the interpreter (addon vmRun)
// and JIT output loaded by the native loader (addon jitRun).
import { addon } from '../../src-ts/native/addon';
import { JitCode, JitReloc } from '../../src-ts/jit';
import { JIT_RELOC_KIND } from '../../src-ts/jit/types';
import { BPF_PSEUDO_FUNC } from '../../src-ts/uapi/bpf';

export interface RunResult {
  ok: boolean;
  r0: bigint;
  ns: number;
  mem?: Buffer;
  error?: string;
  errno?: number;
}

export type TestReloc = JitReloc & { value?: bigint };

const vmRunRaw = addon.vmRun as (insns: Buffer, mem: Buffer | null, opts?: { budget?: number; repeat?: number }) => RunResult;

/** The instructions as the agent's loader hands them to the interpreter: callback pointers
 * (BPF_PSEUDO_FUNC ld_imm64) hold the callee's absolute instruction index instead of the
 * kernel's offset from the next instruction (core/vm/prog_image.c). */
export function forInterpreter(insns: Buffer): Buffer {
  const out = Buffer.from(insns);
  for (let o = 0; o + 16 <= out.length; o += 8) {
    if (out[o] !== 0x18) continue;
    if (out[o + 1] >> 4 === BPF_PSEUDO_FUNC) {
      out.writeInt32LE(o / 8 + 1 + out.readInt32LE(o + 4), o + 4);
      out.writeInt32LE(0, o + 12);
    }
    o += 8;
  }
  return out;
}

export const vmRun = (insns: Buffer, mem: Buffer | null, opts?: { budget?: number; repeat?: number }): RunResult =>
  vmRunRaw(forInterpreter(insns), mem, opts);
export const vmCheck = addon.vmCheck as (insns: Buffer) => { ok: boolean; log: string; errno?: number };
export const jitRunRaw = addon.jitRun as (
  code: Buffer, relocs: readonly TestReloc[] | null, mem: Buffer | null, opts?: { repeat?: number; blob?: boolean },
) => RunResult;

export function jitRun(out: JitCode, mem: Buffer | null, opts?: { repeat?: number }): RunResult {
  // Kinds by number: the loader resolves code and tail-call relocations itself.
  const relocs = out.relocs.map((r) => ({ ...r, kind: JIT_RELOC_KIND[r.kind] })) as unknown as TestReloc[];
  return jitRunRaw(out.code, relocs, mem, opts);
}

/** The JIT emits x86-64 only; elsewhere its tests skip. */
export const JIT_HOST = process.arch === 'x64';
