// The kernel as oracle for file operations on a bpf filesystem: test/programs/bpffs_calls.c
// (mkdir, the stat family, readdir and getdents64, open, access, xattrs, rename, unlink/rmdir,
// reserved names, and a pinned map freed when its last pin goes) runs on a private bpf mount of
// the kernel, under the shim in the runtime's /sys/fs/bpf, and under the shim on that same real
// mount (real directories, the runtime's pins), and must print the same lines each time.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { haveCommand, stopServer, tmpRuntimeDir } from './harness';
import { buildSyscallProgram, runSyscallProgramUnderShim, withPrivateBpffs } from './syscall-program';

test('bpffs file operations answer as the kernel does', { skip: !haveCommand('cc') && 'no C compiler', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = buildSyscallProgram('bpffs_calls', dir);
  const shim = runSyscallProgramUnderShim(bin, dir, 30000);
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stderr);
  assert.match(shim.stdout, /^bpf available: ok\n/);
  assert.match(shim.stdout, /\nmap freed after unlink: 1\n/);
  assert.match(shim.stdout, /\nrmdir: ok\n/);

  const runs = withPrivateBpffs(t, dir, (bpffs) => {
    const kernel = spawnSync(bin, [bpffs], { encoding: 'utf8', timeout: 30000 });
    // The same under the shim on the real mount: its directories are the kernel's, the pins the
    // runtime's, and the tool cannot tell.
    const shimOnMount = runSyscallProgramUnderShim(bin, dir, 30000, [bpffs]);
    stopServer(dir);
    return { kernel, shimOnMount };
  });
  if (!runs) return;
  const { kernel, shimOnMount } = runs;
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
