// The kernel as oracle for the object commands: test/programs/bpf_cmds.c (ids and fds by id,
// pins, map batches, link and attach commands, TASK_FD_QUERY, info for every kind) runs once on
// the kernel and once under the shim, and must print the same lines.
//
// Pins need a bpf filesystem: the kernel run gets a private one mounted for it (so the machine's
// /sys/fs/bpf is never touched); the shim run pins in the runtime's own /sys/fs/bpf.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { haveCommand, stopServer, tmpRuntimeDir } from './harness';
import { buildSyscallProgram, runSyscallProgramUnderShim, runSyscallProgramOnKernel } from './syscall-program';

test('object commands (ids, pins, batches, links, queries, info) answer as the kernel does', { skip: !haveCommand('cc') && 'no C compiler', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = buildSyscallProgram('bpf_cmds', dir);
  const shim = runSyscallProgramUnderShim(bin, dir, 30000);
  stopServer(dir); // it holds the run's pins, so it would not leave by itself
  assert.equal(shim.status, 0, shim.stderr);
  assert.match(shim.stdout, /^bpf available\n/);

  const kernel = runSyscallProgramOnKernel(t, bin, dir, 30000);
  if (!kernel) return;
  if (kernel.stdout.includes('tracefs: absent')) {
    t.skip('the real tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing): nothing to compare with');
    return;
  }
  if (!kernel.stdout.startsWith('bpf available')) {
    t.skip(`kernel path unavailable (${kernel.stdout.split('\n')[0]}): shim output not compared`);
    return;
  }
  assert.equal(kernel.status, 0, kernel.stderr);
  assert.deepEqual(shim.stdout.split('\n'), kernel.stdout.split('\n'));
  fs.rmSync(dir, { recursive: true, force: true });
});
