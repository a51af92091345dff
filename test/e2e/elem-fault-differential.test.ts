// The kernel as oracle for the element commands the shim runs itself (its data plane, without the
// server): test/programs/elem_fault_calls.c feeds lookup/update/delete/get_next_key/
// lookup_and_delete bad, unmapped, read-only and page-straddling attr/key/value pointers, attr
// sizes around the union, every copy size up to 40000 bytes, SIGBUS-raising file pages, four
// threads faulting at once, dup'ed, closed and foreign fds and a frozen map, with its own SIGSEGV
// handler installed. It runs once on the kernel and once under the shim and must print the same
// lines: EFAULT where the kernel says EFAULT, and never a crash or a call of the tool's handler.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { haveCommand, root, shimLib, stopServer, tmpRuntimeDir, bpftimeEnv } from './harness';

const src = path.join(root, 'test', 'programs', 'elem_fault_calls.c');

test('element commands fault, size-check and refuse as the kernel does', { skip: !haveCommand('cc') && 'no C compiler', timeout: 90000 }, (t) => {
  const dir = tmpRuntimeDir();
  const bin = path.join(dir, 'elem_fault_calls');
  execFileSync('cc', ['-O1', '-g', '-o', bin, src]);
  const shim = spawnSync(bin, [], { env: { ...bpftimeEnv(dir), LD_PRELOAD: shimLib }, encoding: 'utf8', timeout: 60000 });
  stopServer(dir);
  assert.equal(shim.status, 0, `${shim.stdout.split('\n').slice(-5).join('\n')}\n${shim.stderr}`);
  assert.match(shim.stdout, /^bpf available: ok\n/);
  assert.match(shim.stdout, /hash value 40000: lookup value straddles a page: EFAULT\n/);
  assert.match(shim.stdout, /tool SIGSEGV handler never ran\n$/);
  const kernel = spawnSync(bin, [], { encoding: 'utf8', timeout: 60000 });
  if (!kernel.stdout.startsWith('bpf available: ok')) {
    t.skip(`kernel path unavailable (${kernel.stdout.split('\n')[0]}): shim output not compared`);
    return;
  }
  assert.deepEqual(shim.stdout.split('\n'), kernel.stdout.split('\n'));
  fs.rmSync(dir, { recursive: true, force: true });
});
