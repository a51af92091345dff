// Type resolution on top of the raw reader: sizes, typedef/modifier chains, and struct members by
// name with their bit offsets — what a CO-RE field relocation computes for `s->a.b`. Members of
// anonymous structs and unions are found through them (the kernel's structs nest many fields that
// way), with their offsets added up.
import { Btf, BtfError } from './btf';
import { BtfKind } from './format';

/** Kinds that only qualify or rename another type. */
const TRANSPARENT = new Set<BtfKind>([BtfKind.TYPEDEF, BtfKind.VOLATILE, BtfKind.CONST, BtfKind.RESTRICT, BtfKind.TYPE_TAG]);

/** The type behind typedefs and modifiers (const, volatile, restrict, type tags). */
export function resolveType(btf: Btf, id: number): number {
  for (let hops = 0; hops < 64; hops++) {
    const t = btf.type(id);
    if (!TRANSPARENT.has(t.kind)) return id;
    id = t.type;
  }
  throw new BtfError(`BTF type chain from ${id} is too long (a loop?)`);
}

/** Pointer size: BTF does not record it; libbpf takes the size of `long`. 8 when there is none. */
export function pointerSize(btf: Btf): number {
  for (const name of ['long int', 'long unsigned int', 'long']) {
    const id = btf.findType(name, BtfKind.INT);
    if (id !== undefined) return btf.type(id).size;
  }
  return 8;
}

/** Byte size of a type, as sizeof() gives it. Throws for types without one (void, FWD, FUNC). */
export function sizeOf(btf: Btf, id: number, ptrSize = 8): number {
  for (let hops = 0; hops < 64; hops++) {
    const t = btf.type(id);
    switch (t.kind) {
      case BtfKind.INT:
      case BtfKind.STRUCT:
      case BtfKind.UNION:
      case BtfKind.ENUM:
      case BtfKind.ENUM64:
      case BtfKind.FLOAT:
      case BtfKind.DATASEC:
        return t.size;
      case BtfKind.PTR:
        return ptrSize;
      case BtfKind.ARRAY: {
        const a = btf.array(id);
        return a.nelems * sizeOf(btf, a.type, ptrSize);
      }
      case BtfKind.VAR:
        id = t.type;
        continue;
      default:
        if (TRANSPARENT.has(t.kind)) {
          id = t.type;
          continue;
        }
        throw new BtfError(`BTF type ${id} (${BtfKind[t.kind]}) has no size`);
    }
  }
  throw new BtfError(`BTF type chain from ${id} is too long (a loop?)`);
}

export interface Field {
  /** The path asked for, e.g. "cred.uid". */
  path: string;
  /** Bit offset from the start of the outermost struct. */
  bitOffset: number;
  /** Bitfield width, or 0 for a member that occupies its whole type. */
  bitSize: number;
  /** The member's declared type and the type behind its typedefs/modifiers. */
  type: number;
  resolved: number;
}

/** A member of a struct/union by name, searching anonymous struct/union members depth-first in
 * declaration order (as C name lookup does); undefined when there is none. */
export function findMember(btf: Btf, structId: number, name: string): Field | undefined {
  const sid = resolveType(btf, structId);
  const k = btf.type(sid).kind;
  if (k !== BtfKind.STRUCT && k !== BtfKind.UNION) throw new BtfError(`BTF type ${structId} is not a struct or union`);
  for (const m of btf.members(sid)) {
    if (m.name === name) return memberField(btf, name, m.type, m.bitOffset, m.bitfieldSize);
    if (m.name === '') {
      const inner = resolveType(btf, m.type);
      const ik = btf.type(inner).kind;
      if (ik !== BtfKind.STRUCT && ik !== BtfKind.UNION) continue;
      const f = findMember(btf, inner, name);
      if (f) return { ...f, bitOffset: f.bitOffset + m.bitOffset };
    }
  }
  return undefined;
}

/** Older BTF (no kind_flag) encodes a bitfield as an INT narrower than its storage, with the
 * value's position inside it: fold that into the member's offset and width. */
function memberField(btf: Btf, path: string, type: number, bitOffset: number, bitfieldSize: number): Field {
  const resolved = resolveType(btf, type);
  const t = btf.type(resolved);
  if (bitfieldSize === 0 && t.kind === BtfKind.INT) {
    const i = btf.int(resolved);
    if (i.bits !== t.size * 8 || i.offset !== 0) return { path, bitOffset: bitOffset + i.offset, bitSize: i.bits, type, resolved };
  }
  return { path, bitOffset, bitSize: bitfieldSize, type, resolved };
}

/** A member path through nested structs/unions ("a.b.c"; no pointers are followed), with the
 * offset from the outermost struct; undefined when any step is missing. */
export function fieldPath(btf: Btf, structId: number, path: string): Field | undefined {
  let id = structId;
  let base = 0;
  let f: Field | undefined;
  for (const step of path.split('.')) {
    if (f) {
      const k = btf.type(f.resolved).kind;
      if (k !== BtfKind.STRUCT && k !== BtfKind.UNION) return undefined;
      id = f.resolved;
    }
    const m = findMember(btf, id, step);
    if (!m) return undefined;
    base += m.bitOffset;
    f = { ...m, path, bitOffset: base };
  }
  return f;
}

/** The struct (not a forward declaration) with this name, or undefined. */
export function findStruct(btf: Btf, name: string): number | undefined {
  return btf.findType(name, BtfKind.STRUCT);
}
