// eBPF assembler, disassembler and the conformance-vector file format.
export { assemble, assembleInsns, AsmError } from './assembler';
export { disassemble, disassembleAt } from './disassembler';
export { parseConformanceFile, rawToBytecode, ConformanceTest } from './conformance-format';
export { Insn, INSN_SIZE, insn, encodeInsns, decodeInsns, insnToWord, wordToInsn, sameInsn } from './insn';
