// The kernel as oracle for BPF_MAP_TYPE_RINGBUF: test/programs/ringbuf_calls.c (creation errors,
// element commands, the mmap view and its refusals, records a program writes through
// bpf_ringbuf_output / reserve+submit / reserve+discard / query at a uprobe on the program itself,
// a full ring, records wrapping around, epoll/poll readiness and wakeups) runs once on the kernel
// and once under the shim, and must print the same lines.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { haveCommand, root, shimLib, stopServer, tmpRuntimeDir, bpftimeEnv } from './harness';

const src = path.join(root, 'test', 'programs', 'ringbuf_calls.c');

test('ring buffers answer as the kernel does', { skip: !haveCommand('cc') && 'no C compiler', timeout: 90000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = path.join(dir, 'ringbuf_calls');
  execFileSync('cc', ['-O1', '-g', '-o', bin, src, '-lpthread']);
  const shim = spawnSync(bin, [], { env: { ...bpftimeEnv(dir), LD_PRELOAD: shimLib }, encoding: 'utf8', timeout: 60000 });
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stderr);
  const kernel = spawnSync(bin, [], { encoding: 'utf8', timeout: 60000 });
  if (!kernel.stdout.startsWith('ringbuf create: ok')) {
    // No kernel BPF here (not root, or BPF disabled): nothing to compare with.
    t.skip(`kernel path unavailable (${kernel.stdout.split('\n')[0]}): shim output not compared`);
    return;
  }
  if (kernel.stdout.includes('uprobe on self:')) {
    // The kernel could not attach the uprobe (no uprobe PMU): compare what ran before it.
    const upto = kernel.stdout.split('\n').findIndex((l) => l.startsWith('uprobe on self:'));
    assert.deepEqual(shim.stdout.split('\n').slice(0, upto), kernel.stdout.split('\n').slice(0, upto));
    return;
  }
  assert.deepEqual(shim.stdout.split('\n'), kernel.stdout.split('\n'));
  fs.rmSync(dir, { recursive: true, force: true });
});
