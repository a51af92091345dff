// Tail calls between engines, natively (test/jit/jit_tail_test.c): a dispatcher compiled by the
// JIT tail-calls through a real prog array into JIT'ed programs (a chain into itself up to the
// limit of 33, one that runs a bpf_loop with a JIT'ed callback and tail-calls on, a leaf, one
// whose bpf-to-bpf function tail-calls, one whose inlined bpf_loop's callback tail-calls, one
// whose callback a helper calls (a bpf_loop the JIT does not inline) and tail-calls into the
// chain: the count is the run's, so the chain stops sooner; one whose bpf-to-bpf function the
// chain replaces, after which its own tail call falls through); then again with the chain left
// to the interpreter (entered through the trampoline, the count carried in and back out). Empty
// and out-of-range slots fall through. The same dispatcher in the interpreter must give the same
// r0 and context.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { assemble } from '../../src-ts/asm/assembler';
import { decodeInsns } from '../../src-ts/asm/insn';
import { INSN_RELOC_MAP_PTR, InsnReloc, jitSection, withJit } from '../../src-ts/jit';
import { BPF_PSEUDO_FUNC } from '../../src-ts/uapi/bpf';
import { repoRoot } from '../conformance/vectors';
import { JIT_HOST } from './engines';

const root = repoRoot();
const skip = !JIT_HOST ? `the JIT emits x86-64; this host is ${process.arch}` : spawnSync('gcc', ['--version']).status !== 0 ? 'gcc not found' : false;

/** A program image (objfile.h struct bpftime_prog_image) whose every plain `lddw %rX, 0` is a
 * reference to map 1, the prog array; `lddw %rX, cb` callbacks are marked with fnAt. */
function image(src: string, fnAt: Array<[number, number]> = [], jit = true): Buffer {
  const code = assemble(src);
  for (const [ld, target] of fnAt) {
    code[ld * 8 + 1] = (code[ld * 8 + 1] & 0x0f) | (BPF_PSEUDO_FUNC << 4);
    code.writeInt32LE(target - ld - 1, ld * 8 + 4);
  }
  const fn = new Set(fnAt.map(([ld]) => ld));
  const relocs: InsnReloc[] = decodeInsns(code).flatMap((x, i) =>
    x.code === 0x18 && !fn.has(i) ? [{ insnIdx: i, kind: INSN_RELOC_MAP_PTR, mapId: 1, off: 0 }] : []);
  const HDR = 48, relocOff = HDR + code.length, idsOff = relocOff + 16 * relocs.length;
  const img = Buffer.alloc(idsOff + 4);
  [0x47525042, 2 /* kprobe */, code.length / 8, HDR, relocs.length, relocOff, 1, idsOff].forEach((v, k) => img.writeUInt32LE(v, 4 * k));
  code.copy(img, HDR);
  relocs.forEach((r, k) => [r.insnIdx, r.kind, r.mapId, r.off].forEach((v, j) => img.writeUInt32LE(v, relocOff + 16 * k + 4 * j)));
  img.writeUInt32LE(1, idsOff);
  const { blob } = jitSection(code, relocs);
  return blob && jit ? withJit(img, blob) : img;
}

// ctx: [0] index, [1] fall-throughs, [2] chain runs, [3] chain fall-throughs, [4] loop sum,
// [5] what the bpf-to-bpf tail call returned, [6] loop count, [7] the callback loop's count.
const P0 = `
  mov %r6, %r1
  lddw %r2, 0
  ldxdw %r3, [%r6]
  call 12
  ldxdw %r1, [%r6+8]
  add %r1, 1
  stxdw [%r6+8], %r1
  mov %r0, 1000
  exit`;
const P1 = `
  mov %r6, %r1
  ldxdw %r1, [%r6+16]
  add %r1, 1
  stxdw [%r6+16], %r1
  mov %r1, %r6
  lddw %r2, 0
  mov %r3, 1
  call 12
  ldxdw %r1, [%r6+24]
  add %r1, 1
  stxdw [%r6+24], %r1
  ldxdw %r0, [%r6+16]
  exit`;
// insn 2 is the callback's lddw, insn 15 the callback.
const P2 = `
  mov %r6, %r1
  mov %r1, 5
  lddw %r2, 0
  mov %r3, %r6
  mov %r4, 0
  call 181
  stxdw [%r6+48], %r0
  mov %r1, %r6
  lddw %r2, 0
  mov %r3, 3
  call 12
  mov %r0, 2
  exit
  ldxdw %r3, [%r2+32]
  add %r3, %r1
  stxdw [%r2+32], %r3
  mov %r0, 0
  exit`;
const P3 = `
  ldxdw %r0, [%r1+32]
  mul %r0, 3
  add %r0, 7
  exit`;
const P4 = `
  mov %r6, %r1
  call local sub
  ldxdw %r1, [%r6+40]
  add %r1, %r0
  stxdw [%r6+40], %r1
  mov %r0, 44
  exit
sub:
  lddw %r2, 0
  mov %r3, 3
  call 12
  mov %r0, 9
  exit`;
