// C++ exceptions through functions with pending return probes (src-native/agent/attach/unwind.c).
// test/programs/cxx_unwind.cc throws through, catches in, rethrows from, recurses in, and
// throws and catches inside a destructor run by an unwind, on three threads, and counts for
// itself how many times each function was entered and returned normally. bpftrace (under the
// shim) counts the same with uprobes and uretprobes: the counts must be equal and the program
// must finish, with the agent preloaded (bpftime start: interposed unwinder) and loaded by
// bpftime attach (entry probes on the unwinder, gone with the return probes). A C program that
// dlopens a C++ library RTLD_LOCAL (as Python loads a C++ extension module) keeps catching its
// exceptions, with and without a return probe in it. On a kernel the first program dies instead
// (the unwinder stops at the uretprobe trampoline, which has no unwind info: std::terminate), so
// there is no kernel reference here.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Proc, bpftimeEnv, cannotPtrace, cleanEnv, cli, haveCommand, root, stopServer, tmpRuntimeDir } from './harness';
import { waitInstalled } from './tools';
import { queryStatus } from '../../src-ts/cli/status';

const FUNCS = ['thrower', 'middle', 'catcher', 'rethrower', 'recurse', 'guarded', 'early'];
const skip = (!haveCommand('bpftrace') && 'bpftrace not installed') || (!haveCommand('g++') && 'no C++ compiler (g++)');

let victimBin = '';
function victim(): string {
  if (!victimBin) {
    victimBin = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cxx-unwind-')), 'cxx_unwind');
    execFileSync('g++', ['-O2', '-g', '-pthread', '-o', victimBin, path.join(root, 'test', 'programs', 'cxx_unwind.cc')]);
  }
  return victimBin;
}

/** Whether fn's code in bin has a call among its first 5 bytes (what the relocated-call cases
 * need: a compiler that lays fn out otherwise makes those cases ordinary ones). */
function callInFirstBytes(bin: string, fn: string): boolean {
  const dis = execFileSync('objdump', ['-d', '--no-show-raw-insn', bin], { encoding: 'utf8' });
  const body = dis.slice(dis.indexOf(`<${fn}>:`)).split('\n').slice(1, 4).map((l) => l.trim().split(/:\s+/));
  const start = parseInt(body[0][0], 16);
  return body.some(([a, insn]) => /^call/.test(insn ?? '') && parseInt(a, 16) - start < 5);
}

/** bpftrace running script under the shim, once the agent of pid has installed n attachments. */
async function bpftraceOn(script: string, env: NodeJS.ProcessEnv, dir: string, pid: string, n: number): Promise<Proc> {
  const bt = new Proc(process.execPath, [cli, 'load', 'bpftrace', script], env);
  await bt.waitFor(/Attaching \d+ probes?/, 30000);
  await waitInstalled(dir, pid, n);
  return bt;
}

