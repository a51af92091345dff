// The kernel as oracle for the map types beyond hash/array: the same sequence of bpf() calls
// (test/programs/maps_calls.c: per-CPU array and hash values for every possible CPU, LRU
// eviction as driven from one CPU, queue/stack push/pop/peek, bloom filter bits, LPM trie
// matches and key order) runs once on the kernel and once under the shim, and must print the
// same lines.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { haveCommand, root, shimLib, stopServer, tmpRuntimeDir, bpftimeEnv } from './harness';

const src = path.join(root, 'test', 'programs', 'maps_calls.c');

test('map types answer as the kernel does', { skip: !haveCommand('cc') && 'no C compiler', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = path.join(dir, 'maps_calls');
  execFileSync('cc', ['-O1', '-g', '-o', bin, src]);
  const shim = spawnSync(bin, [], { env: { ...bpftimeEnv(dir), LD_PRELOAD: shimLib }, encoding: 'utf8', timeout: 30000 });
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stderr);
  const kernel = spawnSync(bin, [], { encoding: 'utf8', timeout: 30000 });
  if (!kernel.stdout.startsWith('percpu_array create: ok')) {
    // No kernel BPF here (not root, or BPF disabled): nothing to compare with.
    t.skip(`kernel path unavailable (${kernel.stdout.split('\n')[0]}): shim output not compared`);
    return;
  }
  assert.deepEqual(shim.stdout.split('\n'), kernel.stdout.split('\n'));
  fs.rmSync(dir, { recursive: true, force: true });
});
