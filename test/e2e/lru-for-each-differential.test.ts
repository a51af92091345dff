// The kernel as oracle for bpf_for_each_map_elem over LRU maps (test/programs/lru_for_each.c and
// lru_for_each.bpf.c): a walk is no use of the elements, so after walking a full LRU_HASH or
// LRU_PERCPU_HASH, new keys evict the oldest exactly as without the walk, while keys a program
// looked up survive. All on CPU 0 (raw tracepoint test runs with BPF_F_TEST_RUN_ON_CPU), so one
// set of LRU lists; under the shim (JIT and interpreter) the output must equal the kernel's.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { tmpRuntimeDir } from './harness';
import { assertSameOnKernel, buildLibbpfProgram, haveLibbpfTools as haveTools, runUnderShim } from './libbpf-program';


test('for_each over LRU maps leaves their eviction order alone, as on the kernel', { skip: !haveTools && 'needs clang, cc and libbpf-dev', timeout: 120000 }, (t) => {
  const out = tmpRuntimeDir();
  const { bin, obj } = buildLibbpfProgram('lru_for_each', out);
  const jit = runUnderShim(bin, [obj], true);
  assert.equal(jit.status, 0, jit.stdout + jit.stderr);
  for (const type of ['lru', 'lru_percpu']) {
    assert.match(jit.stdout, new RegExp(`^${type} walk full: rc=0 retval=32 32 496 4960$`, 'm'));
    // 16 new keys after a walk evict keys 0-15: the walk used none of them.
    const after = Array.from({ length: 32 }, (_, i) => i + 16).join(' ');
    assert.match(jit.stdout, new RegExp(`^${type} after walk and 16 more: ${after}$`, 'm'));
    const touched = [...Array.from({ length: 8 }, (_, i) => i), ...Array.from({ length: 24 }, (_, i) => i + 24)].join(' ');
    assert.match(jit.stdout, new RegExp(`^${type} touched then 16 more: ${touched}$`, 'm'));
  }
  const interp = runUnderShim(bin, [obj], false);
  assert.equal(interp.status, 0, interp.stdout + interp.stderr);
  assert.deepEqual(interp.stdout.split('\n'), jit.stdout.split('\n'), 'interpreter and JIT disagree');
  if (!assertSameOnKernel(t, bin, [obj], jit.stdout, 'loaded\nlru walk', 2)) return;
  fs.rmSync(out, { recursive: true, force: true });
});
