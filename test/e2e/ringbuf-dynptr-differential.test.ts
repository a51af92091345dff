// The kernel as oracle for the ring buffer's dynptr helpers and bpf_dynptr_from_mem
// (test/programs/ringbuf_dynptr.bpf.c, ringbuf_dynptr.c): a SYSCALL program run with
// BPF_PROG_TEST_RUN reserves records as dynptrs, writes them with bpf_dynptr_write and
// bpf_dynptr_data, submits or discards them, meets every failure (flags, a record larger than the
// ring, a full ring, sizes out of bounds) with the null dynptr the kernel leaves, and copies a
// dynptr over a map value into a record. Its answers and the records a libbpf consumer sees must
// be the kernel's, under the JIT and the interpreter.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { tmpRuntimeDir } from './harness';
import { assertSameOnKernel, buildLibbpfProgram, haveLibbpfTools as haveTools, runUnderShim } from './libbpf-program';


test('ring buffer dynptr helpers answer as on the kernel (JIT and interpreter)', { skip: !haveTools && 'needs clang, cc and libbpf-dev', timeout: 120000 }, (t) => {
  const out = tmpRuntimeDir();
  const { bin, obj } = buildLibbpfProgram('ringbuf_dynptr', out);
  const jit = runUnderShim(bin, [obj], true);
  assert.equal(jit.status, 0, jit.stdout + jit.stderr);
  // Facts from the program's source, whatever the kernel does.
  assert.match(jit.stdout, /^loaded\ntest run: 0 retval=31\nanswer 0: 0\nanswer 1: 0\nanswer 2: -7\nanswer 3: 0\nanswer 4: 1\nanswer 5: -22\nanswer 6: 0\n/);
  assert.match(jit.stdout, /^record 16: 1111111111111111 2222222222222222$/m);
  assert.match(jit.stdout, /^record 12: 0000000011111111 11111111$/m);
  assert.match(jit.stdout, /^record 0:$/m); // an empty record, submitted
  assert.match(jit.stdout, /^consumed: 6$/m);
  const interp = runUnderShim(bin, [obj], false);
  assert.equal(interp.status, 0, interp.stdout + interp.stderr);
  assert.deepEqual(interp.stdout.split('\n'), jit.stdout.split('\n'), 'interpreter and JIT disagree');
  if (!assertSameOnKernel(t, bin, [obj], jit.stdout, 'loaded')) return;
  fs.rmSync(out, { recursive: true, force: true });
});
