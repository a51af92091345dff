// The kernel as oracle for bpf_send_signal / bpf_send_signal_thread at a uprobe
// (test/programs/signal_calls.c): return values, the siginfo the handler sees, the thread that
// takes the signal, the program finishing before the signal arrives and the signal arriving
// before the probed function's body, and a blocked signal left pending.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { bpftimeEnv, haveCommand, root, shimLib, stopServer, tmpRuntimeDir } from './harness';

test('send_signal helpers answer and deliver as the kernel does', { skip: !haveCommand('cc') && 'no C compiler', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = path.join(dir, 'signal_calls');
  execFileSync('cc', ['-O0', '-g', '-o', bin, path.join(root, 'test', 'programs', 'signal_calls.c'), '-lpthread']);
  const shim = spawnSync(bin, [], { env: { ...bpftimeEnv(dir), LD_PRELOAD: shimLib }, encoding: 'utf8', timeout: 30000 });
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stdout + shim.stderr);
  assert.match(shim.stdout, /^send_signal\(SIGUSR1\): ret 0, program finished 1, signal 10 code 128 pid 0 uid 0 errno 0, this thread, before the body: yes$/m, shim.stdout);
  assert.match(shim.stdout, /^send_signal\(65\): ret EINVAL/m);
  const kernel = spawnSync(bin, [], { encoding: 'utf8', timeout: 30000 });
  if (kernel.status !== 0 || !kernel.stdout.includes('attach uprobe on poke: ok')) {
    t.skip(`kernel path unavailable (${(kernel.stdout + kernel.stderr).split('\n').slice(-3).join(' | ')}): shim output not compared`);
    return;
  }
  assert.deepEqual(shim.stdout.split('\n'), kernel.stdout.split('\n'));
  fs.rmSync(dir, { recursive: true, force: true });
});
