// BPF_OBJ_GET_INFO_BY_FD, as bpf_obj_get_info_by_fd() and its per-type fillers: the caller's
// info_len is checked like any extensible struct (non-zero bytes beyond what we know: E2BIG),
// the caller's struct is read in (fields the kernel does not set come back as the caller gave
// them), filled up to min(info_len, sizeof), arrays are copied up to the counts the caller gave
// and the full counts reported, and info_len is written back.
import * as U from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { BpfObject, ObjKind } from '../../kernel/objects';
import { BpfMap } from '../../kernel/map';
import { BpfProg } from '../../kernel/prog';
import { BpfLink } from '../../kernel/link';
import { BpfBtf } from '../../kernel/btf';
import { CallContext, Field, Struct } from './context';
import { fdIsOpen } from './fds';
import { progStats } from './stats';

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
    const n = Math.min(f.size, this.buf.length - f.off);
    if (n <= 0) return;
    const field = Buffer.alloc(f.size);
    b.copy(field, 0, 0, Math.min(b.length, f.size));
    field.copy(this.buf, f.off, 0, n);
  }
}

export function objGetInfoByFd(ctx: CallContext, attr: Struct, attrAddr: bigint): bigint {
  const fd = attr.s32(A.bpf_fd);
  let obj: BpfObject;
  try {
    obj = ctx.object(fd);
  } catch {
    // The kernel's fdget() failure here is EBADFD (sic); any other file is EINVAL.
    throw new KernelError(fdIsOpen(ctx.client.peerPid, fd) ? Errno.EINVAL : Errno.EBADFD, `fd ${fd} is not a bpf object`);
  }
  const size = infoSize(obj);
  const infoAddr = attr.u64(A.info);
  let infoLen = attr.u32(A.info_len);
  // Extensible struct: bytes the caller passed beyond our struct must be zero.
  if (infoLen > size) {
    const tail = ctx.mem.read(infoAddr + BigInt(size), infoLen - size);
    if (tail.some((b) => b !== 0)) throw new KernelError(Errno.E2BIG, 'non-zero bytes beyond the info struct');
    infoLen = size;
  }
  const user = new Struct(Buffer.from(ctx.mem.read(infoAddr, infoLen)));
  const out = new InfoWriter(Buffer.from(user.buf));
  let err = 0;
  switch (obj.kind) {
    case ObjKind.Prog:
      progInfo(ctx, obj as BpfProg, user, out);
      break;
    case ObjKind.Map:
      mapInfo(obj as BpfMap, out);
      break;
    case ObjKind.Link:
      linkInfo(ctx, obj as BpfLink, out);
      break;
    case ObjKind.Btf:
      err = btfInfo(ctx, obj as BpfBtf, user, out);
      break;
  }
  ctx.mem.write(infoAddr, out.buf);
  const lenField = Buffer.alloc(4);
  lenField.writeUInt32LE(infoLen, 0);
  ctx.mem.write(attrAddr + BigInt(A.info_len.off), lenField);
  if (err) throw new KernelError(err, 'name buffer too small');
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
      // Perf events are perf files, not bpf objects: bpf_obj_get_info_by_fd() knows no f_op.
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
  // bpf_map_flags_retain_permanent(): the access-mode flags belong to the fd, not the map.
  w.u32(I.map_flags, m.spec.mapFlags & ~(U.BPF_F_RDONLY | U.BPF_F_WRONLY));
  w.u64(I.map_extra, m.spec.mapExtra);
  w.bytes(I.name, Buffer.from(m.name));
  if (m.btfId) {
    w.u32(I.btf_id, m.btfId);
    w.u32(I.btf_key_type_id, m.btfKeyTypeId);
    w.u32(I.btf_value_type_id, m.btfValueTypeId);
  }
  w.u32(I.btf_vmlinux_value_type_id, 0);
}

/** set_info_rec_size(): record sizes must be the kernel's when counts are asked for. */
function checkRecSizes(user: Struct): void {
  const I = U.bpf_prog_info;
  const bad = (nr: Field, rec: Field, want: number) => (user.u32(nr) || user.u32(rec)) && user.u32(rec) !== want;
  if (
    bad(I.nr_func_info, I.func_info_rec_size, U.sizeof.bpf_func_info) ||
    bad(I.nr_line_info, I.line_info_rec_size, U.sizeof.bpf_line_info) ||
    bad(I.nr_jited_line_info, I.jited_line_info_rec_size, 8)
  ) {
    throw new KernelError(Errno.EINVAL, 'unexpected func/line info record size');
  }
}

/** bpf_prog_get_info_by_fd() for a program that is not JIT-compiled (JIT images are not made yet):
 * one function, jited_prog_len 0, one ksym and one function length (both 0: there is no image),
 * one tag; no func/line info is kept from the load. Run-time stats are not collected (0). */
