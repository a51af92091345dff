// bpf_spin_lock across processes: a clang-compiled uprobe program does a read-modify-write of
// two counters in one map value under the value's lock; three victims under `bpftime start`,
// three threads each, hit it at once. Only a lock shared by every process keeps the counts exact.
// (A kernel refuses locks in tracing programs, "tracing progs cannot use bpf_spin_lock yet":
// there is nothing to compare with, the counts are the oracle.)
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, haveCommand, root, shimLib, stopServer, tmpRuntimeDir } from './harness';

const srcDir = path.join(root, 'test', 'programs', 'helpers');
const missing = ['clang', 'bpftool', 'cc'].filter((c) => !haveCommand(c));

function build(dir: string): { loader: string; victim: string } {
  const obj = path.join(dir, 'spin_lock_uprobe.bpf.o');
  const multiarch = execFileSync('cc', ['-print-multiarch'], { encoding: 'utf8' }).trim() || 'x86_64-linux-gnu';
  execFileSync('clang', ['-target', 'bpf', '-O2', '-g', '-Wall', '-I/usr/include', `-I/usr/include/${multiarch}`,
    '-c', path.join(srcDir, 'spin_lock_uprobe.bpf.c'), '-o', obj]);
  fs.writeFileSync(path.join(dir, 'spin_lock_uprobe.skel.h'), execFileSync('bpftool', ['gen', 'skeleton', obj, 'name', 'spin_lock_uprobe_bpf']));
  const loader = path.join(dir, 'spin_lock_uprobe');
  const victim = path.join(dir, 'spin_victim');
  execFileSync('cc', ['-O2', '-g', '-I', dir, path.join(srcDir, 'spin_lock_uprobe.c'), '-o', loader, '-lbpf', '-lelf', '-lz']);
  execFileSync('cc', ['-O2', '-g', path.join(srcDir, 'spin_victim.c'), '-o', victim, '-lpthread']);
  return { loader, victim };
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} exited ${code}: ${out}`))));
  });
}

test('bpf_spin_lock keeps counters exact across processes and threads', { skip: missing.length > 0 && `missing ${missing.join(', ')}`, timeout: 120000 }, async () => {
  const dir = tmpRuntimeDir();
  const { loader, victim } = build(dir);
  const env = bpftimeEnv(dir);
  const l = new Proc(loader, [victim], { ...env, LD_PRELOAD: shimLib }, { stdin: true });
  try {
    await l.waitFor(/^ready$/m, 30000);
    const calls = 500000, threads = 3, procs = 3; // ~1 s of overlapping hits: without the lock, updates are lost
    const outs = await Promise.all(Array.from({ length: procs }, () => run(process.execPath, [cli, 'start', victim, String(calls), String(threads)], env)));
    for (const o of outs) assert.match(o, /done/);
    const from = l.out.length;
    l.write('show\n');
    const m = await l.waitFor(/a=(\d+) b=(\d+) lock=(\d+)/, 10000, from);
    const total = calls * threads * procs;
    assert.deepEqual([Number(m[1]), Number(m[2]), Number(m[3])], [total, 2 * total, 0]);
  } finally {
    l.child.stdin?.end();
    await l.stop();
    stopServer(dir);
  }
  fs.rmSync(dir, { recursive: true, force: true });
});
