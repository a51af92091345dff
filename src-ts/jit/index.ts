// The eBPF -> x86-64 JIT (see docs in compile.ts, regs.ts, control.ts).
export { compile, CompileOptions } from './compile';
export { jitBlob, jitSection, withJit, JIT_BLOB_MAGIC } from './image';
export {
  InsnReloc, JitCode, JitRejected, JitReloc, JitRelocKind, JitResult, JIT_RELOC_KIND,
  INSN_RELOC_MAP_PTR, INSN_RELOC_MAP_VALUE, JitMapInfo,
} from './types';
