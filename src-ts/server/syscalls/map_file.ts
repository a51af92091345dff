// A pinned map read as a file (cat /sys/fs/bpf/<map>): the kernel's bpffs gives maps whose key
// and value have BTF, of the types that print their elements (array, hash, their per-CPU and LRU
// forms), a text file: two warning lines, then each element as map_seq_show_elem() prints it
// (src-ts/btf/seq_show.ts). Everything else that is pinned opens with EIO (bpffs_obj_open()).
import { addon } from '../../native/addon';
import { Btf } from '../../btf/btf';
import { showable, showValue } from '../../btf/seq_show';
import { BpfBtf } from '../../kernel/btf';
import { BpfMap } from '../../kernel/map';
import { ObjKind, BpfObject } from '../../kernel/objects';
import * as U from '../../uapi/bpf';
import { CallContext } from './context';

const HEADER = '# WARNING!! The output is for debug purpose only\n# WARNING!! The output format will change\n';
const PER_CPU = new Set<number>([U.BPF_MAP_TYPE_PERCPU_ARRAY, U.BPF_MAP_TYPE_PERCPU_HASH, U.BPF_MAP_TYPE_LRU_PERCPU_HASH]);
const ARRAYS = new Set<number>([U.BPF_MAP_TYPE_ARRAY, U.BPF_MAP_TYPE_PERCPU_ARRAY]);
const PRINTING = new Set<number>([...ARRAYS, U.BPF_MAP_TYPE_HASH, U.BPF_MAP_TYPE_PERCPU_HASH, U.BPF_MAP_TYPE_LRU_HASH, U.BPF_MAP_TYPE_LRU_PERCPU_HASH]);

/** The file's text, or null when the kernel opens this object with EIO. */
export function mapFileText(ctx: CallContext, obj: BpfObject): string | null {
  if (obj.kind !== ObjKind.Map) return null;
  const map = obj as BpfMap;
  if (!PRINTING.has(map.spec.mapType) || !map.btfId || !map.btfValueTypeId) return null;
  const b = ctx.kernel.registry.get(ObjKind.Btf, map.btfId) as BpfBtf | undefined;
  if (!b) return null;
  let btf: Btf;
  try {
    btf = Btf.parse(b.data);
  } catch {
    return null;
  }
  const array = ARRAYS.has(map.spec.mapType);
  // a type this renderer cannot print is refused as a map without BTF would be, never faked
  if (!showable(btf, map.btfValueTypeId) || (!array && (!map.btfKeyTypeId || !showable(btf, map.btfKeyTypeId)))) return null;
  const perCpu = PER_CPU.has(map.spec.mapType);
  const slot = (map.spec.valueSize + 7) & ~7;
  let out = HEADER;
  for (let key: Buffer | null = addon.mapGetNextKey(map.ops, null); key; key = addon.mapGetNextKey(map.ops, key)) {
    const value: Buffer | null = addon.mapLookup(map.ops, key);
    if (!value) continue;
    const k = array ? `${key.readUInt32LE(0)}` : showValue(btf, map.btfKeyTypeId, key, 0);
    if (!perCpu) {
      out += `${k}: ${showValue(btf, map.btfValueTypeId, value, 0)}\n`;
      continue;
    }
    out += `${k}: {\n`;
    for (let cpu = 0; cpu * slot < value.length; cpu++) out += `\tcpu${cpu}: ${showValue(btf, map.btfValueTypeId, value, cpu * slot)}\n`;
    out += '}\n';
  }
  return out;
}
