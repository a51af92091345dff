// writev and the positioned writes on a served file opened for writing (uprobe_events) go to
// the server as write() does, with the kernel's answers: one command per writev segment,
// stopping at the first failure; ESPIPE for a positioned write (a seq_file), offset -1 as a
// plain writev. test/programs/uprobe_events_vectored.py prints a transcript on the kernel and
// under the shim, which must be the same.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { bpftimeEnv, isRoot, root, shimLib, stopServer, tmpRuntimeDir } from './harness';

const PY = '/usr/bin/python3';
const TRACEFS = '/sys/kernel/tracing';
const script = path.join(root, 'test', 'programs', 'uprobe_events_vectored.py');
const kernelSkip = !isRoot ? 'not root' : !fs.existsSync(`${TRACEFS}/uprobe_events`) ? 'tracefs not mounted' : false;

test('writev/pwrite/pwritev on uprobe_events answer as the kernel does', { skip: !fs.existsSync(PY) && 'no python3', timeout: 60000 }, (t) => {
  const dir = tmpRuntimeDir();
  try {
    const prefix = `vw${process.pid}x`;
    const bin = path.join(dir, `${prefix}bin`);
    fs.copyFileSync('/bin/true', bin);
    fs.chmodSync(bin, 0o755);
    // under the shim, through the runtime's tracefs at the path that need not exist for real
    const shim = execFileSync(PY, [script, '/sys/kernel/debug/tracing', bin, prefix], { env: { ...bpftimeEnv(dir), LD_PRELOAD: shimLib }, encoding: 'utf8' });
    stopServer(dir);
    assert.match(shim, /^pwrite: ESPIPE$/m);
    assert.match(shim, /^pwritev at -1, a removal of nothing: ENOENT$/m);
    assert.match(shim, new RegExp(`^writev add then a bad removal: ${`p:${prefix}b ${bin}:0x20\n`.length}$`, 'm'));
    assert.match(shim, new RegExp(`^listing: \\['p:uprobes/${prefix}b ${bin}:0x0000000000000020', 'p:uprobes/${prefix}d ${bin}:0x0000000000000040'\\]$`, 'm'));
    assert.match(shim, /^listing at the end: \[\]$/m);
    if (kernelSkip) return t.diagnostic(`kernel comparison skipped: ${kernelSkip}`);
    const kernel = spawnSync(PY, [script, TRACEFS, bin, prefix], { encoding: 'utf8' });
    assert.equal(kernel.status, 0, kernel.stderr);
    assert.equal(shim.replace(/debug\/tracing/g, 'tracing'), kernel.stdout);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
