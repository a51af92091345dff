// Where the running kernel keeps the struct task_struct fields that tracing programs read through
// bpf_get_current_task(). Tools compiled with CO-RE read `task->real_parent->tgid` at offsets
// libbpf computed from /sys/kernel/btf/vmlinux; agents build per-thread stand-ins of that exact
// layout, so the same offsets find our values. Computed once by the server from the kernel's BTF.
import { Btf } from './btf';
import { BtfKind } from './format';
import { Field, fieldPath, findStruct, pointerSize, resolveType, sizeOf } from './fields';

/** Byte offsets in the kernel's struct task_struct / struct cred; -1 where this kernel has no
 * such field or it is not of the type agents write (a pid that is not a 4-byte integer, ...). */
export interface TaskLayout {
  taskSize: number;
  credSize: number; // 0: no struct cred
  pid: number;
  tgid: number;
  realParent: number;
  parent: number;
  groupLeader: number;
  comm: number;
  commLen: number;
  flags: number;
  startTime: number;
  startBoottime: number;
  exitCode: number;
  realCred: number;
  cred: number;
  credUid: number;
  credGid: number;
  credEuid: number;
  credEgid: number;
}

/** Byte offset of a whole (non-bitfield, byte-aligned) member whose type passes `ok`, else -1. */
function offsetIf(f: Field | undefined, ok: (f: Field) => boolean): number {
  if (!f || f.bitSize !== 0 || f.bitOffset % 8 !== 0) return -1;
  return ok(f) ? f.bitOffset / 8 : -1;
}

export function computeTaskLayout(btf: Btf): TaskLayout | null {
  const task = findStruct(btf, 'task_struct');
  if (task === undefined) return null;
  const cred = findStruct(btf, 'cred');
  const ptr = pointerSize(btf);
  const kindOf = (id: number) => btf.type(resolveType(btf, id)).kind;
  const intOf = (bytes: number) => (f: Field) => kindOf(f.type) === BtfKind.INT && sizeOf(btf, f.type, ptr) === bytes;
  const ptrTo = (target: number | undefined) => (f: Field) => {
    const t = btf.type(f.resolved);
    return target !== undefined && t.kind === BtfKind.PTR && resolveType(btf, t.type) === target;
  };
  // kuid_t/kgid_t are one-member structs around a u32 (a bare u32 without user namespaces).
  const id32 = (f: Field) => sizeOf(btf, f.type, ptr) === 4;
  const inTask = (path: string, ok: (f: Field) => boolean) => offsetIf(fieldPath(btf, task, path), ok);
  const inCred = (path: string) => (cred === undefined ? -1 : offsetIf(fieldPath(btf, cred, path), id32));

  const commField = fieldPath(btf, task, 'comm');
  let comm = -1;
  let commLen = 0;
  if (commField && btf.type(commField.resolved).kind === BtfKind.ARRAY) {
    const a = btf.array(commField.resolved);
    if (sizeOf(btf, a.type, ptr) === 1) {
      comm = offsetIf(commField, () => true);
      commLen = comm < 0 ? 0 : a.nelems;
    }
  }
  const credPtr = ptrTo(cred);
  return {
    taskSize: sizeOf(btf, task, ptr),
    credSize: cred === undefined ? 0 : sizeOf(btf, cred, ptr),
    pid: inTask('pid', intOf(4)),
    tgid: inTask('tgid', intOf(4)),
    realParent: inTask('real_parent', ptrTo(task)),
    parent: inTask('parent', ptrTo(task)),
    groupLeader: inTask('group_leader', ptrTo(task)),
    comm,
    commLen,
    flags: inTask('flags', intOf(4)),
    startTime: inTask('start_time', intOf(8)),
    // Named real_start_time before Linux 5.5.
    startBoottime: Math.max(inTask('start_boottime', intOf(8)), inTask('real_start_time', intOf(8))),
    exitCode: inTask('exit_code', intOf(4)),
    realCred: inTask('real_cred', credPtr),
    cred: inTask('cred', credPtr),
    credUid: inCred('uid'),
    credGid: inCred('gid'),
    credEuid: inCred('euid'),
    credEgid: inCred('egid'),
  };
}
