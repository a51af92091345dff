// libbpf's pinning under the shim, against the kernel: test/programs/pin_by_name.c loads
// pin_by_name.bpf.o three times; the LIBBPF_PIN_BY_NAME map is pinned by the first load and
// reused by the second (it reads what the first wrote), bpf_object__pin_maps and
// bpf_object__unpin_maps pin and remove every map. The kernel run uses a private bpf mount, the
// shim run the runtime's /sys/fs/bpf; the lines must be the same.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { bpftimeEnv, haveCommand, root, shimLib, stopServer, tmpRuntimeDir } from './harness';

const progs = path.join(root, 'test', 'programs');
const skip = (!haveCommand('clang') || !haveCommand('cc') || !fs.existsSync('/usr/include/bpf/libbpf.h')) && 'needs clang, cc and libbpf-dev';

function multiarch(): string {
  try {
    return execFileSync('cc', ['-print-multiarch'], { encoding: 'utf8' }).trim();
  } catch {
    return 'x86_64-linux-gnu';
  }
}

function runAll(bin: string, obj: string, pinRoot: string, env?: NodeJS.ProcessEnv): string {
  let out = '';
  for (const step of ['first', 'second', 'cleanup']) {
    const r = spawnSync(bin, [obj, pinRoot, step], { env, encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 0, `${step}: ${r.stdout}${r.stderr}`);
    out += r.stdout;
  }
  return out;
}

test('libbpf pins maps by name and reuses them, pin_maps/unpin_maps, as on the kernel', { skip, timeout: 90000 }, (t) => {
  const dir = tmpRuntimeDir();
  const obj = path.join(dir, 'pin_by_name.bpf.o');
  const bin = path.join(dir, 'pin_by_name');
  execFileSync('clang', ['-target', 'bpf', '-O2', '-g', `-I/usr/include/${multiarch()}`, '-c', path.join(progs, 'pin_by_name.bpf.c'), '-o', obj]);
  execFileSync('cc', ['-O1', '-g', '-o', bin, path.join(progs, 'pin_by_name.c'), '-lbpf', '-lelf', '-lz']);
  let shim: string;
  try {
    shim = runAll(bin, obj, '/sys/fs/bpf', { ...bpftimeEnv(dir), LD_PRELOAD: shimLib });
  } finally {
    stopServer(dir);
  }
  assert.match(shim, /second: shared value found: 42\n/, 'the second load reused the pinned map');

  const bpffs = path.join(dir, 'bpffs');
  fs.mkdirSync(bpffs);
  if (spawnSync('mount', ['-t', 'bpf', 'bpf', bpffs]).status !== 0) {
    t.skip('cannot mount a bpf filesystem for the kernel run (not root?): shim output not compared');
    return;
  }
  let kernel: string;
  try {
    const probe = spawnSync(bin, [obj, bpffs, 'first'], { encoding: 'utf8', timeout: 30000 });
    if (/^first: (open|load): /m.test(probe.stdout)) {
      t.skip(`the kernel cannot load the object here (${probe.stdout.trim()}): shim output not compared`);
      return;
    }
    for (const f of ['shared', 'plain']) fs.rmSync(path.join(bpffs, f), { force: true });
    kernel = runAll(bin, obj, bpffs);
  } finally {
    spawnSync('umount', [bpffs]);
  }
  assert.deepEqual(shim.split('\n'), kernel.split('\n'));
  fs.rmSync(dir, { recursive: true, force: true });
});
