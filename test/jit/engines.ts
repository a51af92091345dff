// The two engines the JIT tests compare, behind typed wrappers: the interpreter (addon vmRun)
// and JIT output loaded by the native loader (addon jitRun).
import { addon } from '../../src-ts/native/addon';
import { JitCode, JitReloc } from '../../src-ts/jit';

export interface RunResult {
  ok: boolean;
  r0: bigint;
  ns: number;
  mem?: Buffer;
  error?: string;
  errno?: number;
}

export type TestReloc = JitReloc & { value?: bigint };

export const vmRun = addon.vmRun as (insns: Buffer, mem: Buffer | null, opts?: { budget?: number; repeat?: number }) => RunResult;
export const vmCheck = addon.vmCheck as (insns: Buffer) => { ok: boolean; log: string; errno?: number };
export const jitRunRaw = addon.jitRun as (
  code: Buffer, relocs: readonly TestReloc[] | null, mem: Buffer | null, opts?: { repeat?: number; blob?: boolean },
) => RunResult;

export function jitRun(out: JitCode, mem: Buffer | null, opts?: { repeat?: number }): RunResult {
  return jitRunRaw(out.code, out.relocs, mem, opts);
}

/** The JIT emits x86-64 only; elsewhere its tests skip. */
export const JIT_HOST = process.arch === 'x64';
