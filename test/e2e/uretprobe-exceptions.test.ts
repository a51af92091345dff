// C++ exceptions through functions with pending return probes (src-native/agent/attach/unwind.c).
// test/programs/cxx_unwind.cc throws through, catches in, rethrows from, recurses in, and
// throws and catches inside a destructor run by an unwind, on three threads, and counts for
// itself how many times each function was entered and returned normally. bpftrace (under the
// shim) counts the same with uprobes and uretprobes: the counts must be equal, and the program
// must finish. On a kernel the program dies instead (the unwinder stops at the uretprobe
// trampoline, which has no unwind info: std::terminate), so there is no kernel reference here.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, haveCommand, root, stopServer, tmpRuntimeDir } from './harness';
import { waitInstalled } from './tools';

const FUNCS = ['thrower', 'middle', 'catcher', 'rethrower', 'recurse', 'guarded'];
const skip = (!haveCommand('bpftrace') && 'bpftrace not installed') || (!haveCommand('g++') && 'no C++ compiler (g++)');

let victimBin = '';
function victim(): string {
  if (!victimBin) {
    victimBin = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cxx-unwind-')), 'cxx_unwind');
    execFileSync('g++', ['-O2', '-g', '-pthread', '-o', victimBin, path.join(root, 'test', 'programs', 'cxx_unwind.cc')]);
  }
  return victimBin;
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
    bt = new Proc(process.execPath, [cli, 'load', 'bpftrace', script], env);
    await bt.waitFor(/Attaching \d+ probes/, 30000);
    await waitInstalled(dir, pid, FUNCS.length * (entryProbes ? 2 : 1));
    v.write('go\n');
    assert.equal(await v.exited, 0, `the victim did not finish:\n${v.out}`);
    const own = ownCounts(v.out);
    assert.equal(Object.keys(own.rets).length, FUNCS.length, v.out);
    await bt.stop('SIGINT', 10000); // bpftrace prints its maps at exit
    assert.deepEqual(counts(bt.out, 'rets'), own.rets, `return probes:\n${bt.out}\nvictim:\n${v.out}`);
    if (entryProbes) assert.deepEqual(counts(bt.out, 'calls'), own.calls, `entry probes:\n${bt.out}\nvictim:\n${v.out}`);
  } finally {
    await bt?.stop('SIGKILL');
    await v.stop('SIGKILL');
    stopServer(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('C++ exceptions through return probes (stub-called return-only sites): the program runs on, each normal return counted', { skip, timeout: 120000 }, async () => {
  await run(false);
});

test('C++ exceptions through return probes beside entry probes (hijacked return addresses): calls and returns counted exactly', { skip, timeout: 120000 }, async () => {
  await run(true);
});
