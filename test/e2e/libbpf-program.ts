// What the differential tests of a libbpf program share: building test/programs/<name>.bpf.c
// with clang and its loader <name>.c against libbpf, and running the loader under the shim (with
// the JIT, or the interpreter: BPFTIME_JIT=0) in a runtime dir of its own, and comparing its output
// with the same loader's on the kernel.
import { TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import { SpawnSyncReturns, execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { bpftimeEnv, haveCommand, root, shimLib, stopServer, tmpRuntimeDir } from './harness';

const programs = path.join(root, 'test', 'programs');

/** clang, cc and libbpf's headers: what building such a program needs. */
export const haveLibbpfTools = haveCommand('clang') && haveCommand('cc') && fs.existsSync('/usr/include/bpf/libbpf.h');

/** Builds <name>.bpf.c and <name>.c of test/programs into the directory out. */
export function buildLibbpfProgram(name: string, out: string): { bin: string; obj: string } {
  const multiarch = execFileSync('cc', ['-print-multiarch'], { encoding: 'utf8' }).trim();
  const obj = path.join(out, `${name}.bpf.o`);
  const bin = path.join(out, name);
  execFileSync('clang', ['-target', 'bpf', '-O2', '-g', '-Wall', '-D__TARGET_ARCH_x86', `-I/usr/include/${multiarch}`,
    '-c', path.join(programs, `${name}.bpf.c`), '-o', obj]);
  execFileSync('cc', ['-O1', '-g', '-Wall', '-o', bin, path.join(programs, `${name}.c`), '-lbpf', '-lelf', '-lz']);
  return { bin, obj };
}

/** Runs bin under the shim with a server of its own, to completion. */
export function runUnderShim(bin: string, args: string[], jit: boolean): SpawnSyncReturns<string> {
  const rt = tmpRuntimeDir();
  const env = { ...bpftimeEnv(rt), LD_PRELOAD: shimLib, ...(jit ? {} : { BPFTIME_JIT: '0' }) };
  try {
    return spawnSync(bin, args, { env, encoding: 'utf8', timeout: 60000 });
  } finally {
    stopServer(rt);
  }
}

/**
 * Runs bin with args on the kernel and asserts its stdout equals shimStdout line by line. Skips
 * the test (returning false) only when the kernel run does not get going: a non-zero exit, or
 * stdout not starting with ready (the loader's first line once the kernel took its programs).
 */
export function assertSameOnKernel(t: TestContext, bin: string, args: string[], shimStdout: string, ready: string, headLines = 1): boolean {
  const kernel = spawnSync(bin, args, { encoding: 'utf8', timeout: 60000 });
  if (kernel.status !== 0 || !kernel.stdout.startsWith(ready)) {
    t.skip(`kernel path unavailable (${(kernel.stdout || kernel.stderr).split('\n').slice(0, headLines).join(' ')}): shim output not compared`);
    return false;
  }
  assert.deepEqual(shimStdout.split('\n'), kernel.stdout.split('\n'));
  return true;
}
