// Fetch arguments of uprobe_events probes ("p:grp/ev /bin/bash:0x1234 arg1=%di:u64 s=+0(%si):string"),
// parsed as the kernel's trace_probe.c parses them for a uprobe (traceprobe_parse_probe_arg()),
// and laid out as its trace events lay them out: what the event's `format` file and the
// uprobe_events listing show. The grammar, limits and errnos are the kernel's (6.x), checked
// against a real tracefs by test/e2e/uprobe-events.test.ts:
//
//   [NAME=]FETCH[:TYPE]      NAME a C identifier (argN when absent), unique, not a field's name
//   FETCH   %REG | $stack | $stackN | $retval (return probes) | $comm | @ADDR | @+FILE_OFFSET
//           | +OFF(FETCH) | -OFF(FETCH) | \IMM | \"STRING"
//   TYPE    u8..u64 s8..s64 x8..x64 char string ustring, bW@O/C bitfields, BASIC[N] arrays of
//           memory (N <= 64)
//
// Only the description is kept: agents run BPF programs at these probes (the program sees the
// registers, as on the kernel), and no trace record is written.
import { Errno, KernelError } from '../kernel/errno';
import { Field } from './format';

export const MAX_TRACE_ARGS = 128;
const MAX_ARGSTR_LEN = 63;
const MAX_ARG_NAME_LEN = 32;
const MAX_ARRAY_LEN = 64;
const FETCH_INSN_MAX = 16;

/** struct pt_regs names on x86-64 (regs_query_register_offset). */
const REGS = new Set(['r15', 'r14', 'r13', 'r12', 'bp', 'bx', 'r11', 'r10', 'r9', 'r8', 'ax', 'cx', 'dx', 'si', 'di', 'orig_ax', 'ip', 'cs', 'flags', 'sp', 'ss']);

/** Names an argument may not take: the event's own fields. */
const RESERVED = new Set(['common_type', 'common_flags', 'common_preempt_count', 'common_pid', 'common_tgid', '__probe_ip', '__probe_ret_ip', '__probe_func']);

interface BasicType {
  field: string; // the type the format file shows
  size: number;
  signed: number;
  fmt: string; // printf conversion in print fmt
  string?: boolean;
}

const BASIC: Record<string, BasicType> = {
  u8: { field: 'u8', size: 1, signed: 0, fmt: '%u' },
  u16: { field: 'u16', size: 2, signed: 0, fmt: '%u' },
  u32: { field: 'u32', size: 4, signed: 0, fmt: '%u' },
  u64: { field: 'u64', size: 8, signed: 0, fmt: '%Lu' },
  s8: { field: 's8', size: 1, signed: 1, fmt: '%d' },
  s16: { field: 's16', size: 2, signed: 1, fmt: '%d' },
  s32: { field: 's32', size: 4, signed: 1, fmt: '%d' },
  s64: { field: 's64', size: 8, signed: 1, fmt: '%Ld' },
  x8: { field: 'u8', size: 1, signed: 0, fmt: '0x%x' },
  x16: { field: 'u16', size: 2, signed: 0, fmt: '0x%x' },
  x32: { field: 'u32', size: 4, signed: 0, fmt: '0x%x' },
  x64: { field: 'u64', size: 8, signed: 0, fmt: '0x%Lx' },
  char: { field: 'u8', size: 1, signed: 0, fmt: "'%c'" },
  string: { field: '__data_loc char[]', size: 4, signed: 1, fmt: '\\"%s\\"', string: true },
  ustring: { field: '__data_loc char[]', size: 4, signed: 1, fmt: '\\"%s\\"', string: true },
};

/** What a FETCH reads, as far as the checks care. */
type Source = 'reg' | 'stack' | 'retval' | 'comm' | 'mem' | 'deref' | 'imm' | 'imm_string';

export interface FetchArg {
  name: string;
  /** The argument as written after NAME= (the listing shows it so). */
  body: string;
  type: BasicType;
  /** Array length, 0: a scalar. */
  count: number;
}

const einval = (why: string): never => {
  throw new KernelError(Errno.EINVAL, why);
};