function progInfo(ctx: CallContext, p: BpfProg, user: Struct, w: InfoWriter): void {
  const I = U.bpf_prog_info;
  w.u32(I.type, p.spec.progType);
  w.u32(I.id, p.id);
  w.u64(I.load_time, p.spec.loadTime);
  w.u32(I.created_by_uid, p.spec.uid);
  const gpl = user.u32({ off: I.gpl_compatible.off, size: 4 }) & ~1;
  w.u32({ off: I.gpl_compatible.off, size: 4 }, gpl | (p.spec.gplCompatible ? 1 : 0));
  w.bytes(I.tag, p.tag);
  w.bytes(I.name, Buffer.from(p.name));

  // Arrays go to where the caller's pointers say: a NULL pointer with a non-zero count is EFAULT.
  const ids = p.spec.maps.map((m) => m.id);
  const nMaps = Math.min(user.u32(I.nr_map_ids), ids.length);
  w.u32(I.nr_map_ids, ids.length);
  if (nMaps) {
    const b = Buffer.alloc(4 * nMaps);
    ids.slice(0, nMaps).forEach((id, i) => b.writeUInt32LE(id, 4 * i));
    ctx.mem.write(user.u64(I.map_ids), b);
  }

  checkRecSizes(user);
  w.u32(I.func_info_rec_size, U.sizeof.bpf_func_info);
  w.u32(I.line_info_rec_size, U.sizeof.bpf_line_info);
  w.u32(I.jited_line_info_rec_size, 8);

  const st = progStats(p); // counted while BPF_ENABLE_STATS is on
  w.u64(I.run_time_ns, st.runTimeNs);
  w.u64(I.run_cnt, st.runCnt);
  w.u64(I.recursion_misses, st.misses);
  w.u32(I.verified_insns, p.insnCnt);
  if (p.spec.btfId) w.u32(I.btf_id, p.spec.btfId);

  // Instructions as loaded, after the loader's fix-ups (map references name map ids).
  const xlatedCap = user.u32(I.xlated_prog_len);
  w.u32(I.xlated_prog_len, p.spec.insns.length);
  if (xlatedCap) ctx.mem.write(user.u64(I.xlated_prog_insns), p.spec.insns.subarray(0, Math.min(xlatedCap, p.spec.insns.length)));

  w.u32(I.jited_prog_len, 0);
  w.u32(I.nr_jited_ksyms, 1);
  if (user.u32(I.nr_jited_ksyms)) ctx.mem.write(user.u64(I.jited_ksyms), Buffer.alloc(8));
  w.u32(I.nr_jited_func_lens, 1);
  if (user.u32(I.nr_jited_func_lens)) ctx.mem.write(user.u64(I.jited_func_lens), Buffer.alloc(4));

  w.u32(I.attach_btf_id, 0);
  w.u32(I.nr_func_info, 0);
  w.u32(I.nr_line_info, 0);
  w.u32(I.nr_jited_line_info, 0);
  w.u32(I.nr_prog_tags, 1);
  if (user.u32(I.nr_prog_tags)) ctx.mem.write(user.u64(I.prog_tags), p.tag);
}

/** The common part of bpf_link_get_info_by_fd(). A perf link's fill_link_info (perf_event.*:
 * probe type, file name, offset, cookie) is newer than the uapi header we are built against, so
 * those bytes come back as the caller passed them, as from a kernel of that header's age. */
function linkInfo(ctx: CallContext, l: BpfLink, w: InfoWriter): void {
  const I = U.bpf_link_info;
  w.u32(I.type, l.linkType);
  w.u32(I.id, l.id);
  w.u32(I.prog_id, l.prog.id);
  if (l.linkType === U.BPF_LINK_TYPE_TRACING) {
    // bpf_tracing_link_fill_link_info(): the target is a vmlinux function, by its BTF id
    w.u32(I.tracing.attach_type, l.attachType);
    w.u32(I.tracing.target_obj_id, ctx.kernel.vmlinuxBtfId);
    w.u32(I.tracing.target_btf_id, l.prog.spec.attachBtfId ?? 0);
  }
}

/** btf_get_info_by_fd(): the raw BTF, its size, whether it is the kernel's, and its name (empty
 * for BTF a tool loaded); a name buffer too small is ENOSPC after everything is written. */
function btfInfo(ctx: CallContext, b: BpfBtf, user: Struct, w: InfoWriter): number {
  const I = U.bpf_btf_info;
  w.u32(I.id, b.id);
  const cap = user.u32(I.btf_size);
  if (cap) ctx.mem.write(user.u64(I.btf), b.data.subarray(0, Math.min(cap, b.data.length)));
  w.u32(I.btf_size, b.data.length);
  w.u32(I.kernel_btf, b.kernelName ? 1 : 0);
  const uname = user.u64(I.name);
  const unameLen = user.u32(I.name_len);
  if (!uname !== !unameLen) throw new KernelError(Errno.EINVAL, 'name and name_len go together');
  const name = Buffer.from(b.kernelName ?? ''); // BTF a tool loaded has no name
  w.u32(I.name_len, name.length);
  if (!uname) return 0;
  if (unameLen >= name.length + 1) {
    ctx.mem.write(uname, Buffer.concat([name, Buffer.from([0])]));
    return 0;
  }
  ctx.mem.write(uname, Buffer.concat([name.subarray(0, unameLen - 1), Buffer.from([0])]));
  return Errno.ENOSPC;
}
