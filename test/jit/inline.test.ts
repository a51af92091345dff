// Helper calls the JIT emits inline (src-ts/jit/inline.ts): bpf_map_lookup_elem on an ARRAY map
// named by an ld_imm64, against the value area the loader resolves ('array_values').
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { assemble } from '../../src-ts/asm/assembler';
import { compile, JitCode, JitMapInfo } from '../../src-ts/jit';
import { JIT_RELOC_KIND } from '../../src-ts/jit/types';
import { BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH, BPF_PSEUDO_FUNC } from '../../src-ts/uapi/bpf';
import { JIT_HOST, TestReloc, jitRun, jitRunRaw, vmRun } from './engines';

const skip = !JIT_HOST && `the JIT emits x86-64; this host is ${process.arch}`;
const VALUES = 0x7f0012345000n; // where the loader would put value 0 (never dereferenced here)
const HANDLE = 0x7f00aaaa0000n;

const lookup = (key: number, between = '') => assemble(`
  stw [%r10-4], ${key | 0}
  lddw %r1, 0
  ${between}
  mov %r2, %r10
  add %r2, -4
  call 1
  exit`);

function build(code: Buffer, map: JitMapInfo): JitCode {
  const out = compile(code, { relocs: [{ insnIdx: 1, kind: 1, mapId: map.id, off: 0 }], maps: [map] });
  if (!out.ok) assert.fail(out.reason);
  return out;
}

function run(out: JitCode): bigint {
  const relocs = out.relocs.map((r) => ({
    ...r, kind: JIT_RELOC_KIND[r.kind], value: r.kind === 'map_ptr' ? HANDLE : VALUES,
  })) as unknown as TestReloc[];
  const r = jitRunRaw(out.code, relocs, null);
  assert.ok(r.ok, r.error);
  return r.r0;
}

test('array lookup inline: bounds check and element address for any value size', { skip }, () => {
  for (const [valueSize, maxEntries] of [[8, 64], [4, 1], [12, 10], [24, 1000], [4096, 3], [1, 0xffffffff]]) {
    const map = { id: 9, mapType: BPF_MAP_TYPE_ARRAY, maxEntries, valueSize };
    const elem = BigInt((valueSize + 7) & ~7);
    for (const key of [0, 1, maxEntries - 1, maxEntries, maxEntries + 1, 0x7fffffff, 0xffffffff]) {
      const out = build(lookup(key), map);
      assert.deepEqual(out.relocs.filter((r) => r.kind === 'helper'), [], 'no helper call left');
      const rel = out.relocs.find((r) => r.kind === 'array_values');
      assert.ok(rel && rel.id === 9 && rel.addend === maxEntries >>> 0);
      const k = BigInt(key >>> 0);
      assert.equal(run(out), k < BigInt(maxEntries >>> 0) ? VALUES + k * elem : 0n, `size ${valueSize} key ${key}`);
    }
  }
});

test('array lookup inline only when r1 is known to be that map', () => {
  const array = { id: 9, mapType: BPF_MAP_TYPE_ARRAY, maxEntries: 4, valueSize: 8 };
  const kinds = (out: JitCode) => out.relocs.map((r) => r.kind).sort();
  assert.deepEqual(kinds(build(lookup(1), array)), ['array_values', 'map_ptr']);
  // A hash map: the helper.
  assert.deepEqual(kinds(build(lookup(1), { ...array, mapType: BPF_MAP_TYPE_HASH })), ['helper', 'map_ptr']);
  // r1 rewritten after the ld_imm64, or a jump lands between them: the helper.
  assert.deepEqual(kinds(build(lookup(1, 'mov %r1, %r6'), array)), ['helper', 'map_ptr']);
  assert.deepEqual(kinds(build(lookup(1, 'ja +0'), array)), ['helper', 'map_ptr']);
  // No map information: the helper.
  const plain = compile(lookup(1), { relocs: [{ insnIdx: 1, kind: 1, mapId: 9, off: 0 }] });
  assert.ok(plain.ok);
  assert.deepEqual(kinds(plain), ['helper', 'map_ptr']);
});

/** asm with the ld_imm64 at each [insn, target] pair made a callback pointer (BPF_PSEUDO_FUNC). */
function withCallbacks(asm: string, fnAt: Array<[number, number]>): Buffer {
  const code = assemble(asm);
  for (const [ld, target] of fnAt) {
    code[ld * 8 + 1] = (code[ld * 8 + 1] & 0x0f) | (BPF_PSEUDO_FUNC << 4);
    code.writeInt32LE(target - ld - 1, ld * 8 + 4);
  }
  return code;
}

