// BPF_MAP_{LOOKUP,LOOKUP_AND_DELETE,UPDATE,DELETE}_BATCH, as bpf_map_do_batch() and the map
// types' batch ops answer them. They run in the server, through its own handle on the map's
// shared memory (the same C map code the shim and the agents use).
//
// Kernel semantics kept:
//  - which map types have which batch op (the others: ENOTSUPP, errno 524);
//  - write commands on a frozen map: EPERM; elem_flags other than BPF_F_LOCK: EINVAL, and
//    BPF_F_LOCK for a map whose value has no bpf_spin_lock: EINVAL; with one, each value is
//    copied under its lock;
//  - count 0: nothing happens, nothing is written; otherwise count is first set to 0, then to
//    the number of elements done, also when the command fails part way (ENOENT at the end of an
//    iteration, the update/delete error that stopped a batch);
//  - arrays (and LPM tries) walk with the generic code: in_batch/out_batch hold a key, the last
//    key visited; out_batch is written only when something was returned;
//  - hash maps walk with a u32 cursor that is out_batch of the previous call; the end of the
//    table is ENOENT with out_batch = n_buckets (roundup_pow_of_two(max_entries)), and a cursor
//    at or beyond it is ENOENT at once.
//
// The hash cursor: the kernel's counts buckets, and a call returns whole buckets (ENOSPC when the
// first one does not fit). The map code here offers only get_next_key order, so the cursor
// counts elements in that order instead: every "bucket" holds one element, ENOSPC never
// happens, and a cursor means "resume after that many elements". The last key returned is kept
// with the cursor it produced, so resuming follows get_next_key from that key (elements added
// meanwhile are seen or not, as with the kernel's buckets); a cursor not remembered (another
// process's, or a very old one) is resumed by counting from the start.
import * as U from '../../uapi/bpf';
import { addon } from '../../native/addon';
import { Errno, KernelError } from '../../kernel/errno';
import { BpfMap } from '../../kernel/map';
import { CallContext, Struct } from './context';
import { checkMapAccess, mapOf, putU32 } from './fds';
import { deleteInner, isMapOfMaps, storeInner } from './map_of_maps';

const B = U.bpf_attr.batch;
const ENOTSUPP = Errno.ENOTSUP;

type Walk = 'htab' | 'generic';

interface BatchOps {
  lookup?: Walk;
  lookupAndDelete?: Walk;
  update?: true;
  delete?: true;
}

/** The batch ops of each map type's bpf_map_ops (map types not listed have none). */
const HTAB: BatchOps = { lookup: 'htab', lookupAndDelete: 'htab', update: true, delete: true };
const BATCH_OPS = new Map<number, BatchOps>([
  [U.BPF_MAP_TYPE_HASH, HTAB],
  [U.BPF_MAP_TYPE_PERCPU_HASH, HTAB],
  [U.BPF_MAP_TYPE_LRU_HASH, HTAB],
  [U.BPF_MAP_TYPE_LRU_PERCPU_HASH, HTAB],
  [U.BPF_MAP_TYPE_ARRAY, { lookup: 'generic', update: true }],
  [U.BPF_MAP_TYPE_PERCPU_ARRAY, { lookup: 'generic', update: true }],
  [U.BPF_MAP_TYPE_LPM_TRIE, { lookup: 'generic', update: true, delete: true }],
  // Maps of maps: lookups answer inner map ids, updates take inner map fds (map_of_maps.ts).
  [U.BPF_MAP_TYPE_HASH_OF_MAPS, HTAB],
  [U.BPF_MAP_TYPE_ARRAY_OF_MAPS, { lookup: 'generic', update: true }],
]);

/** One element's delete; a map of maps also lets go of the map the slot held. */
function deleteOne(c: Ctx, key: Buffer): number {
  return isMapOfMaps(c.map.spec.mapType) ? deleteInner(c.ctx, c.map, key) : addon.mapDelete(c.map.ops, key);
}

/** One element's update; a map of maps takes an inner map fd (and may throw its errno). */
function updateOne(c: Ctx, key: Buffer, value: Buffer): number {
  if (!isMapOfMaps(c.map.spec.mapType)) return addon.mapUpdate(c.map.ops, key, value, c.elemFlags);
  try {
    storeInner(c.ctx, c.map, key, value.readInt32LE(0), c.elemFlags);
    return 0;
  } catch (e) {
    if (e instanceof KernelError) return -e.errno;
    throw e;
  }
}

function roundupPow2(v: number): number {
  let n = 1;
  while (n < v) n *= 2;
  return n;
}

/** Cursors handed out per map: cursor -> the key before the resume point (null: the start). */
const cursors = new WeakMap<BpfMap, Map<number, Buffer | null>>();
const MAX_CURSORS = 32;

