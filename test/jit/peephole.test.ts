// clang idioms the JIT lowers to fewer x86 instructions when a register they leave behind is
// dead (src-ts/jit/live.ts): `q = n; q /= d; q *= d; n -= q` (C's n % d) as one remainder, and
// the shift of `r <<= 32; s = r; s >>= 32` left out when r is overwritten next. Each program runs
// in both engines (zero divisors and 64-bit values included) and the emitted bytes are checked
// for the shape: the pattern where the leftover register is dead, the plain lowering where it
// is read.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { assemble } from '../../src-ts/asm/assembler';
import { compile, JitCode } from '../../src-ts/jit';
import { JIT_HOST, jitRun, vmRun } from './engines';

const skip = !JIT_HOST && `the JIT emits x86-64; this host is ${process.arch}`;

function jit(asm: string): JitCode {
  const c = compile(assemble(asm));
  if (!c.ok) assert.fail(`JIT rejected: ${c.reason}`);
  return c;
}

/** Runs asm in both engines with mem (r1), asserts they agree, returns r0 and the code. */
function both(asm: string, mem: Buffer): { r0: bigint; code: Buffer } {
  const vm = vmRun(assemble(asm), Buffer.from(mem), { budget: 0 });
  assert.ok(vm.ok, vm.error);
  const c = jit(asm);
  const r = jitRun(c, Buffer.from(mem));
  assert.ok(r.ok, r.error);
  assert.equal(r.r0, vm.r0, asm);
  assert.deepEqual(r.mem, vm.mem);
  return { r0: r.r0, code: Buffer.from(c.code) };
}

const mem = (a: bigint, b: bigint): Buffer => {
  const m = Buffer.alloc(16);
  m.writeBigUInt64LE(BigInt.asUintN(64, a), 0);
  m.writeBigUInt64LE(BigInt.asUintN(64, b), 8);
  return m;
};

const has = (code: Buffer, bytes: number[]): boolean => code.indexOf(Buffer.from(bytes)) >= 0;
// div r13 (eBPF r7, the divisor used in place), div esi / div rsi (r2).
const DIV64_R7 = [0x49, 0xf7, 0xf5];
const DIV32_R2 = [0xf7, 0xf6];
const DIV64_R2 = [0x48, 0xf7, 0xf6];
const IMUL_RR = [0x0f, 0xaf];

const VALUES = [0n, 1n, 3n, 7n, 0xffffffffn, 0x80000000n, 0x100000000n, 0x1234567890n, -1n, -7n, 1n << 63n];
const u = (v: bigint) => BigInt.asUintN(64, v);
const mod = (x: bigint, y: bigint) => (y === 0n ? x : x % y);

test("clang's n % d (div, mul, sub) with the quotient dead: one remainder", { skip }, () => {
  for (const a of VALUES) {
    for (const b of VALUES) {
      const m = mem(a, b);
      const la = BigInt.asUintN(32, a), lb = BigInt.asUintN(32, b);
      // 64-bit operands: 64-bit div, no multiply left.
      let r = both(`
        ldxdw %r6, [%r1]
        ldxdw %r7, [%r1+8]
        mov %r8, %r6
        div %r8, %r7
        mul %r8, %r7
        sub %r6, %r8
        mov %r8, 0
        mov %r0, %r6
        exit`, m);
      assert.equal(r.r0, mod(u(a), u(b)), `${a} % ${b}`);
      assert.ok(has(r.code, DIV64_R7) && !has(r.code, IMUL_RR), 'one 64-bit div, no imul');
      // Operands known to be < 2^32: the 32-bit div.
      r = both(`
        ldxw %r0, [%r1]
        ldxw %r2, [%r1+8]
        mov %r3, %r0
        div %r3, %r2
        mul %r3, %r2
        sub %r0, %r3
        mov %r3, 1
        exit`, m);
      assert.equal(r.r0, mod(la, lb));
      assert.ok(has(r.code, DIV32_R2) && !has(r.code, DIV64_R2) && !has(r.code, IMUL_RR), 'one 32-bit div, no imul');
      // The dividend is the divisor too (n % n).
      r = both(`
        ldxdw %r0, [%r1]
        mov %r3, %r0
        div %r3, %r0
        mul %r3, %r0
        sub %r0, %r3
        mov %r3, 1
        exit`, m);
      assert.equal(r.r0, 0n);
      // The quotient read afterwards: the plain div, mul, sub; both results right.
      r = both(`
        ldxdw %r6, [%r1]
        ldxdw %r7, [%r1+8]
        mov %r8, %r6
        div %r8, %r7
        mul %r8, %r7
        sub %r6, %r8
        mov %r0, %r6
        xor %r0, %r8
        exit`, m);
      const q = u(b) === 0n ? 0n : u(a) / u(b);
      assert.equal(r.r0, mod(u(a), u(b)) ^ u(q * u(b)));
      assert.ok(has(r.code, IMUL_RR), 'the multiply is kept for a live quotient');
      // Quotient live at the exit (r0 is the result).
      r = both(`
        ldxdw %r6, [%r1]
        ldxdw %r7, [%r1+8]
        mov %r0, %r6
        div %r0, %r7
        mul %r0, %r7
        sub %r6, %r0
        exit`, m);
      assert.equal(r.r0, u(q * u(b)));
    }
  }
});

