// The kernel as oracle for select/pselect on ring and perf buffers, per-fd access modes of map
// fds (BPF_F_RDONLY/WRONLY at MAP_CREATE, GET_FD_BY_ID, OBJ_GET: element ops, batches, freeze,
// mmap, F_GETFL) and the perf ioctls PAUSE_OUTPUT and QUERY_BPF: test/programs/fd_io_calls.c
// runs once on the kernel and once under the shim, and must print the same lines.
//
// The kernel run pins in a private bpf filesystem mounted for it; the shim run in the runtime's
// own /sys/fs/bpf.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { haveCommand, stopServer, tmpRuntimeDir } from './harness';
import { buildSyscallProgram, runSyscallProgramUnderShim, runSyscallProgramOnKernel } from './syscall-program';

test('select/pselect, fd access modes and perf ioctls answer as the kernel does', { skip: !haveCommand('cc') && 'no C compiler', timeout: 90000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = buildSyscallProgram('fd_io_calls', dir, ['-lpthread']);
  const shim = runSyscallProgramUnderShim(bin, dir, 60000);
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stderr);
  assert.match(shim.stdout, /^bpf available: ok\n/);
  assert.match(shim.stdout, /select blocked on ring buffer: woken in time/);

  const kernel = runSyscallProgramOnKernel(t, bin, dir, 60000);
  if (!kernel) return;
  if (!kernel.stdout.startsWith('bpf available: ok')) {
    t.skip(`kernel path unavailable (${kernel.stdout.split('\n')[0]}): shim output not compared`);
    return;
  }
  if (kernel.stdout.includes('uprobe on self:')) {
    t.skip('the kernel could not attach a uprobe here: shim output not compared');
    return;
  }
  if (kernel.stdout.includes('tracepoint: absent')) {
    t.skip('the real tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing): nothing to compare with');
    return;
  }
  assert.equal(kernel.status, 0, kernel.stderr);
  assert.deepEqual(shim.stdout.split('\n'), kernel.stdout.split('\n'));
  fs.rmSync(dir, { recursive: true, force: true });
});
