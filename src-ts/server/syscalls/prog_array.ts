// Updates and deletes of BPF_MAP_TYPE_PROG_ARRAY slots from the tool, as the kernel's
// bpf_fd_array_map_update_elem / fd_array_map_delete_elem with prog_fd_array_get_ptr. The value
// is a program fd, so these come to the server (the shim runs lookups and get_next_key natively:
// the map's shared memory holds each slot's program id). A slot holds a reference on its
// program; every agent is given the program before the call returns (bpf_tail_call then finds it
// in any process); and the array empties itself when the last user reference to it (fd or pin)
// goes, as the kernel's prog_array_map_clear, which breaks the cycle of programs that tail-call
// through the array they sit in.
import * as U from '../../uapi/bpf';
import { addon } from '../../native/addon';
import { Errno, KernelError } from '../../kernel/errno';
import { BpfMap } from '../../kernel/map';
import { ObjKind } from '../../kernel/objects';
import { BpfProg } from '../../kernel/prog';
import { Kernel } from '../kernel';
import { CallContext, Struct } from './context';
import * as perfArray from './perf_event_array';
import * as mapOfMaps from './map_of_maps';

const E = U.bpf_attr.elem;

interface ProgArray {
  slots: Map<number, BpfProg>;
  /** The program type every program in the array must have (the kernel's map->owner.type). */
  ownerType?: number;
}

const arrays = new WeakMap<BpfMap, ProgArray>();

function key(index: number): Buffer {
  const k = Buffer.alloc(4);
  k.writeUInt32LE(index, 0);
  return k;
}

/** Writes slot `index` of the shared region (0: empty). */
function writeSlot(map: BpfMap, index: number, progId: number): void {
  const v = Buffer.alloc(4);
  v.writeUInt32LE(progId, 0);
  const rc = addon.mapUpdate(map.ops, key(index), v, 0n) as number;
  if (rc < 0) throw new KernelError(-rc, `prog array slot write failed: errno ${-rc}`);
}

/** References from user space: all of the map's, less those of the programs that use it. */
function userRefs(k: Kernel, map: BpfMap): number {
  let progs = 0;
  for (const o of k.registry.all(ObjKind.Prog)) if (!o.destroyed && (o as BpfProg).spec.maps.includes(map)) progs++;
  return map.refcount - progs;
}

function clear(k: Kernel, map: BpfMap, pa: ProgArray): void {
  const held = [...pa.slots];
  pa.slots.clear();
  for (const [index, prog] of held) {
    if (!map.destroyed) writeSlot(map, index, 0);
    k.attachments.removeTailProg(prog);
  }
  for (const [, prog] of held) prog.release();
}

/** The lines a prog array adds to its fdinfo once it has an owner (bpf_map_show_fdinfo; our
 * programs report prog_jited 0, so the owner does too). */
export function progArrayFdinfo(map: BpfMap): string[] {
  const owner = arrays.get(map)?.ownerType;
  return owner === undefined ? [] : [`owner_prog_type:\t${owner}`, 'owner_jited:\t0'];
}

function progArrayOf(k: Kernel, map: BpfMap): ProgArray {
  let pa = arrays.get(map);
  if (!pa) {
    const table: ProgArray = { slots: new Map() };
    pa = table;
    arrays.set(map, table);
    map.onRelease = () => {
      if (table.slots.size && userRefs(k, map) <= 0) clear(k, map, table);
    };
    map.onDestroyHooks.push(() => clear(k, map, table));
  }
  return pa;
}

/** The program behind the value's fd, as prog_fd_array_get_ptr: EBADF when it is no object of
 * ours, EINVAL when it is not a program, an extension, or of another type than the array's. */
function progFor(ctx: CallContext, map: BpfMap, pa: ProgArray, fd: number): BpfProg {
  const o = ctx.object(fd);
  if (o.kind !== ObjKind.Prog) throw new KernelError(Errno.EINVAL, `fd ${fd} is not a program`);
  const prog = o as BpfProg;
  const type = prog.spec.progType;
  if (type === U.BPF_PROG_TYPE_EXT) throw new KernelError(Errno.EINVAL, 'extension programs cannot be tail-called');
  // The owner type is set by the first program that uses the array (checkTailCallMaps) or is
  // put in it.
  if (pa.ownerType === undefined) pa.ownerType = type;
  if (pa.ownerType !== type) throw new KernelError(Errno.EINVAL, 'program type differs from the prog array owner');
  return prog;
}

