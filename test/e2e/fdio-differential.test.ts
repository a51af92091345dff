// The kernel as oracle for select/pselect on ring and perf buffers, per-fd access modes of map
// fds (BPF_F_RDONLY/WRONLY at MAP_CREATE, GET_FD_BY_ID, OBJ_GET: element ops, batches, freeze,
// mmap, F_GETFL) and the perf ioctls PAUSE_OUTPUT and QUERY_BPF: test/programs/fd_io_calls.c
// runs once on the kernel and once under the shim, and must print the same lines.
//
// The kernel run pins in a private bpf filesystem mounted for it; the shim run in the runtime's
// own /sys/fs/bpf.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { haveCommand, root, shimLib, stopServer, tmpRuntimeDir, bpftimeEnv } from './harness';

const src = path.join(root, 'test', 'programs', 'fd_io_calls.c');

test('select/pselect, fd access modes and perf ioctls answer as the kernel does', { skip: !haveCommand('cc') && 'no C compiler', timeout: 90000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = path.join(dir, 'fd_io_calls');
  execFileSync('cc', ['-O1', '-g', '-o', bin, src, '-lpthread']);
  const shim = spawnSync(bin, ['/sys/fs/bpf'], { env: { ...bpftimeEnv(dir), LD_PRELOAD: shimLib }, encoding: 'utf8', timeout: 60000 });
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stderr);
  assert.match(shim.stdout, /^bpf available: ok\n/);
  assert.match(shim.stdout, /select blocked on ring buffer: woken in time/);

  const bpffs = path.join(dir, 'bpffs');
  fs.mkdirSync(bpffs);
  if (spawnSync('mount', ['-t', 'bpf', 'bpf', bpffs]).status !== 0) {
    t.skip('cannot mount a bpf filesystem for the kernel run (not root?): shim output not compared');
    return;
  }
  let kernel;
  try {
    kernel = spawnSync(bin, [bpffs], { encoding: 'utf8', timeout: 60000 });
  } finally {
    spawnSync('umount', [bpffs]);
  }
  if (!kernel.stdout.startsWith('bpf available: ok')) {
    t.skip(`kernel path unavailable (${kernel.stdout.split('\n')[0]}): shim output not compared`);
    return;
  }
  if (kernel.stdout.includes('uprobe on self:')) {
    t.skip('the kernel could not attach a uprobe here: shim output not compared');
    return;
  }
  if (kernel.stdout.includes('tracepoint: absent')) {
    t.skip('the real tracefs is not mounted (mount -t tracefs nodev /sys/kernel/tracing): nothing to compare with');
    return;
  }
  assert.equal(kernel.status, 0, kernel.stderr);
  assert.deepEqual(shim.stdout.split('\n'), kernel.stdout.split('\n'));
  fs.rmSync(dir, { recursive: true, force: true });
});
