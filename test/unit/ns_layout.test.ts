// The namespace layout the task stand-ins are built from (src-ts/btf/ns_layout.ts), on the
// running kernel's BTF, checked against bpftool's own dump of it: task_struct.nsproxy, the
// pointers of struct nsproxy, each namespace struct's size and where its ns.inum is.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import { Btf } from '../../src-ts/btf';
import { NS_FIELDS, computeNsLayout, encodeNsLayout } from '../../src-ts/btf/ns_layout';

const VMLINUX = '/sys/kernel/btf/vmlinux';
const skip = (!fs.existsSync(VMLINUX) && 'no /sys/kernel/btf/vmlinux') || (spawnSync('sh', ['-c', 'command -v bpftool']).status !== 0 && 'no bpftool');

/** bpftool's raw dump: structs by name with size and members (offset in bytes, type id). */
function bpftoolStructs(): { byName: Map<string, number>; structs: Map<number, { size: number; members: Map<string, { off: number; type: number }> }>; ptrTo: Map<number, number> } {
  const dump = execFileSync('bpftool', ['btf', 'dump', 'file', VMLINUX, 'format', 'raw'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  const byName = new Map<string, number>();
  const structs = new Map<number, { size: number; members: Map<string, { off: number; type: number }> }>();
  const ptrTo = new Map<number, number>();
  let cur: Map<string, { off: number; type: number }> | null = null;
  for (const line of dump.split('\n')) {
    const s = /^\[(\d+)\] STRUCT '(\w+)' size=(\d+)/.exec(line);
    const p = /^\[(\d+)\] PTR '\(anon\)' type_id=(\d+)/.exec(line);
    const m = /^\t'(\w+)' type_id=(\d+) bits_offset=(\d+)$/.exec(line);
    if (s) {
      cur = new Map();
      structs.set(Number(s[1]), { size: Number(s[3]), members: cur });
      if (!byName.has(s[2])) byName.set(s[2], Number(s[1]));
    } else if (m && cur) {
      cur.set(m[1], { off: Number(m[3]) / 8, type: Number(m[2]) });
    } else {
      if (p) ptrTo.set(Number(p[1]), Number(p[2]));
      if (/^\[/.test(line)) cur = null;
    }
  }
  return { byName, structs, ptrTo };
}

test('the running kernel: nsproxy and the namespace structs as bpftool sees them', { skip }, () => {
  const l = computeNsLayout(Btf.parse(fs.readFileSync(VMLINUX)))!;
  assert.ok(l, 'no nsproxy in the kernel BTF');
  const { byName, structs, ptrTo } = bpftoolStructs();
  const task = structs.get(byName.get('task_struct')!)!;
  const nsproxy = structs.get(byName.get('nsproxy')!)!;
  const nsCommon = structs.get(byName.get('ns_common')!)!;
  assert.equal(l.taskNsproxy, task.members.get('nsproxy')!.off);
  assert.equal(l.nsproxySize, nsproxy.size);
  NS_FIELDS.forEach((name, i) => {
    const f = nsproxy.members.get(name)!;
    const target = structs.get(ptrTo.get(f.type)!)!; // struct uts_namespace, mnt_namespace, ...
    assert.deepEqual(l.ns[i], { field: f.off, size: target.size, inum: target.members.get('ns')!.off + nsCommon.members.get('inum')!.off }, name);
  });
  const uts = structs.get(byName.get('uts_namespace')!)!;
  assert.equal(l.utsName, uts.members.get('name')!.off);
  assert.equal(l.utsNameSize, 6 * 65); // struct new_utsname
  // the wire form: magic, task_nsproxy, nsproxy_size, 8 x (field, size, inum), uts name, size
  const b = encodeNsLayout(l);
  assert.equal(b.length, 4 * (3 + 3 * NS_FIELDS.length + 2));
  assert.equal(b.readUInt32LE(0), 0x594c534e);
  assert.equal(b.readInt32LE(4 * (3 + 3 * 2)), l.ns[2].field); // mnt_ns
  assert.deepEqual([...encodeNsLayout(null).subarray(4, 12)], [0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
});
