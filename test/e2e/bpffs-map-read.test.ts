// A pinned map read as a file, against the kernel's bpffs: test/programs/map_file.sh pins the maps
// of map_file.bpf.c (array, hash, per-CPU array and hash, LRU hash with BTF; a queue) with stock
// bpftool, fills elements and cats each pin: maps with BTF print their elements as the kernel's
// map_seq_show_elem() does (ints, enums, char arrays, nested structs and unions, per-CPU
// values, bitfields, pointers, floats, 128-bit integers, _Bool); a queue and a program give EIO.
// Pointers print hashed with a per-boot (kernel) or per-server (shim) key: compared as
// "0x00000000" and 8 hex digits. The file does not seek (ESPIPE, dups too); pread reads. An array of pointers prints as 6.18 prints it: no opening
// bracket, the first element's value for each element. Run on a private bpf mount of the kernel and under
// the shim in the runtime's /sys/fs/bpf, the output must be the same.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { bpftimeEnv, haveCommand, root, shimLib, stopServer, tmpRuntimeDir } from './harness';

const progs = path.join(root, 'test', 'programs');
const skip = (!haveCommand('clang') || !haveCommand('bpftool')) && 'needs clang and bpftool';
const multiarch = (): string => execFileSync('cc', ['-print-multiarch'], { encoding: 'utf8' }).trim() || 'x86_64-linux-gnu';

test('pinned maps read as files print as the kernel prints them', { skip, timeout: 120000 }, (t) => {
  const dir = tmpRuntimeDir();
  try {
    const obj = path.join(dir, 'map_file.bpf.o');
    execFileSync('clang', ['-target', 'bpf', '-O2', '-g', `-I/usr/include/${multiarch()}`, '-c', path.join(progs, 'map_file.bpf.c'), '-o', obj]);
    const script = path.join(progs, 'map_file.sh');
    const shim = spawnSync('sh', [script, obj, '/sys/fs/bpf'], { env: { ...bpftimeEnv(dir), LD_PRELOAD: shimLib }, encoding: 'utf8', timeout: 60000 });
    stopServer(dir);
    assert.equal(shim.status, 0, shim.stderr);
    const out = shim.stdout;
    assert.match(out, /^1: \{5,\['A','B',\],7,\[-1,9,GREEN,\},1,0,0,\},\],-128,-2,\}$/m);
    assert.match(out, /^2: -9223372036854775808$/m);
    assert.match(out, /^\tcpu0: 3$/m);
    assert.match(out, /^9: BLUE$/m);
    assert.match(out, /^0: \{\{3,4,RED,\},-10,\{4407873,\['A','B','C',\],\},\}$/m);
    assert.match(out, /^1: \{\{0x5,0x11,0xd,0x12c,\},0x00000000[0-9a-f]{8},<unsupported kind:16><unsupported kind:16>0xffffffffffffffffffffffffffffffff,0x10000000000000005,1,\['x','y',\],0x0000000000000000,(0x00000000[0-9a-f]{8},)\1\],\}$/m);
    assert.match(out, /^0: \{\{0x0,0x0,0x0,0x0,\},0x0000000000000000,<unsupported kind:16><unsupported kind:16>0x0,0x0,0,\[\],0x0000000000000000,0x0000000000000000,0x0000000000000000,\],\}$/m);
    assert.match(out, /== q\ncat: Input\/output error\n/);
    assert.match(out, /== seek\nlseek 0 errno 29\nlseek 1 errno 29\nlseek 2 errno 29\npread b'WARNING!!'\nlseek dup errno 29\nread 20\nmode 0o100600\n/);
    assert.match(out, /== prog\ncat: Input\/output error\n/);

    const bpffs = path.join(dir, 'bpffs');
    fs.mkdirSync(bpffs);
    if (spawnSync('mount', ['-t', 'bpf', 'bpf', bpffs]).status !== 0) return t.skip('cannot mount a bpf filesystem for the kernel run (not root?)');
    let kernel;
    try {
      kernel = spawnSync('sh', [script, obj, bpffs], { encoding: 'utf8', timeout: 60000 });
    } finally {
      spawnSync('umount', [bpffs]);
    }
    if (kernel.status !== 0) return t.skip(`kernel path unavailable: ${kernel.stderr.split('\n')[0]}`);
    const hashed = (text: string) => text.replace(/0x00000000(?!00000000)[0-9a-f]{8}/g, '0x00000000<hashed>').split('\n');
    assert.deepEqual(hashed(out), hashed(kernel.stdout));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
