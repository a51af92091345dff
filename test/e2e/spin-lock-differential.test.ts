// The kernel as oracle for struct bpf_spin_lock in map values: test/programs/helpers/spin_lock
// (a libbpf tool with clang-compiled maps whose values hold a lock) makes BPF_F_LOCK lookups and
// updates on arrays and hashes, creates maps the kernel refuses for a lock, and runs an XDP
// program that bumps counters under bpf_spin_lock 1000 times (BPF_PROG_TEST_RUN). It runs once
// under the shim and once on the kernel; the outputs must be identical.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { bpftimeEnv, haveCommand, root, shimLib, stopServer, tmpRuntimeDir } from './harness';

const srcDir = path.join(root, 'test', 'programs', 'helpers');
const missing = ['clang', 'bpftool', 'cc'].filter((c) => !haveCommand(c));

function build(dir: string): string {
  const obj = path.join(dir, 'spin_lock.bpf.o');
  const multiarch = execFileSync('cc', ['-print-multiarch'], { encoding: 'utf8' }).trim() || 'x86_64-linux-gnu';
  execFileSync('clang', ['-target', 'bpf', '-O2', '-g', '-Wall', '-I/usr/include', `-I/usr/include/${multiarch}`,
    '-c', path.join(srcDir, 'spin_lock.bpf.c'), '-o', obj]);
  fs.writeFileSync(path.join(dir, 'spin_lock.skel.h'), execFileSync('bpftool', ['gen', 'skeleton', obj, 'name', 'spin_lock_bpf']));
  const bin = path.join(dir, 'spin_lock');
  execFileSync('cc', ['-O2', '-g', '-I', dir, path.join(srcDir, 'spin_lock.c'), '-o', bin, '-lbpf', '-lelf', '-lz']);
  return bin;
}

test('BPF_F_LOCK and bpf_spin_lock answer as the kernel does', { skip: missing.length > 0 && `missing ${missing.join(', ')}`, timeout: 90000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = build(dir);
  const shim = spawnSync(bin, [], { env: { ...bpftimeEnv(dir), LD_PRELOAD: shimLib }, encoding: 'utf8', timeout: 60000 });
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stdout + shim.stderr);
  // What must hold whatever the kernel does.
  const lines = shim.stdout.split('\n');
  for (const l of [
    'array lookup F_LOCK: a=5 lock=0 b=6',
    'plain update F_LOCK: EINVAL',
    'hash update F_LOCK|NOEXIST again: EEXIST',
    'hash lookup_and_delete F_LOCK: a=8 lock=0 b=6',
    'create lru_hash with a lock: EOPNOTSUPP',
    'after 1000 runs: a=1020 lock=0 b=2021', // from the batch-written 20 and 21
    'array update batch F_LOCK: ok',
    'plain lookup batch F_LOCK: EINVAL',
  ]) assert.ok(lines.includes(l), `missing "${l}" in:\n${shim.stdout}`);
  const kernel = spawnSync(bin, [], { encoding: 'utf8', timeout: 60000 });
  if (!kernel.stdout.startsWith('load: ok')) {
    t.skip(`kernel path unavailable (${kernel.stdout.split('\n')[0]}): shim output not compared`);
    return;
  }
  assert.deepEqual(lines, kernel.stdout.split('\n'));
  fs.rmSync(dir, { recursive: true, force: true });
});
