// JIT behaviour the conformance vectors and the fuzzer do not reach: helper calls with all five
// arguments, relocations, bpf-to-bpf frames, may_goto, long jumps, the blob format, and what
// the JIT refuses.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { assemble } from '../../src-ts/asm/assembler';
import { encodeInsns, insn } from '../../src-ts/asm/insn';
import * as O from '../../src-ts/asm/opcodes';
import { compile, jitBlob, jitSection, withJit, JitCode, JitResult, JIT_BLOB_MAGIC } from '../../src-ts/jit';
import { JIT_HOST, jitRun, jitRunRaw, vmRun } from './engines';

const skip = !JIT_HOST && `the JIT emits x86-64; this host is ${process.arch}`;

function ok(r: JitResult): JitCode {
  if (!r.ok) assert.fail(`JIT rejected: ${r.kind}: ${r.reason} (insn ${r.insn})`);
  return r;
}

/** Runs asm in both engines, asserts they agree, returns r0. */
function both(asm: string, mem: Buffer | null = null): bigint {
  const code = assemble(asm);
  const vm = vmRun(code, mem, { budget: 0 });
  assert.ok(vm.ok, vm.error);
  const jit = jitRun(ok(compile(code)), mem);
  assert.ok(jit.ok, jit.error);
  assert.equal(jit.r0, vm.r0);
  assert.deepEqual(jit.mem, vm.mem);
  return jit.r0;
}

test('helper call: five arguments in place, r6-r9 and r10 survive it', { skip }, () => {
  const mem = Buffer.alloc(128);
  mem.write('%d-%llu\0', 0);
  mem.writeBigInt64LE(-12n, 16);
  mem.writeBigUInt64LE(5n, 24);
  const code = assemble(`
    mov %r6, %r1
    mov %r7, 7
    mov %r8, 8
    mov %r9, 9
    stdw [%r10-8], 42
    mov %r1, %r6
    add %r1, 64
    mov %r2, 32
    mov %r3, %r6
    mov %r4, %r6
    add %r4, 16
    mov %r5, 16
    call 165
    # r0 = snprintf's length + 1; fold in the preserved registers and the stack slot
    stxdw [%r6+96], %r0
    mov %r0, %r7
    add %r0, %r8
    add %r0, %r9
    ldxdw %r1, [%r10-8]
    add %r0, %r1
    exit`);
  const r = jitRun(ok(compile(code)), mem);
  assert.ok(r.ok, r.error);
  assert.equal(r.r0, 7n + 8n + 9n + 42n);
  assert.equal(r.mem!.subarray(64, 70).toString('latin1'), '-12-5\0');
  assert.equal(r.mem!.readBigUInt64LE(96), 6n);
});

test('helper relocation: the loader patches the address per helper id', { skip }, () => {
  const out = ok(compile(assemble('call 14\nexit'))); // get_current_pid_tgid
  assert.deepEqual(out.relocs.map((r) => [r.kind, r.id]), [['helper', 14]]);
  const r = jitRun(out, null);
  assert.ok(r.ok, r.error);
  assert.equal(Number(r.r0 >> 32n), process.pid);
  // An absent helper fails the load, as an unknown helper fails the kernel's verifier.
  const absent = jitRun(ok(compile(assemble('call 100000\nexit'))), null);
  assert.equal(absent.ok, false);
  assert.equal(absent.errno, 2 /* ENOENT */);
});

