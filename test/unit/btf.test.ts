// The BTF reader (src-ts/btf): on blobs built here type by type (every kind, kind_flag and older
// bitfields, anonymous members, typedef/modifier chains, split BTF, both byte orders, malformed
// input), and on the running kernel's /sys/kernel/btf/vmlinux where there is one, checked against
// bpftool's own dump of it. The format constants are checked against <linux/btf.h>.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Btf, BtfError, BtfKind, computeTaskLayout, fieldPath, findMember, resolveType, sizeOf } from '../../src-ts/btf';
import * as F from '../../src-ts/btf/format';

/** Builds raw BTF: types are added in id order (1, 2, ...); names go to the string section. */
class BtfBuilder {
  private strs: Buffer[] = [Buffer.from([0])];
  private strLen = 1;
  private strOff = new Map<string, number>();
  private recs: number[][] = [];
  constructor(private readonly strBase = 0) {}

  str(s: string): number {
    if (s === '') return 0;
    const known = this.strOff.get(s);
    if (known !== undefined) return known;
    const off = this.strBase + this.strLen;
    this.strs.push(Buffer.from(s + '\0', 'latin1'));
    this.strLen += s.length + 1;
    this.strOff.set(s, off);
    return off;
  }
  /** A raw record: btf_type words then the kind's data words; returns its index (id - 1 + base). */
  add(name: string, kind: number, vlen: number, kflag: boolean, sizeOrType: number, data: number[] = []): number {
    const info = ((kflag ? 1 : 0) << 31) | (kind << 24) | vlen;
    this.recs.push([this.str(name), info >>> 0, sizeOrType, ...data]);
    return this.recs.length;
  }
  int(name: string, size: number, bits: number, encoding = 0, offset = 0): number {
    return this.add(name, BtfKind.INT, 0, false, size, [(encoding << 24) | (offset << 16) | bits]);
  }
  ref(kind: BtfKind, name: string, type: number): number {
    return this.add(name, kind, 0, false, type);
  }
  array(elem: number, index: number, n: number): number {
    return this.add('', BtfKind.ARRAY, 0, false, 0, [elem, index, n]);
  }
  struct(kind: BtfKind.STRUCT | BtfKind.UNION, name: string, size: number, members: Array<[string, number, number, number?]>, kflag = false): number {
    const data: number[] = [];
    for (const [n, type, bitOff, bitSize] of members) data.push(this.str(n), type, kflag ? ((bitSize ?? 0) << 24) | bitOff : bitOff);
    return this.add(name, kind, members.length, kflag, size, data);
  }
  build(le = true): Buffer {
    const words = this.recs.flat();
    const types = Buffer.alloc(words.length * 4);
    words.forEach((w, i) => (le ? types.writeUInt32LE(w >>> 0, i * 4) : types.writeUInt32BE(w >>> 0, i * 4)));
    const strs = Buffer.concat(this.strs);
    const h = Buffer.alloc(F.BTF_HEADER_SIZE);
    const w16 = (v: number, o: number) => (le ? h.writeUInt16LE(v, o) : h.writeUInt16BE(v, o));
    const w32 = (v: number, o: number) => (le ? h.writeUInt32LE(v, o) : h.writeUInt32BE(v, o));
    w16(F.BTF_MAGIC, 0);
    h.writeUInt8(F.BTF_VERSION, 2);
    w32(F.BTF_HEADER_SIZE, 4);
    w32(0, 8);
    w32(types.length, 12);
    w32(types.length, 16);
    w32(strs.length, 20);
    return Buffer.concat([h, types, strs]);
  }
}

