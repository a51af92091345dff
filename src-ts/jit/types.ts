// What the JIT consumes and produces.

/** Relocation kinds of JIT output. The numbers are the native ones (enum bpftime_jit_reloc_kind
 * in src-native/include/bpftime/jit.h); image.ts writes them. Every relocation is an 8-byte
 * absolute value (the immediate of a movabs) at `offset` in the code. */
export const JIT_RELOC_KIND = {
  helper: 1,    // address of helper `id` (BPF_FUNC_*) in the loading process
  map_ptr: 2,   // process-local handle (struct bpftime_map *) of map `id`
  map_value: 3, // address of byte `addend` of the value of map `id` (direct value access)
  tail_resolve: 4, // address of bpftime_jit_tail_resolve (bpf_tail_call)
  code: 5,      // address of byte `addend` of this code (callback pointers)
  tail_interp: 6, // address of bpftime_jit_tail_interp (bpf_tail_call into a program without JIT code)
  array_values: 7, // address of value 0 of ARRAY map `id`, which has `addend` entries (inline lookups)
} as const;
export type JitRelocKind = keyof typeof JIT_RELOC_KIND;

export interface JitReloc {
  offset: number;
  kind: JitRelocKind;
  id: number;
  addend: number;
}

/** A map reference in the instructions, as the server records it at PROG_LOAD: the shape of
 * `Reloc` in src-ts/kernel/prog.ts (kind 1 = map handle, 2 = map value; objfile.h's
 * enum bpftime_reloc_kind), so the server's table can be passed as is. */
export interface InsnReloc {
  insnIdx: number; // first half of the ld_imm64
  kind: number;
  mapId: number;
  off: number;
}
export const INSN_RELOC_MAP_PTR = 1;

/** What the JIT may know about a map the program uses (the server's MapSpec and id), to inline
 * lookups in it. */
export interface JitMapInfo {
  id: number;
  mapType: number;
  maxEntries: number;
  valueSize: number;
}
export const INSN_RELOC_MAP_VALUE = 2;

export interface JitCode {
  ok: true;
  /** x86-64 machine code; entry point at offset 0: uint64_t f(uint64_t r1, uint64_t r2). */
  code: Buffer;
  relocs: JitReloc[];
  /** Code offset of every instruction (a function's first instruction: after its prologue;
   * the second half of an ld_imm64: right after the pair); index insn_cnt is the end of the
   * code. For debugging and tests. */
  insnOffsets: Int32Array;
}

export interface JitRejected {
  ok: false;
  /** 'invalid': the program is malformed (the interpreter would fail it too);
   * 'unsupported': valid, but must run in the interpreter (kfuncs, tail calls from
   * subprograms). */
  kind: 'invalid' | 'unsupported';
  reason: string;
  insn?: number;
}

export type JitResult = JitCode | JitRejected;

/** Thrown inside the compiler, turned into a JitRejected by compile(). */
export class JitReject extends Error {
  constructor(readonly kind: 'invalid' | 'unsupported', readonly reason: string, readonly insn?: number) {
    super(insn === undefined ? reason : `insn ${insn}: ${reason}`);
  }
}
