// The kernel as oracle for the batch commands on maps of maps (test/programs/map_of_maps_batch.c):
// UPDATE_BATCH takes inner map fds (a closed fd stops it with EBADF, a map that does not match the
// template with EINVAL, an array index out of range with E2BIG, count saying how many were
// stored), LOOKUP_BATCH answers inner map ids, DELETE_BATCH and LOOKUP_AND_DELETE_BATCH let go of
// the stored maps (one kept alive by its slot alone disappears), and ARRAY_OF_MAPS has lookup and
// update batches only (ENOTSUPP for the others). Same lines on the kernel and under the shim.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { haveCommand, stopServer, tmpRuntimeDir } from './harness';
import { assertSameOnKernel, buildSyscallProgram, runSyscallProgramUnderShim } from './syscall-program';

test('batch commands on maps of maps answer as the kernel does', { skip: !haveCommand('cc') && 'no C compiler', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = buildSyscallProgram('map_of_maps_batch', dir);
  const shim = runSyscallProgramUnderShim(bin, dir, 30000, []);
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stderr);
  // Facts that hold whatever the kernel does.
  assert.match(shim.stdout, /^hom update 4: ok count=4$/m);
  assert.match(shim.stdout, /^hom update closed fd: Bad file descriptor count=1$/m);
  assert.match(shim.stdout, /^hom lookup all: 1=h1 2=h2 3=h3 4=h0 5=h0 6=h1$/m);
  assert.match(shim.stdout, /^h1 alive by its slot: ok$/m);
  assert.match(shim.stdout, /^h3 after lookup_and_delete: No such file or directory$/m);
  assert.match(shim.stdout, /^aom lookup all: 0=a1 2=a2 3=a0$/m);
  assert.match(shim.stdout, /^aom lookup_and_delete: ENOTSUPP count=2$/m);
  assertSameOnKernel(t, bin, shim.stdout, 'hash_of_maps create: ok', 30000);
  fs.rmSync(dir, { recursive: true, force: true });
});
