// A uprobe on a library the target loads only later (dlopen): the attachment waits in the
// agent and is installed when the library appears, as the kernel's uprobes follow the file.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, haveCommand, root, tmpRuntimeDir } from './harness';
import { queryStatus } from '../../src-ts/cli/status';

const tool = path.join(root, 'examples', 'malloc', 'malloc');

test('a uprobe on a library loaded later attaches when it appears', { skip: (!haveCommand('cc') && 'no C compiler') || (!fs.existsSync(tool) && 'examples not built'), timeout: 60000 }, async () => {
  const dir = tmpRuntimeDir();
  const lib = path.join(dir, 'libgreet.so');
  const victim = path.join(dir, 'dlopen_victim');
  execFileSync('cc', ['-O2', '-shared', '-fPIC', '-o', lib, path.join(root, 'test', 'programs', 'libgreet.c')]);
  execFileSync('cc', ['-O2', '-o', victim, path.join(root, 'test', 'programs', 'dlopen_victim.c'), '-ldl']);
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
