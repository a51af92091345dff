// A map element as the kernel prints it when a pinned map with BTF is read as a file
// (cat /sys/fs/bpf/<map>): btf_type_seq_show() in its compact form (no member names, zeros
// shown), each value followed by a comma inside braces and brackets; char arrays as
// 'c' characters up to their first NUL. Written from the kernel's observable output (checked
// by test/e2e/bpffs-map-read.test.ts against the kernel's bpffs), not from its code.
import { Btf } from './btf';
import { BtfKind, BTF_INT_SIGNED } from './format';

/** The kinds that only name another type. */
const PASS_THROUGH = new Set([BtfKind.TYPEDEF, BtfKind.VOLATILE, BtfKind.CONST, BtfKind.RESTRICT, BtfKind.TYPE_TAG]);

function resolve(btf: Btf, id: number): number {
  for (let n = 0; n < 64; n++) {
    const t = btf.type(id);
    if (!PASS_THROUGH.has(t.kind)) return id;
    id = t.type;
  }
  return id;
}

const isPrint = (c: number): boolean => c >= 0x20 && c < 0x7f;

/** Unsigned little-endian integer of `bytes` bytes at off. */
function readUnsigned(buf: Buffer, off: number, bytes: number): bigint {
  let v = 0n;
  for (let i = bytes - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[off + i] ?? 0);
  return v;
}

/** Whether a type can be shown here (what the renderer below knows how to print). */
export function showable(btf: Btf, id: number): boolean {
  const t = btf.type(resolve(btf, id));
  switch (t.kind) {
    case BtfKind.INT: {
      const i = btf.int(t.id);
      return i.offset === 0 && [8, 16, 32, 64].includes(i.bits);
    }
    case BtfKind.ENUM:
    case BtfKind.ENUM64:
      return true;
    case BtfKind.ARRAY:
      return showable(btf, btf.array(t.id).type);
    case BtfKind.STRUCT:
    case BtfKind.UNION:
      return btf.members(t.id).every((m) => m.bitfieldSize === 0 && m.bitOffset % 8 === 0 && showable(btf, m.type));
    default:
      return false;
  }
}

/** The value of type id at off in buf. `nested`: inside braces or brackets (a comma follows).
 * `inArray`: an array's element, whose struct the kernel prints without its opening brace. */
export function showValue(btf: Btf, id: number, buf: Buffer, off: number, nested = false, inArray = false): string {
  const t = btf.type(resolve(btf, id));
  const tail = nested ? ',' : '';
  switch (t.kind) {
    case BtfKind.INT: {
      const i = btf.int(t.id);
      const u = readUnsigned(buf, off, i.bits / 8);
      return `${i.encoding & BTF_INT_SIGNED ? BigInt.asIntN(i.bits, u) : u}${tail}`;
    }
    case BtfKind.ENUM:
    case BtfKind.ENUM64: {
      const u = readUnsigned(buf, off, t.size);
      const signed = !t.kflag;
      const v = signed ? BigInt.asIntN(t.size * 8, u) : u;
      const named = btf.enumValues(t.id).find((e) => e.value === v);
      return `${named ? named.name : v}${tail}`;
    }
    case BtfKind.ARRAY: {
      const a = btf.array(t.id);
      const elem = btf.type(resolve(btf, a.type));
      const size = sizeOf(btf, a.type);
      let out = '[';
      // one-byte integers are characters: printable ones quoted, the first NUL ends the string
      const chars = elem.kind === BtfKind.INT && size === 1;
      for (let n = 0; n < a.nelems; n++) {
        const o = off + n * size;
        if (chars) {
          if (buf[o] === 0) break;
          if (isPrint(buf[o])) {
            out += `'${String.fromCharCode(buf[o])}',`;
            continue;
          }
        }
        out += showValue(btf, a.type, buf, o, true, true);
      }
      return `${out}]${tail}`;
    }
    case BtfKind.STRUCT:
    case BtfKind.UNION: {
      let out = inArray ? '' : '{';
      for (const m of btf.members(t.id)) out += showValue(btf, m.type, buf, off + m.bitOffset / 8, true);
      return `${out}}${tail}`;
    }
    default:
      return `?${tail}`;
  }
}

function sizeOf(btf: Btf, id: number): number {
  const t = btf.type(resolve(btf, id));
  if (t.kind === BtfKind.ARRAY) {
    const a = btf.array(t.id);
    return a.nelems * sizeOf(btf, a.type);
  }
  return t.size;
}
