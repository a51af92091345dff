// The kernel as oracle for file operations on a bpf filesystem: test/programs/bpffs_calls.c
// (mkdir, the stat family, readdir and getdents64, open, access, xattrs, rename, unlink/rmdir,
// reserved names, and a pinned map freed when its last pin goes) runs on a private bpf mount of
// the kernel, under the shim in the runtime's /sys/fs/bpf, and under the shim on that same real
// mount (real directories, the runtime's pins), and must print the same lines each time.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { haveCommand, root, shimLib, stopServer, tmpRuntimeDir, bpftimeEnv } from './harness';

const src = path.join(root, 'test', 'programs', 'bpffs_calls.c');

test('bpffs file operations answer as the kernel does', { skip: !haveCommand('cc') && 'no C compiler', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = path.join(dir, 'bpffs_calls');
  execFileSync('cc', ['-O1', '-g', '-o', bin, src]);
  const shim = spawnSync(bin, ['/sys/fs/bpf'], { env: { ...bpftimeEnv(dir), LD_PRELOAD: shimLib }, encoding: 'utf8', timeout: 30000 });
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stderr);
  assert.match(shim.stdout, /^bpf available: ok\n/);
  assert.match(shim.stdout, /\nmap freed after unlink: 1\n/);
  assert.match(shim.stdout, /\nrmdir: ok\n/);

  const bpffs = path.join(dir, 'bpffs');
  fs.mkdirSync(bpffs);
  if (spawnSync('mount', ['-t', 'bpf', 'bpf', bpffs]).status !== 0) {
    t.skip('cannot mount a bpf filesystem for the kernel run (not root?): shim output not compared');
    return;
  }
  let kernel;
  let shimOnMount;
  try {
    kernel = spawnSync(bin, [bpffs], { encoding: 'utf8', timeout: 30000 });
    // The same under the shim on the real mount: its directories are the kernel's, the pins the
    // runtime's, and the tool cannot tell.
    shimOnMount = spawnSync(bin, [bpffs], { env: { ...bpftimeEnv(dir), LD_PRELOAD: shimLib }, encoding: 'utf8', timeout: 30000 });
    stopServer(dir);
  } finally {
    spawnSync('umount', [bpffs]);
  }
  if (!kernel.stdout.startsWith('bpf available: ok')) {
    t.skip(`kernel path unavailable (${kernel.stdout.split('\n')[0]}): shim output not compared`);
    return;
  }
  assert.equal(kernel.status, 0, kernel.stderr);
  assert.deepEqual(shim.stdout.split('\n'), kernel.stdout.split('\n'));
  assert.equal(shimOnMount.status, 0, shimOnMount.stderr);
  assert.deepEqual(shimOnMount.stdout.split('\n'), kernel.stdout.split('\n'), 'pins of the runtime on a real bpf mount');
  fs.rmSync(dir, { recursive: true, force: true });
});
