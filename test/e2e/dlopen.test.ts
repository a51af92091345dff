// A uprobe on a library the target loads only later (dlopen): the attachment waits in the
// agent and is installed when the library appears, as the kernel's uprobes follow the file: in a
// process started with the agent, and in one the agent was injected into (`bpftime attach`), where
// the agent cannot interpose dlopen and watches the dynamic loader's r_brk instead.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cannotPtrace, cli, haveCommand, root, tmpRuntimeDir } from './harness';
import { queryStatus } from '../../src-ts/cli/status';

const tool = path.join(root, 'examples', 'malloc', 'malloc');

function build(dir: string): { lib: string; victim: string } {
  const lib = path.join(dir, 'libgreet.so');
  const victim = path.join(dir, 'dlopen_victim');
  execFileSync('cc', ['-O2', '-shared', '-fPIC', '-o', lib, path.join(root, 'test', 'programs', 'libgreet.c')]);
  execFileSync('cc', ['-O2', '-o', victim, path.join(root, 'test', 'programs', 'dlopen_victim.c'), '-ldl']);
  return { lib, victim };
}

test('a uprobe on a library loaded later attaches when it appears', { skip: (!haveCommand('cc') && 'no C compiler') || (!fs.existsSync(tool) && 'examples not built'), timeout: 60000 }, async () => {
  const dir = tmpRuntimeDir();
  const { lib, victim } = build(dir);
  const env = bpftimeEnv(dir);
  const server = new Proc(process.execPath, [cli, 'serve'], env);
  const procs: Proc[] = [server];
  try {
    await server.waitFor(/serving on/);
    const v = new Proc(process.execPath, [cli, 'start', victim, lib], env, { stdin: true });
    procs.push(v);
    const pid = Number((await v.waitFor(/ready pid=(\d+)/))[1]);
    const t = new Proc(process.execPath, [cli, 'load', tool, '-b', lib, '-f', 'greet', '-p', String(pid), '-i', '0.2'], env);
    procs.push(t);
    await t.waitFor(/Tracing greet/);
    const s1 = await queryStatus(dir);
    assert.equal(s1.attachments[0]?.agents.find((g: any) => g.pid === pid)?.state, 'waiting');
    v.write('load\n');
    await v.waitFor(/loaded/);
    v.write('123\n');
    await v.waitFor(/done 123/);
    await t.waitFor(new RegExp(`pid=${pid} count=123\\n`));
    const s2 = await queryStatus(dir);
    assert.equal(s2.attachments[0]?.agents.find((g: any) => g.pid === pid)?.state, 'attached');
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGTERM');
  }
});

test('after bpftime attach, a library the process loads later gets its uprobe before dlopen returns', { skip: (!haveCommand('cc') && 'no C compiler') || (!fs.existsSync(tool) && 'examples not built'), timeout: 60000 }, async (t) => {
  const why = await cannotPtrace();
  if (why) return t.skip(why);
  const dir = tmpRuntimeDir();
  const { lib, victim } = build(dir);
  const env = bpftimeEnv(dir);
  const server = new Proc(process.execPath, [cli, 'serve'], env);
  // Nothing of bpftime in the victim's environment: it runs plain until the attach.
  const plain = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BPFTIME_') && k !== 'LD_PRELOAD'));
  const v = new Proc(victim, [lib], plain, { stdin: true });
  const procs: Proc[] = [server, v];
  try {
    await server.waitFor(/serving on/);
    const pid = Number((await v.waitFor(/ready pid=(\d+)/))[1]);
    const tl = new Proc(process.execPath, [cli, 'load', tool, '-b', lib, '-f', 'greet', '-p', String(pid), '-i', '0.2'], env);
    procs.push(tl);
    await tl.waitFor(/Tracing greet/);
    const a = new Proc(process.execPath, [cli, 'attach', String(pid)], env);
    assert.equal(await a.exited, 0, a.out);
    const s1 = await queryStatus(dir);
    assert.equal(s1.attachments[0]?.agents.find((g: any) => g.pid === pid)?.state, 'waiting', JSON.stringify(s1.attachments));
    // The victim calls greet right after dlopen returned: every call must count.
    v.write('load\n');
    await v.waitFor(/loaded/);
    v.write('321\n');
    await v.waitFor(/done 321/);
    await tl.waitFor(new RegExp(`pid=${pid} count=321\\n`));
    const s2 = await queryStatus(dir);
    assert.equal(s2.attachments[0]?.agents.find((g: any) => g.pid === pid)?.state, 'attached');
    // Detach removes the probe in the library too; the victim goes on.
    const d = new Proc(process.execPath, [cli, 'detach', String(pid)], env);
    assert.equal(await d.exited, 0, d.out);
    v.write('10\n');
    await v.waitFor(/done 10\n/);
  } finally {
    v.child.stdin?.end();
    for (const p of procs.reverse()) await p.stop('SIGTERM');
  }
});
