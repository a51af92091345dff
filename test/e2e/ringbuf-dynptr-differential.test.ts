// The kernel as oracle for the ring buffer's dynptr helpers and bpf_dynptr_from_mem
// (test/programs/ringbuf_dynptr.bpf.c, ringbuf_dynptr.c): a SYSCALL program run with
// BPF_PROG_TEST_RUN reserves records as dynptrs, writes them with bpf_dynptr_write and
// bpf_dynptr_data, submits or discards them, meets every failure (flags, a record larger than the
// ring, a full ring, sizes out of bounds) with the null dynptr the kernel leaves, and copies a
// dynptr over a map value into a record. Its answers and the records a libbpf consumer sees must
// be the kernel's, under the JIT and the interpreter.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { haveCommand, root, shimLib, stopServer, tmpRuntimeDir, bpftimeEnv } from './harness';

const dir = path.join(root, 'test', 'programs');
const haveTools = haveCommand('clang') && haveCommand('cc') && fs.existsSync('/usr/include/bpf/libbpf.h');

function underShim(bin: string, obj: string, jit: boolean) {
  const rt = tmpRuntimeDir();
  const env = { ...bpftimeEnv(rt), LD_PRELOAD: shimLib, ...(jit ? {} : { BPFTIME_JIT: '0' }) };
  try {
    return spawnSync(bin, [obj], { env, encoding: 'utf8', timeout: 60000 });
  } finally {
    stopServer(rt);
  }
}

test('ring buffer dynptr helpers answer as on the kernel (JIT and interpreter)', { skip: !haveTools && 'needs clang, cc and libbpf-dev', timeout: 120000 }, (t) => {
  const out = tmpRuntimeDir();
  const multiarch = execFileSync('cc', ['-print-multiarch'], { encoding: 'utf8' }).trim();
  const obj = path.join(out, 'ringbuf_dynptr.bpf.o');
  const bin = path.join(out, 'ringbuf_dynptr');
  execFileSync('clang', ['-target', 'bpf', '-O2', '-g', '-Wall', `-I/usr/include/${multiarch}`, '-c', path.join(dir, 'ringbuf_dynptr.bpf.c'), '-o', obj]);
  execFileSync('cc', ['-O1', '-g', '-Wall', '-o', bin, path.join(dir, 'ringbuf_dynptr.c'), '-lbpf', '-lelf', '-lz']);
  const jit = underShim(bin, obj, true);
  assert.equal(jit.status, 0, jit.stdout + jit.stderr);
  // Facts from the program's source, whatever the kernel does.
  assert.match(jit.stdout, /^loaded\ntest run: 0 retval=31\nanswer 0: 0\nanswer 1: 0\nanswer 2: -7\nanswer 3: 0\nanswer 4: 1\nanswer 5: -22\nanswer 6: 0\n/);
  assert.match(jit.stdout, /^record 16: 1111111111111111 2222222222222222$/m);
  assert.match(jit.stdout, /^record 12: 0000000011111111 11111111$/m);
  assert.match(jit.stdout, /^record 0:$/m); // an empty record, submitted
  assert.match(jit.stdout, /^consumed: 6$/m);
  const interp = underShim(bin, obj, false);
  assert.equal(interp.status, 0, interp.stdout + interp.stderr);
  assert.deepEqual(interp.stdout.split('\n'), jit.stdout.split('\n'), 'interpreter and JIT disagree');
  const kernel = spawnSync(bin, [obj], { encoding: 'utf8', timeout: 60000 });
  if (kernel.status !== 0 || !kernel.stdout.startsWith('loaded')) {
    t.skip(`kernel path unavailable (${(kernel.stdout || kernel.stderr).split('\n')[0]}): shim output not compared`);
    return;
  }
  assert.deepEqual(jit.stdout.split('\n'), kernel.stdout.split('\n'));
  fs.rmSync(out, { recursive: true, force: true });
});
