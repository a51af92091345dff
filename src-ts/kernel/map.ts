// A map: its spec and its shared-memory region. The data path (lookups and updates from tools
// and programs) is native C on the region (src-native/core/maps). The server creates it, and
// for the commands it serves itself (batches, freezing) opens its own handle on the region,
// once, through the same C code.
import { addon } from '../native/addon';
import { KernelError } from './errno';
import { BpfObject, ObjKind, OBJ_HDR_SIZE } from './objects';
import { bpf_map_type } from '../uapi/bpf';

export interface MapSpec {
  mapType: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  mapFlags: number;
  mapExtra: bigint;
  /** 1 + the offset of the value's struct bpf_spin_lock (from its BTF); 0 or absent: none. */
  spinLockPos?: number;
}

export const mapTypeName = (t: number): string =>
  (Object.entries(bpf_map_type).find(([, v]) => v === t)?.[0] ?? `type_${t}`).replace(/^BPF_MAP_TYPE_/, '').toLowerCase();

export class BpfMap extends BpfObject {
  btfId = 0;
  btfKeyTypeId = 0;
  btfValueTypeId = 0;

  private handle: unknown = null;

  private constructor(id: number, readonly spec: MapSpec, name: string, readonly regionSize: number) {
    super(ObjKind.Map, id, spec.mapType, name, regionSize);
    const rc = addon.mapRegionInit(this.fd, OBJ_HDR_SIZE, this.addonSpec());
    if (rc < 0) throw new KernelError(-rc, `map region init failed: errno ${-rc}`);
  }

  /** Creates the map; fails with the kernel's errno when the spec is not acceptable. */
  static create(id: number, spec: MapSpec, name: string): BpfMap {
    const size = addon.mapRegionSize(BpfMap.toAddon(spec));
    if (size < 0) throw new KernelError(-size, `${mapTypeName(spec.mapType)} maps with this spec are not supported`);
    return new BpfMap(id, spec, name, size);
  }

  private static toAddon(s: MapSpec) {
    return {
      mapType: s.mapType,
      keySize: s.keySize,
      valueSize: s.valueSize,
      maxEntries: s.maxEntries,
      mapFlags: s.mapFlags,
      mapExtra: s.mapExtra,
      spinLockPos: s.spinLockPos ?? 0,
    };
  }

  private addonSpec() {
    return BpfMap.toAddon(this.spec);
  }

  /** The server's own handle on the region (addon.map*), opened on first use. */
  get ops(): unknown {
    if (!this.handle) {
      const h = addon.mapOpen(this.fd, OBJ_HDR_SIZE, this.regionSize, this.id);
      if (typeof h === 'number') throw new KernelError(-h, `cannot open map ${this.id}: errno ${-h}`);
      this.handle = h;
    }
    return this.handle;
  }

  /** Bytes per value on the syscall side (per-CPU maps: one rounded value per possible CPU). */
  get sysValueSize(): number {
    return addon.mapInfo(this.ops).sysValueSize;
  }

  /** BPF_MAP_FREEZE: sets the flag in shared memory, so every process's syscall-side writes
   * fail from now on (EPERM). 0 or -errno (EBUSY when already frozen). */
  freeze(): number {
    return addon.mapFreeze(this.ops);
  }

  /** Frozen, as the region says (the flag lives in shared memory, not here). */
  get frozen(): boolean {
    return addon.mapInfo(this.ops).frozen;
  }

  /** Run after a reference is dropped and the map lives on: prog arrays empty themselves when
   * the last reference from user space (an fd, a pin) goes, as the kernel's map_release_uref. */
  onRelease?: () => void;

  release(): void {
    super.release();
    if (!this.destroyed) this.onRelease?.();
  }

  protected onDestroy(): void {
    if (this.handle) addon.mapClose(this.handle);
    this.handle = null;
  }

  describe(): Record<string, unknown> {
    return {
      id: this.id,
      type: mapTypeName(this.spec.mapType),
      name: this.name,
      key_size: this.spec.keySize,
      value_size: this.spec.valueSize,
      max_entries: this.spec.maxEntries,
      flags: this.spec.mapFlags,
      refs: this.refcount,
    };
  }
}
