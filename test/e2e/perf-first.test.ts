// The first perf buffer event after a tool opens its buffer is delivered (issues 4, 7, 8): a libbpf
// loader (test/programs/perf_first.c) attaches a uprobe to a victim that already runs under
// `bpftime start`, then opens its perf buffer (PERF_EVENT_ARRAY updates, after the attach as in
// libbpf-tools' javagc), then signals the victim at once, which calls the probed function once.
// The map update answers only once every agent has the buffer in its slot table, so that one
// event must arrive, every round. The same loader on the kernel is the reference.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, haveCommand, isRoot, root, stopServer, tmpRuntimeDir } from './harness';

const progs = path.join(root, 'test', 'programs');
const skip = (!haveCommand('clang') || !haveCommand('cc') || !fs.existsSync('/usr/include/bpf/libbpf.h')) && 'needs clang, cc and libbpf-dev';
const ROUNDS = 15;

function build(dir: string): void {
  const multiarch = execFileSync('cc', ['-print-multiarch'], { encoding: 'utf8' }).trim();
  execFileSync('clang', ['-target', 'bpf', '-O2', '-g', '-D__TARGET_ARCH_x86', `-I/usr/include/${multiarch}`, '-c',
    path.join(progs, 'perf_first.bpf.c'), '-o', path.join(dir, 'perf_first.bpf.o')]);
  execFileSync('cc', ['-O1', '-o', path.join(dir, 'perf_first'), path.join(progs, 'perf_first.c'), '-lbpf', '-lelf', '-lz']);
  execFileSync('cc', ['-O0', '-o', path.join(dir, 'perf_first_victim'), path.join(progs, 'perf_first_victim.c')]);
}

/** ROUNDS loader runs against one running victim; what each printed. */
async function rounds(dir: string, underShim: boolean): Promise<string[]> {
  const env = bpftimeEnv(dir);
  const victimBin = path.join(dir, 'perf_first_victim');
  const victim = underShim ? new Proc(process.execPath, [cli, 'start', victimBin], env) : new Proc(victimBin, [], env);
  const got: string[] = [];
  try {
    const pid = (await victim.waitFor(/ready pid=(\d+)/, 20000))[1];
    for (let i = 1; i <= ROUNDS; i++) {
      const args = [path.join(dir, 'perf_first.bpf.o'), victimBin, pid];
      const loader = underShim ? new Proc(process.execPath, [cli, 'load', path.join(dir, 'perf_first'), ...args], env)
        : new Proc(path.join(dir, 'perf_first'), args, env);
      await loader.waitFor(/^(got seq=\d+|missed)$/m, 30000);
      await loader.stop('SIGTERM');
      await victim.waitFor(new RegExp(`^fired ${i}$`, 'm'), 10000);
      got.push((loader.out.match(/^(got seq=\d+|missed)$/m) ?? [''])[0]);
    }
  } finally {
    await victim.stop('SIGKILL');
  }
  return got;
}

const expected = Array.from({ length: ROUNDS }, (_, i) => `got seq=${i + 1}`);

test('the first event after a perf buffer is opened reaches the tool, every round', { skip, timeout: 240000 }, async (t) => {
  const dir = tmpRuntimeDir();
  try {
    build(dir);
    assert.deepEqual(await rounds(dir, true), expected);
    if (!isRoot) return t.diagnostic('kernel reference skipped: not root');
    assert.deepEqual(await rounds(dir, false), expected);
  } finally {
    stopServer(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
