// The kernel as oracle for BPF_MAP_TYPE_ARRAY_OF_MAPS and HASH_OF_MAPS from the syscall side: the
// same sequence of bpf() calls (test/programs/map_of_maps_calls.c: creation with good and bad
// templates, updates with matching and mismatching inner map fds, closed fds and other files,
// lookups answering inner map ids, an inner map kept alive by its slot, deletes, get_next_key)
// runs once on the kernel and once under the shim, and must print the same lines.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { haveCommand, stopServer, tmpRuntimeDir } from './harness';
import { assertSameOnKernel, buildSyscallProgram, runSyscallProgramUnderShim } from './syscall-program';

test('maps of maps answer as the kernel does', { skip: !haveCommand('cc') && 'no C compiler', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = buildSyscallProgram('map_of_maps_calls', dir);
  const shim = runSyscallProgramUnderShim(bin, dir, 30000, []);
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stderr);
  assert.match(shim.stdout, /^array_of_maps create: ok\n/);
  assert.match(shim.stdout, /\nlookup 1: id of inner\n/);
  assert.match(shim.stdout, /\nslot 2 after close: same id\ninner alive by id: ok\n/);
  assert.match(shim.stdout, /\nupdate other max_entries: Invalid argument\n/);
  assertSameOnKernel(t, bin, shim.stdout, 'array_of_maps create: ok', 30000);
  fs.rmSync(dir, { recursive: true, force: true });
});
