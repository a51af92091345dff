// Where a map value holds its struct bpf_spin_lock, found in the value's BTF as the kernel's
// btf_parse_fields() finds it for map_check_btf(): a member whose type is the struct named
// bpf_spin_lock, directly or inside a nested struct member, 4-byte aligned; a second one is
// -E2BIG. Values that are not structs hold none.
import { Btf, BtfError } from './btf';
import { BtfKind } from './format';
import { resolveType } from './fields';
import { Errno, KernelError } from '../kernel/errno';

const LOCK_NAME = 'bpf_spin_lock';
const LOCK_SIZE = 4;

function findLocks(btf: Btf, structId: number, baseBits: number, depth: number, out: number[]): void {
  if (depth > 16) return;
  for (const m of btf.members(structId)) {
    const t = btf.type(m.type); // modifiers are not looked through, as btf_get_field_type() does not
    const bits = baseBits + m.bitOffset;
    if (t.kind === BtfKind.STRUCT && t.name === LOCK_NAME) {
      if (bits % (8 * LOCK_SIZE) !== 0) throw new KernelError(Errno.EINVAL, 'bpf_spin_lock is not 4-byte aligned in the map value');
      if (t.size !== LOCK_SIZE) throw new KernelError(Errno.EINVAL, 'struct bpf_spin_lock has the wrong size');
      out.push(bits / 8);
    } else if (t.kind === BtfKind.STRUCT) {
      findLocks(btf, m.type, bits, depth + 1, out);
    }
  }
}

/** 1 + the byte offset of the value's bpf_spin_lock, 0 when it has none. */
export function valueSpinLockPos(btfData: Buffer, valueTypeId: number): number {
  let btf: Btf;
  try {
    btf = Btf.parse(btfData);
    const id = resolveType(btf, valueTypeId);
    if (btf.type(id).kind !== BtfKind.STRUCT) return 0;
    const locks: number[] = [];
    findLocks(btf, id, 0, 0, locks);
    if (locks.length > 1) throw new KernelError(Errno.E2BIG, 'the map value holds more than one bpf_spin_lock');
    return locks.length ? locks[0] + 1 : 0;
  } catch (e) {
    if (e instanceof BtfError) throw new KernelError(Errno.EINVAL, `map value BTF: ${e.message}`);
    throw e;
  }
}
