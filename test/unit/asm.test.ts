// Assembler and disassembler: exact encodings of every instruction form, errors, labels, and
// the assemble -> disassemble -> assemble round trip over every conformance vector.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { AsmError, assemble, assembleInsns } from '../../src-ts/asm/assembler';
import { parseConformanceFile, rawToBytecode } from '../../src-ts/asm/conformance-format';
import { disassemble } from '../../src-ts/asm/disassembler';
import { decodeInsns, encodeInsns, insnToWord } from '../../src-ts/asm/insn';
import { VECTOR_DIR, loadVectors } from '../conformance/vectors';

/** The 64-bit words (the `-- raw` notation: code in the low byte, imm in the high half). */
function words(text: string): string[] {
  return assembleInsns(text).map((i) => '0x' + insnToWord(i).toString(16).padStart(16, '0'));
}

test('encodings of each instruction form', () => {
  const cases: [string, string[]][] = [
    ['mov32 %r0, 0', ['0x00000000000000b4']],
    ['mov %r1, -1', ['0xffffffff000001b7']],
    ['add %r0, %r1', ['0x000000000000100f']],
    ['sdiv32 %r0, -4', ['0xfffffffc00010034']],
    ['smod %r1, %r2', ['0x000000000001219f']],
    ['neg32 %r3', ['0x0000000000000384']],
    ['neg %r3', ['0x0000000000000387']],
    ['movsx832 %r0, %r1', ['0x00000000000810bc']],
    ['movsx3264 %r0, %r1', ['0x00000000002010bf']],
    ['be16 %r0', ['0x00000010000000dc']],
    ['le64 %r0', ['0x00000040000000d4']],
    ['bswap32 %r0', ['0x00000020000000d7']],
    ['swap64 %r0', ['0x00000040000000d7']],
    ['ldxw %r0, [%r1+4]', ['0x0000000000041061']],
    ['ldxsb %r0, [%r10-1]', ['0x00000000ffffa091']],
    ['stdw [%r1+2], 0x44332211', ['0x443322110002017a']],
    ['stxb [%r10-1], %r1', ['0x00000000ffff1a73']],
    ['lock add [%r10-8], %r1', ['0x00000000fff81adb']],
    ['lock fetch xor32 [%r1], %r2', ['0x000000a1000021c3']],
    ['lock xchg [%r1], %r2', ['0x000000e1000021db']],
    ['lock cmpxchg32 [%r1], %r2', ['0x000000f1000021c3']],
    ['lddw %r0, 0x1122334455667788', ['0x5566778800000018', '0x1122334400000000']],
    ['jeq %r1, 3, +2', ['0x0000000300020115']],
    ['jsgt32 %r1, %r2, -1', ['0x00000000ffff216e']],
    ['ja -1', ['0x00000000ffff0005']],
    ['ja32 +70000', ['0x0001117000000006']],
    ['call 5', ['0x0000000500000085']],
    ['call local +1', ['0x0000000100001085']],
    ['call %r2', ['0x000000000000028d']],
    ['may_goto +3', ['0x00000000000300e5']],
    ['exit', ['0x0000000000000095']],
    ['raw 0x00000000000000ff', ['0x00000000000000ff']],
  ];
  for (const [text, want] of cases) assert.deepEqual(words(text), want, text);
});

test('labels, the implicit exit label, comments and call local', () => {
  const code = assembleInsns([
    'mov %r0, 0   # comment',
    'jne %r0, 0, exit',
    'call local f',
    'ja done',
    'exit',
    'done: exit // second exit',
    'f:',
    'lddw %r0, 1',
    'exit',
  ].join('\n'));
  assert.equal(code[1].off, 2); // first exit is insn 4
  assert.equal(code[2].imm, 3); // f is insn 6
  assert.equal(code[3].off, 1); // done is insn 5
});

test('assembler errors carry the line number', () => {
  const bad = ['mov %r0', 'foo %r0, 1', 'mov %r16, 1', 'ja nowhere', 'mov32 %r0, 0x100000000', 'ldxw %r0, [%r1+70000]',
    'lock nand [%r1], %r2', 'lock fetch xchg [%r1], %r2', 'x: exit\nx: exit'];
  for (const text of bad) {
    assert.throws(() => assemble(text), (e: unknown) => e instanceof AsmError && e.line >= 1, text);
  }
});

test('disassembler falls back to raw words for what the syntax cannot express', () => {
  const odd = encodeInsns([
    { code: 0xb7, dst: 0, src: 3, off: 0, imm: 1 },   // mov with a reserved src field set
    { code: 0x18, dst: 1, src: 1, off: 0, imm: 5 },   // ld_imm64 with BPF_PSEUDO_MAP_FD
    { code: 0x00, dst: 0, src: 0, off: 0, imm: 0 },
    { code: 0xff, dst: 0, src: 0, off: 0, imm: 0 },   // unknown opcode
    { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 },
  ]);
  const lines = disassemble(odd);
  assert.deepEqual(lines.slice(0, 4).map((l) => l.split(' ')[0]), ['raw', 'raw', 'raw', 'raw']);
  assert.equal(lines[4], 'exit');
  assert.deepEqual(assemble(lines.join('\n')), odd);
});

test('conformance file parser', () => {
  const t = parseConformanceFile([
    '# Copyright header', '-- asm', 'ldxh %r0, [%r1]', 'exit', '-- mem', '11 22', 'FF', '-- result', '0x1122',
    '-- raw', '0x0000000000001069', '0x0000000000000095', '-- no register offset', 'call instruction',
  ].join('\n'));
  assert.equal(t.asm.trim(), 'ldxh %r0, [%r1]\nexit');
  assert.deepEqual(t.mem, Buffer.from([0x11, 0x22, 0xff]));
  assert.equal(t.result, 0x1122n);
  assert.deepEqual(rawToBytecode(t.raw!), assemble(t.asm));
  assert.equal(t.notes['no register offset'], 'call instruction');
});

const vectors = loadVectors();

test('round trip over every conformance vector', { skip: vectors.length ? false : `no vectors in ${VECTOR_DIR}` }, () => {
  for (const v of vectors) {
    const code = assemble(v.asm);
    const text = disassemble(code);
    assert.ok(!text.some((l) => l.startsWith('raw')), `${v.name}: needed raw words:\n${text.join('\n')}`);
    assert.deepEqual(assemble(text.join('\n')), code, `${v.name} does not round-trip:\n${text.join('\n')}`);
    assert.deepEqual(decodeInsns(code).length, code.length / 8);
  }
});
