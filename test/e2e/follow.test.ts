// `bpftime start` follows the process family by default: a forked child runs the hooks it
// inherited, an exec'd image loads the agent again (LD_PRELOAD is inherited) and is traced from its
// start. `bpftime start --no-follow` traces the started process only: the agent takes itself out of
// LD_PRELOAD in the process's environment, so exec'd images run without it, and forked children run
// no programs. A uprobe on tick() counts per pid (the malloc example tool, every pid).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, haveCommand, root, tmpRuntimeDir } from './harness';
import { latestCount } from './malloc-tool';

const tool = path.join(root, 'examples', 'malloc', 'malloc');

/** Waits for two more blocks of the tool's output (counts printed after everything settled). */
async function twoMoreBlocks(t: Proc): Promise<void> {
  for (let i = 0; i < 2; i++) await t.waitFor(/--\n/, 10000, t.out.length);
}

async function runFamily(env: NodeJS.ProcessEnv, victim: string, startArgs: string[]): Promise<{ parent: number; fork: number; exec: number; out: string }> {
  const v = new Proc(process.execPath, [cli, 'start', ...startArgs, victim], env);
  const code = await v.exited;
  assert.equal(code, 0, v.out);
  const m = v.out.match(/parent=(\d+) fork=(\d+) exec=(\d+)/);
  assert.ok(m, v.out);
  return { parent: Number(m[1]), fork: Number(m[2]), exec: Number(m[3]), out: v.out };
}

test('start follows forks and execs by default; --no-follow traces the started process only', { skip: (!haveCommand('cc') && 'no C compiler') || (!fs.existsSync(tool) && 'examples not built'), timeout: 90000 }, async () => {
  const dir = tmpRuntimeDir();
  const victim = path.join(dir, 'fork_exec_victim');
  execFileSync('cc', ['-O2', '-o', victim, path.join(root, 'test', 'programs', 'fork_exec_victim.c')]);
  const env = bpftimeEnv(dir);
  const server = new Proc(process.execPath, [cli, 'serve'], env);
  const procs: Proc[] = [server];
  try {
    await server.waitFor(/serving on/);
    const t = new Proc(process.execPath, [cli, 'load', tool, '-b', victim, '-f', 'tick', '-i', '0.2'], env);
    procs.push(t);
    await t.waitFor(/Tracing tick/);

    const all = await runFamily(env, victim, []);
    await t.waitFor(new RegExp(`^pid=${all.exec} count=300$`, 'm'));
    await twoMoreBlocks(t);
    assert.deepEqual([all.parent, all.fork, all.exec].map((p) => latestCount(t.out, p)), [100, 200, 300], t.out);

    const one = await runFamily(env, victim, ['--no-follow']);
    await t.waitFor(new RegExp(`^pid=${one.parent} count=100$`, 'm'));
    await twoMoreBlocks(t);
    assert.deepEqual([one.parent, one.fork, one.exec].map((p) => latestCount(t.out, p)), [100, 0, 0], t.out);
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGTERM');
  }
});
