// The spine, end to end: the example libbpf tool (a uprobe on libc's malloc counting calls per
// pid in a hash map) runs unmodified under the shim; the victim runs under the agent; the
// tool's output must show exactly the mallocs the victim made.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, root, stopServer, tmpRuntimeDir, withServer } from './harness';
import { settledCount } from './malloc-tool';
import { queryStatus } from '../../src-ts/cli/status';

const tool = path.join(root, 'examples', 'malloc', 'malloc');
const victim = path.join(root, 'examples', 'malloc', 'victim');
const built = fs.existsSync(tool) && fs.existsSync(victim);

async function countsExactly(order: 'tool-first' | 'victim-first', toolArgs: string[] = []): Promise<void> {
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  let t: Proc | undefined;
  let v: Proc | undefined;
  try {
    const startTool = async () => {
      t = new Proc(process.execPath, [cli, 'load', tool, '-i', '0.3', ...toolArgs], env);
      await t.waitFor(/Tracing (returns of )?malloc in .*libc/);
    };
    const startVictim = async () => {
      v = new Proc(process.execPath, [cli, 'start', victim], env, { stdin: true });
      return Number((await v.waitFor(/ready pid=(\d+)/))[1]);
    };
    let pid: number;
    if (order === 'tool-first') {
      await startTool();
      pid = await startVictim();
    } else {
      pid = await startVictim();
      await startTool();
    }
    // The hook must be in place before the workload: the server reports the agent's answer.
    for (let i = 0; i < 100; i++) {
      const s = await queryStatus(dir);
      const states = s.attachments.flatMap((a: any) => a.agents.filter((g: any) => g.pid === pid).map((g: any) => g.state));
      if (states.includes('attached')) break;
      if (states.includes('failed')) assert.fail(`agent could not attach: ${JSON.stringify(s.attachments)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const before = await settledCount(t!, pid);
    v!.write('1000\n');
    await v!.waitFor(/done 1000/);
    const after = await settledCount(t!, pid);
    assert.equal(after - before, 1000, `tool output:\n${t!.out}`);
    v!.write('250\n');
    await v!.waitFor(/done 250/);
    assert.equal((await settledCount(t!, pid)) - after, 250);
  } finally {
    v?.child.stdin?.end();
    await v?.stop('SIGTERM');
    await t?.stop('SIGINT');
    stopServer(dir);
  }
}

test('malloc counts are exact, tool started before the target', { skip: !built && 'examples not built', timeout: 60000 }, async () => {
  await countsExactly('tool-first');
});

test('malloc counts are exact, target started before the tool', { skip: !built && 'examples not built', timeout: 60000 }, async () => {
  await countsExactly('victim-first');
});

test('malloc returns are counted exactly by a uretprobe', { skip: !built && 'examples not built', timeout: 60000 }, async () => {
  await countsExactly('tool-first', ['-r']);
});

test('when the tool exits its objects are freed and the hooks go', { skip: !built && 'examples not built', timeout: 60000 }, async () => {
  await withServer(async (env, dir, procs) => {
    const t = new Proc(process.execPath, [cli, 'load', tool, '-i', '0.3'], env);
    procs.push(t);
    await t.waitFor(/Tracing malloc/);
    const s1 = await queryStatus(dir);
    assert.equal(s1.objects.links.length, 1);
    assert.ok(s1.objects.progs.length >= 1);
    // Kill the tool itself (not the `bpftime load` wrapper) the hard way: no cleanup runs in it.
    const toolPid = s1.clients.find((c: any) => c.role === 'tool')?.pid;
    assert.ok(toolPid, 'the tool is connected');
    process.kill(toolPid, 'SIGKILL');
    await t.exited;
    let s2 = await queryStatus(dir);
    for (let i = 0; i < 50 && (s2.objects.maps.length || s2.objects.progs.length); i++) {
      await new Promise((r) => setTimeout(r, 20));
      s2 = await queryStatus(dir);
    }
    assert.deepEqual(s2.objects.links, []);
    assert.deepEqual(s2.objects.progs, []);
    assert.deepEqual(s2.objects.maps, []);
    assert.deepEqual(s2.attachments, []);
  }, 'SIGTERM');
});
