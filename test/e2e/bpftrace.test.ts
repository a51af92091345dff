// Stock bpftrace 0.17 under the shim: a uprobe on libc's malloc filtered by pid, with printf
// (through a perf buffer), count() and hist() maps printed at exit. The victim runs under the
// agent and makes a known number of mallocs; every number bpftrace prints must be exact.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, haveCommand, root, stopServer, tmpRuntimeDir, withServer } from './harness';

const victim = path.join(root, 'examples', 'malloc', 'victim');
const libc = fs.realpathSync('/lib/x86_64-linux-gnu/libc.so.6');

test('bpftrace uprobe with printf, count and hist', { skip: (!haveCommand('bpftrace') && 'bpftrace not installed') || (!fs.existsSync(victim) && 'examples not built'), timeout: 60000 }, async () => {
  await withServer(async (env, _dir, procs) => {
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
  }, 'SIGTERM');
});

test('bpftrace BEGIN and END run in bpftrace itself', { skip: !haveCommand('bpftrace') && 'bpftrace not installed', timeout: 60000 }, async () => {
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  const bt = new Proc(process.execPath, [cli, 'load', 'bpftrace', '-e', 'BEGIN { @a = 41; printf("hello %d\\n", 42); exit(); } END { printf("bye %d\\n", @a + 1); }'], env);
  try {
    assert.equal(await bt.exited, 0, bt.out);
    assert.match(bt.out, /^hello 42$/m);
    assert.match(bt.out, /^bye 42$/m);
    assert.match(bt.out, /^@a: 41$/m);
  } finally {
    await bt.stop('SIGKILL');
    stopServer(dir);
  }
});

test('bpftrace syscall tracepoint with typed args', { skip: !haveCommand('bpftrace') && 'bpftrace not installed', timeout: 60000 }, async () => {
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  const missing = `/nonexistent-bpftime-bt-${process.pid}`;
  const script = `tracepoint:syscalls:sys_enter_openat /comm == "cat"/ { printf("open %s\\n", str(args->filename)); } tracepoint:syscalls:sys_exit_openat /comm == "cat"/ { @ret[args->ret] = count(); }`;
  const bt = new Proc(process.execPath, [cli, 'load', 'bpftrace', '-e', script], env);
  try {
    await bt.waitFor(/Attaching 2 probes/);
    await new Promise((r) => setTimeout(r, 500));
    // C locale: cat opens no locale files, so its only failed open is ours.
    const target = new Proc(process.execPath, [cli, 'start', '/bin/sh', '-c', `cat ${missing} 2>/dev/null; exit 0`], { ...env, LC_ALL: 'C', LANG: 'C' });
    assert.equal(await target.exited, 0);
    await bt.waitFor(new RegExp(`^open ${missing}$`, 'm'));
    await new Promise((r) => setTimeout(r, 300));
    await bt.stop('SIGINT');
    assert.match(bt.out, /^@ret\[-2\]: 1$/m); // ENOENT, once
  } finally {
    await bt.stop('SIGKILL');
    stopServer(dir);
  }
});

test('bpftrace interval probes run on a timer in bpftrace itself', { skip: !haveCommand('bpftrace') && 'bpftrace not installed', timeout: 60000 }, async () => {
  const dir = tmpRuntimeDir();
  const bt = new Proc(process.execPath, [cli, 'load', 'bpftrace', '-e', 'interval:ms:100 { @n++; if (@n >= 5) { printf("ticks %d\\n", @n); exit(); } }'], bpftimeEnv(dir));
  try {
    assert.equal(await bt.exited, 0, bt.out);
    assert.match(bt.out, /^ticks 5$/m);
    assert.match(bt.out, /^@n: 5$/m);
  } finally {
    await bt.stop('SIGKILL');
    stopServer(dir);
  }
});
