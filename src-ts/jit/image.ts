// JIT output as bytes: the blob that goes into a program image (struct bpftime_prog_image's
// jit_off / jit_size, objfile.h) and that bpftime_jit_load_blob() (src-native/core/vm/
// jit_load.c) loads. The layout is struct bpftime_jit_blob in src-native/include/bpftime/jit.h:
//
//   0   u32 magic "BJIT"    4  u32 arch (1 = x86-64)
//   8   u32 code_off        12 u32 code_size
//   16  u32 reloc_off       20 u32 reloc_cnt
//   24  u32 reserved[2]
//   reloc_off: reloc_cnt x { u32 offset, u32 kind, u32 id, u32 addend }
//   code_off (16-aligned): the code
import { compile } from './compile';
import { InsnReloc, JIT_RELOC_KIND, JitCode, JitMapInfo } from './types';

export const JIT_BLOB_MAGIC = 0x54494a42; // "BJIT" little endian
export const JIT_ARCH_X86_64 = 1;
const HDR = 32;
const RELOC = 16;

/** Offsets of jit_size / jit_off in struct bpftime_prog_image (objfile.h). */
const IMG_JIT_SIZE = 32;
const IMG_JIT_OFF = 36;

const align16 = (n: number): number => (n + 15) & ~15;

export function jitBlob(out: JitCode): Buffer {
  const relocOff = HDR;
  const codeOff = align16(relocOff + RELOC * out.relocs.length);
  const blob = Buffer.alloc(codeOff + out.code.length);
  blob.writeUInt32LE(JIT_BLOB_MAGIC, 0);
  blob.writeUInt32LE(JIT_ARCH_X86_64, 4);
  blob.writeUInt32LE(codeOff, 8);
  blob.writeUInt32LE(out.code.length, 12);
  blob.writeUInt32LE(relocOff, 16);
  blob.writeUInt32LE(out.relocs.length, 20);
  out.relocs.forEach((r, k) => {
    const o = relocOff + RELOC * k;
    blob.writeUInt32LE(r.offset, o);
    blob.writeUInt32LE(JIT_RELOC_KIND[r.kind], o + 4);
    blob.writeUInt32LE(r.id >>> 0, o + 8);
    blob.writeUInt32LE(r.addend >>> 0, o + 12);
  });
  out.code.copy(blob, codeOff);
  return blob;
}

/** Compiles a program as stored at PROG_LOAD (instructions after the server's fix-ups, its map
 * relocations) into the blob for its image; null when the program must run in the
 * interpreter (tail calls, callbacks, kfuncs) or is not valid for the JIT, with the reason. */
export function jitSection(insns: Uint8Array, relocs: readonly InsnReloc[], maps: readonly JitMapInfo[] = []): { blob: Buffer | null; reason?: string } {
  let r;
  try {
    r = compile(insns, { relocs, maps });
  } catch (e) {
    // A JIT bug must not fail PROG_LOAD: the interpreter runs the program instead.
    return { blob: null, reason: `internal error: ${(e as Error).message}` };
  }
  if (!r.ok) return { blob: null, reason: `${r.kind}: ${r.reason}${r.insn === undefined ? '' : ` (insn ${r.insn})`}` };
  return { blob: jitBlob(r) };
}

/** The program image with the blob appended (16-aligned) and jit_off / jit_size set. */
export function withJit(image: Buffer, blob: Buffer): Buffer {
  const off = align16(image.length);
  const out = Buffer.alloc(off + blob.length);
  image.copy(out, 0);
  blob.copy(out, off);
  out.writeUInt32LE(blob.length, IMG_JIT_SIZE);
  out.writeUInt32LE(off, IMG_JIT_OFF);
  return out;
}
