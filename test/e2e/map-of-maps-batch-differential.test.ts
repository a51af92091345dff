// The kernel as oracle for the batch commands on maps of maps (test/programs/map_of_maps_batch.c):
// UPDATE_BATCH takes inner map fds (a closed fd stops it with EBADF, a map that does not match the
// template with EINVAL, an array index out of range with E2BIG, count saying how many were
// stored), LOOKUP_BATCH answers inner map ids, DELETE_BATCH and LOOKUP_AND_DELETE_BATCH let go of
// the stored maps (one kept alive by its slot alone disappears), and ARRAY_OF_MAPS has lookup and
// update batches only (ENOTSUPP for the others). Same lines on the kernel and under the shim.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { haveCommand, root, shimLib, stopServer, tmpRuntimeDir, bpftimeEnv } from './harness';

const src = path.join(root, 'test', 'programs', 'map_of_maps_batch.c');

test('batch commands on maps of maps answer as the kernel does', { skip: !haveCommand('cc') && 'no C compiler', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = path.join(dir, 'map_of_maps_batch');
  execFileSync('cc', ['-O1', '-g', '-o', bin, src]);
  const shim = spawnSync(bin, [], { env: { ...bpftimeEnv(dir), LD_PRELOAD: shimLib }, encoding: 'utf8', timeout: 30000 });
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
  const kernel = spawnSync(bin, [], { encoding: 'utf8', timeout: 30000 });
  if (!kernel.stdout.startsWith('hash_of_maps create: ok')) {
    t.skip(`kernel path unavailable (${kernel.stdout.split('\n')[0]}): shim output not compared`);
    return;
  }
  assert.deepEqual(shim.stdout.split('\n'), kernel.stdout.split('\n'));
  fs.rmSync(dir, { recursive: true, force: true });
});