function remember(map: BpfMap, cursor: number, key: Buffer | null): void {
  let m = cursors.get(map);
  if (!m) cursors.set(map, (m = new Map()));
  m.delete(cursor);
  m.set(cursor, key);
  if (m.size > MAX_CURSORS) m.delete(m.keys().next().value!);
}

/** The key to resume after (null: from the start), or 'end' when the walk has no more. */
function resume(map: BpfMap, cursor: number): Buffer | null | 'end' {
  if (cursor === 0) return null;
  const h = map.ops;
  const known = cursors.get(map)?.get(cursor);
  if (known === null) return null;
  if (known && addon.mapLookup(h, known) !== null) return known;
  let prev: Buffer | null = null;
  for (let i = 0; i < cursor; i++) {
    const k: Buffer | null = addon.mapGetNextKey(h, prev);
    if (!k) return 'end';
    prev = k;
  }
  return prev;
}

interface Ctx {
  ctx: CallContext;
  attr: Struct;
  attrAddr: bigint;
  map: BpfMap;
  max: number;
  elemFlags: bigint; // BPF_F_LOCK or 0, for each element's lookup or update
}

const countAddr = (c: Ctx) => c.attrAddr + BigInt(B.count.off);

/** Writes what a lookup batch found: keys and values packed at the caller's arrays. */
function writeElems(c: Ctx, keys: Buffer[], values: Buffer[]): void {
  if (!keys.length) return;
  c.ctx.mem.write(c.attr.u64(B.keys), Buffer.concat(keys));
  c.ctx.mem.write(c.attr.u64(B.values), Buffer.concat(values));
}

/** generic_map_lookup_batch(): in/out_batch are keys; ENOENT when get_next_key runs out. */
function genericLookup(c: Ctx): void {
  const { ctx, attr, map, max } = c;
  const h = map.ops;
  const ks = map.spec.keySize;
  const inBatch = attr.u64(B.in_batch);
  let prev: Buffer | null = inBatch ? Buffer.from(ctx.mem.read(inBatch, ks)) : null;
  putU32(ctx, countAddr(c), 0);
  const keys: Buffer[] = [];
  const values: Buffer[] = [];
  let err = 0;
  while (keys.length < max) {
    const k: Buffer | null = addon.mapGetNextKey(h, prev);
    if (!k) {
      err = Errno.ENOENT;
      break;
    }
    const v: Buffer | null = addon.mapLookup(h, k, c.elemFlags);
    if (v) {
      keys.push(k);
      values.push(v);
    }
    prev = k; // the kernel moves on from a key that vanished too
  }
  writeElems(c, keys, values);
  putU32(ctx, countAddr(c), keys.length);
  if (keys.length) ctx.mem.write(attr.u64(B.out_batch), prev!);
  if (err) throw new KernelError(err, 'end of map');
}

/** __htab_map_lookup_and_delete_batch(), with element cursors (see the top of this file). */
function htabLookup(c: Ctx, del: boolean): void {
  const { ctx, attr, map, max } = c;
  putU32(ctx, countAddr(c), 0);
  const inBatch = attr.u64(B.in_batch);
  const cursor = inBatch ? ctx.mem.read(inBatch, 4).readUInt32LE(0) : 0;
  const end = roundupPow2(map.spec.maxEntries);
  if (cursor >= end) throw new KernelError(Errno.ENOENT, 'cursor past the end');
  const h = map.ops;
  const start = resume(map, cursor);
  const keys: Buffer[] = [];
  const values: Buffer[] = [];
  let ended = start === 'end';
  let prev = start === 'end' ? null : start;
  // Bounded: an element deleted under our feet is skipped without moving prev, which could
  // otherwise repeat if other processes kept churning the same slot.
  for (let guard = 0; !ended && keys.length < max && guard < 4 * end + max; guard++) {
    const k: Buffer | null = addon.mapGetNextKey(h, prev);
    if (!k) {
      ended = true;
      break;
    }
    const v: Buffer | null = addon.mapLookup(h, k, c.elemFlags);
    if (!v) continue; // deleted meanwhile: get_next_key from prev now skips it
    keys.push(k);
    values.push(v);
    prev = k;
  }
  if (del) for (const k of keys) deleteOne(c, k);
  writeElems(c, keys, values);
  let out: number;
  if (ended) {
    out = end;
  } else if (del) {
    // What was returned is gone: the walk resumes at the same place.
    out = cursor;
    remember(map, out, start === 'end' ? null : start);
  } else {
    out = Math.min(cursor + keys.length, end);
    remember(map, out, prev);
  }
  putU32(ctx, attr.u64(B.out_batch), out);
  putU32(ctx, countAddr(c), keys.length);
  if (ended) throw new KernelError(Errno.ENOENT, 'end of map');
}

