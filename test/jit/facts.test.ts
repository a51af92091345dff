// The JIT's cheaper forms for values known to fit in 32 bits (src-ts/jit/facts.ts): clang's
// zero-extension idioms fused into one mov, 64-bit unsigned div/mod done as 32-bit ones. Each
// program runs in both engines with operands inside and outside 32 bits, reached by paths where
// the fact holds and by jumps that land where it must be forgotten.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { assemble } from '../../src-ts/asm/assembler';
import { compile } from '../../src-ts/jit';
import { JIT_HOST, jitRun, vmRun } from './engines';

const skip = !JIT_HOST && `the JIT emits x86-64; this host is ${process.arch}`;

/** Runs asm in both engines with mem (r1), asserts they agree, returns r0. */
function both(asm: string, mem: Buffer): bigint {
  const code = assemble(asm);
  const vm = vmRun(code, Buffer.from(mem), { budget: 0 });
  assert.ok(vm.ok, vm.error);
  const c = compile(code);
  if (!c.ok) assert.fail(`JIT rejected: ${c.reason}`);
  const jit = jitRun(c, Buffer.from(mem));
  assert.ok(jit.ok, jit.error);
  assert.equal(jit.r0, vm.r0, asm);
  assert.deepEqual(jit.mem, vm.mem);
  return jit.r0;
}

const mem = (a: bigint, b: bigint): Buffer => {
  const m = Buffer.alloc(16);
  m.writeBigUInt64LE(BigInt.asUintN(64, a), 0);
  m.writeBigUInt64LE(BigInt.asUintN(64, b), 8);
  return m;
};

const VALUES = [0n, 1n, 7n, 0xffffffffn, 0x80000000n, 0x100000000n, 0x1234567890n, -1n, -7n, 1n << 63n];

test('zero-extension idioms: fused, and a no-op for a known register', { skip }, () => {
  for (const a of VALUES) {
    for (const b of VALUES) {
      const m = mem(a, b);
      const lo = (v: bigint) => BigInt.asUintN(32, v);
      // r <<= 32; r >>= 32 on an unknown register, then on a known one (no code).
      assert.equal(both(`
        ldxdw %r0, [%r1]
        lsh %r0, 32
        rsh %r0, 32
        lsh %r0, 32
        rsh %r0, 32
        exit`, m), lo(a));
      // r = s; r <<= 32; r >>= 32
      assert.equal(both(`
        ldxdw %r2, [%r1+8]
        mov %r0, %r2
        lsh %r0, 32
        rsh %r0, 32
        add %r0, %r2
        exit`, m), BigInt.asUintN(64, lo(b) + BigInt.asUintN(64, b)));
      // A jump into the middle of the idiom: the rsh alone must run there.
      assert.equal(both(`
        ldxdw %r0, [%r1]
        ldxdw %r2, [%r1+8]
        jeq %r2, 7, +1
        lsh %r0, 32
        rsh %r0, 32
        exit`, m), b === 7n ? BigInt.asUintN(64, a) >> 32n : lo(a));
      // A jump target between mov and the idiom.
      assert.equal(both(`
        ldxdw %r0, [%r1]
        ldxdw %r2, [%r1+8]
        jeq %r2, 7, +1
        mov %r0, %r2
        lsh %r0, 32
        rsh %r0, 32
        exit`, m), lo(b === 7n ? a : b));
    }
  }
});

