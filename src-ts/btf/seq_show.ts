// A map element as the kernel prints it when a pinned map with BTF is read as a file
// (cat /sys/fs/bpf/<map>): btf_type_seq_show() in its compact form (no member names, zeros
// shown), each value followed by a comma inside braces and brackets; char arrays as
// 'c' characters up to their first NUL; bitfields and 128-bit integers in hex; pointers as the
// kernel's %p prints them (hashed: 0x00000000 and 32 bits of a keyed hash, NULL as zeros);
// floats as the kernel's "<unsupported kind:16>", with no comma. Written from the kernel's
// observable output (checked by test/e2e/bpffs-map-read.test.ts against the kernel's bpffs), not
// from its code.
import { createHmac, randomBytes } from 'crypto';
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
    case BtfKind.INT:
      return btf.int(t.id).bits <= 128;
    case BtfKind.ENUM:
    case BtfKind.ENUM64:
    case BtfKind.PTR:
    case BtfKind.FLOAT:
      return true;
    case BtfKind.ARRAY:
      return showable(btf, btf.array(t.id).type);
    case BtfKind.STRUCT:
    case BtfKind.UNION:
      return btf.members(t.id).every((m) => (m.bitfieldSize === 0
        ? m.bitOffset % 8 === 0 && showable(btf, m.type)
        : btf.type(resolve(btf, m.type)).kind === BtfKind.INT));
    default:
      return false;
  }
}

/** The bits [bitOff, bitOff + bits) of the little-endian bytes at off, unsigned. */
function readBits(buf: Buffer, off: number, bitOff: number, bits: number): bigint {
  const first = off + Math.floor(bitOff / 8), shift = BigInt(bitOff % 8);
  const bytes = Math.ceil((Number(shift) + bits) / 8);
  return (readUnsigned(buf, first, bytes) >> shift) & ((1n << BigInt(bits)) - 1n);
}

/** The key the kernel's %p hashes pointers with is secret and per boot; this one is per server. */
const POINTER_KEY = randomBytes(16);

/** A pointer as %p prints it: NULL as zeros, anything else as 32 bits of a keyed hash. */
function pointerText(v: bigint): string {
  if (v === 0n) return '0x0000000000000000';
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return `0x00000000${createHmac('sha256', POINTER_KEY).update(b).digest('hex').slice(0, 8)}`;
}

/** A 128-bit integer as the kernel prints it: hex, the high half only when non-zero. */
function int128Text(v: bigint): string {
  const hi = v >> 64n, lo = v & ((1n << 64n) - 1n);
  return hi ? `0x${hi.toString(16)}${lo.toString(16).padStart(16, '0')}` : `0x${lo.toString(16)}`;
}

/** The value of type id at off in buf. `nested`: inside braces or brackets (a comma follows).
 * `inArray`: an array's element, whose struct the kernel prints without its opening brace. */
export function showValue(btf: Btf, id: number, buf: Buffer, off: number, nested = false, inArray = false): string {
  const t = btf.type(resolve(btf, id));
  const tail = nested ? ',' : '';
  switch (t.kind) {
    case BtfKind.INT: {
      const i = btf.int(t.id);
      if (i.bits === 128) return `${int128Text(readUnsigned(buf, off, 16))}${tail}`;
      if (i.offset !== 0 || ![8, 16, 32, 64].includes(i.bits)) return `0x${readBits(buf, off, i.offset, i.bits).toString(16)}${tail}`;
      const u = readUnsigned(buf, off, i.bits / 8);
      return `${i.encoding & BTF_INT_SIGNED ? BigInt.asIntN(i.bits, u) : u}${tail}`;
    }
    case BtfKind.PTR:
      return `${pointerText(readUnsigned(buf, off, 8))}${tail}`;
    case BtfKind.FLOAT:
      return `<unsupported kind:${BtfKind.FLOAT}>`; // the kernel's btf_df_show(): no comma follows
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
      if (elem.kind === BtfKind.PTR) {
        // What 6.18 prints for an array of pointers: no opening bracket, and the first
        // element's value for every element.
        const first = pointerText(readUnsigned(buf, off, 8));
        return `${`${first},`.repeat(a.nelems)}]${tail}`;
      }
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
      for (const m of btf.members(t.id)) {
        out += m.bitfieldSize
          ? `0x${readBits(buf, off, m.bitOffset, m.bitfieldSize).toString(16)},`
          : showValue(btf, m.type, buf, off + m.bitOffset / 8, true);
      }
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
  return t.kind === BtfKind.PTR ? 8 : t.size;
}
