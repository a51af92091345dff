// Helper calls the JIT emits inline (src-ts/jit/inline.ts): bpf_map_lookup_elem on an ARRAY map
// named by an ld_imm64, against the value area the loader resolves ('array_values').
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { assemble } from '../../src-ts/asm/assembler';
import { compile, JitCode, JitMapInfo } from '../../src-ts/jit';
import { JIT_RELOC_KIND } from '../../src-ts/jit/types';
import { BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH } from '../../src-ts/uapi/bpf';
import { JIT_HOST, TestReloc, jitRunRaw } from './engines';

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
