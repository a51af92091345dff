// Dead code as the kernel's verifier finds and removes it for a privileged loader: branches fixed
// by constants (bpf_core_*_exists() leaves `r1 = 1; if r1 == 0 goto`), by frozen read-only map
// values (.rodata knobs) and by pointers that cannot be NULL; the unreached code, poisoned calls
// included, is dropped and jumps, calls and relocations renumbered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src-ts/asm/assembler';
import { disassemble } from '../../src-ts/asm/disassembler';
import { findReachable } from '../../src-ts/verifier/reachability';
import { eliminateDeadCode, neutraliseDeadCode } from '../../src-ts/verifier/dead_code';
import { RelocKind } from '../../src-ts/kernel/prog';

const POISON_CORE = 0xbad2310; // libbpf: an unresolved CO-RE relocation
const POISON_MAP = 2001000000; // libbpf: a map that was not created

function seenList(prog: Buffer, env = {}): number[] {
  const { seen } = findReachable(prog, env);
  return [...seen].flatMap((s, i) => (s ? [i] : []));
}

function dce(prog: Buffer, env = {}) {
  const { seen } = findReachable(prog, env);
  return disassemble(eliminateDeadCode(prog, seen, []).insns);
}

test('a branch on a constant has one successor; the other side and what only it reaches is dead', () => {
  const prog = assemble(`
    mov %r1, 1
    jeq %r1, 0, poisoned
    mov %r0, 0
    exit
  poisoned:
    call ${POISON_CORE}
    mov %r0, 1
    exit`);
  assert.deepEqual(seenList(prog), [0, 1, 2, 3]);
  // The kernel: `jeq` never taken -> `ja +0` -> removed; the dead tail removed.
  assert.deepEqual(dce(prog), ['mov %r1, 1', 'mov %r0, 0', 'exit']);
});

test('always-taken branches become jumps that the removal shortens; ja +0 disappears', () => {
  const prog = assemble(`
    mov %r2, 5
    add %r2, 3
    jgt %r2, 7, live
    call ${POISON_MAP}
    call ${POISON_MAP}
    exit
  live:
    mov %r0, %r2
    exit`);
  assert.deepEqual(dce(prog), ['mov %r2, 5', 'add %r2, 3', 'mov %r0, %r2', 'exit']);
});

test('what is not a known constant leaves both ways open', () => {
  const prog = assemble(`
    ldxw %r2, [%r1+0]
    jeq %r2, 0, +2
    mov %r0, 1
    exit
    mov %r0, 2
    exit`);
  assert.deepEqual(seenList(prog), [0, 1, 2, 3, 4, 5]);
  assert.equal(dce(prog).length, 6);
});

test('constants the kernel does not track exactly (division, byte swaps) decide nothing', () => {
  for (const op of ['div %r1, 2', 'mod %r1, 3', 'be16 %r1', 'neg %r1', 'lsh %r1, 64']) {
    const prog = assemble(`
      mov %r1, 8
      ${op}
      jeq %r1, 4, +2
      mov %r0, 1
      exit
      mov %r0, 2
      exit`);
    assert.equal(seenList(prog).length, 7, op);
  }
});

test('32-bit operations and comparisons see the low half, signed ones the sign', () => {
  const prog = assemble(`
    lddw %r1, 0x100000005
    jeq32 %r1, 5, +1
    call ${POISON_CORE}
    mov32 %r3, -1
    jsgt %r3, 0, +1
    call ${POISON_CORE}
    mov %r4, -1
    jsgt %r4, 0, +1
    ja +1
    call ${POISON_CORE}
    mov %r0, 0
    exit`);
  const seen = seenList(prog);
  // Every poison is dead: the low half is 5; mov32 zero-extends, so 0xffffffff > 0 signed
  // 64-bit; -1 is not.
  assert.deepEqual(seen, [0, 1, 2, 4, 5, 7, 8, 9, 11, 12]);
});

