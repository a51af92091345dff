// The kernel as oracle for the map types beyond hash/array: the same sequence of bpf() calls
// (test/programs/maps_calls.c: per-CPU array and hash values for every possible CPU, LRU
// eviction as driven from one CPU, queue/stack push/pop/peek, bloom filter bits, LPM trie
// matches and key order) runs once on the kernel and once under the shim, and must print the
// same lines.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { haveCommand, stopServer, tmpRuntimeDir } from './harness';
import { assertSameOnKernel, buildSyscallProgram, runSyscallProgramUnderShim } from './syscall-program';

test('map types answer as the kernel does', { skip: !haveCommand('cc') && 'no C compiler', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = buildSyscallProgram('maps_calls', dir);
  const shim = runSyscallProgramUnderShim(bin, dir, 30000, []);
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stderr);
  assertSameOnKernel(t, bin, shim.stdout, 'percpu_array create: ok', 30000);
  fs.rmSync(dir, { recursive: true, force: true });
});