/** kstrtoul(s, 0) (a leading '+' allowed): EINVAL for what is not a number, ERANGE above 64 bits. */
function kstrtoul(s: string): bigint {
  const t = s.startsWith('+') ? s.slice(1) : s;
  if (!/^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.test(t)) einval(`'${s}' is not a number`);
  const v = t.length > 1 && t[0] === '0' && t[1] !== 'x' && t[1] !== 'X' ? BigInt('0o' + t.slice(1)) : BigInt(t);
  if (v >= 1n << 64n) throw new KernelError(Errno.ERANGE, `'${s}' is out of range`);
  return v;
}

/** kstrtol(s, 0): a sign, then kstrtoul's digits; ERANGE outside s64. */
function kstrtol(s: string): bigint {
  const neg = s.startsWith('-');
  const v = kstrtoul(neg ? s.slice(1) : s);
  if (v > (neg ? 1n << 63n : (1n << 63n) - 1n)) throw new KernelError(Errno.ERANGE, `'${s}' is out of range`);
  return neg ? -v : v;
}

/** The fetch itself (no type): its source and how many dereferences it makes. */
function parseFetch(s: string, retprobe: boolean): { source: Source; derefs: number } {
  switch (s[0]) {
    case '%':
      if (!REGS.has(s.slice(1))) einval(`unknown register '${s}'`);
      return { source: 'reg', derefs: 0 };
    case '$': {
      const v = s.slice(1);
      if (v === 'retval') {
        if (!retprobe) einval('$retval is only for return probes');
        return { source: 'retval', derefs: 0 };
      }
      if (v === 'comm' || v === 'COMM') return { source: 'comm', derefs: 0 };
      if (v === 'stack') return { source: 'stack', derefs: 0 };
      if (v.startsWith('stack')) {
        kstrtoul(v.slice(5));
        return { source: 'stack', derefs: 0 };
      }
      return einval(`unknown variable '${s}'`);
    }
    case '@':
      // an address in the process, or an offset in the probed file; no symbols for uprobes
      kstrtoul(s[1] === '+' ? s.slice(2) : s.slice(1));
      return { source: 'mem', derefs: 0 };
    case '\\':
      if (s[1] === '"') {
        if (s.length < 3 || !s.endsWith('"')) einval(`unterminated string '${s}'`);
        return { source: 'imm_string', derefs: 0 };
      }
      if (s[1] === '-') kstrtol(s.slice(1));
      else kstrtoul(s.slice(1));
      return { source: 'imm', derefs: 0 };
    case '+':
    case '-': {
      const open = s.indexOf('(');
      if (open < 0 || !s.endsWith(')')) return einval(`bad dereference '${s}'`);
      const off = s.slice(0, open);
      if (off.length < 2) einval(`no offset in '${s}'`);
      kstrtol(off); // "+0u(...)": user-memory marks are for kprobes; here they are not numbers
      const inner = parseFetch(s.slice(open + 1, -1), retprobe);
      return { source: 'deref', derefs: inner.derefs + 1 };
    }
    default:
      return einval(`bad fetch argument '${s}'`);
  }
}