/** Every kind, with the shapes the reader must tell apart. Ids are noted per line. */
function sampleBlob(le = true): Buffer {
  const b = new BtfBuilder();
  b.int('int', 4, 32, F.BTF_INT_SIGNED); // 1
  b.int('char', 1, 8, F.BTF_INT_CHAR); // 2
  b.ref(BtfKind.TYPEDEF, 'pid_t', 1); // 3
  b.ref(BtfKind.PTR, '', 5); // 4: struct task *
  b.struct(BtfKind.STRUCT, 'task', 48, [
    ['pid', 3, 0],
    ['tgid', 7, 32],
    ['', 6, 64], // anonymous union
    ['comm', 8, 128],
    ['flag_a', 1, 256, 3],
    ['flag_b', 1, 259, 5],
    ['parent', 4, 320],
  ], true); // 5
  b.struct(BtfKind.UNION, '', 8, [['x', 1, 0], ['', 9, 0]]); // 6: union { int x; struct { int pad; int y; }; }
  b.ref(BtfKind.CONST, '', 3); // 7: const pid_t
  b.array(2, 1, 16); // 8: char[16]
  b.struct(BtfKind.STRUCT, '', 8, [['pad', 1, 0], ['y', 1, 32]]); // 9
  b.ref(BtfKind.FWD, 'task', 0); // 10: a forward declaration with the struct's name
  b.add('color', BtfKind.ENUM, 2, false, 4, [b.str('RED'), 0, b.str('BLUE'), 0xffffffff]); // 11
  b.ref(BtfKind.VOLATILE, '', 1); // 12
  b.ref(BtfKind.TYPE_TAG, 'user', 12); // 13
  b.struct(BtfKind.STRUCT, 'old', 4, [['bits', 15, 0]]); // 14: no kind_flag
  b.int('u3', 4, 3, 0, 2); // 15: an older bitfield: 3 bits at bit 2
  b.add('', BtfKind.FUNC_PROTO, 1, false, 1, [0, 1]); // 16: int (int)
  b.ref(BtfKind.FUNC, 'f', 16); // 17
  b.add('v', BtfKind.VAR, 0, false, 1, [1]); // 18
  b.add('.data', BtfKind.DATASEC, 1, false, 4, [18, 0, 4]); // 19
  b.add('big', BtfKind.ENUM64, 1, true, 8, [b.str('HUGE'), 0x00000001, 0x80000000]); // 20
  b.add('double', BtfKind.FLOAT, 0, false, 8); // 21
  b.add('tag', BtfKind.DECL_TAG, 0, false, 5, [-1 >>> 0]); // 22
  b.ref(BtfKind.RESTRICT, '', 4); // 23
  b.array(23, 1, 3); // 24: task *restrict [3]
  return b.build(le);
}

for (const le of [true, false]) {
  test(`reads every kind (${le ? 'little' : 'big'}-endian)`, () => {
    const btf = Btf.parse(sampleBlob(le));
    assert.equal(btf.count, 25);
    assert.equal(btf.type(0).kind, BtfKind.UNKN); // void
    assert.deepEqual(btf.type(1), { id: 1, kind: BtfKind.INT, name: 'int', vlen: 0, kflag: false, size: 4, type: 0 });
    assert.deepEqual(btf.int(1), { encoding: F.BTF_INT_SIGNED, offset: 0, bits: 32 });
    assert.deepEqual(btf.int(15), { encoding: 0, offset: 2, bits: 3 });
    assert.equal(btf.type(3).type, 1);
    assert.deepEqual(btf.array(8), { type: 2, indexType: 1, nelems: 16 });
    const t = btf.type(5);
    assert.equal(t.kind, BtfKind.STRUCT);
    assert.equal(t.kflag, true);
    assert.equal(t.size, 48);
    const m = btf.members(5);
    assert.equal(m.length, 7);
    assert.deepEqual(m[4], { name: 'flag_a', type: 1, bitOffset: 256, bitfieldSize: 3 });
    assert.deepEqual(m[2], { name: '', type: 6, bitOffset: 64, bitfieldSize: 0 });
    assert.deepEqual(btf.enumValues(11), [{ name: 'RED', value: 0n }, { name: 'BLUE', value: -1n }]);
    assert.deepEqual(btf.enumValues(20), [{ name: 'HUGE', value: 0x8000000000000001n }]); // kind_flag: unsigned
    assert.equal(btf.type(17).name, 'f');
    assert.equal(btf.type(19).size, 4);
    assert.equal(btf.type(21).kind, BtfKind.FLOAT);
    assert.equal(btf.type(22).type, 5);
    assert.throws(() => btf.members(1), BtfError);
    assert.throws(() => btf.type(25), BtfError);
  });
}