/** Every program a run of `prog` may tail-call into: the occupants of the prog arrays it uses,
 * and theirs, transitively (for test runs, which load them in the server). */
export function tailTargets(prog: BpfProg): BpfProg[] {
  const out = new Set<BpfProg>();
  const todo = [prog];
  while (todo.length) {
    for (const m of todo.pop()!.spec.maps) {
      for (const p of arrays.get(m)?.slots.values() ?? []) {
        if (!out.has(p) && p !== prog) {
          out.add(p);
          todo.push(p);
        }
      }
    }
  }
  return [...out];
}

/** PROG_LOAD, as the kernel's bpf_check_tail_call: every prog array the program uses must be
 * owned by programs of its type (the first one to use or enter an array makes it the owner). */
export function checkTailCallMaps(k: Kernel, maps: readonly BpfMap[], progType: number): void {
  for (const map of maps) {
    if (map.spec.mapType !== U.BPF_MAP_TYPE_PROG_ARRAY) continue;
    const pa = progArrayOf(k, map);
    if (pa.ownerType === undefined) pa.ownerType = progType;
    else if (pa.ownerType !== progType) {
      throw new KernelError(Errno.EINVAL, `prog array ${map.id} holds programs of another type`);
    }
  }
}

export function mapUpdateElem(ctx: CallContext, attr: Struct): bigint {
  const map = ctx.objectOf<BpfMap>(attr.s32(E.map_fd), ObjKind.Map, 'a map');
  if (mapOfMaps.isMapOfMaps(map.spec.mapType)) return mapOfMaps.mapUpdateElem(ctx, map, attr);
  if (map.spec.mapType !== U.BPF_MAP_TYPE_PROG_ARRAY) return perfArray.mapUpdateElem(ctx, attr);
  if (map.frozen) throw new KernelError(Errno.EPERM, 'map is frozen: no write access');
  const flags = attr.u64(E.flags);
  if (flags & BigInt(U.BPF_F_LOCK)) throw new KernelError(Errno.EINVAL, 'BPF_F_LOCK: the value has no spin lock');
  ctx.mem.require([
    { addr: attr.u64(E.key), len: 4 },
    { addr: attr.u64(E.value), len: 4 },
  ]);
  const index = ctx.mem.read(attr.u64(E.key), 4).readUInt32LE(0);
  const fd = ctx.mem.read(attr.u64(E.value), 4).readInt32LE(0);
  if (flags !== BigInt(U.BPF_ANY)) throw new KernelError(Errno.EINVAL, 'prog array updates take BPF_ANY only');
  if (index >= map.spec.maxEntries) throw new KernelError(Errno.E2BIG, 'index out of range');
  const pa = progArrayOf(ctx.kernel, map);
  const prog = progFor(ctx, map, pa, fd).acquire();
  const old = pa.slots.get(index);
  pa.slots.set(index, prog);
  // Agents get the program first; the slot shows it at once, the answer waits for them.
  ctx.kernel.attachments.addTailProg(prog);
  writeSlot(map, index, prog.id);
  if (old) {
    ctx.kernel.attachments.removeTailProg(old);
    old.release();
  }
  return 0n;
}

export function mapDeleteElem(ctx: CallContext, attr: Struct): bigint {
  const map = ctx.objectOf<BpfMap>(attr.s32(E.map_fd), ObjKind.Map, 'a map');
  if (mapOfMaps.isMapOfMaps(map.spec.mapType)) return mapOfMaps.mapDeleteElem(ctx, map, attr);
  if (map.spec.mapType !== U.BPF_MAP_TYPE_PROG_ARRAY) return perfArray.mapDeleteElem(ctx, attr);
  if (map.frozen) throw new KernelError(Errno.EPERM, 'map is frozen: no write access');
  ctx.mem.require([{ addr: attr.u64(E.key), len: 4 }]);
  const index = ctx.mem.read(attr.u64(E.key), 4).readUInt32LE(0);
  if (index >= map.spec.maxEntries) throw new KernelError(Errno.E2BIG, 'index out of range');
  const pa = progArrayOf(ctx.kernel, map);
  const old = pa.slots.get(index);
  if (!old) throw new KernelError(Errno.ENOENT, 'slot is empty');
  pa.slots.delete(index);
  writeSlot(map, index, 0);
  ctx.kernel.attachments.removeTailProg(old);
  old.release();
  return 0n;
}
