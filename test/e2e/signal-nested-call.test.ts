// bpf() from a signal handler on a thread that waits for a long call of its own
// (test/programs/signal_nested_call.c): the handler's call is answered, the interrupted test run
// ends with EINTR, the same lines as on the kernel. It used to hang: the handler's call waited
// for the reader, which was the thread it had interrupted.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { haveCommand, stopServer, tmpRuntimeDir } from './harness';
import { assertSameOnKernel, buildSyscallProgram, runSyscallProgramUnderShim } from './syscall-program';

test('a bpf() call from a signal handler interrupting a long test run is answered; the run ends with EINTR', { skip: !haveCommand('cc') && 'no C compiler', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = buildSyscallProgram('signal_nested_call', dir, ['-lbpf']);
  const shim = runSyscallProgramUnderShim(bin, dir, 30000, []);
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stderr);
  assert.equal(shim.stdout, 'test run -4 errno 4; handler rc 0 max_entries 7\n');
  assertSameOnKernel(t, bin, shim.stdout, 'test run', 30000);
});
