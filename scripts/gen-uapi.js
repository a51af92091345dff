#!/usr/bin/env node
// Generates src-ts/uapi/{bpf,perf_event,ptrace}.ts from the kernel uapi headers.
//
// Names come from parsing the headers (after the C preprocessor, so macro-built
// enums such as __BPF_FUNC_MAPPER are already expanded and #ifdefs resolved);
// every VALUE, offset, size and bit position comes from a C program compiled
// with the system compiler and run here. Nothing numeric is typed by hand.
//
// usage: node scripts/gen-uapi.js [--out DIR]     (default DIR: src-ts/uapi)
//        CC=clang node scripts/gen-uapi.js        (compiler; default cc)
//        node scripts/gen-uapi.js --unistd-newer HEADER [--unistd-newer-source TEXT]
//
// Syscall numbers (syscalls.ts) come from the installed asm/unistd_64.h. A running kernel may
// offer syscalls newer than that header (their tracepoints appear in its tracefs); their
// numbers come from a newer copy of the same header, e.g. the asm/unistd_64.h of a newer
// Debian linux-libc-dev (apt-get download linux-libc-dev from a newer suite, dpkg-deb -x), given
// with --unistd-newer: the numbers the installed header lacks are written to
// syscalls_newer.ts and, for the shim and agent, to
// src-native/include/bpftime/unistd_newer.h. Without --unistd-newer those two files are kept.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { execFileSync } = require('child_process');

const ROOT = path.resolve(__dirname, '..');
const CC = process.env.CC || 'cc';

// ---------------------------------------------------------------------------
// What to generate. Header names are include paths; the preprocessor tells us
// which file each line came from.

// union bpf_attr: the fields the server reads, grouped per command. 'x.*'
// means every field under the named member x; anything absent from the header
// in use (newer-kernel fields) is left out and listed in a comment.
const BPF_ATTR_GROUPS = {
  map_create: ['map_type', 'key_size', 'value_size', 'max_entries', 'map_flags',
    'inner_map_fd', 'numa_node', 'map_name', 'map_ifindex', 'btf_fd',
    'btf_key_type_id', 'btf_value_type_id', 'btf_vmlinux_value_type_id',
    'map_extra', 'value_type_btf_obj_fd', 'map_token_fd'],
  elem: ['map_fd', 'key', 'value', 'next_key', 'flags'],
  batch: ['batch.*'],
  prog_load: ['prog_type', 'insn_cnt', 'insns', 'license', 'log_level',
    'log_size', 'log_buf', 'kern_version', 'prog_flags', 'prog_name',
    'prog_ifindex', 'expected_attach_type', 'prog_btf_fd', 'func_info_rec_size',
    'func_info', 'func_info_cnt', 'line_info_rec_size', 'line_info',
    'line_info_cnt', 'attach_btf_id', 'attach_prog_fd', 'attach_btf_obj_fd',
    'core_relo_cnt', 'fd_array', 'core_relos', 'core_relo_rec_size',
    'log_true_size', 'prog_token_fd'],
  obj: ['pathname', 'bpf_fd', 'file_flags', 'path_fd'],
  attach: ['target_fd', 'attach_bpf_fd', 'attach_type', 'attach_flags',
    'replace_bpf_fd', 'relative_fd', 'relative_id', 'expected_revision'],
  test: ['test.*'],
  get_id: ['start_id', 'prog_id', 'map_id', 'btf_id', 'link_id', 'next_id',
    'open_flags'],
  info: ['info.*'],
  query: ['query.*'],
  raw_tracepoint: ['raw_tracepoint.*'],
  btf_load: ['btf', 'btf_log_buf', 'btf_size', 'btf_log_size', 'btf_log_level',
    'btf_log_true_size', 'btf_flags', 'btf_token_fd'],
  task_fd_query: ['task_fd_query.*'],
  link_create: ['link_create.*'],
  link_update: ['link_update.*'],
  link_detach: ['link_detach.*'],
  enable_stats: ['enable_stats.*'],
  iter_create: ['iter_create.*'],
  prog_bind_map: ['prog_bind_map.*'],
};