/** Reads count keys (and values) as generic_map_{update,delete}_batch() copy them in. */
function readElems(c: Ctx, withValues: boolean): { keys: Buffer; values: Buffer; vs: number } {
  const { ctx, attr, map, max } = c;
  const ks = map.spec.keySize;
  const vs = withValues ? map.sysValueSize : 0;
  const keysAddr = attr.u64(B.keys);
  const valuesAddr = attr.u64(B.values);
  ctx.mem.require([
    { addr: keysAddr, len: ks * max },
    { addr: valuesAddr, len: vs * max },
  ]);
  return {
    keys: ctx.mem.read(keysAddr, ks * max),
    values: withValues ? ctx.mem.read(valuesAddr, vs * max) : Buffer.alloc(0),
    vs,
  };
}

/** generic_map_update_batch() / generic_map_delete_batch(): element by element, stopping at
 * the first error, which is the command's result; count says how many were done. */
function genericWrite(c: Ctx, update: boolean): void {
  const { ctx, map, max } = c;
  const ks = map.spec.keySize;
  // count is zeroed before the elements are read, so an unreadable array leaves it 0 (a write
  // queued before a NeedMemory round trip is dropped with it; the re-run queues it again).
  putU32(ctx, countAddr(c), 0);
  const { keys, values, vs } = readElems(c, update); // all input before any change
  let done = 0;
  let rc = 0;
  for (; done < max; done++) {
    const k = keys.subarray(done * ks, (done + 1) * ks);
    rc = update ? updateOne(c, k, values.subarray(done * vs, (done + 1) * vs)) : deleteOne(c, k);
    if (rc < 0) break;
  }
  putU32(ctx, countAddr(c), done);
  if (rc < 0) throw new KernelError(-rc, `element ${done}: errno ${-rc}`);
}

const batch =
  (cmd: number) =>
  (ctx: CallContext, attr: Struct, attrAddr: bigint): bigint => {
    const map = mapOf(ctx, attr.s32(B.map_fd));
    const read = cmd === U.BPF_MAP_LOOKUP_BATCH || cmd === U.BPF_MAP_LOOKUP_AND_DELETE_BATCH;
    checkMapAccess(ctx, attr.s32(B.map_fd), map, read, cmd !== U.BPF_MAP_LOOKUP_BATCH);
    const ops = BATCH_OPS.get(map.spec.mapType) ?? {};
    const walk =
      cmd === U.BPF_MAP_LOOKUP_BATCH ? ops.lookup : cmd === U.BPF_MAP_LOOKUP_AND_DELETE_BATCH ? ops.lookupAndDelete : undefined;
    const has = cmd === U.BPF_MAP_UPDATE_BATCH ? ops.update : cmd === U.BPF_MAP_DELETE_BATCH ? ops.delete : walk;
    if (!has) throw new KernelError(ENOTSUPP, 'map type has no such batch operation');
    const elemFlags = attr.u64(B.elem_flags);
    if (elemFlags & ~BigInt(U.BPF_F_LOCK)) throw new KernelError(Errno.EINVAL, 'unknown elem_flags');
    if (elemFlags && !map.spec.spinLockPos) throw new KernelError(Errno.EINVAL, 'BPF_F_LOCK: map value has no bpf_spin_lock');
    if (walk === 'htab' && attr.u64(B.flags)) throw new KernelError(Errno.EINVAL, 'batch flags must be 0');
    const max = attr.u32(B.count);
    if (max === 0) return 0n;
    const c: Ctx = { ctx, attr, attrAddr, map, max, elemFlags: cmd === U.BPF_MAP_DELETE_BATCH ? 0n : elemFlags };
    if (walk === 'generic') genericLookup(c);
    else if (walk === 'htab') htabLookup(c, cmd === U.BPF_MAP_LOOKUP_AND_DELETE_BATCH);
    else genericWrite(c, cmd === U.BPF_MAP_UPDATE_BATCH);
    return 0n;
  };

export const mapLookupBatch = batch(U.BPF_MAP_LOOKUP_BATCH);
export const mapLookupAndDeleteBatch = batch(U.BPF_MAP_LOOKUP_AND_DELETE_BATCH);
export const mapUpdateBatch = batch(U.BPF_MAP_UPDATE_BATCH);
export const mapDeleteBatch = batch(U.BPF_MAP_DELETE_BATCH);

/** CHECK_ATTR: batch.flags is the last field. */
export const BATCH_END = B.flags.off + B.flags.size;