/** Stops what a test started (SIGKILL: whatever is left after its checks) and its server. */
async function finish(dir: string, ...procs: Array<Proc | undefined>): Promise<void> {
  for (const p of procs) await p?.stop('SIGKILL');
  stopServer(dir);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Per function, summed over threads: bpftrace's `@name[probe, tid]: n` lines. Keyed by thread,
 * so that no two threads ever add to one map value (a per-CPU count is read, incremented and
 * written back: two threads preempted on one CPU could lose an increment). */
function counts(out: string, name: string): Record<string, number> {
  const r: Record<string, number> = {};
  for (const m of out.matchAll(new RegExp(`^@${name}\\[u(?:ret)?probe:[^,]*:(\\w+), \\d+\\]: (\\d+)$`, 'gm'))) r[m[1]] = (r[m[1]] ?? 0) + Number(m[2]);
  return r;
}

/** The victim's own counts: "<func> calls N returns M". */
function ownCounts(out: string): { calls: Record<string, number>; rets: Record<string, number> } {
  const calls: Record<string, number> = {};
  const rets: Record<string, number> = {};
  for (const m of out.matchAll(/^(\w+) calls (\d+) returns (\d+)$/gm)) {
    calls[m[1]] = Number(m[2]);
    rets[m[1]] = Number(m[3]);
  }
  return { calls, rets };
}

async function run(entryProbes: boolean): Promise<void> {
  const bin = victim();
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  const script = path.join(path.dirname(bin), entryProbes ? 'both.bt' : 'ret.bt');
  const list = (kind: string) => FUNCS.map((f) => `${kind}:${bin}:${f}`).join(',');
  fs.writeFileSync(script, (entryProbes ? `${list('uprobe')} { @calls[probe, tid] = count(); }\n` : '') +
    `${list('uretprobe')} { @rets[probe, tid] = count(); }\n`);
  const v = new Proc(process.execPath, [cli, 'start', bin, '300'], env, { stdin: true });
  let bt: Proc | undefined;
  try {
    const pid = (await v.waitFor(/ready pid=(\d+)/, 20000))[1];
    bt = await bpftraceOn(script, env, dir, pid, FUNCS.length * (entryProbes ? 2 : 1));
    v.write('go\n');
    await v.waitFor(/^caught \d+$/m, 60000);
    v.write('q\n');
    assert.equal(await v.exited, 0, `the victim did not finish:\n${v.out}`);
    const own = ownCounts(v.out);
    assert.equal(Object.keys(own.rets).length, FUNCS.length, v.out);
    await bt.stop('SIGINT', 10000); // bpftrace prints its maps at exit
    assert.deepEqual(counts(bt.out, 'rets'), own.rets, `return probes:\n${bt.out}\nvictim:\n${v.out}`);
    if (entryProbes) assert.deepEqual(counts(bt.out, 'calls'), own.calls, `entry probes:\n${bt.out}\nvictim:\n${v.out}`);
  } finally {
    await finish(dir, bt, v);
  }
}

test('C++ exceptions through return probes (stub-called return-only sites): the program runs on, each normal return counted', { skip, timeout: 120000 }, async (t) => {
  if (!callInFirstBytes(victim(), 'early')) t.diagnostic('early() does not begin with a call here: its relocated-call case is not exercised');
  await run(false);
});

test('C++ exceptions through return probes beside entry probes (hijacked return addresses): calls and returns counted exactly', { skip, timeout: 120000 }, async () => {
  await run(true);
});

/** Waits until the agent of pid holds an attachment, installed or waiting for its library. */
async function waitWaiting(dir: string, pid: string): Promise<void> {
  for (const deadline = Date.now() + 20000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    const s = await queryStatus(dir);
    if (s.attachments.some((a: any) => a.agents.some((g: any) => String(g.pid) === pid && (g.state === 'waiting' || g.state === 'attached')))) return;
  }
  throw new Error(`the agent of ${pid} never took the attachment`);
}

let pluginDir = '';
function plugin(): { host: string; lib: string } {
  if (!pluginDir) {
    pluginDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cxx-plugin-'));
    execFileSync('g++', ['-O2', '-g', '-shared', '-fPIC', '-o', path.join(pluginDir, 'libcxxplugin.so'), path.join(root, 'test', 'programs', 'cxx_plugin.cc')]);
    execFileSync('cc', ['-O2', '-g', '-o', path.join(pluginDir, 'host'), path.join(root, 'test', 'programs', 'cxx_plugin_host.c'), '-ldl']);
  }
  return { host: path.join(pluginDir, 'host'), lib: path.join(pluginDir, 'libcxxplugin.so') };
}

test('a C program\'s C++ library loaded RTLD_LOCAL catches its exceptions under the agent, with and without a return probe in it', { skip, timeout: 120000 }, async () => {
  const { host, lib } = plugin();
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  let bt: Proc | undefined;
  const procs: Proc[] = [];
  try {
    // No probe: the wrappers alone must find the library's own C++ runtime.
    const plain = new Proc(process.execPath, [cli, 'start', host, lib, '10'], env, { stdin: true });
    procs.push(plain);
    await plain.waitFor(/ready pid=/, 20000);
    plain.write('go\n');
    assert.equal(await plain.exited, 0, plain.out);
    assert.match(plain.out, /^caught 5$/m);
    // A return probe on the library's throwing function (attached when the library is loaded).
    const script = path.join(pluginDir, 'plugin.bt');
    fs.writeFileSync(script, `uretprobe:${lib}:plugin_thrower { @rets = count(); }\n`);
    const v = new Proc(process.execPath, [cli, 'start', host, lib, '10'], env, { stdin: true });
    procs.push(v);
    const pid = (await v.waitFor(/ready pid=(\d+)/, 20000))[1];
    bt = new Proc(process.execPath, [cli, 'load', 'bpftrace', script], env);
    await bt.waitFor(/Attaching 1 probe/, 30000);
    await waitWaiting(dir, pid);
    v.write('go\n');
    assert.equal(await v.exited, 0, v.out);
    assert.match(v.out, /^caught 5$/m);
    await bt.stop('SIGINT', 10000);
    assert.match(bt.out, /^@rets: 5$/m, bt.out);
  } finally {
    await finish(dir, bt, ...procs);
  }
});

/** The first bytes of exported function `name` of the library mapped at path in process pid, as
 * the process has them and as the file has them. */
function functionBytes(pid: string, lib: string, name: string): { live: Buffer; file: Buffer } {
  const sym = execFileSync('nm', ['-D', '--defined-only', lib], { encoding: 'utf8' }).split('\n')
    .map((l) => l.trim().split(/\s+/)).find((f) => f[2]?.replace(/@.*/, '') === name);
  assert.ok(sym, `${name} in ${lib}`);
  const value = parseInt(sym![0], 16);
  const real = fs.realpathSync(lib);
  const base = fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').map((l) => l.split(/\s+/))
    .find((f) => f[5] === real && parseInt(f[2], 16) === 0);
  assert.ok(base, `${real} mapped in ${pid}`);
  const live = Buffer.alloc(8);
  const fd = fs.openSync(`/proc/${pid}/mem`, 'r');
  try {
    fs.readSync(fd, live, 0, 8, parseInt(base![0].split('-')[0], 16) + value);
  } finally {
    fs.closeSync(fd);
  }
  // the symbol's file offset: its address in the only executable PT_LOAD, less that segment's
  const hdrs = execFileSync('readelf', ['-lW', lib], { encoding: 'utf8' }).split('\n').map((l) => l.trim().split(/\s+/))
    .filter((f) => f[0] === 'LOAD' && /E/.test(f.slice(6).join('')));
  const seg = hdrs.find((f) => value >= parseInt(f[2], 16) && value < parseInt(f[2], 16) + parseInt(f[5], 16))!;
  const file = Buffer.alloc(8);
  const ffd = fs.openSync(lib, 'r');
  try {
    fs.readSync(ffd, file, 0, 8, value - parseInt(seg[2], 16) + parseInt(seg[1], 16));
  } finally {
    fs.closeSync(ffd);
  }
  return { live, file };
}

test('bpftime attach (the agent dlopen\'ed, no interposition): C++ exceptions through return probes, and the unwinder as it was once the probes are gone', { skip, timeout: 120000 }, async (t) => {
  const why = await cannotPtrace();
  if (why) return t.skip(why);
  const bin = victim();
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  const script = path.join(path.dirname(bin), 'attach-ret.bt');
  fs.writeFileSync(script, `${FUNCS.map((f) => `uretprobe:${bin}:${f}`).join(',')} { @rets[probe, tid] = count(); }\n`);
  const v = new Proc(bin, ['300'], cleanEnv(), { stdin: true });
  let bt: Proc | undefined;
  try {
    const pid = (await v.waitFor(/ready pid=(\d+)/, 20000))[1];
    const a = new Proc(process.execPath, [cli, 'attach', pid], env);
    assert.equal(await a.exited, 0, a.out);
    bt = await bpftraceOn(script, env, dir, pid, FUNCS.length);
    const lib = fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').map((l) => l.split(/\s+/)[5]).find((f) => /\/libgcc_s\.so/.test(f ?? ''));
    assert.ok(lib, 'libgcc_s is mapped');
    const hooked = functionBytes(pid, lib!, '_Unwind_RaiseException');
    assert.ok(!hooked.live.equals(hooked.file), 'the unwinder has an entry probe while return probes exist');
    v.write('go\n');
    await v.waitFor(/^caught \d+$/m, 60000);
    await bt.stop('SIGINT', 10000);
    assert.deepEqual(counts(bt.out, 'rets'), ownCounts(v.out).rets, `return probes:\n${bt.out}\nvictim:\n${v.out}`);
    // The tool is gone, and with its return probes the entry probes on the unwinder.
    for (const deadline = Date.now() + 10000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      const s = await queryStatus(dir);
      if (!s.attachments.some((x: any) => x.agents.some((g: any) => String(g.pid) === pid && g.state === 'attached'))) break;
    }
    for (let i = 0; ; i++) {
      const { live, file } = functionBytes(pid, lib!, '_Unwind_RaiseException');
      if (live.equals(file)) break;
      assert.ok(i < 50, `_Unwind_RaiseException still patched: ${live.toString('hex')} (file ${file.toString('hex')})`);
      await new Promise((r) => setTimeout(r, 100));
    }
    v.write('q\n');
    assert.equal(await v.exited, 0, v.out);
  } finally {
    await finish(dir, bt, v);
  }
});

test('pthread_exit through a function whose entry probe relocated a call, with a return probe: every destructor runs', { skip, timeout: 120000 }, async (t) => {
  const bin = path.join(path.dirname(victim()), 'cxx_pthread_exit');
  execFileSync('g++', ['-O2', '-g', '-pthread', '-o', bin, path.join(root, 'test', 'programs', 'cxx_pthread_exit.cc')]);
  if (!callInFirstBytes(bin, 'mid')) t.diagnostic('mid() does not begin with a call here: the relocated-call case is not exercised');
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  const script = path.join(path.dirname(bin), 'pexit.bt');
  fs.writeFileSync(script, `uprobe:${bin}:mid { @calls = count(); } uretprobe:${bin}:mid { @rets = count(); }\n`);
  const v = new Proc(process.execPath, [cli, 'start', bin, '10'], env, { stdin: true });
  let bt: Proc | undefined;
  try {
    const pid = (await v.waitFor(/ready pid=(\d+)/, 20000))[1];
    bt = await bpftraceOn(script, env, dir, pid, 2);
    v.write('go\n');
    assert.equal(await v.exited, 0, v.out);
    // Both Guards of all ten threads: the five that pthread_exit in leaver() unwind through mid()
    // (its relocated call's return address) and its pending return (restored for the unwind).
    assert.match(v.out, /^dtors 20$/m);
    await bt.stop('SIGINT', 10000);
    assert.match(bt.out, /^@calls: 10$/m, bt.out);
    assert.match(bt.out, /^@rets: 5$/m, bt.out);
  } finally {
    await finish(dir, bt, v);
  }
});
