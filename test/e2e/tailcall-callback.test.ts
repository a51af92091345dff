// Tail calls from callbacks a helper calls, end to end: test/programs/tailcall_callback.bpf.c
// (compiled with clang) walks an array and a hash map with bpf_for_each_map_elem from a uprobe of
// a victim started with `bpftime start`; the callbacks call a function that tail-calls into a
// leaf (the walk goes on), a program returning 1 (the walk stops) and a chain into itself (the
// run's count of 33 runs out, later tail calls fall through). The JIT runs these programs as JIT
// code (the helper hands the callback the tail-call count); its output must equal the
// interpreter's (BPFTIME_JIT=0) and the values worked out from the source.
//
// Not run on the kernel: a 6.18 kernel loads this object, but its x86 JIT gives a callback that a
// helper calls no tail-call count pointer, and the tail call oopses the kernel (NULL dereference
// in tail_from_sub). A tail call made by the callback itself (tailcall_in_callback.bpf.c) the
// kernel refuses at load, and so must the runtime: that refusal is compared with the kernel's.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { isRoot, tmpRuntimeDir } from './harness';
import { VictimLoader, buildBpfObject, buildVictimLoader, haveLibbpfTools, runVictimLoaderUnderShim } from './libbpf-program';

const build = (dir: string) => buildVictimLoader('tailcall_callback', 'tailcall_callback_loader', dir);

function underShim(b: VictimLoader, jit: boolean): string {
  const r = runVictimLoaderUnderShim(b, jit);
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

/** What tailcall_callback.bpf.c must record (see the comments there). */
const WANT: Record<string, number> = {
  runs: 3,
  // op 0: 4 elements, each callback's function tail-calls the leaf (r0 0: the walk goes on).
  arr_cb: 4, arr_fall: 0, arr_ret: 4, leaf: 4,
  // op 1: the stopper's 1 comes back to the first callback, which stops the walk.
  stop_cb: 1, stop_ret: 1, stopper: 1,
  // op 2: the first callback's tail call and the chain's 32 use up the run's 33, the chain's 33rd
  // run falls through; the other two callbacks' tail calls fall through.
  hash_cb: 3, hash_fall: 2, hash_ret: 3, chain: 33, chain_fall: 1,
};

const skip = !haveLibbpfTools && 'needs clang, cc and libbpf-dev';

test('tail calls from bpf_for_each_map_elem callbacks: JIT as the interpreter, the run\'s count of 33', { skip, timeout: 180000 }, () => {
  const dir = tmpRuntimeDir();
  try {
    const b = build(dir);
    const interp = underShim(b, false);
    assert.match(interp, /^victim ran 3 ops\nvictim exit 0\n/);
    for (const [k, v] of Object.entries(WANT)) assert.match(interp, new RegExp(`^${k}: ${v}$`, 'm'), `${k}\n${interp}`);
    const jit = underShim(b, true);
    assert.equal(jit, interp, 'JIT and interpreter differ');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a tail call made by a callback itself is refused at load, as by the kernel', { skip, timeout: 120000 }, (t) => {
  const dir = tmpRuntimeDir();
  try {
    const b = build(dir);
    const obj = buildBpfObject('tailcall_in_callback', dir);
    const want = 'load failed: Invalid argument: At callback return the register R0 has unknown scalar value should have been in [0, 1]\n';
    const r = runVictimLoaderUnderShim(b, true, {}, obj);
    assert.equal(r.status, 1, r.stdout);
    assert.equal(r.stdout, want);
    if (!isRoot) {
      t.diagnostic('not root: kernel verdict not compared');
      return;
    }
    // Refused at load, so nothing runs on the kernel.
    const k = spawnSync(b.loader, [obj, b.victim], { encoding: 'utf8', timeout: 60000 });
    if (/^load failed: Operation not permitted/.test(k.stdout)) t.diagnostic(`kernel path unavailable: ${k.stdout.trim()}`);
    else assert.equal(k.stdout, r.stdout);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
