// The kernel as oracle: the same sequence of bpf() and perf_event_open() calls
// (test/programs/bpf_calls.c: map semantics, errnos, attr checks, info structs, perf event
// ioctls) runs once on the kernel and once under the shim, and must print the same lines.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { haveCommand, stopServer, tmpRuntimeDir } from './harness';
import { buildSyscallProgram, runSyscallProgramUnderShim } from './syscall-program';

test('bpf() and perf_event_open() answer as the kernel does', { skip: !haveCommand('cc') && 'no C compiler', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = buildSyscallProgram('bpf_calls', dir);
  const shim = runSyscallProgramUnderShim(bin, dir, 30000, []);
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stderr);
  const kernel = spawnSync(bin, [], { encoding: 'utf8', timeout: 30000 });
  if (kernel.stdout.includes('tracefs: absent')) {
    t.skip('the real tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing): nothing to compare with');
    return;
  }
  if (!kernel.stdout.startsWith('hash create: ok')) {
    // No kernel BPF here (not root, or BPF disabled): nothing to compare with.
    t.skip(`kernel path unavailable (${kernel.stdout.split('\n')[0]}): shim output not compared`);
    return;
  }
  assert.deepEqual(shim.stdout.split('\n'), kernel.stdout.split('\n'));
  fs.rmSync(dir, { recursive: true, force: true });
});
