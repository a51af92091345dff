// What the differential tests of a libbpf program share: building test/programs/<name>.bpf.c
// with clang and its loader <name>.c against libbpf, and running the loader under the shim (with
// the JIT, or the interpreter: BPFTIME_JIT=0) in a runtime dir of its own, and comparing its output
// with the same loader's on the kernel.
import { TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import { SpawnSyncReturns, execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { bpftimeEnv, cli, haveCommand, isRoot, root, shimLib, stopServer, tmpRuntimeDir } from './harness';

const programs = path.join(root, 'test', 'programs');

/** clang, cc and libbpf's headers: what building such a program needs. */
export const haveLibbpfTools = haveCommand('clang') && haveCommand('cc') && fs.existsSync('/usr/include/bpf/libbpf.h');

/** Compiles test/programs/<name>.bpf.c with clang into out/<name>.bpf.o. */
export function buildBpfObject(name: string, out: string): string {
  const multiarch = execFileSync('cc', ['-print-multiarch'], { encoding: 'utf8' }).trim();
  const obj = path.join(out, `${name}.bpf.o`);
  execFileSync('clang', ['-target', 'bpf', '-O2', '-g', '-Wall', '-D__TARGET_ARCH_x86', `-I/usr/include/${multiarch}`,
    '-c', path.join(programs, `${name}.bpf.c`), '-o', obj]);
  return obj;
}

/** Compiles test/programs/<name>.c into out/<name>, linked against libbpf when it needs it. */
export function buildUserProgram(name: string, out: string, libbpf = true): string {
  const bin = path.join(out, name);
  execFileSync('cc', ['-O1', '-g', '-Wall', '-o', bin, path.join(programs, `${name}.c`), ...(libbpf ? ['-lbpf', '-lelf', '-lz'] : [])]);
  return bin;
}

/** Builds <name>.bpf.c and <name>.c of test/programs into the directory out. */
export function buildLibbpfProgram(name: string, out: string): { bin: string; obj: string } {
  return { obj: buildBpfObject(name, out), bin: buildUserProgram(name, out) };
}

/** A libbpf loader that attaches to a victim it starts itself (tailcall_victim.c). */
export interface VictimLoader { obj: string; loader: string; victim: string }

/** Builds <bpfName>.bpf.c, the loader <loaderName>.c and tailcall_victim.c into out. */
export function buildVictimLoader(bpfName: string, loaderName: string, out: string): VictimLoader {
  return { obj: buildBpfObject(bpfName, out), loader: buildUserProgram(loaderName, out), victim: buildUserProgram('tailcall_victim', out, false) };
}

/**
 * Runs a victim loader under the shim: it starts its victim with `bpftime start`, so the program
 * runs in the victim's agent, not in the loader.
 */
export function runVictimLoaderUnderShim(b: VictimLoader, jit: boolean, opts: ShimRunOptions = {}, obj = b.obj): SpawnSyncReturns<string> {
  return runUnderShim(b.loader, [obj, b.victim, process.execPath, cli, 'start'], jit, opts);
}

/** Extra environment and a time limit for a run under the shim. */
export interface ShimRunOptions { env?: Record<string, string>; timeout?: number }

/** Runs bin under the shim with a server of its own, to completion. */
export function runUnderShim(bin: string, args: string[], jit: boolean, opts: ShimRunOptions = {}): SpawnSyncReturns<string> {
  const rt = tmpRuntimeDir(); // a server per run: a stopped one may still be exiting when the next starts
  const env = { ...bpftimeEnv(rt), LD_PRELOAD: shimLib, ...(jit ? {} : { BPFTIME_JIT: '0' }), ...opts.env };
  try {
    return spawnSync(bin, args, { env, encoding: 'utf8', timeout: opts.timeout ?? 60000 });
  } finally {
    stopServer(rt);
  }
}

/**
 * Runs bin with args on the kernel and asserts its stdout equals shimStdout line by line. Skips
 * the test (returning false) only when the kernel run does not get going: a non-zero exit, or
 * stdout not starting with ready (the loader's first line once the kernel took its programs).
 */
export function assertSameOnKernel(t: TestContext, bin: string, args: string[], shimStdout: string, ready: string, headLines = 1, env: Record<string, string> = {}): boolean {
  const kernel = spawnSync(bin, args, { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60000 });
  if (kernel.status !== 0 || !kernel.stdout.startsWith(ready)) {
    t.skip(`kernel path unavailable (${(kernel.stdout || kernel.stderr).split('\n').slice(0, headLines).join(' ')}): shim output not compared`);
    return false;
  }
  assert.deepEqual(shimStdout.split('\n'), kernel.stdout.split('\n'));
  return true;
}

/**
 * Runs a victim loader under the shim with the interpreter and with the JIT (their outputs must be
 * identical), checks that output, and compares it with the loader's run on the kernel (stdout
 * starting with ready says the kernel took the programs). env goes to every run. Returns the
 * shim's output.
 */
export function victimLoaderEverywhere(t: TestContext, b: VictimLoader, check: (out: string) => void, ready: string, opts: ShimRunOptions = {}): string {
  const outputs = [false, true].map((jit) => {
    const r = runVictimLoaderUnderShim(b, jit, opts);
    assert.equal(r.status, 0, `${r.stdout}\n${r.stderr.slice(-3000)}`);
    check(r.stdout);
    return r.stdout;
  });
  assert.equal(outputs[1], outputs[0], 'JIT and interpreter differ');
  if (!isRoot) t.skip('not root: kernel output not compared');
  else assertSameOnKernel(t, b.loader, [b.obj, b.victim], outputs[0], ready, 1, opts.env);
  return outputs[0];
}