test('names: lookup by name and kind; a forward declaration is not the struct', () => {
  const btf = Btf.parse(sampleBlob());
  assert.deepEqual(btf.findByName('task'), [5, 10]);
  assert.equal(btf.findType('task', BtfKind.STRUCT), 5);
  assert.equal(btf.findType('task', BtfKind.FWD), 10);
  assert.equal(btf.findType('tas', BtfKind.STRUCT), undefined); // no prefix matches
  assert.equal(btf.findType('nope', BtfKind.INT), undefined);
});

test('resolution: typedef/modifier chains, sizes, members through anonymous ones, bitfields', () => {
  const btf = Btf.parse(sampleBlob());
  assert.equal(resolveType(btf, 7), 1); // const pid_t -> int
  assert.equal(resolveType(btf, 13), 1); // type tag -> volatile -> int
  assert.equal(sizeOf(btf, 7), 4);
  assert.equal(sizeOf(btf, 8), 16);
  assert.equal(sizeOf(btf, 4), 8);
  assert.equal(sizeOf(btf, 24), 24); // three restrict pointers
  assert.equal(sizeOf(btf, 5), 48);
  assert.throws(() => sizeOf(btf, 10), BtfError); // FWD
  assert.throws(() => sizeOf(btf, 0), BtfError); // void
  assert.deepEqual(findMember(btf, 5, 'tgid'), { path: 'tgid', bitOffset: 32, bitSize: 0, type: 7, resolved: 1 });
  // x is in the anonymous union at bit 64; y is in a struct inside it, 32 bits further.
  assert.equal(findMember(btf, 5, 'x')?.bitOffset, 64);
  assert.equal(findMember(btf, 5, 'y')?.bitOffset, 96);
  assert.deepEqual(findMember(btf, 5, 'flag_b'), { path: 'flag_b', bitOffset: 259, bitSize: 5, type: 1, resolved: 1 });
  assert.equal(findMember(btf, 5, 'nope'), undefined);
  // Without kind_flag, a narrow INT is the bitfield: its own bit offset adds to the member's.
  assert.deepEqual(findMember(btf, 14, 'bits'), { path: 'bits', bitOffset: 2, bitSize: 3, type: 15, resolved: 15 });
  assert.equal(fieldPath(btf, 5, 'comm')?.bitOffset, 128);
  assert.equal(fieldPath(btf, 5, 'parent.pid'), undefined); // pointers are not followed
  assert.equal(fieldPath(btf, 5, 'pid.x'), undefined); // not a struct
  assert.throws(() => findMember(btf, 1, 'x'), BtfError);
});

test('split BTF continues the base ids and strings', () => {
  const baseBlob = sampleBlob();
  const base = Btf.parse(baseBlob);
  const b = new BtfBuilder(base.strEnd); // offsets go on after the base's strings
  // id 25: struct mod { struct task *t; int n; }, using base types 4 and 1.
  b.struct(BtfKind.STRUCT, 'mod', 16, [['t', 4, 0], ['n', 1, 64]]);
  b.ref(BtfKind.PTR, '', 25); // 26
  const split = Btf.parse(b.build(), { base });
  assert.equal(split.startId, 25);
  assert.equal(split.count, 27);
  assert.equal(split.findType('mod', BtfKind.STRUCT), 25);
  assert.equal(split.findType('task', BtfKind.STRUCT), 5); // from the base
  assert.equal(split.type(1).name, 'int');
  assert.equal(findMember(split, 25, 'n')?.bitOffset, 64);
  assert.equal(sizeOf(split, 26), 8);
  assert.equal(resolveType(split, 3), 1);
});

