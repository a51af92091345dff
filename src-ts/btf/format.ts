// The BTF encoding as the kernel's uapi header <linux/btf.h> defines it: header, type records and
// the fixed-size data that follows each kind. test/unit/btf.test.ts checks these numbers against
// the header with the C compiler where one is present.

export const BTF_MAGIC = 0xeb9f;
export const BTF_VERSION = 1;

/** struct btf_header: magic u16, version u8, flags u8, hdr_len, type_off, type_len, str_off,
 * str_len (u32 each). hdr_len may be larger in newer encodings: sections are found through it. */
export const BTF_HEADER_SIZE = 24;
/** struct btf_type: name_off, info, size/type (u32 each). */
export const BTF_TYPE_SIZE = 12;

export enum BtfKind {
  UNKN = 0,
  INT = 1,
  PTR = 2,
  ARRAY = 3,
  STRUCT = 4,
  UNION = 5,
  ENUM = 6,
  FWD = 7,
  TYPEDEF = 8,
  VOLATILE = 9,
  CONST = 10,
  RESTRICT = 11,
  FUNC = 12,
  FUNC_PROTO = 13,
  VAR = 14,
  DATASEC = 15,
  FLOAT = 16,
  DECL_TAG = 17,
  TYPE_TAG = 18,
  ENUM64 = 19,
}
export const BTF_KIND_MAX = BtfKind.ENUM64;

// info: vlen in bits 0-15, kind in bits 24-28, kind_flag in bit 31 (BTF_INFO_VLEN/KIND/KFLAG).
export const btfInfoKind = (info: number): number => (info >>> 24) & 0x1f;
export const btfInfoVlen = (info: number): number => info & 0xffff;
export const btfInfoKflag = (info: number): boolean => info >>> 31 === 1;

// The u32 after an INT (BTF_INT_ENCODING/OFFSET/BITS).
export const btfIntEncoding = (v: number): number => (v & 0x0f000000) >>> 24;
export const btfIntOffset = (v: number): number => (v & 0x00ff0000) >>> 16;
export const btfIntBits = (v: number): number => v & 0x000000ff;
export const BTF_INT_SIGNED = 1 << 0;
export const BTF_INT_CHAR = 1 << 1;
export const BTF_INT_BOOL = 1 << 2;

// A struct/union member's offset word when the type's kind_flag is set: bitfield size in the top
// 8 bits, bit offset in the low 24 (BTF_MEMBER_BITFIELD_SIZE/BIT_OFFSET); otherwise the whole
// word is the bit offset and bitfield sizes come from INT types.
export const btfMemberBitfieldSize = (v: number): number => v >>> 24;
export const btfMemberBitOffset = (v: number): number => v & 0xffffff;

/** Sizes of what follows a struct btf_type, per kind (uapi: btf_array, btf_member, btf_enum,
 * btf_param, btf_var, btf_var_secinfo, btf_decl_tag, btf_enum64). */
export const SIZEOF_BTF_ARRAY = 12;
export const SIZEOF_BTF_MEMBER = 12;
export const SIZEOF_BTF_ENUM = 8;
export const SIZEOF_BTF_PARAM = 8;
export const SIZEOF_BTF_VAR = 4;
export const SIZEOF_BTF_VAR_SECINFO = 12;
export const SIZEOF_BTF_DECL_TAG = 4;
export const SIZEOF_BTF_ENUM64 = 12;

/** Bytes of kind-specific data after the struct btf_type of a type with this kind and vlen, or
 * -1 for a kind this reader does not know (a newer encoding: the section cannot be walked). */
export function extraSize(kind: number, vlen: number): number {
  switch (kind) {
    case BtfKind.INT:
      return 4;
    case BtfKind.ARRAY:
      return SIZEOF_BTF_ARRAY;
    case BtfKind.STRUCT:
    case BtfKind.UNION:
      return vlen * SIZEOF_BTF_MEMBER;
    case BtfKind.ENUM:
      return vlen * SIZEOF_BTF_ENUM;
    case BtfKind.FUNC_PROTO:
      return vlen * SIZEOF_BTF_PARAM;
    case BtfKind.VAR:
      return SIZEOF_BTF_VAR;
    case BtfKind.DATASEC:
      return vlen * SIZEOF_BTF_VAR_SECINFO;
    case BtfKind.DECL_TAG:
      return SIZEOF_BTF_DECL_TAG;
    case BtfKind.ENUM64:
      return vlen * SIZEOF_BTF_ENUM64;
    case BtfKind.PTR:
    case BtfKind.FWD:
    case BtfKind.TYPEDEF:
    case BtfKind.VOLATILE:
    case BtfKind.CONST:
    case BtfKind.RESTRICT:
    case BtfKind.FUNC:
    case BtfKind.FLOAT:
    case BtfKind.TYPE_TAG:
      return 0;
    default:
      return -1;
  }
}

/** Kinds whose third word is a size (the rest carry a type id there, or nothing). */
export function kindHasSize(kind: number): boolean {
  return (
    kind === BtfKind.INT ||
    kind === BtfKind.STRUCT ||
    kind === BtfKind.UNION ||
    kind === BtfKind.ENUM ||
    kind === BtfKind.ENUM64 ||
    kind === BtfKind.DATASEC ||
    kind === BtfKind.FLOAT
  );
}
