// Hints for the user: a tool whose probes no traced process has yet is told once, on its stderr,
// how to get one traced (`bpftime start CMD`, or `bpftime attach PID` for a pid filter); a tool
// that attaches while an agent runs is told nothing, and BPFTIME_NO_HINTS silences them.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, cli, root, withServer } from './harness';
import { settledCount } from './malloc-tool';

const tool = path.join(root, 'examples', 'malloc', 'malloc');
const victim = path.join(root, 'examples', 'malloc', 'victim');
const skip = !fs.existsSync(tool) && 'examples not built';
const NO_AGENT = /^malloc: no traced process is running yet - start the target with: bpftime start CMD \(or bpftime attach PID\); its probes fire from then on$/m;

/** The tool's stdout and stderr, interleaved as they arrived. */
const output = (p: Proc) => p.out;

test('a tool attached before any traced process is told how to start one, once', { skip, timeout: 60000 }, async () => {
  await withServer(async (baseEnv, _dir, procs) => {
    const env = { ...baseEnv };
    delete env.BPFTIME_NO_HINTS;
    const t = new Proc(process.execPath, [cli, 'load', tool, '-i', '0.3'], env);
    procs.push(t);
    await t.waitFor(NO_AGENT, 20000);
    // the hint says what to do, and doing it works
    const v = new Proc(process.execPath, [cli, 'start', victim], env, { stdin: true });
    procs.push(v);
    const pid = Number((await v.waitFor(/ready pid=(\d+)/))[1]);
    v.write('100\n');
    await v.waitFor(/done 100/);
    assert.equal(await settledCount(t, pid), 100);
    assert.equal(output(t).match(new RegExp(NO_AGENT.source, 'gm'))?.length, 1, output(t));
  }, 'SIGTERM');
});

test('a pid filter on a process without an agent names bpftime attach; with an agent, no hint', { skip, timeout: 60000 }, async () => {
  await withServer(async (baseEnv, _dir, procs) => {
    const env = { ...baseEnv };
    delete env.BPFTIME_NO_HINTS;
    const plain = new Proc('sleep', ['30'], env);
    procs.push(plain);
    const untraced = plain.child.pid!;
    const t1 = new Proc(process.execPath, [cli, 'load', tool, '-p', String(untraced), '-i', '0.3'], env);
    procs.push(t1);
    await t1.waitFor(new RegExp(`^malloc: process ${untraced} has no bpftime agent yet, so its probes do not fire - load one with: bpftime attach ${untraced}$`, 'm'), 20000);

    const v = new Proc(process.execPath, [cli, 'start', victim], env, { stdin: true });
    procs.push(v);
    const pid = Number((await v.waitFor(/ready pid=(\d+)/))[1]);
    const t2 = new Proc(process.execPath, [cli, 'load', tool, '-p', String(pid), '-i', '0.3'], env);
    procs.push(t2);
    await t2.waitFor(/Tracing malloc/);
    v.write('10\n');
    await v.waitFor(/done 10/);
    assert.equal(await settledCount(t2, pid), 10);
    assert.doesNotMatch(output(t2), /bpftime agent|no traced process/);

    // silenced
    const t3 = new Proc(process.execPath, [cli, 'load', tool, '-p', String(untraced), '-i', '0.3'], { ...env, BPFTIME_NO_HINTS: '1' });
    procs.push(t3);
    await t3.waitFor(/Tracing malloc/);
    await t3.waitFor(/--\n/, 10000);
    assert.doesNotMatch(output(t3), /bpftime agent|no traced process/);
  }, 'SIGTERM');
});
