// Where the running kernel keeps task->nsproxy, the namespace pointers of struct nsproxy and
// ns.inum in each namespace struct, so agents can give the task stand-ins namespaces laid out as
// the kernel lays them out: CO-RE reads such as mountsnoop's
// BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum) then find the process's real namespace ids. Sent
// to agents after the task and vma layouts, in the same MSG_TASK_LAYOUT payload
// (struct bpftime_ns_layout, bpftime/task_ns.h).
import { Btf } from './btf';
import { BtfKind } from './format';
import { fieldPath, findStruct, pointerSize, resolveType, sizeOf } from './fields';

export const NS_LAYOUT_MAGIC = 0x594c534e; // "NSLY"
/** struct nsproxy's pointers, in enum bpftime_ns_kind's order. */
export const NS_FIELDS = ['uts_ns', 'ipc_ns', 'mnt_ns', 'pid_ns_for_children', 'net_ns', 'time_ns', 'time_ns_for_children', 'cgroup_ns'] as const;

export interface NsLayout {
  taskNsproxy: number;
  nsproxySize: number;
  ns: Array<{ field: number; size: number; inum: number }>;
  utsName: number;
  utsNameSize: number;
}

const NONE = { field: -1, size: 0, inum: -1 };

export function computeNsLayout(btf: Btf): NsLayout | null {
  const task = findStruct(btf, 'task_struct');
  const nsproxy = findStruct(btf, 'nsproxy');
  if (task === undefined || nsproxy === undefined) return null;
  const ptr = pointerSize(btf);
  const whole = (f: { bitSize: number; bitOffset: number } | undefined) => !!f && f.bitSize === 0 && f.bitOffset % 8 === 0;
  /** The struct a pointer member points to, or undefined. */
  const pointee = (f: { resolved: number } | undefined) => {
    if (!f) return undefined;
    const t = btf.type(f.resolved);
    if (t.kind !== BtfKind.PTR) return undefined;
    const s = resolveType(btf, t.type);
    return btf.type(s).kind === BtfKind.STRUCT ? s : undefined;
  };
  const tp = fieldPath(btf, task, 'nsproxy');
  if (!whole(tp) || pointee(tp) !== nsproxy) return null;
  let utsName = -1;
  let utsNameSize = 0;
  const ns = NS_FIELDS.map((name) => {
    const f = fieldPath(btf, nsproxy, name);
    const s = pointee(f);
    if (!whole(f) || s === undefined) return NONE;
    const inum = fieldPath(btf, s, 'ns.inum');
    const inumOk = whole(inum) && btf.type(resolveType(btf, inum!.type)).kind === BtfKind.INT && sizeOf(btf, inum!.type, ptr) === 4;
    if (name === 'uts_ns') {
      const n = fieldPath(btf, s, 'name');
      if (whole(n)) {
        utsName = n!.bitOffset / 8;
        utsNameSize = sizeOf(btf, n!.type, ptr);
      }
    }
    return { field: f!.bitOffset / 8, size: sizeOf(btf, s, ptr), inum: inumOk ? inum!.bitOffset / 8 : -1 };
  });
  return { taskNsproxy: tp!.bitOffset / 8, nsproxySize: sizeOf(btf, nsproxy, ptr), ns, utsName, utsNameSize };
}

/** struct bpftime_ns_layout; every offset -1 and every size 0 when the kernel's BTF has no
 * nsproxy. */
export function encodeNsLayout(l: NsLayout | null): Buffer {
  const words = [NS_LAYOUT_MAGIC, l ? l.taskNsproxy : -1, l ? l.nsproxySize : 0];
  for (let i = 0; i < NS_FIELDS.length; i++) {
    const n = l ? l.ns[i] : NONE;
    words.push(n.field, n.size, n.inum);
  }
  words.push(l ? l.utsName : -1, l ? l.utsNameSize : 0);
  const b = Buffer.alloc(4 * words.length);
  words.forEach((w, i) => (i === 0 ? b.writeUInt32LE(w, 0) : b.writeInt32LE(w, 4 * i)));
  return b;
}