test('a jump into the n % d idiom runs the instructions it lands on', { skip }, () => {
  for (const a of VALUES) {
    for (const b of VALUES) {
      const m = mem(a, b);
      // The jump lands on the mul: only the instructions before it form no pattern.
      const r = both(`
        ldxdw %r6, [%r1]
        ldxdw %r7, [%r1+8]
        mov %r8, 5
        jgt %r6, 100, +2
        mov %r8, %r6
        div %r8, %r7
        mul %r8, %r7
        sub %r6, %r8
        mov %r8, 0
        mov %r0, %r6
        exit`, m);
      const x = u(a), y = u(b);
      const q = x > 100n ? 5n : y === 0n ? 0n : x / y;
      assert.equal(r.r0, u(x - u(q * y)));
    }
  }
});

test('r <<= 32; s = r; s >>= 32: no shift when r is overwritten next', { skip }, () => {
  // shl rdi, 32 (r1 is rdi): the shift of the idiom on r1.
  const SHL_R1 = [0x48, 0xc1, 0xe7, 0x20];
  for (const a of VALUES) {
    for (const b of VALUES) {
      const m = mem(a, b);
      let r = both(`
        ldxdw %r5, [%r1+8]
        ldxdw %r1, [%r1]
        lsh %r1, 32
        mov %r2, %r1
        rsh %r2, 32
        mov %r1, %r5
        mov %r0, %r2
        add %r0, %r1
        exit`, m);
      assert.equal(r.r0, u(BigInt.asUintN(32, a) + u(b)));
      assert.ok(!has(r.code, SHL_R1), 'dead shift left out');
      // r read after the idiom: the shift stays.
      r = both(`
        ldxdw %r1, [%r1]
        lsh %r1, 32
        mov %r2, %r1
        rsh %r2, 32
        mov %r0, %r1
        add %r0, %r2
        exit`, m);
      assert.equal(r.r0, u(u(a << 32n) + BigInt.asUintN(32, a)));
      assert.ok(has(r.code, SHL_R1), 'live shift kept');
      // r written only after a branch: not known dead, kept.
      r = both(`
        ldxdw %r1, [%r1]
        lsh %r1, 32
        mov %r2, %r1
        rsh %r2, 32
        jeq %r2, 0, +1
        mov %r1, 0
        mov %r0, %r1
        exit`, m);
      assert.equal(r.r0, BigInt.asUintN(32, a) === 0n ? u(a << 32n) : 0n);
    }
  }
});

test('if cond goto L; goto M; L: is one jump on the inverse condition', { skip }, () => {
  const ops = ['jeq', 'jne', 'jset', 'jgt', 'jge', 'jlt', 'jle', 'jsgt', 'jsge', 'jslt', 'jsle'];
  const operands = [0n, 1n, 7n, 0x80000000n, 0xffffffffn, -1n, -7n, 1n << 63n];
  for (const op of ops) {
    for (const w of ['', '32']) {
      for (const a of operands) {
        for (const b of operands) {
          const m = mem(a, b);
          // Register and immediate forms; L: r0 = 1, M: r0 = 2.
          for (const rhs of ['%r7', `${Number(BigInt.asIntN(32, b))}`]) {
            const prog = `
              ldxdw %r6, [%r1]
              ldxdw %r7, [%r1+8]
              mov %r0, 2
              ${op}${w} %r6, ${rhs}, +1
              ja +1
              mov %r0, 1
              exit`;
            const r = both(prog, m);
            assert.ok(r.r0 === 1n || r.r0 === 2n);
          }
          // The goto is also a jump target: it keeps its own code.
          both(`
            ldxdw %r6, [%r1]
            ldxdw %r7, [%r1+8]
            mov %r0, 2
            jeq %r7, 7, +2
            ${op}${w} %r6, %r7, +1
            ja +1
            mov %r0, 1
            exit`, m);
        }
      }
    }
  }
  // The shape: no conditional jump over a jmp left (a jcc rel8 skipping exactly a jmp rel8).
  const code = Buffer.from(jit(`
    ldxdw %r6, [%r1]
    mov %r0, 2
    jeq %r6, 3, +1
    ja +1
    mov %r0, 1
    exit`).code);
  assert.ok(!has(code, [0x74, 0x02, 0xeb]), 'je over jmp');
  assert.ok(has(code, [0x75]), 'jne to the goto target');
});

