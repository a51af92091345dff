// fdinfo text of object fds (src-ts/server/syscalls/fdinfo.ts): the kernel's keys, in the
// kernel's order, with the object's values (bpftool and libbpf parse it line by line).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { BpfMap } from '../../src-ts/kernel/map';
import { fdinfoText } from '../../src-ts/server/syscalls/fdinfo';

const parse = (t: string) => t.trimEnd().split('\n').map((l) => l.split(':\t'));

test('map fdinfo: bpf_map_show_fdinfo() keys, values and the frozen state', () => {
  const m = BpfMap.create(5, { mapType: 1, keySize: 4, valueSize: 8, maxEntries: 4, mapFlags: 0, mapExtra: 0n }, 'm');
  const lines = parse(fdinfoText(m));
  assert.deepEqual(
    lines.map(([k]) => k),
    ['pos', 'flags', 'mnt_id', 'ino', 'map_type', 'key_size', 'value_size', 'max_entries', 'map_flags', 'map_extra', 'memlock', 'map_id', 'frozen'],
  );
  const v = Object.fromEntries(lines);
  assert.equal(v.flags, '02000002');
  assert.equal(v.ino, String(m.ino));
  assert.deepEqual([v.map_type, v.key_size, v.value_size, v.max_entries, v.map_flags, v.map_id, v.frozen], ['1', '4', '8', '4', '0x0', '5', '0']);
  assert.equal(m.freeze(), 0);
  assert.equal(Object.fromEntries(parse(fdinfoText(m))).frozen, '1');
  m.acquire().release();
});