// A callback that tail-calls (into the leaf, which replaces the callback's frame: its 7 stops
// the loop after one call). insn 1 is the callback's lddw, insn 10 the callback. The JIT runs
// this bpf_loop inline and calls the callback directly, so the tail call is JIT'ed too.
const P5 = `
  mov %r6, %r1
  lddw %r2, 0
  mov %r1, 3
  mov %r3, %r6
  mov %r4, 0
  call 181
  stxdw [%r6+56], %r0
  mov %r0, 55
  exit
  mov %r1, %r2
  lddw %r2, 0
  mov %r3, 3
  call 12
  mov %r0, 0
  exit`;

// A bpf_loop the JIT cannot inline (the callback pointer reaches r2 through r7), so the helper
// calls the callback; the callback tail-calls into the chain (slot 1), which replaces the
// callback's frame: the dispatcher's tail call and the callback's count, so the chain runs 32
// times, and its non-zero r0 stops the loop after one call. insn 1 is the callback's lddw, insn
// 11 the callback.
const P6 = `
  mov %r6, %r1
  lddw %r7, 0
  mov %r1, 3
  mov %r2, %r7
  mov %r3, %r6
  mov %r4, 0
  call 181
  stxdw [%r6+56], %r0
  mov %r0, 66
  exit
  mov %r1, %r2
  lddw %r2, 0
  mov %r3, 1
  call 12
  mov %r0, 0
  exit`;

// One count for the whole run: a bpf-to-bpf function tail-calls into the chain, which replaces
// it and uses the run's count up (the dispatcher's call, this one and 31 of the chain's); back in
// the main function, a tail call into the leaf must then fall through.
const P7 = `
  mov %r6, %r1
  call local sub
  stxdw [%r6+40], %r0
  mov %r1, %r6
  lddw %r2, 0
  mov %r3, 3
  call 12
  mov %r0, 77
  exit
sub:
  lddw %r2, 0
  mov %r3, 1
  call 12
  mov %r0, 9
  exit`;

test('tail calls: JIT to JIT, JIT to interpreter, callbacks, the limit of 33, as the interpreter', { skip, timeout: 180_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpftime-jit-tail-'));
  try {
    const lines = assemble(P2);
    assert.equal(decodeInsns(lines)[15].code, 0x79, 'the callback starts at insn 15');
    assert.equal(decodeInsns(assemble(P5))[10].code, 0xbf, 'the callback starts at insn 10');
    assert.equal(decodeInsns(assemble(P6))[11].code, 0xbf, 'the callback starts at insn 11');
    const exe = path.join(dir, 'jit_tail_test');
    const core = execFileSync('find', [path.join(root, 'src-native/core'), '-name', '*.c'], { encoding: 'utf8' }).trim().split('\n').sort();
    execFileSync('gcc', ['-std=gnu11', '-D_GNU_SOURCE', '-O0', '-Wall', '-Wno-unused-parameter',
      `-I${path.join(root, 'src-native/include')}`, path.join(root, 'test/jit/jit_tail_test.c'), ...core,
      '-lpthread', '-ldl', '-lm', '-o', exe], { stdio: 'pipe', timeout: 150_000 });
    const want: Record<number, string> = {
      1: 'r0=33 ctx=0,33,1,0,0,0,0', // the dispatcher's tail call and 32 of the chain's: 33 runs
      2: 'r0=37 ctx=0,0,0,10,0,5,0', // bpf_loop 5 times (0+1+2+3+4), then the leaf: 10 * 3 + 7
      3: 'r0=7 ctx=0,0,0,0,0,0,0',
      4: 'r0=44 ctx=0,0,0,0,7,0,0',  // the leaf replaced the bpf-to-bpf function: its 7 came back
      5: 'r0=55 ctx=0,0,0,0,0,0,1',  // the leaf replaced the callback: its 7 stopped the loop
      6: 'r0=66 ctx=0,32,1,0,0,0,1',  // 1 + 1 + 31 tail calls: the chain ran 32 times, once in the loop
      7: 'r0=77 ctx=0,32,1,0,32,0,0', // the chain replaced the function and used the count up
      0: 'r0=1000 ctx=1,0,0,0,0,0,0', // empty slot
      9: 'r0=1000 ctx=1,0,0,0,0,0,0', // out of range
    };
    // Twice: every program JIT'ed, then the chain without JIT code (entered from JIT code through
    // the interpreter trampoline, which must carry the run's count in and its tail calls back out).
    for (const chainJit of [true, false]) {
      [image(P0), image(P1, [], chainJit), image(P2, [[2, 15]]), image(P3), image(P4), image(P5, [[1, 10]]), image(P6, [[1, 11]]), image(P7)]
        .forEach((img, k) => fs.writeFileSync(path.join(dir, `p${k}.img`), img));
      const run = spawnSync(exe, [dir], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, BPFTIME_JIT: '1' } });
      assert.equal(run.status, 0, run.stdout + run.stderr);
      const out = run.stdout;
      assert.match(out, new RegExp(`^p0: jit\np1: ${chainJit ? 'jit' : 'interpreter'}\np2: jit\np3: jit\np4: jit\np5: jit\np6: jit\np7: jit\n`));
      for (const [idx, v] of Object.entries(want)) {
        assert.match(out, new RegExp(`^idx ${idx} interpreter ${v}$`, 'm'), out);
        assert.match(out, new RegExp(`^idx ${idx} jit ${v}$`, 'm'), out);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