/** One argument; index is its position (unnamed ones are argN after it). */
export function parseFetchArg(text: string, index: number, retprobe: boolean): FetchArg {
  let name = `arg${index + 1}`;
  let body = text;
  const eq = text.indexOf('=');
  if (eq >= 0) {
    name = text.slice(0, eq);
    body = text.slice(eq + 1);
    if (!name) einval(`no name before '=' in '${text}'`);
    if (name.length > MAX_ARG_NAME_LEN || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) einval(`bad argument name '${name}'`);
    if (RESERVED.has(name)) einval(`'${name}' is the name of a field of the event`);
  }
  if (!body) einval(`no fetch after '${name}='`);
  if (body.length > MAX_ARGSTR_LEN) throw new KernelError(Errno.E2BIG, `argument '${body}' is longer than ${MAX_ARGSTR_LEN}`);
  // The type follows the first ':' after a string immediate's closing quote.
  const searchFrom = body.startsWith('\\"') ? Math.max(2, body.indexOf('"', 2)) : 0;
  const colon = body.indexOf(':', searchFrom);
  const fetch = colon >= 0 ? body.slice(0, colon) : body;
  const typeName = colon >= 0 ? body.slice(colon + 1) : null;
  const { source, derefs } = parseFetch(fetch, retprobe);
  const memory = source === 'deref' || source === 'mem';

  let type: BasicType;
  let count = 0;
  let bitfield = false;
  if (typeName === null) {
    type = source === 'comm' || source === 'imm_string' ? BASIC.string : BASIC.x64;
  } else {
    const arr = /^([a-z0-9]+)\[(\d+)\]$/.exec(typeName);
    const bf = /^b(\d+)@(\d+)\/(\d+)$/.exec(typeName);
    if (arr) {
      count = Number(arr[2]);
      if (!BASIC[arr[1]] || count < 1 || count > MAX_ARRAY_LEN) einval(`bad array type '${typeName}'`);
      type = BASIC[arr[1]];
    } else if (bf) {
      const [width, off, container] = [Number(bf[1]), Number(bf[2]), Number(bf[3])];
      if (![8, 16, 32, 64].includes(container) || width < 1 || off + width > container) einval(`bad bitfield '${typeName}'`);
      type = BASIC[`u${container}`];
      bitfield = true;
    } else {
      type = BASIC[typeName] ?? einval(`unknown type '${typeName}'`);
    }
  }
  // Strings are read at an address (memory, a dereference, or a number given as immediate), or
  // are $comm or a string immediate, which are nothing else; arrays of anything else are read
  // from memory only.
  if (type.string) {
    const ok = memory || source === 'imm' || (count === 0 && (source === 'comm' || source === 'imm_string') && type === BASIC.string);
    if (!ok) einval(`'${body}' cannot be read as a string`);
  } else if (source === 'comm' || source === 'imm_string') {
    einval(`'${fetch}' is a string`);
  } else if (count && !memory) {
    einval(`arrays are read from memory: '${body}'`);
  }
  // The fetch program: the source, each dereference, a bitfield or array step, the store.
  if (1 + derefs + (bitfield ? 1 : 0) + (count ? 1 : 0) + 1 > FETCH_INSN_MAX) einval(`'${body}' dereferences too deep`);
  return { name, body, type, count };
}

/** Every argument of a probe: EINVAL for a duplicate name, E2BIG above MAX_TRACE_ARGS. */
export function parseFetchArgs(texts: string[], retprobe: boolean): FetchArg[] {
  if (texts.length > MAX_TRACE_ARGS) throw new KernelError(Errno.E2BIG, `more than ${MAX_TRACE_ARGS} arguments`);
  const args: FetchArg[] = [];
  texts.forEach((t, i) => {
    const a = parseFetchArg(t, i, retprobe);
    if (args.some((b) => b.name === a.name)) einval(`argument name '${a.name}' is used twice`);
    args.push(a);
  });
  return args;
}

/** The arguments' fields after the probe's own (from `offset` on, packed as the kernel packs
 * them: no alignment), and their part of print fmt: [conversions, REC arguments]. */
export function argFields(args: FetchArg[], offset: number): { fields: Field[]; fmt: string; recs: string[] } {
  const fields: Field[] = [];
  const fmt: string[] = [];
  const recs: string[] = [];
  for (const a of args) {
    const t = a.type;
    const n = Math.max(1, a.count);
    const decl = !a.count ? `${t.field} ${a.name}` : t.string ? `__data_loc char[][${a.count}] ${a.name}` : `${t.field} ${a.name}[]`;
    fields.push([decl, offset, t.size * n, t.signed]);
    offset += t.size * n;
    const rec = (i: number | null) => {
      const ref = i === null ? a.name : `${a.name}[${i}]`;
      return t.string ? `__get_str(${ref})` : `REC->${ref}`;
    };
    if (!a.count) {
      fmt.push(`${a.name}=${t.fmt}`);
      recs.push(rec(null));
    } else {
      fmt.push(`${a.name}={${Array(a.count).fill(t.fmt).join(',')}}`);
      for (let i = 0; i < a.count; i++) recs.push(rec(i));
    }
  }
  return { fields, fmt: fmt.join(' '), recs };
}