// mem: [0] nr_loops (u32), [4] flags (u32), [8] bpf_loop's r0, [16] the callbacks' sum,
// [24] the index whose call returns non-zero (u32), [32] inner loops' count.
const LOOP = (between: string) => `
  mov %r6, %r1
  lddw %r2, 0
  ldxw %r1, [%r6]
  mov %r3, %r6
  ldxw %r4, [%r6+4]
  ${between}
  call 181
  stxdw [%r6+8], %r0
  ldxdw %r0, [%r6+16]
  exit
  mov %r7, %r1
  ldxdw %r0, [%r2+16]
  add %r0, %r7
  add %r0, %r3
  add %r0, %r4
  add %r0, %r5
  stxdw [%r2+16], %r0
  stdw [%r10-8], 5
  ldxdw %r0, [%r10-8]
  ldxw %r1, [%r2+24]
  jne %r7, %r1, +1
  exit
  mov %r0, 0
  exit`;

function bothLoop(code: Buffer, m: Buffer): { r0: bigint; mem: Buffer } {
  const vm = vmRun(code, Buffer.from(m), { budget: 0 });
  assert.ok(vm.ok, vm.error);
  const out = compile(code);
  if (!out.ok) assert.fail(out.reason);
  const jit = jitRun(out, Buffer.from(m));
  assert.ok(jit.ok, jit.error);
  assert.equal(jit.r0, vm.r0);
  assert.deepEqual(jit.mem, vm.mem);
  return { r0: jit.r0, mem: jit.mem! };
}

test('bpf_loop inline: the helper\'s results, early stop, flags, limits, callback args', { skip }, () => {
  const inlined = withCallbacks(LOOP(''), [[1, 10]]);
  const viaHelper = withCallbacks(LOOP('mov %r5, %r2'), [[1, 11]]); // r2 read: not inlined
  const c1 = compile(inlined), c2 = compile(viaHelper);
  assert.ok(c1.ok && c2.ok);
  assert.deepEqual(c1.relocs.map((r) => r.kind), [], 'inline: neither the helper nor a callback pointer');
  assert.deepEqual(c2.relocs.map((r) => r.kind).sort(), ['code', 'helper']);
  const MAX = 1 << 23;
  for (const [nr, flags, stop] of [[0, 0, 3], [1, 0, 3], [10, 0, 1000], [10, 0, 3], [10, 0, 0], [MAX, 0, 7], [MAX + 1, 0, 3],
    [0xffffffff, 0, 3], [10, 1, 3], [0, 0x80000000, 3]]) {
    const m = Buffer.alloc(40);
    m.writeUInt32LE(nr, 0);
    m.writeUInt32LE(flags, 4);
    m.writeUInt32LE(stop, 24);
    for (const code of [inlined, viaHelper]) {
      const { mem } = bothLoop(code, m);
      const r0 = mem.readBigUInt64LE(8);
      const want = flags ? BigInt.asUintN(64, -22n) : nr > MAX ? BigInt(0x100000000 - 7) : BigInt(Math.min(nr, stop + 1));
      assert.equal(r0, want, `nr ${nr} flags ${flags} stop ${stop}`);
    }
  }
});

test('bpf_loop inline: nested loops, a callback with a stack and calls', { skip }, () => {
  // The outer callback (at 10) runs an inline bpf_loop of [32] rounds of the inner one (at 21).
  const code = withCallbacks(`
    mov %r6, %r1
    lddw %r2, 0
    ldxw %r1, [%r6]
    mov %r3, %r6
    mov %r4, 0
    call 181
    stxdw [%r6+8], %r0
    ldxdw %r0, [%r6+16]
    exit
    mov %r6, %r2
    stxdw [%r10-16], %r1
    ldxw %r1, [%r6+32]
    lddw %r2, 0
    mov %r3, %r6
    mov %r4, 0
    call 181
    ldxdw %r1, [%r10-16]
    mov %r0, 0
    exit
    ldxdw %r0, [%r2+16]
    add %r0, %r1
    add %r0, 1
    stxdw [%r2+16], %r0
    mov %r0, 0
    exit`, [[1, 10], [13, 21]]);
  const out = compile(code);
  assert.ok(out.ok);
  assert.deepEqual(out.relocs, []);
  const m = Buffer.alloc(40);
  m.writeUInt32LE(6, 0);
  m.writeUInt32LE(4, 32);
  const { r0 } = bothLoop(code, m);
  assert.equal(r0, 6n * (0n + 1n + 2n + 3n + 4n));
});