test('a pointer that cannot be NULL (ctx, frame pointer, map value) is never equal to 0', () => {
  const prog = assemble(`
    mov %r2, %r10
    add %r2, -8
    jne %r2, 0, +1
    call ${POISON_CORE}
    jeq %r1, 0, +2
    mov %r0, 0
    exit
    call ${POISON_CORE}
    exit`);
  assert.deepEqual(dce(prog), ['mov %r2, %r10', 'add %r2, -8', 'mov %r0, 0', 'exit']);
});

test('a frozen read-only map value is a constant; a writable one is not', () => {
  const text = `
    lddw %r1, 0
    ldxw %r2, [%r1+4]
    jeq %r2, 0, +2
    mov %r0, 1
    exit
    call ${POISON_MAP}
    exit`;
  const prog = assemble(text);
  // ld_imm64 of a map value (BPF_PSEUDO_MAP_VALUE, map id 7, offset 8).
  prog[1] = (2 << 4) | 1;
  prog.writeInt32LE(7, 4);
  prog.writeInt32LE(8, 12);
  const reads: string[] = [];
  const rodata = (mapId: number, off: number, size: number) => {
    reads.push(`${mapId}:${off}:${size}`);
    return mapId === 7 ? 3n : null;
  };
  assert.deepEqual(seenList(prog, { readOnlyValue: rodata }), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(reads, ['7:12:4']);
  assert.deepEqual(seenList(prog, { readOnlyValue: () => null }), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(seenList(prog), [0, 1, 2, 3, 4, 5, 6, 7]);
});

test('subprograms: calls and callbacks are entry points; r6-r9 survive a call, r0-r5 do not', () => {
  const prog = assemble(`
    mov %r6, 1
    mov %r1, 1
    call local sub
    jeq %r6, 0, +1
    jeq %r1, 0, +1
    mov %r0, 0
    exit
  sub:
    mov %r0, %r1
    exit
  dead_sub:
    call ${POISON_CORE}
    exit`);
  const seen = seenList(prog);
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8]);
  // The jeq on r6 is never taken, but its target is reached another way, so it stays (the kernel
  // hard-wires a branch only when one of its successor instructions is never reached); dead_sub
  // goes and the call still lands on sub.
  assert.deepEqual(dce(prog), ['mov %r6, 1', 'mov %r1, 1', 'call local +4', 'jeq %r6, 0, +1', 'jeq %r1, 0, +1', 'mov %r0, 0', 'exit', 'mov %r0, %r1', 'exit']);
});

test('relocations follow their ld_imm64 and vanish with dead ones', () => {
  const prog = assemble(`
    mov %r1, 0
    jeq %r1, 0, +2
    lddw %r2, 0
    lddw %r3, 0
    mov %r0, 0
    exit`);
  const { seen } = findReachable(prog);
  const relocs = [
    { insnIdx: 2, kind: RelocKind.MapPtr, mapId: 1, off: 0 },
    { insnIdx: 4, kind: RelocKind.MapPtr, mapId: 2, off: 0 },
  ];
  const out = eliminateDeadCode(prog, seen, relocs);
  assert.deepEqual(disassemble(out.insns), ['mov %r1, 0', 'lddw %r3, 0x0', 'mov %r0, 0', 'exit']);
  assert.deepEqual(out.relocs, [{ insnIdx: 1, kind: RelocKind.MapPtr, mapId: 2, off: 0 }]);
  assert.equal(out.removed, 3);
});

test('neutralising: dead instructions become ja -1, out-of-range dead jumps stay to be refused', () => {
  const prog = assemble(`
    ja +2
    call ${POISON_CORE}
    ja +100
    mov %r0, 0
    exit`);
  const { seen } = findReachable(prog);
  neutraliseDeadCode(prog, seen);
  assert.deepEqual(disassemble(prog), ['ja +2', 'ja -1', 'ja +100', 'mov %r0, 0', 'exit']);
});

test('loops reach a fixed point', () => {
  const prog = assemble(`
    mov %r1, 0
  loop:
    add %r1, 1
    jlt %r1, 10, loop
    mov %r0, %r1
    exit`);
  assert.deepEqual(seenList(prog), [0, 1, 2, 3, 4]);
});
