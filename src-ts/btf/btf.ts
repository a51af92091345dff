// A reader of raw BTF (the kernel's /sys/kernel/btf/vmlinux, or a blob a tool loads): the header,
// the type section and the string section. Parsing walks the type section once to record where
// each type starts; types, members and names are decoded when asked for, so a 5 MB vmlinux BTF
// costs one pass and the handful of types a caller looks at.
//
// Split BTF (a module's, on top of vmlinux) is read with `base`: its ids continue after the base's
// and its string offsets after the base's string section, as the kernel numbers them.
import {
  BTF_HEADER_SIZE,
  BTF_MAGIC,
  BTF_TYPE_SIZE,
  BTF_VERSION,
  BtfKind,
  SIZEOF_BTF_ENUM,
  SIZEOF_BTF_ENUM64,
  SIZEOF_BTF_MEMBER,
  btfInfoKflag,
  btfInfoKind,
  btfInfoVlen,
  btfIntBits,
  btfIntEncoding,
  btfIntOffset,
  btfMemberBitOffset,
  btfMemberBitfieldSize,
  extraSize,
  kindHasSize,
} from './format';

export class BtfError extends Error {}

export interface BtfType {
  id: number;
  kind: BtfKind;
  /** '' for anonymous types. */
  name: string;
  vlen: number;
  kflag: boolean;
  /** Byte size for INT, STRUCT, UNION, ENUM, ENUM64, DATASEC, FLOAT; 0 for the other kinds. */
  size: number;
  /** The referenced type for PTR, TYPEDEF, modifiers, FUNC, FUNC_PROTO (return), VAR, DECL_TAG,
   * TYPE_TAG; 0 for the other kinds. */
  type: number;
}

export interface BtfMember {
  /** '' for an anonymous struct/union member. */
  name: string;
  type: number;
  /** Bit offset from the start of the enclosing struct/union. */
  bitOffset: number;
  /** Width of a bitfield whose type's kind_flag encoding says so; 0 otherwise (see
   * fields.ts for the older INT-encoded bitfields). */
  bitfieldSize: number;
}

export interface BtfArray {
  type: number;
  indexType: number;
  nelems: number;
}

export interface BtfInt {
  encoding: number;
  /** BTF_INT_OFFSET: bit offset of the value within the integer's storage (older bitfields). */
  offset: number;
  bits: number;
}

export interface BtfEnumValue {
  name: string;
  value: bigint;
}

export interface ParseOptions {
  /** The BTF this one is split from (module BTF on top of vmlinux). */
  base?: Btf;
}

const VOID: BtfType = { id: 0, kind: BtfKind.UNKN, name: '', vlen: 0, kflag: false, size: 0, type: 0 };

export class Btf {
  /** The first id this object defines (1, or the base's count for split BTF). */
  readonly startId: number;
  /** One past the highest type id. */
  readonly count: number;
  private readonly base: Btf | undefined;
  private readonly le: boolean;
  private readonly types: Buffer;
  private readonly strs: Buffer;
  /** Byte offset of each own type's record in `types`, indexed by id - startId. */
  private readonly offsets: Uint32Array;
  private readonly strStart: number;

