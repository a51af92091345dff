// The kernel as oracle for the element commands the shim runs itself (its data plane, without the
// server): test/programs/elem_fault_calls.c feeds lookup/update/delete/get_next_key/
// lookup_and_delete bad, unmapped, read-only and page-straddling attr/key/value pointers, attr
// sizes around the union, every copy size up to 40000 bytes, SIGBUS-raising file pages, four
// threads faulting at once, dup'ed, closed and foreign fds and a frozen map, with its own SIGSEGV
// handler installed. It runs once on the kernel and once under the shim and must print the same
// lines: EFAULT where the kernel says EFAULT, and never a crash or a call of the tool's handler.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { haveCommand, stopServer, tmpRuntimeDir } from './harness';
import { assertSameOnKernel, buildSyscallProgram, runSyscallProgramUnderShim } from './syscall-program';

test('element commands fault, size-check and refuse as the kernel does', { skip: !haveCommand('cc') && 'no C compiler', timeout: 90000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = buildSyscallProgram('elem_fault_calls', dir);
  const shim = runSyscallProgramUnderShim(bin, dir, 60000, []);
  stopServer(dir);
  assert.equal(shim.status, 0, `${shim.stdout.split('\n').slice(-5).join('\n')}\n${shim.stderr}`);
  assert.match(shim.stdout, /^bpf available: ok\n/);
  assert.match(shim.stdout, /hash value 40000: lookup value straddles a page: EFAULT\n/);
  assert.match(shim.stdout, /tool SIGSEGV handler never ran\n$/);
  assertSameOnKernel(t, bin, shim.stdout, 'bpf available: ok', 60000);
  fs.rmSync(dir, { recursive: true, force: true });
});
