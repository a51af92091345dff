// The kernel as oracle for BPF_MAP_TYPE_PROG_ARRAY from the syscall side: the same sequence of
// bpf() calls (test/programs/prog_array_calls.c: creation errors, updates with program fds and
// their errors, lookups answering program ids, deletes, get_next_key, a program kept alive by its
// slot, the array emptied when its last fd closes, the owner program type at load, tail calls in
// BPF_PROG_TEST_RUN, freezing) runs once on the kernel and under the shim (JIT and interpreter),
// and must print the same lines.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { bpftimeEnv, shimLib, haveCommand, stopServer, tmpRuntimeDir } from './harness';
import { assertSameOnKernel, buildSyscallProgram, runSyscallProgramUnderShim } from './syscall-program';

test('prog arrays answer as the kernel does', { skip: !haveCommand('cc') && 'no C compiler', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = buildSyscallProgram('prog_array_calls', dir);
  const shim = runSyscallProgramUnderShim(bin, dir, 30000, []);
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stderr);
  assert.match(shim.stdout, /^prog_array create: ok\n/);
  assert.match(shim.stdout, /\nslot 1 refilled: id of A\n/);
  // Test runs tail-call too: the entry run and 33 tail calls of the chain.
  assert.match(shim.stdout, /\ntest_run into leaf: 2\ntest_run chain: 34\n[^]*\ntest_run entry into chain: 67\n/);
  // A fresh runtime (and server) for the interpreter: the first server may still be exiting.
  const dir2 = tmpRuntimeDir();
  const interp = spawnSync(bin, [], { env: { ...bpftimeEnv(dir2), LD_PRELOAD: shimLib, BPFTIME_JIT: '0' }, encoding: 'utf8', timeout: 30000 });
  stopServer(dir2);
  assert.equal(interp.stdout, shim.stdout, 'interpreter and JIT differ');
  assertSameOnKernel(t, bin, shim.stdout, 'prog_array create: ok', 30000);
  fs.rmSync(dir, { recursive: true, force: true });
});