test('map relocations: movabs immediates patched with the process-local values', { skip }, () => {
  // ld_imm64 as PROG_LOAD leaves it: pseudo source, map id in imm, plus the relocation table.
  const lddw = (src: number, id: number, off: number) => [
    insn(O.BPF_LD | O.BPF_IMM | O.BPF_DW, 0, src, 0, id), insn(0, 0, 0, 0, off)];
  const code = encodeInsns([
    ...lddw(1, 7, 0),
    insn(O.BPF_ALU64 | O.BPF_MOV | O.BPF_X, 6, 0),
    ...lddw(2, 9, 16),
    insn(O.BPF_ALU64 | O.BPF_SUB | O.BPF_X, 0, 6),
    insn(O.BPF_JMP | O.BPF_EXIT),
  ]);
  // Without the table the pseudo loads are refused.
  const bare = compile(code);
  assert.ok(!bare.ok && bare.kind === 'invalid');
  const out = ok(compile(code, { relocs: [
    { insnIdx: 0, kind: 1, mapId: 7, off: 0 },
    { insnIdx: 3, kind: 2, mapId: 9, off: 16 },
  ] }));
  assert.deepEqual(out.relocs.map((r) => [r.kind, r.id, r.addend]), [['map_ptr', 7, 0], ['map_value', 9, 16]]);
  const values = [
    { ...out.relocs[0], value: 0x1122334455667788n },
    { ...out.relocs[1], value: 0x1122334455667800n + 0x1234n },
  ];
  const r = jitRunRaw(out.code, values, null);
  assert.ok(r.ok, r.error);
  assert.equal(r.r0, 0x1234n + 0x78n); // value - map handle
  // Through the image blob and bpftime_jit_load_blob as well.
  const blob = jitBlob(out);
  assert.equal(blob.readUInt32LE(0), JIT_BLOB_MAGIC);
  const rb = jitRunRaw(blob, values, null, { blob: true });
  assert.ok(rb.ok, rb.error);
  assert.equal(rb.r0, r.r0);
  const bad = Buffer.from(blob);
  bad.writeUInt32LE(0xdeadbeef, 20); // reloc_cnt beyond the blob
  assert.equal(jitRunRaw(bad, values, null, { blob: true }).errno, 22);
});

test('withJit appends the blob to a program image and sets jit_off / jit_size', () => {
  const image = Buffer.alloc(52, 0xaa);
  const blob = Buffer.from([1, 2, 3]);
  const img = withJit(image, blob);
  assert.equal(img.readUInt32LE(32), 3);
  assert.equal(img.readUInt32LE(36), 64);
  assert.deepEqual([...img.subarray(64)], [1, 2, 3]);
  assert.deepEqual(img.subarray(0, 32), image.subarray(0, 32));
});

test('bpf-to-bpf calls: 8 frames, own stacks, r6-r9 kept; deeper or recursive refused', { skip }, () => {
  // Each level stores a marker on its own stack, calls the next, checks the marker survived.
  const levels = (n: number) => {
    const lines = ['mov %r6, 100', 'stdw [%r10-8], 1', 'call local f1', 'ldxdw %r1, [%r10-8]', 'add %r0, %r1', 'add %r0, %r6', 'exit'];
    for (let k = 1; k < n; k++) {
      lines.push(`f${k}:`, `mov %r6, ${k}`, `stdw [%r10-8], ${k * 1000}`);
      if (k + 1 < n) lines.push(`call local f${k + 1}`);
      else lines.push('mov %r0, 0');
      lines.push('ldxdw %r1, [%r10-8]', 'add %r0, %r1', 'add %r0, %r6', 'exit');
    }
    return lines.join('\n');
  };
  let expect = 101n;
  for (let k = 1; k < 8; k++) expect += BigInt(k * 1000 + k);
  assert.equal(both(levels(8)), expect);
  const deep = compile(assemble(levels(9)));
  assert.ok(!deep.ok && deep.kind === 'invalid' && /deeper than 8/.test(deep.reason), JSON.stringify(deep));
  const rec = compile(assemble('call local f\nexit\nf:\ncall local f\nexit'));
  assert.ok(!rec.ok && /recursive/.test(rec.reason));
});

test('may_goto: a frame falls through 8M times, then branches', { skip }, () => {
  assert.equal(both(`
    mov %r0, 0
  loop:
    may_goto +2
    add %r0, 1
    ja loop
    exit`), 8n * 1024n * 1024n);
});

