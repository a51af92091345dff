// `bpftime attach` and `bpftime detach` end to end: the malloc victim runs WITHOUT the agent
// (and without any bpftime variable in its environment: the runtime dir reaches it through the
// injector); the malloc tool traces its pid; attaching makes its mallocs count exactly,
// detaching stops the counting while the victim keeps working, attaching again resumes it.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cannotPtrace, cleanEnv, cli, root, stopServer, tmpRuntimeDir } from './harness';
import { settledCount } from './malloc-tool';
import { queryStatus } from '../../src-ts/cli/status';

const tool = path.join(root, 'examples', 'malloc', 'malloc');
const victim = path.join(root, 'examples', 'malloc', 'victim');
const built = fs.existsSync(tool) && fs.existsSync(victim);

/** Why this machine cannot run the test, or false. */
async function cannotAttach(): Promise<string | false> {
  return built ? cannotPtrace() : 'examples not built';
}

async function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  const p = new Proc(process.execPath, [cli, ...args], env);
  const code = await p.exited;
  return { code, out: p.out };
}

async function mallocs(v: Proc, n: number): Promise<void> {
  const from = v.out.length;
  v.write(`${n}\n`);
  await v.waitFor(new RegExp(`done ${n}\\n`), 10000, from);
}

test('attach counts a running process exactly, detach stops it and leaves it running', { timeout: 90000 }, async (t) => {
  const why = await cannotAttach();
  if (why) return t.skip(why);
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  let tl: Proc | undefined;
  const v = new Proc(victim, [], cleanEnv(), { stdin: true });
  try {
    const pid = Number((await v.waitFor(/ready pid=(\d+)/))[1]);
    tl = new Proc(process.execPath, [cli, 'load', tool, '-p', String(pid), '-i', '0.3'], env);
    await tl.waitFor(/Tracing malloc in .*libc/);

    // Not attached yet: nothing counts.
    await mallocs(v, 100);
    assert.equal(await settledCount(tl, pid), 0);

    const a = await run(['attach', String(pid)], env);
    assert.equal(a.code, 0, a.out);
    assert.match(a.out, /agent loaded into \d+ \(victim\).*attachments: 1 installed/);

    const before = await settledCount(tl, pid);
    await mallocs(v, 1000);
    assert.equal((await settledCount(tl, pid)) - before, 1000, `tool output:\n${tl.out}`);

    const d = await run(['detach', String(pid)], env);
    assert.equal(d.code, 0, d.out);
    assert.match(d.out, /removed its hooks/);
    const s = await queryStatus(dir);
    assert.ok(!s.clients.some((c: any) => c.role === 'agent' && c.pid === pid), 'the agent left the server');
    assert.deepEqual(s.detached.map((x: any) => x.pid), [pid]);
    assert.equal(s.attachments.length, 1, "the tool's link stays");
    const shown = await run(['status'], env);
    assert.match(shown.out, new RegExp(`agent ${pid}: detached`));

    const frozen = await settledCount(tl, pid);
    await mallocs(v, 500); // the victim still answers...
    assert.equal(await settledCount(tl, pid), frozen, '...and nothing counts any more');

    // Attach again: the agent (still mapped, idle) starts a new thread and the hooks come back.
    const again = await run(['attach', String(pid)], env);
    assert.equal(again.code, 0, again.out);
    await mallocs(v, 250);
    assert.equal((await settledCount(tl, pid)) - frozen, 250);

    v.write('q\n');
    assert.equal(await v.exited, 0, `victim output:\n${v.out}`);
  } finally {
    v.child.stdin?.end();
    await v.stop('SIGTERM');
    await tl?.stop('SIGINT');
    stopServer(dir);
  }
});

test('attach and detach explain what they cannot do', { timeout: 60000 }, async (t) => {
  const why = await cannotAttach();
  if (why) return t.skip(why);
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  const server = new Proc(process.execPath, [cli, 'serve'], env);
  const plain = new Proc(victim, [], cleanEnv(), { stdin: true });
  let started: Proc | undefined;
  try {
    await server.waitFor(/serving on/);
    const pid = Number((await plain.waitFor(/ready pid=(\d+)/))[1]);

    let r = await run(['attach', '999999999'], env);
    assert.equal(r.code, 1);
    assert.match(r.out, /no process 999999999/);
    r = await run(['attach', 'abc'], env);
    assert.equal(r.code, 2);
    r = await run(['detach', String(pid)], env);
    assert.equal(r.code, 1);
    assert.match(r.out, new RegExp(`no agent of process ${pid} is connected`));

    // A process started with the agent already runs it: nothing to inject.
    started = new Proc(process.execPath, [cli, 'start', victim], env, { stdin: true });
    const spid = Number((await started.waitFor(/ready pid=(\d+)/))[1]);
    r = await run(['attach', String(spid)], env);
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /already runs the agent/);
    // ...and it can be detached like an injected one.
    r = await run(['detach', String(spid)], env);
    assert.equal(r.code, 0, r.out);
    started.write('10\n');
    await started.waitFor(/done 10/);

    plain.write('5\n');
    await plain.waitFor(/done 5/);
  } finally {
    plain.child.stdin?.end();
    started?.child.stdin?.end();
    await plain.stop('SIGTERM');
    await started?.stop('SIGTERM');
    await server.stop('SIGTERM');
  }
});