test('malformed BTF is refused with a reason', () => {
  const good = sampleBlob();
  const bad = (mutate: (b: Buffer) => Buffer, re: RegExp) => assert.throws(() => Btf.parse(mutate(Buffer.from(good))), re);
  bad((b) => b.subarray(0, 10), /no room for a header/);
  bad((b) => (b.writeUInt16LE(0x1234, 0), b), /bad BTF magic/);
  bad((b) => (b.writeUInt8(2, 2), b), /version 2/);
  bad((b) => (b.writeUInt32LE(b.readUInt32LE(12) + 4, 12), b), /runs past the end|truncated|runs past the type section/);
  bad((b) => (b.writeUInt32LE(b.length, 20), b), /string section/);
  // Kind 31 in the first type's info.
  bad((b) => (b.writeUInt32LE((31 << 24) >>> 0, F.BTF_HEADER_SIZE + 4), b), /unknown kind 31/);
  // A name offset past the string section is caught when it is read.
  const broken = Buffer.from(good);
  broken.writeUInt32LE(1 << 20, F.BTF_HEADER_SIZE);
  assert.throws(() => Btf.parse(broken).type(1), /string offset/);
});

/** A miniature kernel: task_struct with pid in an anonymous struct, kuid_t-style creds. */
function miniKernel(pidBytes = 4): Buffer {
  const b = new BtfBuilder();
  b.int('int', 4, 32, F.BTF_INT_SIGNED); // 1
  b.int('char', 1, 8, F.BTF_INT_CHAR); // 2
  b.int('long long unsigned int', 8, 64); // 3
  b.int('unsigned int', 4, 32); // 4
  b.ref(BtfKind.TYPEDEF, 'pid_t', pidBytes === 4 ? 1 : 3); // 5
  b.ref(BtfKind.TYPEDEF, 'u64', 3); // 6
  b.ref(BtfKind.PTR, '', 8); // 7: struct task_struct *
  b.struct(BtfKind.STRUCT, 'task_struct', 200, [
    ['flags', 4, 32],
    ['exit_code', 1, 64],
    ['', 9, 128], // struct { pid_t pid; pid_t tgid; }
    ['real_parent', 7, 256],
    ['parent', 7, 320],
    ['group_leader', 7, 384],
    ['start_time', 6, 448],
    ['start_boottime', 6, 512],
    ['real_cred', 13, 576],
    ['cred', 13, 640],
    ['comm', 10, 704],
  ]); // 8
  b.struct(BtfKind.STRUCT, '', 8, [['pid', 5, 0], ['tgid', 5, 32]]); // 9
  b.array(2, 1, 16); // 10: char[16]
  b.struct(BtfKind.STRUCT, '', 4, [['val', 4, 0]]); // 11: kuid_t's struct
  b.ref(BtfKind.TYPEDEF, 'kuid_t', 11); // 12
  b.ref(BtfKind.PTR, '', 14); // 13: const struct cred *
  b.ref(BtfKind.CONST, '', 15); // 14
  b.struct(BtfKind.STRUCT, 'cred', 40, [['usage', 1, 0], ['uid', 12, 32], ['gid', 12, 64], ['suid', 12, 96], ['sgid', 12, 128], ['euid', 12, 160], ['egid', 12, 192]]); // 15
  b.ref(BtfKind.FWD, 'task_struct', 0); // 16
  return b.build();
}

