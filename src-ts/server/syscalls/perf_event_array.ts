// Updates and deletes of BPF_MAP_TYPE_PERF_EVENT_ARRAY slots from the tool. The values are perf
// event fds, so these element commands come to the server (the shim runs every other map's
// element commands natively): the slot holds a reference on the event, and every agent is told
// which ring is in which slot (bpf_perf_event_output writes there).
import * as U from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { BpfMap } from '../../kernel/map';
import { ObjKind } from '../../kernel/objects';
import { PerfEvent } from '../../kernel/perf_event';
import { CallContext, Struct } from './context';

const E = U.bpf_attr.elem;

/** Slots per map, each holding a reference on its event; released with the map. */
const slots = new WeakMap<BpfMap, Map<number, PerfEvent>>();

function slotsOf(ctx: CallContext, map: BpfMap): Map<number, PerfEvent> {
  let s = slots.get(map);
  if (!s) {
    s = new Map();
    slots.set(map, s);
    const attachments = ctx.kernel.attachments;
    const table = s;
    map.onDestroyHooks.push(() => {
      for (const [index, ev] of table) {
        attachments.setPerfSlot(map.id, index, null);
        ev.release();
      }
      table.clear();
    });
  }
  return s;
}

function fdArrayMap(ctx: CallContext, attr: Struct): BpfMap {
  const map = ctx.objectOf<BpfMap>(attr.s32(E.map_fd), ObjKind.Map, 'a map');
  if (map.spec.mapType === U.BPF_MAP_TYPE_CGROUP_ARRAY) {
    // Cgroup filters (e.g. syscount -c) would need the target's cgroup membership: not offered.
    throw new KernelError(Errno.EOPNOTSUPP, 'cgroup arrays cannot hold cgroups in userspace yet');
  }
  if (map.spec.mapType !== U.BPF_MAP_TYPE_PERF_EVENT_ARRAY) {
    // Only fd-valued maps come here; anything else is a shim that lost track of a map.
    throw new KernelError(Errno.EINVAL, 'element command for a map served in shared memory');
  }
  return map;
}

export function mapUpdateElem(ctx: CallContext, attr: Struct): bigint {
  const map = fdArrayMap(ctx, attr);
  const flags = attr.u64(E.flags);
  ctx.mem.require([
    { addr: attr.u64(E.key), len: 4 },
    { addr: attr.u64(E.value), len: 4 },
  ]);
  const index = ctx.mem.read(attr.u64(E.key), 4).readUInt32LE(0);
  const fd = ctx.mem.read(attr.u64(E.value), 4).readInt32LE(0);
  if (flags > BigInt(U.BPF_EXIST)) throw new KernelError(Errno.EINVAL, 'bad flags');
  if (index >= map.spec.maxEntries) throw new KernelError(Errno.E2BIG, 'index out of range');
  if (flags === BigInt(U.BPF_NOEXIST)) throw new KernelError(Errno.EEXIST, 'array slots always exist');
  const obj = ctx.object(fd);
  if (obj.kind !== ObjKind.PerfEvent) throw new KernelError(Errno.EBADF, `fd ${fd} is not a perf event`);
  const ev = obj as PerfEvent;
  if (ev.spec.probe !== 'bpf_output') throw new KernelError(Errno.EOPNOTSUPP, 'only BPF_OUTPUT perf events go in a perf event array');
  const s = slotsOf(ctx, map);
  const old = s.get(index);
  s.set(index, ev.acquire());
  ctx.kernel.attachments.setPerfSlot(map.id, index, ev);
  old?.release();
  return 0n;
}

export function mapDeleteElem(ctx: CallContext, attr: Struct): bigint {
  const map = fdArrayMap(ctx, attr);
  ctx.mem.require([{ addr: attr.u64(E.key), len: 4 }]);
  const index = ctx.mem.read(attr.u64(E.key), 4).readUInt32LE(0);
  if (index >= map.spec.maxEntries) throw new KernelError(Errno.E2BIG, 'index out of range');
  const s = slotsOf(ctx, map);
  const old = s.get(index);
  if (!old) throw new KernelError(Errno.ENOENT, 'slot is empty');
  s.delete(index);
  ctx.kernel.attachments.setPerfSlot(map.id, index, null);
  old.release();
  return 0n;
}