test('long jumps forward and backward (rel32 forms)', { skip }, () => {
  const pad = Array.from({ length: 200 }, (_, k) => `add %r2, ${k + 1000}`).join('\n');
  assert.equal(both(`
    mov %r0, 0
    mov %r2, 0
  top:
    jgt %r0, 9, out
    ${pad}
    add %r0, 1
    ja top
  out:
    mov %r0, %r2
    exit`), 10n * BigInt(Array.from({ length: 200 }, (_, k) => k + 1000).reduce((a, b) => a + b, 0)));
  const out = ok(compile(assemble('jeq %r1, 0, +1\nmov %r0, 1\nexit')));
  // test + jcc rel8: 3 + 2 bytes
  assert.equal(out.insnOffsets[1] - out.insnOffsets[0], 5, 'short jump chosen');
});

test('refused: kfuncs (unsupported); malformed programs (invalid); tail calls in callbacks compile', () => {
  const reject = (code: Buffer, kind: string, re: RegExp) => {
    const r = compile(code);
    assert.ok(!r.ok, 'expected a rejection');
    assert.equal(r.kind, kind);
    assert.match(r.reason, re);
  };
  // A callback (its address taken by an ld_imm64 at insn 0) that tail-calls.
  const cbTail = encodeInsns([insn(O.BPF_LD | O.BPF_IMM | O.BPF_DW, 2, 4, 0, 2), insn(0), insn(O.BPF_JMP | O.BPF_EXIT),
    insn(O.BPF_JMP | O.BPF_CALL, 0, 0, 0, 12), insn(O.BPF_JMP | O.BPF_EXIT)]);
  // Helpers that call back hand the callback the tail-call count (helper_callbacks.c).
  assert.ok(compile(cbTail).ok, 'tail calls from callbacks compile');
  assert.ok(compile(assemble('call local +1\nexit\ncall 12\nexit')).ok, 'tail calls from bpf-to-bpf functions compile');
  // A callback pointer into the middle of the function that takes it: no function ends there.
  reject(encodeInsns([insn(O.BPF_LD | O.BPF_IMM | O.BPF_DW, 2, 4, 0, 1), insn(0), insn(O.BPF_JMP | O.BPF_EXIT)]), 'invalid', /last insn of a function/);
  reject(encodeInsns([insn(O.BPF_LD | O.BPF_IMM | O.BPF_DW, 2, 4, 0, 9), insn(0), insn(O.BPF_JMP | O.BPF_EXIT)]), 'invalid', /callback 10 out of range/);
  reject(encodeInsns([insn(O.BPF_JMP | O.BPF_CALL, 0, 2, 0, 1), insn(O.BPF_JMP | O.BPF_EXIT)]), 'unsupported', /kfunc/);
  reject(assemble('mov %r10, 1\nexit'), 'invalid', /frame pointer/);
  reject(assemble('mov %r0, 1'), 'invalid', /last insn/);
  reject(assemble('ja +5\nexit'), 'invalid', /out of range/);
  reject(encodeInsns([insn(O.BPF_LD | O.BPF_ABS | O.BPF_W), insn(O.BPF_JMP | O.BPF_EXIT)]), 'invalid', /ABS/);
  reject(Buffer.alloc(0), 'invalid', /empty/);
});

test('jitSection: a blob for JIT-able programs, the reason otherwise', () => {
  const good = jitSection(assemble('mov %r0, 1\nexit'), []);
  assert.ok(good.blob && good.blob.readUInt32LE(0) === JIT_BLOB_MAGIC);
  const kfunc = jitSection(encodeInsns([insn(O.BPF_JMP | O.BPF_CALL, 0, 2, 0, 1), insn(O.BPF_JMP | O.BPF_EXIT)]), []);
  assert.equal(kfunc.blob, null);
  assert.match(kfunc.reason ?? '', /^unsupported: kfunc/);
});

test('deterministic: the same program compiles to the same bytes', () => {
  const code = assemble('mov %r0, 1\njeq %r1, 0, +1\ncall 5\nexit');
  const a = ok(compile(code)), b = ok(compile(code));
  assert.deepEqual(a.code, b.code);
  assert.deepEqual(a.relocs, b.relocs);
});