const OUTPUTS = [
  {
    file: 'bpf.ts',
    headers: ['linux/bpf.h', 'linux/bpf_common.h'],
    // Groups of constants, besides one object per named enum.
    prefixGroups: [
      ['BPF_F', /^BPF_F_/],
      ['BPF_PSEUDO', /^BPF_PSEUDO_/],
      ['BPF_REG', /^BPF_REG_/],
      ['bpf_elem_flags', /^(BPF_ANY|BPF_NOEXIST|BPF_EXIST|BPF_F_LOCK)$/],
    ],
    // The instruction-encoding macros: all of bpf_common.h, and the #defines
    // bpf.h makes before its first enum/struct (the eBPF additions).
    opcodeGroup: 'bpf_opcode',
    grouped: [{ name: 'bpf_attr', c: 'union bpf_attr', groups: BPF_ATTR_GROUPS }],
    full: [
      ['bpf_insn', 'struct bpf_insn'],
      ['bpf_prog_info', 'struct bpf_prog_info'],
      ['bpf_map_info', 'struct bpf_map_info'],
      ['bpf_btf_info', 'struct bpf_btf_info'],
      ['bpf_link_info', 'struct bpf_link_info'],
      ['bpf_func_info', 'struct bpf_func_info'],
      ['bpf_line_info', 'struct bpf_line_info'],
      // Program contexts BPF_PROG_TEST_RUN fills (ctx_in/ctx_out).
      ['xdp_md', 'struct xdp_md'],
      ['__sk_buff', 'struct __sk_buff'],
    ],
  },
  {
    file: 'perf_event.ts',
    headers: ['linux/perf_event.h'],
    prefixGroups: [
      ['PERF_FLAG', /^PERF_FLAG_/],
      ['PERF_EVENT_IOC', /^PERF_EVENT_IOC_/],
      ['PERF_RECORD_MISC', /^PERF_RECORD_MISC_/],
      ['PERF_ATTR_SIZE', /^PERF_ATTR_SIZE_VER/],
    ],
    grouped: [],
    full: [
      ['perf_event_attr', 'struct perf_event_attr'],
      ['perf_event_mmap_page', 'struct perf_event_mmap_page'],
      ['perf_event_header', 'struct perf_event_header'],
    ],
  },
  {
    // Only the layout: the uprobe program context on x86-64.
    file: 'ptrace.ts',
    headers: ['asm/ptrace.h'],
    noConstants: true,
    prefixGroups: [],
    grouped: [],
    full: [['pt_regs', 'struct pt_regs']],
  },
];

const INCLUDES = ['linux/bpf.h', 'linux/perf_event.h', 'asm/ptrace.h'];

// ---------------------------------------------------------------------------
// Preprocess once; split the output by source file using the linemarkers.

function preprocess(work) {
  const src = path.join(work, 'hdr.c');
  fs.writeFileSync(src, INCLUDES.map((h) => `#include <${h}>\n`).join(''));
  const out = execFileSync(CC, ['-E', '-dD', src], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const files = new Map(); // absolute path -> lines (directives kept, markers dropped)
  let cur = null;
  for (const line of out.split('\n')) {
    const m = /^# \d+ "([^"]+)"/.exec(line);
    if (m) { cur = m[1]; if (!files.has(cur)) files.set(cur, []); continue; }
    if (cur) files.get(cur).push(line);
  }
  return files;
}

function findHeader(files, hdr) {
  const hits = [...files.keys()].filter((f) => f.endsWith('/' + hdr));
  if (hits.length !== 1) throw new Error(`cannot locate ${hdr} in preprocessor output (${hits.join(', ') || 'none'})`);
  return hits[0];
}

// ---------------------------------------------------------------------------
// A tokenizer and a parser for the C declarations these headers use.

function tokenize(text) {
  const toks = [];
  const re = /([A-Za-z_]\w*)|(0[xX][0-9a-fA-F]+\w*|\d+\w*)|('(?:\\.|[^'])*'|"(?:\\.|[^"])*")|(\S)/g;
  let m;
  while ((m = re.exec(text))) toks.push(m[0]);
  // Attributes carry no names we need; drop them with their parentheses.
  const out = [];
  for (let i = 0; i < toks.length; i++) {
    if (toks[i] === '__attribute__' || toks[i] === '__attribute') {
      let depth = 0; i++;
      for (; i < toks.length; i++) {
        if (toks[i] === '(') depth++;
        else if (toks[i] === ')' && --depth === 0) break;
      }
      continue;
    }
    if (toks[i] === '__extension__') continue;
    out.push(toks[i]);
  }
  return out;
}

