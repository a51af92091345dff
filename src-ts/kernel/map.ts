// A map: its spec and its shared-memory region. The data path (lookups and updates from tools
// and programs) is native C on the region (src-native/core/maps); the server only creates it.
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
}

export const mapTypeName = (t: number): string =>
  (Object.entries(bpf_map_type).find(([, v]) => v === t)?.[0] ?? `type_${t}`).replace(/^BPF_MAP_TYPE_/, '').toLowerCase();

export class BpfMap extends BpfObject {
  frozen = false;
  btfId = 0;
  btfKeyTypeId = 0;
  btfValueTypeId = 0;

  private constructor(id: number, readonly spec: MapSpec, name: string, size: number) {
    super(ObjKind.Map, id, spec.mapType, name, size);
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
    };
  }

  private addonSpec() {
    return BpfMap.toAddon(this.spec);
  }

  protected onDestroy(): void {}

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
