// BPF_OBJ_GET_INFO_BY_FD, as bpf_obj_get_info_by_fd() and its per-type fillers: the caller's
// info_len is checked like any extensible struct (non-zero bytes beyond what we know: E2BIG),
// the struct is filled up to min(info_len, sizeof), arrays are copied up to the counts the caller
// gave and the full counts reported, and info_len is written back.
import * as U from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { BpfObject, ObjKind } from '../../kernel/objects';
import { BpfMap } from '../../kernel/map';
import { BpfProg } from '../../kernel/prog';
import { BpfLink } from '../../kernel/link';
import { BpfBtf } from '../../kernel/btf';
import { CallContext, Field, Struct } from './context';

const A = U.bpf_attr.info;

class InfoWriter {
  constructor(readonly buf: Buffer) {}
  u32(f: Field, v: number): void {
    if (f.off + 4 <= this.buf.length) this.buf.writeUInt32LE(v >>> 0, f.off);
  }
  u64(f: Field, v: bigint): void {
    if (f.off + 8 <= this.buf.length) this.buf.writeBigUInt64LE(v, f.off);
  }
  bytes(f: Field, b: Buffer): void {
    if (f.off + f.size <= this.buf.length) b.copy(this.buf, f.off, 0, Math.min(b.length, f.size));
  }
}

export function objGetInfoByFd(ctx: CallContext, attr: Struct, attrAddr: bigint): bigint {
  const obj = ctx.object(attr.s32(A.bpf_fd));
  const infoAddr = attr.u64(A.info);
  let infoLen = attr.u32(A.info_len);
  const size = infoSize(obj);
  // Extensible struct: bytes the caller passed beyond our struct must be zero.
  if (infoLen > size) {
    const tail = ctx.mem.read(infoAddr + BigInt(size), infoLen - size);
    if (tail.some((b) => b !== 0)) throw new KernelError(Errno.E2BIG, 'non-zero bytes beyond the info struct');
    infoLen = size;
  }
  const user = new Struct(Buffer.from(ctx.mem.read(infoAddr, infoLen)));
  const out = new InfoWriter(Buffer.alloc(infoLen));
  switch (obj.kind) {
    case ObjKind.Prog:
      progInfo(ctx, obj as BpfProg, user, out);
      break;
    case ObjKind.Map:
      mapInfo(obj as BpfMap, out);
      break;
    case ObjKind.Link:
      linkInfo(obj as BpfLink, out);
      break;
    case ObjKind.Btf:
      btfInfo(ctx, obj as BpfBtf, user, out);
      break;
    default:
      throw new KernelError(Errno.EINVAL, 'no info for this kind of object');
  }
  ctx.mem.write(infoAddr, out.buf);
  const lenField = Buffer.alloc(4);
  lenField.writeUInt32LE(infoLen, 0);
  ctx.mem.write(attrAddr + BigInt(A.info_len.off), lenField);
  return 0n;
}

function infoSize(o: BpfObject): number {
  switch (o.kind) {
    case ObjKind.Prog:
      return U.sizeof.bpf_prog_info;
    case ObjKind.Map:
      return U.sizeof.bpf_map_info;
    case ObjKind.Link:
      return U.sizeof.bpf_link_info;
    case ObjKind.Btf:
      return U.sizeof.bpf_btf_info;
    default:
      throw new KernelError(Errno.EINVAL, 'no info for this kind of object');
  }
}

function mapInfo(m: BpfMap, w: InfoWriter): void {
  const I = U.bpf_map_info;
  w.u32(I.type, m.spec.mapType);
  w.u32(I.id, m.id);
  w.u32(I.key_size, m.spec.keySize);
  w.u32(I.value_size, m.spec.valueSize);
  w.u32(I.max_entries, m.spec.maxEntries);
  w.u32(I.map_flags, m.spec.mapFlags);
  w.bytes(I.name, Buffer.from(m.name));
  w.u32(I.btf_id, m.btfId);
  w.u32(I.btf_key_type_id, m.btfKeyTypeId);
  w.u32(I.btf_value_type_id, m.btfValueTypeId);
  w.u64(I.map_extra, m.spec.mapExtra);
}

function progInfo(ctx: CallContext, p: BpfProg, user: Struct, w: InfoWriter): void {
  const I = U.bpf_prog_info;
  w.u32(I.type, p.spec.progType);
  w.u32(I.id, p.id);
  w.bytes(I.tag, p.tag);
  w.u64(I.load_time, p.spec.loadTime);
  w.u32(I.created_by_uid, p.spec.uid);
  w.bytes(I.name, Buffer.from(p.name));
  w.u32(I.gpl_compatible, p.spec.gplCompatible ? 1 : 0);
  w.u32(I.btf_id, p.spec.btfId);
  w.u32(I.verified_insns, p.insnCnt);
  // map ids: copied up to the caller's nr_map_ids, the full count reported.
  const ids = p.spec.maps.map((m) => m.id);
  const nrMaps = user.u32(I.nr_map_ids);
  const mapIdsAddr = user.u64(I.map_ids);
  if (nrMaps && mapIdsAddr) {
    const b = Buffer.alloc(4 * Math.min(nrMaps, ids.length));
    ids.slice(0, nrMaps).forEach((id, i) => b.writeUInt32LE(id, 4 * i));
    if (b.length) ctx.mem.write(mapIdsAddr, b);
  }
  w.u32(I.nr_map_ids, ids.length);
  w.u64(I.map_ids, mapIdsAddr);
  // xlated instructions: as much as fits in the caller's xlated_prog_len.
  const xlatedCap = user.u32(I.xlated_prog_len);
  const xlatedAddr = user.u64(I.xlated_prog_insns);
  if (xlatedCap && xlatedAddr) ctx.mem.write(xlatedAddr, p.spec.insns.subarray(0, Math.min(xlatedCap, p.spec.insns.length)));
  w.u32(I.xlated_prog_len, p.spec.insns.length);
  w.u64(I.xlated_prog_insns, xlatedAddr);
  w.u32(I.jited_prog_len, 0);
  w.u64(I.jited_prog_insns, user.u64(I.jited_prog_insns));
}

function linkInfo(l: BpfLink, w: InfoWriter): void {
  const I = U.bpf_link_info;
  w.u32(I.type, l.linkType);
  w.u32(I.id, l.id);
  w.u32(I.prog_id, l.prog.id);
}

function btfInfo(ctx: CallContext, b: BpfBtf, user: Struct, w: InfoWriter): void {
  const I = U.bpf_btf_info;
  const cap = user.u32(I.btf_size);
  const addr = user.u64(I.btf);
  if (cap && addr) ctx.mem.write(addr, b.data.subarray(0, Math.min(cap, b.data.length)));
  w.u64(I.btf, addr);
  w.u32(I.btf_size, b.data.length);
  w.u32(I.id, b.id);
}