const isIdent = (t) => /^[A-Za-z_]\w*$/.test(t);

// Text of a file without preprocessor directives (kept separately).
function codeOf(lines) { return lines.filter((l) => !/^\s*#/.test(l)).join('\n'); }

// Enums: [{name|null, members:[names]}], in header order.
function parseEnums(toks) {
  const enums = [];
  for (let i = 0; i < toks.length; i++) {
    if (toks[i] !== 'enum') continue;
    let j = i + 1, name = null;
    if (isIdent(toks[j])) name = toks[j++];
    if (toks[j] !== '{') continue; // a use of the enum type, not its definition
    const members = [];
    let depth = 0, expectName = true;
    for (j++; j < toks.length; j++) {
      const t = toks[j];
      if (t === '(') depth++;
      else if (t === ')') depth--;
      else if (t === '}' && depth === 0) break;
      else if (t === ',' && depth === 0) { expectName = true; continue; }
      if (expectName && isIdent(t)) { members.push(t); expectName = false; }
    }
    enums.push({ name, members, at: i });
    i = j;
  }
  return enums;
}

// Object-like #defines with a non-empty body, in order. Leading-underscore
// names are include guards and internals.
function parseDefines(lines) {
  const defs = [];
  for (const l of lines) {
    const m = /^#define\s+([A-Za-z]\w*)(\s+(.*))?$/.exec(l);
    if (!m || !m[3] || !m[3].trim()) continue;
    defs.push(m[1]);
  }
  return defs;
}

// Find `struct NAME {` / `union NAME {` and parse its members.
function parseAggregate(toks, cdecl) {
  const [kind, name] = cdecl.split(/\s+/);
  for (let i = 0; i + 2 < toks.length; i++) {
    if (toks[i] === kind && toks[i + 1] === name && toks[i + 2] === '{') {
      return parseBody(toks, i + 3).members;
    }
  }
  throw new Error(`${cdecl} not found`);
}

// Member: {name, type, array, bits}  or  {name|null, members} for aggregates
// (name null: anonymous, its members are reached as if they were the parent's).
function parseBody(toks, pos) {
  const members = [];
  while (toks[pos] !== '}') {
    if (pos >= toks.length) throw new Error('unterminated struct body');
    const t = toks[pos];
    if ((t === 'struct' || t === 'union') &&
        (toks[pos + 1] === '{' || (isIdent(toks[pos + 1]) && toks[pos + 2] === '{'))) {
      pos += toks[pos + 1] === '{' ? 2 : 3;
      const inner = parseBody(toks, pos);
      pos = inner.pos;
      const names = [];
      while (toks[pos] !== ';') { if (isIdent(toks[pos])) names.push(toks[pos]); pos++; }
      pos++;
      if (names.length === 0) members.push({ name: null, members: inner.members });
      for (const n of names) members.push({ name: n, members: inner.members });
      continue;
    }
    // Plain declaration up to ';', possibly a list of declarators.
    const decl = [];
    let depth = 0;
    for (; !(toks[pos] === ';' && depth === 0); pos++) {
      if (toks[pos] === '[' || toks[pos] === '(') depth++;
      if (toks[pos] === ']' || toks[pos] === ')') depth--;
      decl.push(toks[pos]);
    }
    pos++;
    const segs = [[]];
    depth = 0;
    for (const d of decl) {
      if (d === '[' || d === '(') depth++;
      if (d === ']' || d === ')') depth--;
      if (d === ',' && depth === 0) segs.push([]); else segs[segs.length - 1].push(d);
    }
    let type = null;
    segs.forEach((seg, k) => {
      const colon = seg.indexOf(':');
      const bracket = seg.indexOf('[');
      const end = Math.min(colon < 0 ? seg.length : colon, bracket < 0 ? seg.length : bracket);
      const head = seg.slice(0, end).filter((x) => x !== '*');
      let name = head.length ? head[head.length - 1] : null;
      if (k === 0) {
        type = head.slice(0, -1).join(' ');
        if (!type) { type = head.join(' '); name = null; } // unnamed bitfield
      }
      if (!name || !isIdent(name)) return;
      members.push({ name, type, array: bracket >= 0, bits: colon >= 0 });
    });
  }
  return { members, pos: pos + 1 };
}

// Leaves with their C access path (anonymous members flattened away).
function leaves(members, prefix = []) {
  const out = [];
  for (const m of members) {
    if (m.members) out.push(...leaves(m.members, m.name ? [...prefix, m.name] : prefix));
    else out.push({ ...m, path: [...prefix, m.name] });
  }
  return out;
}

// ---------------------------------------------------------------------------
// The C program: one printf per value. Lines are tagged so the output maps
// back: "C <name> <value>", "L <id> <off> <size> <count>", "B <id> <bit> <nbits> <unit>", "S <id> <size>".

const C_PRELUDE = `#include <stdio.h>
#include <stddef.h>
#include <string.h>
${INCLUDES.map((h) => `#include <${h}>`).join('\n')}
/* Signed or unsigned by the value's own sign, so u64 enum values survive. */
#define C(x) do { if ((x) < 0) printf("C %s %lld\\n", #x, (long long)(x)); \\
                   else printf("C %s %llu\\n", #x, (unsigned long long)(x)); } while (0)
#define MEMBER(T, m) (((T *)0)->m)
#define L(id, T, m) printf("L %d %zu %zu 0\\n", id, offsetof(T, m), sizeof(MEMBER(T, m)))
#define LA(id, T, m) printf("L %d %zu %zu %zu\\n", id, offsetof(T, m), sizeof(MEMBER(T, m)), \\
                   sizeof(MEMBER(T, m)) / sizeof(MEMBER(T, m)[0]))
#define S(id, T) printf("S %d %zu\\n", id, sizeof(T))
/* Bitfields have no offsetof: set every bit of the field in a zeroed object
 * and look where the ones landed. */
#define B(id, T, m, U) do { union { T s; unsigned char b[sizeof(T)]; } u_; \\
    memset(&u_, 0, sizeof u_); u_.s.m = ~0ULL; bits(id, u_.b, sizeof u_.b, sizeof(U)); } while (0)
static void bits(int id, const unsigned char *b, size_t n, size_t unit)
{
	long first = -1, count = 0;
	for (size_t i = 0; i < n * 8; i++)
		if (b[i / 8] >> (i % 8) & 1) { if (first < 0) first = (long)i; count++; }
	printf("B %d %ld %ld %zu\\n", id, first, count, unit);
}
int main(void)
{
`;

function buildProgram(consts, layouts) {
  const lines = C_PRELUDE.split('\n');
  lines.pop();
  const constLine = new Map(); // C source line (1-based) -> constant name
  for (const name of consts) {
    constLine.set(lines.length + 1, name);
    lines.push(`\tC(${name});`);
  }
  layouts.forEach((l, id) => {
    if (l.sizeOnly) lines.push(`\tS(${id}, ${l.c});`);
    else if (l.leaf.bits) lines.push(`\tB(${id}, ${l.c}, ${l.leaf.path.join('.')}, ${l.leaf.type});`);
    else lines.push(`\t${l.leaf.array ? 'LA' : 'L'}(${id}, ${l.c}, ${l.leaf.path.join('.')});`);
  });
  lines.push('\treturn 0;', '}', '');
  return { src: lines.join('\n'), constLine };
}

// Compile and run; constants whose expansion is not an integer constant
// expression are dropped (reported in the output) rather than failing.
function runProgram(work, consts, layouts) {
  const dropped = [];
  for (let attempt = 0; attempt < 4; attempt++) {
    const { src, constLine } = buildProgram(consts, layouts);
    const cfile = path.join(work, 'values.c');
    const exe = path.join(work, 'values');
    fs.writeFileSync(cfile, src);
    try {
      execFileSync(CC, ['-w', '-O0', '-o', exe, cfile], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (e) {
      const bad = new Set();
      for (const m of String(e.stderr).matchAll(/values\.c:(\d+):\d+: error/g)) {
        const n = constLine.get(Number(m[1]));
        if (!n) throw new Error(`generated C program failed to compile:\n${e.stderr}`);
        bad.add(n);
      }
      if (bad.size === 0) throw new Error(`generated C program failed to compile:\n${e.stderr}`);
      dropped.push(...bad);
      consts = consts.filter((n) => !bad.has(n));
      continue;
    }
    return { out: execFileSync(exe, { encoding: 'utf8' }), consts, dropped };
  }
  throw new Error('gave up compiling the generated C program');
}

// ---------------------------------------------------------------------------
// TypeScript emission.

function tsNumber(s) {
  const v = BigInt(s);
  return (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER)) ? String(v) : `${v}n`;
}

function fieldText(f) {
  if (f.bit !== undefined) return `{ off: ${f.off}, size: ${f.size}, bit: ${f.bit}, bits: ${f.bits} }`;
  if (f.count) return `{ off: ${f.off}, size: ${f.size}, count: ${f.count} }`;
  return `{ off: ${f.off}, size: ${f.size} }`;
}

// Nested object text from [[keyPath[], field]].
function nestedText(entries, indent) {
  const tree = new Map();
  for (const [keys, f] of entries) {
    let node = tree;
    keys.slice(0, -1).forEach((k) => { if (!node.has(k)) node.set(k, new Map()); node = node.get(k); });
    node.set(keys[keys.length - 1], f);
  }
  const emit = (node, ind) => {
    const pad = '  '.repeat(ind);
    const rows = [];
    for (const [k, v] of node) {
      rows.push(v instanceof Map ? `${pad}${k}: {\n${emit(v, ind + 1)}${pad}},` : `${pad}${k}: ${fieldText(v)},`);
    }
    return rows.map((r) => r + '\n').join('');
  };
  return `{\n${emit(tree, indent + 1)}${'  '.repeat(indent)}}`;
}

function header(srcs) {
  return [
    '// generated by scripts/gen-uapi.js — do not edit',
    '// Values, offsets and sizes were computed by the C compiler from:',
    ...srcs.map((s) => `//   ${s.file} (sha256 ${s.sha.slice(0, 16)})`),
    '// Field entries: off/size in bytes; arrays add count; bitfields give the',
    '// storage unit (off/size) and the bit position in it, little-endian.',
    '/* eslint-disable */',
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------

function generate(outDir) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gen-uapi-'));
  try {
    const files = preprocess(work);
    const plans = OUTPUTS.map((spec) => {
      const hdrFiles = spec.headers.map((h) => findHeader(files, h));
      const toks = tokenize(hdrFiles.map((f) => codeOf(files.get(f))).join('\n'));
      const srcs = hdrFiles.map((f) => ({ file: f, sha: crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex') }));

      // Constants: enum members then #defines, header order, no repeats.
      const enums = spec.noConstants ? [] : parseEnums(toks);
      const names = [];
      const seen = new Set();
      const add = (n) => { if (!seen.has(n)) { seen.add(n); names.push(n); } };
      enums.forEach((e) => e.members.forEach(add));
      let opcodes = [];
      if (!spec.noConstants) {
        for (const f of hdrFiles) {
          const lines = files.get(f);
          parseDefines(lines).forEach(add);
          if (spec.opcodeGroup) {
            // Defines located before the first enum/struct of the file.
            const firstDecl = lines.findIndex((l) => /^\s*(enum|struct|union)\b/.test(l));
            const pre = firstDecl < 0 ? lines : lines.slice(0, firstDecl);
            opcodes.push(...parseDefines(pre));
          }
        }
      }

      const layouts = [];
      const addLeaves = (name, c, members) => leaves(members).forEach((leaf) => layouts.push({ owner: name, c, leaf }));
      const absent = [];
      for (const g of spec.grouped) {
        const all = leaves(parseAggregate(toks, g.c));
        const byPath = new Map(all.map((l) => [l.path.join('.'), l]));
        layouts.push({ owner: g.name, c: g.c, sizeOnly: true });
        for (const [group, pats] of Object.entries(g.groups)) {
          for (const p of pats) {
            if (p.endsWith('.*')) {
              const pre = p.slice(0, -1);
              const hits = all.filter((l) => l.path.join('.').startsWith(pre));
              if (!hits.length) absent.push(`${group}.${p}`);
              hits.forEach((leaf) => layouts.push({ owner: g.name, c: g.c, leaf, keys: [group, ...leaf.path.slice(pre.split('.').length - 1)] }));
            } else if (byPath.has(p)) {
              layouts.push({ owner: g.name, c: g.c, leaf: byPath.get(p), keys: [group, p] });
            } else absent.push(`${group}.${p}`);
          }
        }
      }
      for (const [name, c] of spec.full) {
        layouts.push({ owner: name, c, sizeOnly: true });
        addLeaves(name, c, parseAggregate(toks, c));
      }
      return { spec, srcs, enums, names, opcodes, layouts, absent };
    });

    // One C program for everything.
    const allConsts = plans.flatMap((p) => p.names);
    const allLayouts = plans.flatMap((p) => p.layouts);
    const { out, dropped } = runProgram(work, allConsts, allLayouts);
    const values = new Map();
    const results = new Map();
    for (const line of out.trim().split('\n')) {
      const [tag, a, ...r] = line.split(' ');
      if (tag === 'C') values.set(a, r[0]);
      else if (tag === 'L') results.set(Number(a), { off: +r[0], size: +r[1], count: +r[2] || undefined });
      else if (tag === 'S') results.set(Number(a), { size: +r[0] });
      else if (tag === 'B') {
        const [first, nbits, unit] = r.map(Number);
        if (first < 0) throw new Error(`bitfield ${allLayouts[a].leaf.path.join('.')} shows no bits`);
        const off = Math.floor(first / (unit * 8)) * unit;
        results.set(Number(a), { off, size: unit, bit: first - off * 8, bits: nbits });
      }
    }

    fs.mkdirSync(outDir, { recursive: true });
    let id = 0;
    for (const p of plans) {
      const parts = [header(p.srcs)];
      const have = p.names.filter((n) => values.has(n));
      const drop = p.names.filter((n) => dropped.includes(n));
      if (have.length) {
        parts.push('// ---- constants ----');
        for (const n of have) parts.push(`export const ${n} = ${tsNumber(values.get(n))};`);
        if (drop.length) parts.push(`// not integer constants, left out: ${drop.join(', ')}`);
        parts.push('');
        const haveSet = new Set(have);
        const group = (gname, members, comment) => {
          const ms = members.filter((m) => haveSet.has(m));
          if (!ms.length) return;
          if (haveSet.has(gname)) throw new Error(`group name ${gname} collides with a constant`);
          if (comment) parts.push(`// ${comment}`);
          parts.push(`export const ${gname} = {\n${ms.map((m) => `  ${m},`).join('\n')}\n} as const;`);
        };
        parts.push('// ---- named enums ----');
        for (const e of p.enums) if (e.name) group(e.name, e.members, `enum ${e.name}`);
        parts.push('', '// ---- groups by prefix ----');
        for (const [gname, re] of p.spec.prefixGroups) group(gname, have.filter((n) => re.test(n)));
        if (p.spec.opcodeGroup) group(p.spec.opcodeGroup, p.opcodes, 'instruction encoding (bpf_common.h and the eBPF additions at the top of bpf.h)');
        parts.push('');
      }

      // Layouts, in the order planned.
      const sizes = [];
      const byOwner = new Map();
      for (const l of p.layouts) {
        const r = results.get(id++);
        if (l.sizeOnly) { sizes.push([l.owner, r.size]); continue; }
        if (!byOwner.has(l.owner)) byOwner.set(l.owner, { c: l.c, entries: [] });
        byOwner.get(l.owner).entries.push([l.keys || l.leaf.path, r]);
      }
      parts.push('// ---- layouts ----');
      parts.push(`export const sizeof = {\n${sizes.map(([n, s]) => `  ${n}: ${s},`).join('\n')}\n} as const;`, '');
      for (const [owner, { c, entries }] of byOwner) {
        parts.push(`// ${c}`);
        if (owner === 'bpf_attr' && p.absent.length) {
          parts.push(`// not in this header (newer kernels): ${p.absent.join(', ')}`);
        }
        parts.push(`export const ${owner} = ${nestedText(entries, 0)} as const;`, '');
      }
      fs.writeFileSync(path.join(outDir, p.spec.file), parts.join('\n'));
    }
    return plans.map((p) => path.join(outDir, p.spec.file));
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Syscall numbers: every __NR_ name the preprocessor sees in a unistd_64.h, its value printed
// by a compiled program (the header's own arithmetic, e.g. __X32_SYSCALL_BIT, included).

function syscallNumbers(work, include) {
  const src = path.join(work, 'nr.c');
  fs.writeFileSync(src, `#include ${include}\n`);
  const out = execFileSync(CC, ['-E', '-dD', src], { encoding: 'utf8', maxBuffer: 16 << 20 });
  const names = [...new Set([...out.matchAll(/^#define __NR_(\w+)\s/gm)].map((m) => m[1]))];
  const prog = [`#include <stdio.h>`, `#include ${include}`, 'int main(void) {',
    ...names.map((n) => `  printf("%s %ld\\n", "${n}", (long)(__NR_${n}));`), '  return 0;', '}'].join('\n');
  fs.writeFileSync(path.join(work, 'nr_prog.c'), prog);
  execFileSync(CC, ['-o', path.join(work, 'nr_prog'), path.join(work, 'nr_prog.c')]);
  const nrs = {};
  for (const line of execFileSync(path.join(work, 'nr_prog'), { encoding: 'utf8' }).trim().split('\n')) {
    const [n, v] = line.split(' ');
    nrs[n] = Number(v);
  }
  // which file the preprocessor took the installed header from
  const file = /# \d+ "([^"]*asm\/unistd_64\.h)"/.exec(out)?.[1] ?? include;
  return { nrs, file };
}

function tsTable(name, nrs) {
  return `export const ${name}: Readonly<Record<string, number>> = {\n${Object.entries(nrs).map(([n, v]) => `  ${n}: ${v},`).join('\n')}\n};\n`;
}

function generateSyscalls(outDir, newer, newerSource) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'gen-uapi-nr-'));
  try {
    const installed = syscallNumbers(work, '<asm/unistd_64.h>');
    const sha = (f) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex').slice(0, 16);
    const written = [];
    fs.writeFileSync(path.join(outDir, 'syscalls.ts'), [header([{ file: installed.file, sha: sha(installed.file) }]),
      '// x86-64 syscall numbers (__NR_*) of the installed uapi header.', tsTable('SYSCALL_NR', installed.nrs)].join('\n'));
    written.push(path.join(outDir, 'syscalls.ts'));
    if (!newer) return written;
    const abs = path.resolve(newer);
    const more = syscallNumbers(work, `"${abs}"`).nrs;
    const only = {};
    for (const [n, v] of Object.entries(more)) {
      if (installed.nrs[n] === undefined) only[n] = v;
      else if (installed.nrs[n] !== v) throw new Error(`__NR_${n}: ${v} in ${abs} but ${installed.nrs[n]} in the installed header`);
    }
    const from = newerSource || abs;
    const note = [
      `// Syscalls newer than the installed header, numbered by a newer asm/unistd_64.h:`,
      `//   ${from} (sha256 ${sha(abs)})`,
      '// Regenerate: node scripts/gen-uapi.js --unistd-newer <that header> --unistd-newer-source "<package and path>"',
    ];
    fs.writeFileSync(path.join(outDir, 'syscalls_newer.ts'), ['// generated by scripts/gen-uapi.js — do not edit', ...note, '/* eslint-disable */', '',
      tsTable('SYSCALL_NR_NEWER', only)].join('\n'));
    written.push(path.join(outDir, 'syscalls_newer.ts'));
    const h = path.join(ROOT, 'src-native', 'include', 'bpftime', 'unistd_newer.h');
    fs.writeFileSync(h, ['/* generated by scripts/gen-uapi.js — do not edit */', ...note.map((l) => l.replace(/^\/\//, ' *')).map((l, i) => (i === 0 ? '/*' + l.slice(2) : l)), ' */',
      '#ifndef BPFTIME_UNISTD_NEWER_H', '#define BPFTIME_UNISTD_NEWER_H', '#include <sys/syscall.h>',
      ...Object.entries(only).flatMap(([n, v]) => [`#ifndef SYS_${n}`, `#define SYS_${n} ${v}`, '#endif']), '#endif', ''].join('\n'));
    written.push(h);
    return written;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function main() {
  const args = process.argv.slice(2);
  let outDir = path.join(ROOT, 'src-ts', 'uapi');
  let newer = null;
  let newerSource = null;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--out') outDir = path.resolve(args[++i]);
    else if (args[i] === '--unistd-newer') newer = args[++i];
    else if (args[i] === '--unistd-newer-source') newerSource = args[++i];
    else if (args[i] === '-h' || args[i] === '--help') {
      console.log('usage: node scripts/gen-uapi.js [--out DIR]   (CC selects the compiler)');
      return;
    } else { console.error(`gen-uapi: unknown argument ${args[i]}`); process.exit(2); }
  }
  try {
    for (const f of [...generate(outDir), ...generateSyscalls(outDir, newer, newerSource)]) console.log(`wrote ${path.relative(process.cwd(), f) || f}`);
  } catch (e) {
    console.error(`gen-uapi: ${e.message}`);
    process.exit(1);
  }
}

if (require.main === module) main();
module.exports = { generate, generateSyscalls };
