// BPF_MAP_TYPE_ARRAY_OF_MAPS and BPF_MAP_TYPE_HASH_OF_MAPS from the syscall side, as the kernel's
// map_in_map.c with arraymap.c's array_of_map_* and hashtab.c's htab_of_map_*: MAP_CREATE takes
// a template map (inner_map_fd) that every stored map must match (map_meta_equal); updates take
// an inner map fd, which the server turns into the map's id (the shim runs lookups, which answer
// that id, and get_next_key natively on the shared memory). A stored map keeps a reference; every
// agent opens it before the update returns, so a program's lookup in the outer map (which
// resolves the id in its own process) finds it.
import * as U from '../../uapi/bpf';
import { addon } from '../../native/addon';
import { Errno, KernelError } from '../../kernel/errno';
import { BpfMap, MapSpec } from '../../kernel/map';
import { Kernel } from '../kernel';
import { CallContext, Struct } from './context';
import { mapOf } from './fds';

const E = U.bpf_attr.elem;
/** The kernel's ENOTSUPP (not in errno.h): an inner map type without map_meta_equal. */
const ENOTSUPP = 524;

export function isMapOfMaps(t: number): boolean {
  return t === U.BPF_MAP_TYPE_ARRAY_OF_MAPS || t === U.BPF_MAP_TYPE_HASH_OF_MAPS;
}

/** Map types that cannot be stored in another map (their kernel ops have no map_meta_equal). */
const NO_META_EQUAL = new Set<number>([U.BPF_MAP_TYPE_PROG_ARRAY]);

interface Outer {
  template: MapSpec;
  /** Stored maps by the key's bytes (hex). */
  held: Map<string, BpfMap>;
}

const outers = new WeakMap<BpfMap, Outer>();

/** bpf_map_meta_alloc: the template's properties, from the map behind inner_map_fd (EBADF when
 * the fd is no bpf object, EINVAL when it is not a map or itself stores maps, ENOTSUPP when its
 * type cannot be stored). */
export function innerTemplate(ctx: CallContext, fd: number): MapSpec {
  const inner = mapOf(ctx, fd); // EBADF for a closed fd, EINVAL for any other file
  if (isMapOfMaps(inner.spec.mapType)) throw new KernelError(Errno.EINVAL, 'maps of maps cannot nest');
  if (NO_META_EQUAL.has(inner.spec.mapType)) throw new KernelError(ENOTSUPP, 'this map type cannot be an inner map');
  if (inner.spec.spinLockPos) throw new KernelError(ENOTSUPP, 'inner maps with a bpf_spin_lock are not supported');
  return { ...inner.spec };
}

/** MAP_CREATE's tail: the new outer map keeps the template; its stored maps go when it does. */
export function registerOuter(k: Kernel, map: BpfMap, template: MapSpec): void {
  const o: Outer = { template, held: new Map() };
  outers.set(map, o);
  map.onDestroyHooks.push(() => {
    for (const inner of o.held.values()) {
      k.attachments.removeInnerMap(inner);
      inner.release();
    }
    o.held.clear();
  });
}

/** bpf_map_meta_equal (+ array_map_meta_equal's max_entries unless BPF_F_INNER_MAP). */
function metaEqual(t: MapSpec, m: MapSpec): boolean {
  if (t.mapType !== m.mapType || t.keySize !== m.keySize || t.valueSize !== m.valueSize || t.mapFlags !== m.mapFlags) {
    return false;
  }
  if ((m.spinLockPos ?? 0) !== 0) return false;
  const arrayLike = t.mapType === U.BPF_MAP_TYPE_ARRAY || t.mapType === U.BPF_MAP_TYPE_PERCPU_ARRAY;
  if (arrayLike && !(t.mapFlags & U.BPF_F_INNER_MAP) && t.maxEntries !== m.maxEntries) return false;
  return true;
}

function outerOf(map: BpfMap): Outer {
  const o = outers.get(map);
  if (!o) throw new KernelError(Errno.EINVAL, `map ${map.id} has no inner map template`);
  return o;
}