test('task_struct layout from a miniature kernel BTF', () => {
  assert.deepEqual(computeTaskLayout(Btf.parse(miniKernel())), {
    taskSize: 200, credSize: 40,
    pid: 16, tgid: 20, realParent: 32, parent: 40, groupLeader: 48, comm: 88, commLen: 16,
    flags: 4, startTime: 56, startBoottime: 64, exitCode: 8, realCred: 72, cred: 80,
    credUid: 4, credGid: 8, credEuid: 20, credEgid: 24,
  });
  // A field of another type than agents write is left out, not written at the wrong width.
  const l = computeTaskLayout(Btf.parse(miniKernel(8)))!;
  assert.equal(l.pid, -1);
  assert.equal(l.tgid, -1);
  assert.equal(l.comm, 88);
  // No task_struct at all: no layout.
  assert.equal(computeTaskLayout(Btf.parse(sampleBlob())), null);
});

test('format constants agree with <linux/btf.h>', { skip: (spawnSync('sh', ['-c', 'command -v cc']).status !== 0 || !fs.existsSync('/usr/include/linux/btf.h')) && 'no C compiler or uapi headers' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'btf-'));
  const src = path.join(dir, 'p.c');
  const kinds = Object.keys(BtfKind).filter((k) => isNaN(Number(k)));
  const sizes = ['header', 'type', 'array', 'member', 'enum', 'param', 'var', 'var_secinfo', 'decl_tag', 'enum64'];
  fs.writeFileSync(src, `#include <stdio.h>
#include <linux/btf.h>
int main(void) {
  printf("MAGIC %d\\nVERSION %d\\nINT_SIGNED %d\\nINT_CHAR %d\\nINT_BOOL %d\\n", BTF_MAGIC, BTF_VERSION, BTF_INT_SIGNED, BTF_INT_CHAR, BTF_INT_BOOL);
  ${kinds.map((k) => `printf("KIND_${k} %d\\n", BTF_KIND_${k});`).join('\n  ')}
  ${sizes.map((s) => `printf("SIZEOF_${s} %zu\\n", sizeof(struct btf_${s}));`).join('\n  ')}
  printf("ENC %u OFF %u BITS %u BFS %u BOFF %u\\n", BTF_INT_ENCODING(0x0f3f00ffu), BTF_INT_OFFSET(0x0f3f00ffu), BTF_INT_BITS(0x0f3f00ffu), BTF_MEMBER_BITFIELD_SIZE(0xab123456u), BTF_MEMBER_BIT_OFFSET(0xab123456u));
  return 0;
}
`);
  execFileSync('cc', ['-o', path.join(dir, 'p'), src]);
  const out = execFileSync(path.join(dir, 'p'), { encoding: 'utf8' });
  const got = Object.fromEntries(out.trim().split('\n').filter((l) => !l.startsWith('ENC')).map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
  assert.equal(got.MAGIC, F.BTF_MAGIC);
  assert.equal(got.VERSION, F.BTF_VERSION);
  assert.equal(got.INT_SIGNED, F.BTF_INT_SIGNED);
  assert.equal(got.INT_CHAR, F.BTF_INT_CHAR);
  assert.equal(got.INT_BOOL, F.BTF_INT_BOOL);
  for (const k of kinds) assert.equal(got[`KIND_${k}`], BtfKind[k as keyof typeof BtfKind], k);
  const mine: Record<string, number> = {
    header: F.BTF_HEADER_SIZE, type: F.BTF_TYPE_SIZE, array: F.SIZEOF_BTF_ARRAY, member: F.SIZEOF_BTF_MEMBER, enum: F.SIZEOF_BTF_ENUM,
    param: F.SIZEOF_BTF_PARAM, var: F.SIZEOF_BTF_VAR, var_secinfo: F.SIZEOF_BTF_VAR_SECINFO, decl_tag: F.SIZEOF_BTF_DECL_TAG, enum64: F.SIZEOF_BTF_ENUM64,
  };
  for (const s of sizes) assert.equal(got[`SIZEOF_${s}`], mine[s], `sizeof struct btf_${s}`);
  const macros = out.split('\n').find((l) => l.startsWith('ENC'))!.split(' ');
  assert.deepEqual(macros.filter((_, i) => i % 2 === 1).map(Number), [
    F.btfIntEncoding(0x0f3f00ff), F.btfIntOffset(0x0f3f00ff), F.btfIntBits(0x0f3f00ff), F.btfMemberBitfieldSize(0xab123456), F.btfMemberBitOffset(0xab123456),
  ]);
});

