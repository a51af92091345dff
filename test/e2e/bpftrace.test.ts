// Stock bpftrace 0.17 under the shim: a uprobe on libc's malloc filtered by pid, with printf
// (through a perf buffer), count() and hist() maps printed at exit. The victim runs under the
// agent and makes a known number of mallocs; every number bpftrace prints must be exact.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, haveCommand, root, tmpRuntimeDir } from './harness';

const victim = path.join(root, 'examples', 'malloc', 'victim');
const libc = fs.realpathSync('/lib/x86_64-linux-gnu/libc.so.6');

test('bpftrace uprobe with printf, count and hist', { skip: (!haveCommand('bpftrace') && 'bpftrace not installed') || (!fs.existsSync(victim) && 'examples not built'), timeout: 60000 }, async () => {
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  const server = new Proc(process.execPath, [cli, 'serve'], env);
  const procs: Proc[] = [server];
  try {
    await server.waitFor(/serving on/);
    const v = new Proc(process.execPath, [cli, 'start', victim], env, { stdin: true });
    procs.push(v);
    const pid = Number((await v.waitFor(/ready pid=(\d+)/))[1]);
    const script = `uprobe:${libc}:malloc /pid == ${pid}/ { @calls = count(); @sizes = hist(arg0); printf("malloc %d by %s\\n", arg0, comm); }`;
    const bt = new Proc(process.execPath, [cli, 'load', 'bpftrace', '-e', script], env);
    procs.push(bt);
    await bt.waitFor(/Attaching 1 probe/);
    // The attach call returns once the agents have the probe installed; give bpftrace a moment
    // to enter its event loop.
    await new Promise((r) => setTimeout(r, 500));
    v.write('300\n');
    await v.waitFor(/done 300/);
    for (let i = 0; i < 200 && (bt.out.match(/^malloc 16 by victim$/gm) ?? []).length < 300; i++) await new Promise((r) => setTimeout(r, 50));
    await bt.stop('SIGINT');
    assert.equal((bt.out.match(/^malloc 16 by victim$/gm) ?? []).length, 300, bt.out.slice(-1500));
    assert.match(bt.out, /^@calls: 300$/m);
    assert.match(bt.out, /^\[16, 32\)\s+300 \|@+\|$/m);
    assert.doesNotMatch(bt.out, /failed to detach/);
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGTERM');
  }
});