test('r = s; r += t; x = *(r + off): one indexed load when r is dead after', { skip }, () => {
  const m = Buffer.alloc(64);
  for (let k = 0; k < 64; k++) m[k] = (k * 37 + 0x81) & 0xff;
  const loads = ['ldxb', 'ldxh', 'ldxw', 'ldxdw', 'ldxsb', 'ldxsh', 'ldxsw'];
  for (const ld of loads) {
    for (const idx of [0, 3, 8, 17]) {
      for (const off of [0, 5, -2, 200 - 256]) {
        if (idx + off < 0 || idx + off + 8 > 64) continue;
        // x = r (the address register reused for the value).
        let r = both(`
          mov %r3, ${idx}
          mov %r2, %r1
          add %r2, %r3
          ${ld} %r2, [%r2${off < 0 ? off : `+${off}`}]
          mov %r0, %r2
          exit`, m);
        // x another register, r overwritten next: fused; r read next: not fused; same values.
        const r1 = both(`
          mov %r3, ${idx}
          mov %r2, %r1
          add %r2, %r3
          ${ld} %r0, [%r2${off < 0 ? off : `+${off}`}]
          mov %r2, 0
          exit`, m);
        assert.equal(r1.r0, r.r0);
        const r2 = both(`
          mov %r3, ${idx}
          mov %r2, %r1
          add %r2, %r3
          ${ld} %r0, [%r2${off < 0 ? off : `+${off}`}]
          sub %r2, %r1
          add %r0, %r2
          exit`, m);
        assert.equal(r2.r0, BigInt.asUintN(64, r.r0 + BigInt(idx)));
      }
    }
  }
  // The stack through r10 as the base and as the index (rbp: a disp8 even for offset 0).
  for (const [s, t] of [['%r10', '%r3'], ['%r3', '%r10']]) {
    const r = both(`
      lddw %r4, 0x1122334455667788
      stxdw [%r10-16], %r4
      mov %r3, -16
      mov %r2, ${s}
      add %r2, ${t}
      ldxdw %r0, [%r2]
      ldxw %r5, [%r2+4]
      add %r0, %r5
      exit`, Buffer.alloc(8));
    assert.equal(r.r0, BigInt.asUintN(64, 0x1122334455667788n + 0x11223344n));
  }
  // Shape: the indexed movzx (movzx r0d, byte [rdi + rdx]: 0f b6 04 17) and no lea.
  const code = Buffer.from(jit(`
    mov %r3, 5
    mov %r2, %r1
    add %r2, %r3
    ldxb %r0, [%r2]
    exit`).code);
  assert.ok(has(code, [0x0f, 0xb6, 0x04, 0x17]), 'movzx eax, byte [rdi + rdx]');
});

test('div/mod with the divisor in any register (used in place unless in r0 or r3)', { skip }, () => {
  const ops = [['div', 'mod'], ['sdiv', 'smod']];
  const pairs = [[100n, 7n], [-100n, 7n], [7n, 0n], [-1n, -1n], [1n << 63n, -1n], [0xffffffffn, 0x10000n]];
  for (const [a, b] of pairs) {
    const m = mem(a, b);
    for (const group of ops) {
      for (const op of group) {
        for (const w of ['', '32']) {
          for (let d = 0; d <= 9; d++) {
            for (let s = 0; s <= 9; s++) {
              if (d === 1 || s === 1) continue; // r1 holds the buffer
              // d = a, s = b (s = d: a / a); the result and the divisor, mixed into r0.
              both(`
                ldxdw %r${d}, [%r1]
                ldxdw %r${s}, [%r1+8]
                ${op}${w} %r${d}, %r${s}
                mov %r1, %r${d}
                lsh %r1, 1
                xor %r1, %r${s}
                mov %r0, %r1
                exit`, m);
            }
          }
        }
      }
    }
  }
});
