// The kernel as oracle for BPF_MAP_TYPE_USER_RINGBUF and bpf_user_ringbuf_drain:
// test/programs/user_ringbuf.c produces records with libbpf's user_ring_buffer__* API (through
// the shim's mmap of the map: consumer page read-only, producer page and data writable, and its
// epoll for reserve_blocking) and drains them with the SYSCALL program of user_ringbuf.bpf.c,
// whose callback reads each record with bpf_dynptr_read and bpf_dynptr_data; it prints creation
// and mmap errors, drain answers (discarded records, early stop, bad flags, short records), a
// full ring, and a producer blocked in reserve_blocking woken by a drain. Under the shim, JIT and interpreter, it must print exactly what it prints on the
// kernel.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { tmpRuntimeDir } from './harness';
import { assertSameOnKernel, buildLibbpfProgram, haveLibbpfTools, runUnderShim } from './libbpf-program';

const build = (out: string) => buildLibbpfProgram('user_ringbuf', out);
const underShim = runUnderShim;
const haveTools = haveLibbpfTools;

test('user ring buffer: libbpf producer, bpf_user_ringbuf_drain consumer, as on the kernel (JIT and interpreter)', { skip: !haveTools && 'needs clang, cc and libbpf-dev', timeout: 180000 }, (t) => {
  const out = tmpRuntimeDir();
  const { bin, obj } = build(out);
  const jit = underShim(bin, [obj], true);
  assert.equal(jit.status, 0, jit.stdout + jit.stderr);
  // Shim-only facts that hold whatever the kernel does.
  assert.match(jit.stdout, /^loaded\n/);
  assert.match(jit.stdout, /^mmap consumer page rw: -1$/m);
  assert.match(jit.stdout, /^mmap producer \+ data twice rw: 0$/m);
  assert.match(jit.stdout, /^100 records, 10 discarded: run=0 retval=0 ret=90 sum=4500 count=90 /m);
  assert.match(jit.stdout, /^callback stops at 5: run=0 retval=0 ret=5 sum=15 count=5 /m);
  assert.match(jit.stdout, /^bad flags: run=0 retval=0 ret=-22 /m);
  assert.match(jit.stdout, /^a 4-byte record: run=0 retval=0 ret=2 sum=7 count=1 tail_sum=0 read_err=-7 /m);
  assert.match(jit.stdout, /^reserve_blocking on a full ring: NULL errno=28$/m);
  // A producer blocked in reserve_blocking is woken by the drain (the server runs the test run
  // with the ring's eventfd), not by its 5 s timeout.
  assert.match(jit.stdout, /^wakeup: blocked reserve: 0$/m);
  const interp = underShim(bin, [obj], false);
  assert.equal(interp.status, 0, interp.stdout + interp.stderr);
  assert.deepEqual(interp.stdout.split('\n'), jit.stdout.split('\n'), 'interpreter and JIT disagree');
  if (!assertSameOnKernel(t, bin, [obj], jit.stdout, 'loaded')) return;
  fs.rmSync(out, { recursive: true, force: true });
});
