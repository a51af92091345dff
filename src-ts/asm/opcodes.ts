// Instruction-encoding constants for the assembler and disassembler, and the mnemonic tables
// of the ubpf/bpf_conformance assembler syntax.
//
// Values come from src-ts/uapi (generated from the installed <linux/bpf.h> and
// <linux/bpf_common.h>). The installed headers are from Linux 6.1; the few cpu-v4-era names
// they lack are taken from the generated module when a newer header provides them, else
// given here with the value of the newer uapi header (the same fallbacks as
// src-native/core/vm/insn_defs.h). test/unit/asm-encoding.test.ts cross-checks everything
// here against the header with the C compiler.
import * as U from '../uapi/bpf';

export const {
  BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_JMP32, BPF_ALU64,
  BPF_W, BPF_H, BPF_B, BPF_DW,
  BPF_IMM, BPF_ABS, BPF_IND, BPF_MEM, BPF_ATOMIC,
  BPF_ADD, BPF_SUB, BPF_MUL, BPF_DIV, BPF_OR, BPF_AND, BPF_LSH, BPF_RSH, BPF_NEG, BPF_MOD,
  BPF_XOR, BPF_MOV, BPF_ARSH, BPF_END, BPF_TO_LE, BPF_TO_BE,
  BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, BPF_JNE, BPF_JSGT, BPF_JSGE, BPF_JLT, BPF_JLE,
  BPF_JSLT, BPF_JSLE, BPF_CALL, BPF_EXIT,
  BPF_K, BPF_X,
  BPF_FETCH, BPF_XCHG, BPF_CMPXCHG,
  BPF_PSEUDO_CALL, BPF_PSEUDO_KFUNC_CALL,
} = U;

const newer = U as unknown as Record<string, number | undefined>;
/** uapi 6.6: load with sign extension (LDX mode). */
export const BPF_MEMSX: number = newer.BPF_MEMSX ?? 0x80;
/** uapi 6.9: conditional pseudo jump (JMP op), may_goto when src_reg is BPF_MAY_GOTO. */
export const BPF_JCOND: number = newer.BPF_JCOND ?? 0xe0;
export const BPF_MAY_GOTO: number = newer.BPF_MAY_GOTO ?? 0;
/** uapi 6.15: atomic load-acquire / store-release (imm of an atomic STX). */
export const BPF_LOAD_ACQ: number = newer.BPF_LOAD_ACQ ?? 0x100;
export const BPF_STORE_REL: number = newer.BPF_STORE_REL ?? 0x110;

// The field-extraction macros of <linux/bpf_common.h> (function-like macros, so not in the
// generated module): BPF_CLASS, BPF_SIZE, BPF_MODE, BPF_OP, BPF_SRC.
export const bpfClass = (code: number): number => code & 0x07;
export const bpfSize = (code: number): number => code & 0x18;
export const bpfMode = (code: number): number => code & 0xe0;
export const bpfOp = (code: number): number => code & 0xf0;
export const bpfSrc = (code: number): number => code & 0x08;

/** Binary ALU mnemonics (without the 32 suffix) and their op. sdiv/smod are div/mod with off 1. */
export const ALU_BINARY: ReadonlyMap<string, number> = new Map([
  ['add', BPF_ADD], ['sub', BPF_SUB], ['mul', BPF_MUL], ['div', BPF_DIV], ['or', BPF_OR],
  ['and', BPF_AND], ['lsh', BPF_LSH], ['rsh', BPF_RSH], ['mod', BPF_MOD], ['xor', BPF_XOR],
  ['mov', BPF_MOV], ['arsh', BPF_ARSH],
]);
/** Signed flavours (cpu v4): encoded as div/mod with off = 1. */
export const ALU_SIGNED: ReadonlyMap<string, number> = new Map([['sdiv', BPF_DIV], ['smod', BPF_MOD]]);

/** Conditional jump mnemonics (without the 32 suffix). */
export const JMP_COND: ReadonlyMap<string, number> = new Map([
  ['jeq', BPF_JEQ], ['jgt', BPF_JGT], ['jge', BPF_JGE], ['jset', BPF_JSET], ['jne', BPF_JNE],
  ['jsgt', BPF_JSGT], ['jsge', BPF_JSGE], ['jlt', BPF_JLT], ['jle', BPF_JLE], ['jslt', BPF_JSLT],
  ['jsle', BPF_JSLE],
]);

/** Size suffixes of ldx/st/stx (ldxb, stxdw, ...). */
export const SIZES: ReadonlyMap<string, number> = new Map([
  ['b', BPF_B], ['h', BPF_H], ['w', BPF_W], ['dw', BPF_DW],
]);

/** `lock` operations and their imm (fetch adds BPF_FETCH to the first four). */
export const ATOMIC_OPS: ReadonlyMap<string, number> = new Map([
  ['add', BPF_ADD], ['or', BPF_OR], ['and', BPF_AND], ['xor', BPF_XOR],
  ['xchg', BPF_XCHG], ['cmpxchg', BPF_CMPXCHG],
]);

export function reverseMap(m: ReadonlyMap<string, number>): Map<number, string> {
  return new Map([...m].map(([k, v]) => [v, k]));
}