function readKeyValue(ctx: CallContext, attr: Struct, map: BpfMap, withValue: boolean): { key: Buffer; fd: number } {
  const ks = map.spec.keySize;
  ctx.mem.require([{ addr: attr.u64(E.key), len: ks }, ...(withValue ? [{ addr: attr.u64(E.value), len: 4 }] : [])]);
  const key = ctx.mem.read(attr.u64(E.key), ks);
  const fd = withValue ? ctx.mem.read(attr.u64(E.value), 4).readInt32LE(0) : -1;
  return { key, fd };
}

/** BPF_MAP_UPDATE_ELEM: bpf_fd_array_map_update_elem / bpf_fd_htab_map_update_elem. */
export function mapUpdateElem(ctx: CallContext, map: BpfMap, attr: Struct): bigint {
  if (map.frozen) throw new KernelError(Errno.EPERM, 'map is frozen: no write access');
  const flags = attr.u64(E.flags);
  if (flags & BigInt(U.BPF_F_LOCK)) throw new KernelError(Errno.EINVAL, 'BPF_F_LOCK: the value has no spin lock');
  const { key, fd } = readKeyValue(ctx, attr, map, true);
  storeInner(ctx, map, key, fd, flags);
  return 0n;
}

/** One element of an update (BPF_MAP_UPDATE_ELEM, or one of BPF_MAP_UPDATE_BATCH's): the inner
 * map behind fd stored at key, holding a reference; throws the kernel's error. */
export function storeInner(ctx: CallContext, map: BpfMap, key: Buffer, fd: number, flags: bigint): void {
  const isArray = map.spec.mapType === U.BPF_MAP_TYPE_ARRAY_OF_MAPS;
  if (isArray) {
    if (flags !== BigInt(U.BPF_ANY)) throw new KernelError(Errno.EINVAL, 'array of maps updates take BPF_ANY only');
    if (key.readUInt32LE(0) >= map.spec.maxEntries) throw new KernelError(Errno.E2BIG, 'index out of range');
  }
  const o = outerOf(map);
  // bpf_map_fd_get_ptr
  const inner = mapOf(ctx, fd);
  if (!metaEqual(o.template, inner.spec)) {
    throw new KernelError(Errno.EINVAL, `map ${inner.id} does not match the outer map's inner map template`);
  }
  const v = Buffer.alloc(4);
  v.writeUInt32LE(inner.id, 0);
  const k = key.toString('hex');
  const old = o.held.get(k);
  inner.acquire();
  // Agents open it first; the answer waits for them (as for prog arrays).
  ctx.kernel.attachments.addInnerMap(inner);
  const rc = addon.mapUpdate(map.ops, key, v, flags) as number;
  if (rc < 0) {
    ctx.kernel.attachments.removeInnerMap(inner);
    inner.release();
    throw new KernelError(-rc, `map update failed: errno ${-rc}`);
  }
  o.held.set(k, inner);
  if (old) {
    ctx.kernel.attachments.removeInnerMap(old);
    old.release();
  }
}

/** BPF_MAP_DELETE_ELEM: fd_array_map_delete_elem / htab_map_delete_elem, dropping the stored
 * map's reference. */
export function mapDeleteElem(ctx: CallContext, map: BpfMap, attr: Struct): bigint {
  if (map.frozen) throw new KernelError(Errno.EPERM, 'map is frozen: no write access');
  const { key } = readKeyValue(ctx, attr, map, false);
  const rc = deleteInner(ctx, map, key);
  if (rc < 0) throw new KernelError(-rc, rc === -Errno.ENOENT ? 'no such element' : `map delete failed: errno ${-rc}`);
  return 0n;
}

/** One element's delete (also for DELETE_BATCH and LOOKUP_AND_DELETE_BATCH): 0 or -errno; the
 * stored map's reference goes with its slot. */
export function deleteInner(ctx: CallContext, map: BpfMap, key: Buffer): number {
  const rc = addon.mapDelete(map.ops, key) as number;
  if (rc < 0) return rc;
  const o = outerOf(map);
  const k = key.toString('hex');
  const old = o.held.get(k);
  o.held.delete(k);
  if (old) {
    ctx.kernel.attachments.removeInnerMap(old);
    old.release();
  }
  return 0;
}
