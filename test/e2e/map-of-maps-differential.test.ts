// The kernel as oracle for BPF_MAP_TYPE_ARRAY_OF_MAPS and HASH_OF_MAPS from the syscall side: the
// same sequence of bpf() calls (test/programs/map_of_maps_calls.c: creation with good and bad
// templates, updates with matching and mismatching inner map fds, closed fds and other files,
// lookups answering inner map ids, an inner map kept alive by its slot, deletes, get_next_key)
// runs once on the kernel and once under the shim, and must print the same lines.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { haveCommand, root, shimLib, stopServer, tmpRuntimeDir, bpftimeEnv } from './harness';

const src = path.join(root, 'test', 'programs', 'map_of_maps_calls.c');

test('maps of maps answer as the kernel does', { skip: !haveCommand('cc') && 'no C compiler', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = path.join(dir, 'map_of_maps_calls');
  execFileSync('cc', ['-O1', '-g', '-o', bin, src]);
  const shim = spawnSync(bin, [], { env: { ...bpftimeEnv(dir), LD_PRELOAD: shimLib }, encoding: 'utf8', timeout: 30000 });
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stderr);
  assert.match(shim.stdout, /^array_of_maps create: ok\n/);
  assert.match(shim.stdout, /\nlookup 1: id of inner\n/);
  assert.match(shim.stdout, /\nslot 2 after close: same id\ninner alive by id: ok\n/);
  assert.match(shim.stdout, /\nupdate other max_entries: Invalid argument\n/);
  const kernel = spawnSync(bin, [], { encoding: 'utf8', timeout: 30000 });
  if (!kernel.stdout.startsWith('array_of_maps create: ok')) {
    t.skip(`kernel path unavailable (${kernel.stdout.split('\n')[0]}): shim output not compared`);
    return;
  }
  assert.deepEqual(shim.stdout.split('\n'), kernel.stdout.split('\n'));
  fs.rmSync(dir, { recursive: true, force: true });
});