  private constructor(buf: Buffer, opts: ParseOptions) {
    if (buf.length < BTF_HEADER_SIZE) throw new BtfError(`BTF of ${buf.length} bytes has no room for a header`);
    const magic = buf.readUInt16LE(0);
    if (magic === BTF_MAGIC) this.le = true;
    else if (buf.readUInt16BE(0) === BTF_MAGIC) this.le = false;
    else throw new BtfError(`bad BTF magic 0x${magic.toString(16)}`);
    const u32 = (o: number) => (this.le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
    const version = buf.readUInt8(2);
    if (version !== BTF_VERSION) throw new BtfError(`BTF version ${version} is not supported`);
    const hdrLen = u32(4);
    if (hdrLen < BTF_HEADER_SIZE || hdrLen > buf.length) throw new BtfError(`bad BTF header length ${hdrLen}`);
    const typeOff = u32(8), typeLen = u32(12), strOff = u32(16), strLen = u32(20);
    const section = (off: number, len: number, what: string) => {
      const start = hdrLen + off;
      if (start + len > buf.length) throw new BtfError(`BTF ${what} section (${len} bytes at ${off}) runs past the end`);
      return buf.subarray(start, start + len);
    };
    this.types = section(typeOff, typeLen, 'type');
    this.strs = section(strOff, strLen, 'string');
    this.base = opts.base;
    this.startId = opts.base ? opts.base.count : 1;
    this.strStart = opts.base ? opts.base.strEnd : 0;
    if (!opts.base && (strLen === 0 || this.strs[0] !== 0)) throw new BtfError('BTF string section must start with an empty string');
    this.offsets = this.indexTypes();
    this.count = this.startId + this.offsets.length;
  }

  static parse(buf: Buffer, opts: ParseOptions = {}): Btf {
    return new Btf(buf, opts);
  }

  /** One past the last string offset this BTF (with its base) defines: where a split BTF's begin. */
  get strEnd(): number {
    return this.strStart + this.strs.length;
  }

  private u32(o: number): number {
    return this.le ? this.types.readUInt32LE(o) : this.types.readUInt32BE(o);
  }

  private s32(o: number): number {
    return this.le ? this.types.readInt32LE(o) : this.types.readInt32BE(o);
  }

  /** One pass over the type section: where each record starts. */
  private indexTypes(): Uint32Array {
    const t = this.types;
    let offsets = new Uint32Array(1024);
    let n = 0;
    for (let off = 0; off < t.length; ) {
      if (off + BTF_TYPE_SIZE > t.length) throw new BtfError(`truncated BTF type record at ${off}`);
      const info = this.u32(off + 4);
      const kind = btfInfoKind(info);
      const extra = extraSize(kind, btfInfoVlen(info));
      if (extra < 0 || kind === BtfKind.UNKN) throw new BtfError(`BTF type ${this.startId + n} has unknown kind ${kind}`);
      if (n === offsets.length) {
        const bigger = new Uint32Array(offsets.length * 2);
        bigger.set(offsets);
        offsets = bigger;
      }
      offsets[n++] = off;
      off += BTF_TYPE_SIZE + extra;
      if (off > t.length) throw new BtfError(`BTF type ${this.startId + n - 1} runs past the type section`);
    }
    return offsets.slice(0, n);
  }

  /** The NUL-terminated string at a string offset (offsets are shared with the base, if any). */
  str(off: number): string {
    if (off < this.strStart) return this.base!.str(off);
    const o = off - this.strStart;
    if (o >= this.strs.length) throw new BtfError(`BTF string offset ${off} is out of range`);
    const end = this.strs.indexOf(0, o);
    if (end < 0) throw new BtfError(`BTF string at ${off} is not terminated`);
    return this.strs.toString('latin1', o, end);
  }

  private recordOffset(id: number): number {
    const i = id - this.startId;
    if (!Number.isInteger(id) || i < 0 || i >= this.offsets.length) throw new BtfError(`no BTF type ${id}`);
    return this.offsets[i];
  }

  /** Whether id names a type (0, void, always does). */
  has(id: number): boolean {
    return id === 0 || (id > 0 && id < this.count);
  }

  type(id: number): BtfType {
    if (id === 0) return VOID;
    if (id < this.startId) {
      if (!this.base) throw new BtfError(`no BTF type ${id}`);
      return this.base.type(id);
    }
    const off = this.recordOffset(id);
    const info = this.u32(off + 4);
    const kind = btfInfoKind(info) as BtfKind;
    const word = this.u32(off + 8);
    const sized = kindHasSize(kind);
    return {
      id,
      kind,
      name: this.str(this.u32(off)),
      vlen: btfInfoVlen(info),
      kflag: btfInfoKflag(info),
      size: sized ? word : 0,
      type: sized ? 0 : word,
    };
  }

  /** The btf-owning object and record offset of a type of one of the given kinds. */
  private record(id: number, kinds: BtfKind[]): { btf: Btf; off: number; t: BtfType } {
    if (id > 0 && id < this.startId && this.base) return this.base.record(id, kinds);
    const t = this.type(id);
    if (!kinds.includes(t.kind)) throw new BtfError(`BTF type ${id} is ${BtfKind[t.kind]}, not ${kinds.map((k) => BtfKind[k]).join('/')}`);
    return { btf: this, off: this.recordOffset(id) + BTF_TYPE_SIZE, t };
  }

  members(id: number): BtfMember[] {
    const { btf, off, t } = this.record(id, [BtfKind.STRUCT, BtfKind.UNION]);
    const out: BtfMember[] = [];
    for (let i = 0; i < t.vlen; i++) {
      const m = off + i * SIZEOF_BTF_MEMBER;
      const word = btf.u32(m + 8);
      out.push({
        name: btf.str(btf.u32(m)),
        type: btf.u32(m + 4),
        bitOffset: t.kflag ? btfMemberBitOffset(word) : word,
        bitfieldSize: t.kflag ? btfMemberBitfieldSize(word) : 0,
      });
    }
    return out;
  }

  array(id: number): BtfArray {
    const { btf, off } = this.record(id, [BtfKind.ARRAY]);
    return { type: btf.u32(off), indexType: btf.u32(off + 4), nelems: btf.u32(off + 8) };
  }

  int(id: number): BtfInt {
    const { btf, off } = this.record(id, [BtfKind.INT]);
    const v = btf.u32(off);
    return { encoding: btfIntEncoding(v), offset: btfIntOffset(v), bits: btfIntBits(v) };
  }

  enumValues(id: number): BtfEnumValue[] {
    const { btf, off, t } = this.record(id, [BtfKind.ENUM, BtfKind.ENUM64]);
    const out: BtfEnumValue[] = [];
    for (let i = 0; i < t.vlen; i++) {
      if (t.kind === BtfKind.ENUM) {
        const e = off + i * SIZEOF_BTF_ENUM;
        // kind_flag set: the values are unsigned.
        const v = t.kflag ? BigInt(btf.u32(e + 4)) : BigInt(btf.s32(e + 4));
        out.push({ name: btf.str(btf.u32(e)), value: v });
      } else {
        const e = off + i * SIZEOF_BTF_ENUM64;
        const u = (BigInt(btf.u32(e + 8)) << 32n) | BigInt(btf.u32(e + 4));
        out.push({ name: btf.str(btf.u32(e)), value: t.kflag ? u : BigInt.asIntN(64, u) });
      }
    }
    return out;
  }

  /** Ids of the types (own and base) with this name, optionally of one kind, lowest id first.
   * Compares the string section's bytes in place: a lookup in vmlinux BTF takes a few ms and
   * builds no strings, so a server that needs three names does not pay for an index of 100k. */
  findByName(name: string, kind?: BtfKind): number[] {
    const out = this.base ? this.base.findByName(name, kind) : [];
    const want = Buffer.from(name + '\0', 'latin1');
    for (let i = 0; i < this.offsets.length; i++) {
      const rec = this.offsets[i];
      if (kind !== undefined && btfInfoKind(this.u32(rec + 4)) !== kind) continue;
      const nameOff = this.u32(rec);
      if (nameOff < this.strStart || nameOff === 0) continue;
      const o = nameOff - this.strStart;
      if (o + want.length <= this.strs.length && this.strs.compare(want, 0, want.length, o, o + want.length) === 0) out.push(this.startId + i);
    }
    return out;
  }

  /** The first type with this name and kind (lowest id); undefined when there is none. A FWD is
   * its own kind, so asking for a STRUCT never finds a forward declaration. */
  findType(name: string, kind: BtfKind): number | undefined {
    return this.findByName(name, kind)[0];
  }
}
