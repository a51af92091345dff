// The kernel as oracle for bpf filesystem calls made through syscall() (mkdir/mkdirat, stat,
// newfstatat, statx, access, open, renames, unlink/unlinkat/rmdir) and for attribute changes
// (chmod/fchmodat/fchmodat2, chown/lchown/fchownat, utimensat and its fd form, fchmod/fchown of
// a directory fd): test/programs/bpffs_syscalls.c runs on a private bpf mount of the kernel and
// under the shim in the runtime's /sys/fs/bpf, and must print the same lines.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { haveCommand, stopServer, tmpRuntimeDir } from './harness';
import { buildSyscallProgram, runSyscallProgramUnderShim, runSyscallProgramOnKernel } from './syscall-program';

test('bpffs calls through syscall() and attribute changes answer as the kernel does', { skip: !haveCommand('cc') && 'no C compiler', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = buildSyscallProgram('bpffs_syscalls', dir);
  const shim = runSyscallProgramUnderShim(bin, dir, 30000);
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stderr);
  assert.match(shim.stdout, /^bpf available: ok\n/);
  // what must hold whatever the kernel says
  assert.match(shim.stdout, /\nafter chmod: file mode 640 uid 0 gid 0\n/);
  assert.match(shim.stdout, /\nafter SYS_chown: dir mode 711 uid 7 gid 0\n/);
  assert.match(shim.stdout, /\nafter utimensat: file mode \d+ uid 0 gid 0 atime  mtime \(1000\.000000005\)\(2000\.000000006\) ctime recent\n/);
  assert.match(shim.stdout, /\nSYS_rmdir: ok\n/);

  const kernel = runSyscallProgramOnKernel(t, bin, dir, 30000);
  if (!kernel) return;
  if (!kernel.stdout.startsWith('bpf available: ok')) {
    t.skip(`kernel path unavailable (${kernel.stdout.split('\n')[0]}): shim output not compared`);
    return;
  }
  assert.equal(kernel.status, 0, kernel.stderr);
  assert.deepEqual(shim.stdout.split('\n'), kernel.stdout.split('\n'));
  fs.rmSync(dir, { recursive: true, force: true });
});
