// Map commands the server handles (creation, freezing). Element operations from tools never get
// here: the shim runs them natively on the map's shared memory.
import * as U from '../../uapi/bpf';
import { Errno, KernelError } from '../../kernel/errno';
import { BpfMap } from '../../kernel/map';
import { ObjKind } from '../../kernel/objects';
import { BpfBtf } from '../../kernel/btf';
import { CallContext, Struct } from './context';
import { objName } from './bpf';
import { valueSpinLockPos } from '../../btf/spin_lock';
import { checkMapAccess, fileAccess } from './fds';
import { innerTemplate, isMapOfMaps, registerOuter } from './map_of_maps';
import { addon } from '../../native/addon';

const A = U.bpf_attr.map_create;

export function mapCreate(ctx: CallContext, attr: Struct): bigint {
  const name = objName(attr, A.map_name);
  const spec = {
    mapType: attr.u32(A.map_type),
    keySize: attr.u32(A.key_size),
    valueSize: attr.u32(A.value_size),
    maxEntries: attr.u32(A.max_entries),
    mapFlags: attr.u32(A.map_flags),
    mapExtra: attr.u64(A.map_extra),
  };
  // BTF ids name the key/value types in a BTF object the caller loaded; they must come with it.
  const btfKey = attr.u32(A.btf_key_type_id);
  const btfValue = attr.u32(A.btf_value_type_id);
  let btf: BpfBtf | undefined;
  if (btfKey || btfValue || attr.u32(A.btf_vmlinux_value_type_id)) {
    btf = ctx.objectOf<BpfBtf>(attr.s32(A.btf_fd), ObjKind.Btf, 'a BTF object');
    if (!btfValue) throw new KernelError(Errno.EINVAL, 'btf_key_type_id without btf_value_type_id');
  }
  // Maps of maps: the type's own checks first, then the template (bpf_map_meta_alloc).
  let template;
  if (isMapOfMaps(spec.mapType)) {
    const rc = addon.mapRegionSize({ ...spec, spinLockPos: 0 }) as number;
    if (rc < 0) throw new KernelError(-rc, 'map of maps: bad attributes');
    template = innerTemplate(ctx, attr.s32(A.inner_map_fd));
  }
  const access = fileAccess(spec.mapFlags); // bpf_get_file_flag(): the new fd's mode
  // A bpf_spin_lock in the value (map_check_btf) makes BPF_F_LOCK and the lock helpers work.
  const spinLockPos = btf ? valueSpinLockPos(btf.data, btfValue) : 0;
  const k = ctx.kernel;
  const id = k.registry.allocId(ObjKind.Map);
  let map: BpfMap;
  try {
    map = BpfMap.create(id, spinLockPos ? { ...spec, spinLockPos } : spec, name);
  } catch (e) {
    k.registry.freeId(ObjKind.Map, id);
    throw e;
  }
  if (btf) {
    map.btfId = btf.id;
    map.btfKeyTypeId = btfKey;
    map.btfValueTypeId = btfValue;
    // the map holds its BTF, as the kernel's map->btf (reading a pinned map prints through it)
    btf.acquire();
    map.onDestroyHooks.push(() => btf.release());
  }
  if (template) registerOuter(k, map, template);
  k.registry.add(map);
  return ctx.returnFd(map, access);
}

/** BPF_MAP_FREEZE, as map_freeze(): the flag is set in the map's shared memory, so the data
 * plane in every process refuses syscall-side writes (EPERM) while programs may still write. */
export function mapFreeze(ctx: CallContext, attr: Struct): bigint {
  const fd = attr.s32(U.bpf_attr.elem.map_fd);
  const map = ctx.objectOf<BpfMap>(fd, ObjKind.Map, 'a map');
  // map_get_sys_perms(): a read-only fd cannot freeze, and write access goes from every fd of a
  // frozen map, so freezing it again is EPERM (the fd check), not EBUSY (which only a
  // concurrent freeze would see).
  checkMapAccess(ctx, fd, map, false, true);
  const rc = map.freeze();
  if (rc < 0) throw new KernelError(-rc, rc === -Errno.EBUSY ? 'map already frozen' : `freeze failed: errno ${-rc}`);
  return 0n;
}