test('64-bit unsigned div/mod of zero-extended values: 32-bit forms, same results', { skip }, () => {
  const u = (v: bigint) => BigInt.asUintN(64, v);
  for (const a of VALUES) {
    for (const b of VALUES) {
      const m = mem(a, b);
      const la = BigInt.asUintN(32, a), lb = BigInt.asUintN(32, b);
      for (const [op, f] of [['div', (x: bigint, y: bigint) => (y === 0n ? 0n : x / y)], ['mod', (x: bigint, y: bigint) => (y === 0n ? x : x % y)]] as const) {
        // Both known (32-bit loads), register divisor.
        assert.equal(both(`
          ldxw %r0, [%r1]
          ldxw %r2, [%r1+8]
          ${op} %r0, %r2
          exit`, m), f(la, lb), `${op} ${a} ${b}`);
        // Known by the idiom; the dividend is the divisor too.
        assert.equal(both(`
          ldxdw %r3, [%r1]
          lsh %r3, 32
          rsh %r3, 32
          mov %r0, %r3
          ${op} %r0, %r3
          exit`, m), f(la, la));
        // Only the dividend known: the 64-bit form.
        assert.equal(both(`
          ldxw %r0, [%r1]
          ldxdw %r2, [%r1+8]
          ${op} %r0, %r2
          exit`, m), f(la, u(b)));
        // Divisor known, dividend loaded as 64 bits: the 64-bit form.
        assert.equal(both(`
          ldxdw %r0, [%r1]
          ldxw %r2, [%r1+8]
          ${op} %r0, %r2
          exit`, m), f(u(a), lb));
        // Immediate divisors, positive and negative (sign-extended: a 64-bit divisor).
        assert.equal(both(`
          ldxw %r0, [%r1]
          ${op} %r0, 13
          exit`, m), f(la, 13n));
        assert.equal(both(`
          ldxw %r0, [%r1]
          ${op} %r0, -3
          exit`, m), f(la, u(-3n)));
        // Known on the fall-through path, not on the jump that lands on the division.
        assert.equal(both(`
          ldxdw %r0, [%r1]
          ldxdw %r2, [%r1+8]
          jgt %r0, 100, +2
          mov32 %r0, %r0
          mov32 %r2, %r2
          ${op} %r0, %r2
          exit`, m), u(a) > 100n ? f(u(a), u(b)) : f(la, lb));
        // A call forgets what was known about r0..r5 (r0 = the helper's result).
        assert.equal(both(`
          ldxw %r6, [%r1]
          ldxdw %r7, [%r1+8]
          mov32 %r0, 1
          call 5
          mov %r0, %r7
          ${op} %r0, %r6
          exit`, m), f(u(b), la));
        // 32-bit ALU results, rsh by >= 32 and and with a positive immediate are known.
        assert.equal(both(`
          ldxdw %r0, [%r1]
          ldxdw %r2, [%r1+8]
          rsh %r0, 33
          and %r2, 0x7fffffff
          ${op} %r0, %r2
          exit`, m), f(u(a) >> 33n, u(b) & 0x7fffffffn));
      }
    }
  }
});

test('fused address and split idioms: lea for mov+add, mov32+shl for lsh/mov/rsh', { skip }, () => {
  const u = (v: bigint) => BigInt.asUintN(64, v);
  const lo = (v: bigint) => BigInt.asUintN(32, v);
  for (const a of VALUES) {
    for (const b of VALUES) {
      const m = mem(a, b);
      for (const imm of [0, 1, -1, 100, -0x80000000, 0x7fffffff]) {
        assert.equal(both(`
          ldxdw %r3, [%r1]
          mov %r0, %r3
          add %r0, ${imm}
          exit`, m), u(u(a) + BigInt(imm)));
        assert.equal(both(`
          ldxdw %r3, [%r1]
          mov32 %r0, %r3
          add32 %r0, ${imm}
          exit`, m), lo(a + BigInt(imm)));
      }
      for (const w of ['', '32']) {
        const f = (v: bigint) => (w ? lo(v) : u(v));
        // r0 = r3; r0 += r4 / r0 += r0 (twice r3) / r7 = r10; r7 += r4 (r10-based)
        assert.equal(both(`
          ldxdw %r3, [%r1]
          ldxdw %r4, [%r1+8]
          mov${w} %r0, %r3
          add${w} %r0, %r4
          mov${w} %r5, %r3
          add${w} %r5, %r5
          xor %r0, %r5
          exit`, m), f(u(a) + u(b)) ^ f(u(a) * 2n));
      }
      // A stack address built by lea from r10, stored through.
      assert.equal(both(`
        ldxdw %r3, [%r1]
        mov %r2, %r10
        add %r2, -8
        stxdw [%r2], %r3
        ldxdw %r0, [%r10-8]
        exit`, m), u(a));
      // r <<= 32; s = r; s >>= 32, and a jump landing on the mov.
      assert.equal(both(`
        ldxdw %r3, [%r1]
        ldxdw %r4, [%r1+8]
        lsh %r3, 32
        mov %r0, %r3
        rsh %r0, 32
        xor %r0, %r3
        exit`, m), lo(a) ^ u(u(a) << 32n));
      assert.equal(both(`
        ldxdw %r3, [%r1]
        ldxdw %r0, [%r1+8]
        jeq %r0, 7, +1
        lsh %r3, 32
        mov %r0, %r3
        rsh %r0, 32
        exit`, m), b === 7n ? u(a) >> 32n : lo(a));
    }
  }
});
