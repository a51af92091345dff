// A child that shares the tool's memory without fork's handlers (vfork: posix_spawn, Python's
// subprocess, which closes every fd in the child before exec) closes its own fds: the shim's fd
// table and server connection it sees are the parent's and must stay as they were. Before the fix
// bcc's deadlock-bpfcc, which runs objdump through subprocess, lost every map. Compared with the
// kernel (test/programs/vfork_close.c prints the same lines on both).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { haveCommand, stopServer, tmpRuntimeDir } from './harness';
import { assertSameOnKernel, buildSyscallProgram, runSyscallProgramUnderShim } from './syscall-program';

test('a vfork child closing its fds leaves the parent\'s BPF objects and fds as they were', { skip: !haveCommand('cc') && 'no C compiler', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = buildSyscallProgram('vfork_close', dir);
  const shim = runSyscallProgramUnderShim(bin, dir, 30000, []);
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stderr);
  assert.deepEqual(shim.stdout.split('\n'), [
    'ready',
    'before: update 0 lookup 0 value 42',
    'after a vfork child closed them one by one: update 0 lookup 0 value 42',
    'after a vfork child\'s close_range: update 0 lookup 0 value 42',
    'close: 0 0',
    'lookup on the closed fd: -9',
    '',
  ]);
  assertSameOnKernel(t, bin, shim.stdout, 'ready', 30000);
});
