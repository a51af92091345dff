// Where the running kernel keeps the struct vm_area_struct / file / dentry fields that
// bpf_find_vma callbacks read (vma->vm_start, vma->vm_file->f_path.dentry->d_name.name, ...),
// so agents can hand callbacks stand-ins of that exact layout: CO-RE offsets computed by libbpf
// from /sys/kernel/btf/vmlinux then find our values. Sent to agents after the task layout, in
// the same MSG_TASK_LAYOUT payload (struct bpftime_vma_layout, bpftime/vma.h).
import { Btf } from './btf';
import { BtfKind } from './format';
import { Field, fieldPath, findStruct, pointerSize, resolveType, sizeOf } from './fields';

export const VMA_LAYOUT_MAGIC = 0x4c414d56; // "VMAL"
const FIELDS = [
  'vmaSize', 'fileSize', 'dentrySize', 'vmStart', 'vmEnd', 'vmFlags', 'vmPgoff', 'vmFile',
  'fPathDentry', 'dNameName', 'dNameLen', 'dIname', 'dInameLen', 'taskTgid',
] as const;
export type VmaLayout = Record<(typeof FIELDS)[number], number>;

const offsetOf = (f: Field | undefined, size: number, btf: Btf, ptr: number): number => {
  if (!f || f.bitSize !== 0 || f.bitOffset % 8 !== 0) return -1;
  const k = btf.type(f.resolved).kind;
  const s = k === BtfKind.PTR ? ptr : k === BtfKind.ARRAY ? size : sizeOf(btf, f.type, ptr);
  return s === size ? f.bitOffset / 8 : -1;
};

export function computeVmaLayout(btf: Btf): VmaLayout | null {
  const vma = findStruct(btf, 'vm_area_struct');
  const file = findStruct(btf, 'file');
  const dentry = findStruct(btf, 'dentry');
  const task = findStruct(btf, 'task_struct');
  if (vma === undefined || file === undefined || dentry === undefined) return null;
  const ptr = pointerSize(btf);
  const at = (s: number, path: string, size: number) => offsetOf(fieldPath(btf, s, path), size, btf, ptr);
  // The inline name: d_iname (char[]) until 6.13, d_shortname.string since.
  let dIname = -1;
  let dInameLen = 0;
  for (const path of ['d_iname', 'd_shortname.string']) {
    const f = fieldPath(btf, dentry, path);
    if (!f || f.bitOffset % 8 !== 0 || btf.type(f.resolved).kind !== BtfKind.ARRAY) continue;
    const a = btf.array(f.resolved);
    if (sizeOf(btf, a.type, ptr) !== 1) continue;
    dIname = f.bitOffset / 8;
    dInameLen = a.nelems;
    break;
  }
  const fpath = fieldPath(btf, file, 'f_path.dentry');
  return {
    vmaSize: sizeOf(btf, vma, ptr),
    fileSize: sizeOf(btf, file, ptr),
    dentrySize: sizeOf(btf, dentry, ptr),
    vmStart: at(vma, 'vm_start', 8),
    vmEnd: at(vma, 'vm_end', 8),
    vmFlags: at(vma, 'vm_flags', 8),
    vmPgoff: at(vma, 'vm_pgoff', 8),
    vmFile: at(vma, 'vm_file', ptr),
    fPathDentry: fpath && btf.type(resolveType(btf, fpath.type)).kind === BtfKind.PTR ? offsetOf(fpath, ptr, btf, ptr) : -1,
    dNameName: at(dentry, 'd_name.name', ptr),
    dNameLen: at(dentry, 'd_name.len', 4),
    dIname,
    dInameLen,
    taskTgid: task === undefined ? -1 : at(task, 'tgid', 4),
  };
}

/** struct bpftime_vma_layout: magic, then the fields above as int32 in this order; all -1 (and
 * sizes 0) when the kernel's BTF has no such structs. */
export function encodeVmaLayout(l: VmaLayout | null): Buffer {
  const b = Buffer.alloc(4 * (1 + FIELDS.length));
  b.writeUInt32LE(VMA_LAYOUT_MAGIC, 0);
  FIELDS.forEach((k, i) => b.writeInt32LE(l ? l[k] : k.endsWith('Size') || k === 'dInameLen' ? 0 : -1, 4 * (i + 1)));
  return b;
}
