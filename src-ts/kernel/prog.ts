// A loaded program: its instructions after the loader's fix-ups, the maps it uses (held for as
// long as it lives), and the image agents map to run it (struct bpftime_prog_image, objfile.h).
import { createHash } from 'crypto';
import { BpfMap } from './map';
import { BpfObject, ObjKind } from './objects';
import { bpf_prog_type } from '../uapi/bpf';
import { jitSection, withJit } from '../jit';

export const PROG_IMAGE_MAGIC = 0x47525042;
const IMAGE_HDR = 48;

export enum RelocKind {
  MapPtr = 1,
  MapValue = 2,
}

export interface Reloc {
  insnIdx: number;
  kind: RelocKind;
  mapId: number;
  off: number;
}

export const progTypeName = (t: number): string =>
  (Object.entries(bpf_prog_type).find(([, v]) => v === t)?.[0] ?? `type_${t}`).replace(/^BPF_PROG_TYPE_/, '').toLowerCase();

export interface ProgSpec {
  progType: number;
  expectedAttachType: number;
  /** BTF-typed programs (fentry/fexit, tp_btf, ...): the vmlinux BTF id of what they attach to. */
  attachBtfId?: number;
  insns: Buffer; // after fix-ups
  tagInsns?: Buffer; // as loaded (map references resolved, nothing removed), for the tag
  tagRelocs?: Reloc[];
  relocs: Reloc[];
  maps: BpfMap[];
  license: string;
  gplCompatible: boolean;
  btfId: number;
  loadTime: bigint;
  uid: number;
}

function buildImage(s: ProgSpec): Buffer {
  const relocOff = IMAGE_HDR + s.insns.length;
  const mapIdsOff = relocOff + 16 * s.relocs.length;
  const img = Buffer.alloc(mapIdsOff + 4 * s.maps.length);
  img.writeUInt32LE(PROG_IMAGE_MAGIC, 0);
  img.writeUInt32LE(s.progType, 4);
  img.writeUInt32LE(s.insns.length / 8, 8);
  img.writeUInt32LE(IMAGE_HDR, 12);
  img.writeUInt32LE(s.relocs.length, 16);
  img.writeUInt32LE(relocOff, 20);
  img.writeUInt32LE(s.maps.length, 24);
  img.writeUInt32LE(mapIdsOff, 28);
  s.insns.copy(img, IMAGE_HDR);
  s.relocs.forEach((r, i) => {
    const o = relocOff + 16 * i;
    img.writeUInt32LE(r.insnIdx, o);
    img.writeUInt32LE(r.kind, o + 4);
    img.writeUInt32LE(r.mapId, o + 8);
    img.writeUInt32LE(r.off, o + 12);
  });
  s.maps.forEach((m, i) => img.writeUInt32LE(m.id, mapIdsOff + 4 * i));
  return img;
}

/** The image with the program's x86-64 code appended (compiled once here, for every process);
 * without it (BPFTIME_JIT=0, another architecture, a program the JIT leaves to the interpreter)
 * agents interpret the instructions. */
function imageWithJit(s: ProgSpec): { image: Buffer; jited: number; jitReason?: string } {
  const img = buildImage(s);
  if (process.env.BPFTIME_JIT === '0') return { image: img, jited: 0, jitReason: 'BPFTIME_JIT=0' };
  if (process.arch !== 'x64') return { image: img, jited: 0, jitReason: `no JIT for ${process.arch}` };
  const { blob, reason } = jitSection(s.insns, s.relocs, s.maps.map((m) => ({ id: m.id, ...m.spec })));
  return blob ? { image: withJit(img, blob), jited: blob.length } : { image: img, jited: 0, jitReason: reason };
}

export class BpfProg extends BpfObject {
  /** The kernel's prog tag: the first 8 bytes of the SHA-256 (bpf_prog_calc_tag() of the
   * running 6.18 kernel; SHA-1 before) of the instructions, with map fds (ld_imm64 pseudo
   * values) zeroed so the tag does not depend on fd numbers. */
  readonly tag: Buffer;

  /** Bytes of JIT output in the image (0: interpreted), and why not when 0. */
  readonly jitedLen: number;
  readonly jitReason?: string;

  constructor(id: number, readonly spec: ProgSpec, name: string, built = imageWithJit(spec)) {
    super(ObjKind.Prog, id, spec.progType, name, built.image);
    this.jitedLen = built.jited;
    this.jitReason = built.jitReason;
    for (const m of spec.maps) m.acquire();
    // The kernel hashes the program as loaded, before the verifier rewrites it (dead code
    // removed...): spec.tagInsns/tagRelocs when the loader kept them.
    const forTag = Buffer.from(spec.tagInsns ?? spec.insns);
    for (const r of spec.tagRelocs ?? spec.relocs) {
      forTag.writeInt32LE(0, r.insnIdx * 8 + 4);
      forTag.writeInt32LE(0, r.insnIdx * 8 + 12);
    }
    this.tag = createHash('sha256').update(forTag).digest().subarray(0, 8);
  }

  get insnCnt(): number {
    return this.spec.insns.length / 8;
  }

  protected onDestroy(): void {
    for (const m of this.spec.maps) m.release();
  }

  describe(): Record<string, unknown> {
    return {
      id: this.id,
      type: progTypeName(this.spec.progType),
      name: this.name,
      tag: this.tag.toString('hex'),
      insns: this.insnCnt,
      jited: this.jitedLen > 0 ? `${this.jitedLen} bytes` : `no (${this.jitReason ?? 'interpreted'})`,
      map_ids: this.spec.maps.map((m) => m.id),
      refs: this.refcount,
    };
  }
}
