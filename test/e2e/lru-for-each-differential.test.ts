// The kernel as oracle for bpf_for_each_map_elem over LRU maps (test/programs/lru_for_each.c and
// lru_for_each.bpf.c): a walk is no use of the elements, so after walking a full LRU_HASH or
// LRU_PERCPU_HASH, new keys evict the oldest exactly as without the walk, while keys a program
// looked up survive. All on CPU 0 (raw tracepoint test runs with BPF_F_TEST_RUN_ON_CPU), so one
// set of LRU lists; under the shim (JIT and interpreter) the output must equal the kernel's.
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

test('for_each over LRU maps leaves their eviction order alone, as on the kernel', { skip: !haveTools && 'needs clang, cc and libbpf-dev', timeout: 120000 }, (t) => {
  const out = tmpRuntimeDir();
  const multiarch = execFileSync('cc', ['-print-multiarch'], { encoding: 'utf8' }).trim();
  const obj = path.join(out, 'lru_for_each.bpf.o');
  const bin = path.join(out, 'lru_for_each');
  execFileSync('clang', ['-target', 'bpf', '-O2', '-g', '-Wall', `-I/usr/include/${multiarch}`, '-c', path.join(dir, 'lru_for_each.bpf.c'), '-o', obj]);
  execFileSync('cc', ['-O1', '-g', '-Wall', '-o', bin, path.join(dir, 'lru_for_each.c'), '-lbpf', '-lelf', '-lz']);
  const jit = underShim(bin, obj, true);
  assert.equal(jit.status, 0, jit.stdout + jit.stderr);
  for (const type of ['lru', 'lru_percpu']) {
    assert.match(jit.stdout, new RegExp(`^${type} walk full: rc=0 retval=32 32 496 4960$`, 'm'));
    // 16 new keys after a walk evict keys 0-15: the walk used none of them.
    const after = Array.from({ length: 32 }, (_, i) => i + 16).join(' ');
    assert.match(jit.stdout, new RegExp(`^${type} after walk and 16 more: ${after}$`, 'm'));
    const touched = [...Array.from({ length: 8 }, (_, i) => i), ...Array.from({ length: 24 }, (_, i) => i + 24)].join(' ');
    assert.match(jit.stdout, new RegExp(`^${type} touched then 16 more: ${touched}$`, 'm'));
  }
  const interp = underShim(bin, obj, false);
  assert.equal(interp.status, 0, interp.stdout + interp.stderr);
  assert.deepEqual(interp.stdout.split('\n'), jit.stdout.split('\n'), 'interpreter and JIT disagree');
  const kernel = spawnSync(bin, [obj], { encoding: 'utf8', timeout: 60000 });
  if (kernel.status !== 0 || !kernel.stdout.startsWith('loaded\nlru walk')) {
    t.skip(`kernel path unavailable (${(kernel.stdout || kernel.stderr).split('\n').slice(0, 2).join(' ')}): shim output not compared`);
    return;
  }
  assert.deepEqual(jit.stdout.split('\n'), kernel.stdout.split('\n'));
  fs.rmSync(out, { recursive: true, force: true });
});
