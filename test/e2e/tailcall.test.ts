// Tail calls and callbacks end to end: test/programs/tailcall.bpf.c (compiled with clang) is
// loaded by a libbpf tool (tailcall_loader.c), which initialises its prog array from `.values`,
// attaches a dispatcher at a uprobe of a victim started with `bpftime start`, and prints what the
// stages recorded: bpf_loop (stop on 1, flags, the 1 << 23 limit), bpf_for_each_map_elem over
// hash, array (with writes), per-CPU array and hash and LRU maps, tail calls through the array
// (empty slots and out-of-range indexes fall through, a chain stops after 33), slots emptied and
// filled from user space. The program runs in a process other than the tool's, so it finds the
// tail-call targets the server pushed to that process's agent. Expected values are asserted; where
// kernel BPF is available the kernel's output must be identical, in the interpreter and the JIT.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { tmpRuntimeDir } from './harness';
import { buildVictimLoader, haveLibbpfTools, victimLoaderEverywhere } from './libbpf-program';

const build = (dir: string) => buildVictimLoader('tailcall', 'tailcall_loader', dir);

/** What tailcall.bpf.c must record, worked out from its source (see the comments there). */
function checkExpected(out: string): void {
  const first = out.slice(0, out.indexOf('delete slot 2'));
  const val = (s: string, k: string) => Number(s.match(new RegExp(`^${k}: (-?\\d+)$`, 'm'))?.[1]);
  assert.match(first, /^slot 0: stage_loop\nslot 1: stage_foreach\nslot 2: stage_chain\nslot 3: stage_nested\nslot 4: stage_subtail\nslot 5: No such file or directory\n/);
  assert.match(first, /victim ran 8 ops\nvictim exit 0/);
  const want: Record<string, number> = {
    dispatch: 8, fall: 2, fall_op: 105, // ops 5 (empty slot) and 100 (out of range) fall through
    loop_ret: 10 + 51 + 7 + 3, loop_sum: 45 + 1275 + 21 + 3, loop_badflags: -22, loop_e2big: 2 ** 32 - 7, loop_zero: 0,
    hash_n: 10010, hash_sum: 385, arr_n: 6006, arr_sum: 15156, pcpu_n: 4004, pcpu_sum: 70, lru_n: 5005, lru_sum: 1530,
    phash_n: 3003, each_badflags: -22, hash_stop_n: 1,
    chain: 33, chain_fall: 1, nested: 1, nested_fall: 0, sub_loop: 1344,
    subtail: 1, subtail_after: 100, // the stage it tail-called returned 0 to its caller
  };
  for (const [k, v] of Object.entries(want)) assert.equal(val(first, k), v, k);
  const second = out.slice(out.indexOf('delete slot 2'));
  assert.match(second, /slot 2: No such file or directory\n/);
  assert.match(second, /slot 6: stage_chain\n/);
  assert.equal(val(second, 'chain'), 34);
  assert.equal(val(second, 'fall'), 3);
  assert.match(second, /arr\[5\] = 51\narr\[6\] = 60\n/);
}

const skip = !haveLibbpfTools && 'needs clang, cc and libbpf-dev';

test('tail calls, bpf_loop and for_each_map_elem under bpftime start, as on the kernel', { skip, timeout: 180000 }, (t) => {
  const dir = tmpRuntimeDir();
  victimLoaderEverywhere(t, build(dir), checkExpected, 'slot 0:');
  fs.rmSync(dir, { recursive: true, force: true });
});
