// The kernel as oracle for BPF_MAP_TYPE_STACK_TRACE, bpf_get_stackid and bpf_get_stack
// (test/programs/stack_trace_calls.c): MAP_CREATE checks, stack ids (the kernel's jhash of the
// frames and bucket), BPF_F_FAST_STACK_CMP / REUSE_STACKID / skip / -EEXIST / -EFAULT, the
// frames of a user stack walked from a uprobe, and the syscall side (lookup, lookup_and_delete,
// delete, get_next_key). Both runs have ASLR off, so the binary sits at the same address and the
// ids, which hash absolute addresses, can agree.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { bpftimeEnv, haveCommand, root, shimLib, stopServer, tmpRuntimeDir } from './harness';

test('stack trace maps and stack helpers answer as the kernel does', { skip: (!haveCommand('cc') && 'no C compiler') || (!haveCommand('setarch') && 'no setarch'), timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = path.join(dir, 'stack_trace_calls');
  execFileSync('cc', ['-O0', '-fno-omit-frame-pointer', '-g', '-o', bin, path.join(root, 'test', 'programs', 'stack_trace_calls.c'), '-ldl']);
  const shim = spawnSync('setarch', ['-R', bin], { env: { ...bpftimeEnv(dir), LD_PRELOAD: shimLib }, encoding: 'utf8', timeout: 30000 });
  stopServer(dir);
  assert.equal(shim.status, 0, shim.stdout + shim.stderr);
  // The walk itself, whatever the kernel says: leaf's caller comes from the stack at a
  // `push %rbp` uprobe, then the frame-pointer chain.
  assert.match(shim.stdout, /^top user: lookup \d+: leaf\+0 middle\+\d+ outer\+\d+ top\+\d+$/m, shim.stdout);
  assert.match(shim.stdout, /^one bucket top2: stackid EEXIST/m);
  const kernel = spawnSync('setarch', ['-R', bin], { encoding: 'utf8', timeout: 30000 });
  if (kernel.status !== 0 || !kernel.stdout.includes('attach uprobe on leaf: ok')) {
    t.skip(`kernel path unavailable (${(kernel.stdout + kernel.stderr).split('\n').slice(-3).join(' | ')}): shim output not compared`);
    return;
  }
  assert.deepEqual(shim.stdout.split('\n'), kernel.stdout.split('\n'));
  fs.rmSync(dir, { recursive: true, force: true });
});
