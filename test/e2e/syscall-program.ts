// What the differential tests of a C program making bpf(2) and file calls itself (no libbpf)
// share: building test/programs/<name>.c, running it under the shim against the runtime's
// /sys/fs/bpf, and running it on the kernel against a bpf filesystem mounted for the run alone.
import { TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import { SpawnSyncReturns, execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { bpftimeEnv, root, shimLib, stopServer } from './harness';

/** Compiles test/programs/<name>.c into dir/<name> (extra: more cc arguments, e.g. libraries). */
export function buildSyscallProgram(name: string, dir: string, extra: string[] = []): string {
  const bin = path.join(dir, name);
  execFileSync('cc', ['-O1', '-g', '-o', bin, path.join(root, 'test', 'programs', `${name}.c`), ...extra]);
  return bin;
}

/** Runs bin (with the bpf directory as its argument by default) under the shim with the server of runtime dir rt. */
export function runSyscallProgramUnderShim(bin: string, rt: string, timeout: number, args = ['/sys/fs/bpf']): SpawnSyncReturns<string> {
  return spawnSync(bin, args, { env: { ...bpftimeEnv(rt), LD_PRELOAD: shimLib }, encoding: 'utf8', timeout });
}

/**
 * Mounts a bpf filesystem at dir/bpffs, calls run with it and unmounts it. Where it cannot be
 * mounted (not root) the kernel run is impossible: skips the test and returns undefined.
 */
export function withPrivateBpffs<T>(t: TestContext, dir: string, run: (bpffs: string) => T): T | undefined {
  const bpffs = path.join(dir, 'bpffs');
  fs.mkdirSync(bpffs);
  if (spawnSync('mount', ['-t', 'bpf', 'bpf', bpffs]).status !== 0) {
    t.skip('cannot mount a bpf filesystem for the kernel run (not root?): shim output not compared');
    return undefined;
  }
  try {
    return run(bpffs);
  } finally {
    spawnSync('umount', [bpffs]);
  }
}

/** Runs bin on the kernel against a private bpf mount (see withPrivateBpffs). */
export function runSyscallProgramOnKernel(t: TestContext, bin: string, dir: string, timeout: number): SpawnSyncReturns<string> | undefined {
  return withPrivateBpffs(t, dir, (bpffs) => spawnSync(bin, [bpffs], { encoding: 'utf8', timeout }));
}

/**
 * Runs bin without arguments on the kernel and asserts its stdout equals shimStdout line by line.
 * Skips the test only when the kernel run does not print its first line, ready (no kernel BPF
 * here: not root, or BPF disabled).
 */
export function assertSameOnKernel(t: TestContext, bin: string, shimStdout: string, ready: string, timeout: number): void {
  const kernel = spawnSync(bin, [], { encoding: 'utf8', timeout });
  if (!kernel.stdout.startsWith(ready)) {
    t.skip(`kernel path unavailable (${kernel.stdout.split('\n')[0]}): shim output not compared`);
    return;
  }
  assert.deepEqual(shimStdout.split('\n'), kernel.stdout.split('\n'));
}