const VMLINUX = '/sys/kernel/btf/vmlinux';
const haveVmlinux = fs.existsSync(VMLINUX);

test('the running kernel: task_struct and cred as bpftool sees them', { skip: !haveVmlinux && 'no /sys/kernel/btf/vmlinux' }, (t) => {
  const btf = Btf.parse(fs.readFileSync(VMLINUX));
  const task = btf.findType('task_struct', BtfKind.STRUCT)!;
  assert.ok(task > 0);
  const layout = computeTaskLayout(btf)!;
  assert.ok(layout.taskSize > 1000);
  for (const k of ['pid', 'tgid', 'realParent', 'parent', 'groupLeader', 'comm', 'flags', 'startTime', 'exitCode', 'cred', 'realCred'] as const) {
    assert.ok(layout[k] >= 0 && layout[k] < layout.taskSize, `${k} found in task_struct`);
  }
  assert.equal(layout.commLen, 16); // TASK_COMM_LEN
  assert.equal(layout.tgid, layout.pid + 4); // declared side by side since 2.6
  if (spawnSync('sh', ['-c', 'command -v bpftool']).status !== 0) {
    t.diagnostic('no bpftool: offsets not cross-checked');
    return;
  }
  // bpftool's raw dump: "[id] STRUCT 'name' size=N vlen=M" then "\t'member' type_id=T bits_offset=B".
  const dump = execFileSync('bpftool', ['btf', 'dump', 'file', VMLINUX, 'format', 'raw'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const structOf = (id: number) => {
    const at = dump.indexOf(`[${id}] STRUCT `);
    const head = dump.slice(at, dump.indexOf('\n', at)).match(/size=(\d+) vlen=(\d+)/)!;
    const lines = dump.slice(dump.indexOf('\n', at) + 1).split('\n').slice(0, Number(head[2]));
    const members = new Map(lines.map((l) => l.match(/^\s+'([^']*)' type_id=(\d+) bits_offset=(\d+)/)!).map((m) => [m[1], { type: Number(m[2]), bits: Number(m[3]) }]));
    return { size: Number(head[1]), members };
  };
  const ts = structOf(task);
  assert.equal(layout.taskSize, ts.size);
  const direct: Array<[keyof typeof layout, string]> = [
    ['pid', 'pid'], ['tgid', 'tgid'], ['realParent', 'real_parent'], ['parent', 'parent'], ['groupLeader', 'group_leader'],
    ['comm', 'comm'], ['flags', 'flags'], ['startTime', 'start_time'], ['exitCode', 'exit_code'], ['realCred', 'real_cred'], ['cred', 'cred'],
  ];
  for (const [k, name] of direct) {
    const m = ts.members.get(name);
    if (m) assert.equal(layout[k] * 8, m.bits, `task_struct.${name}`);
    else assert.equal(findMember(btf, task, name)?.bitOffset, layout[k] * 8, `task_struct.${name} (in an anonymous member)`);
  }
  const cs = structOf(btf.findType('cred', BtfKind.STRUCT)!);
  assert.equal(layout.credSize, cs.size);
  assert.equal(layout.credUid * 8, cs.members.get('uid')!.bits);
  assert.equal(layout.credEuid * 8, cs.members.get('euid')!.bits);
  // Every member of task_struct resolves to bpftool's offset through our reader too.
  for (const m of btf.members(task)) if (m.name) assert.equal(m.bitOffset, ts.members.get(m.name)!.bits, m.name);
});
