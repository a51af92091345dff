// Error injection end to end: examples/errinject (bpf_override_return at a uprobe on the entry of
// the victim's reserve_slot) runs unmodified under the shim, the victim under `bpftime start`;
// the victim must see exactly the injected error on exactly the calls chosen, and its function
// must work again once the tool has gone.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, root, stopServer, tmpRuntimeDir } from './harness';
import { queryStatus } from '../../src-ts/cli/status';

const tool = path.join(root, 'examples', 'errinject', 'errinject');
const victim = path.join(root, 'examples', 'errinject', 'victim');
const built = fs.existsSync(tool) && fs.existsSync(victim);

async function waitAttached(dir: string, pid: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const s = await queryStatus(dir);
    const states = s.attachments.flatMap((a: any) => a.agents.filter((g: any) => g.pid === pid).map((g: any) => g.state));
    if (states.includes('attached')) return;
    if (states.includes('failed')) assert.fail(`agent could not attach: ${JSON.stringify(s.attachments)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail('the probe never attached');
}

async function batch(v: Proc, n: number): Promise<string> {
  const from = v.out.length;
  v.write(`${n}\n`);
  return (await v.waitFor(new RegExp(`done ${n} .*\\n`), 15000, from))[0].trim();
}

test('bpf_override_return makes the victim\'s function fail with the injected value', { skip: !built && 'examples not built', timeout: 60000 }, async () => {
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  let v: Proc | undefined;
  let t: Proc | undefined;
  try {
    v = new Proc(process.execPath, [cli, 'start', victim], env, { stdin: true });
    const pid = Number((await v.waitFor(/ready pid=(\d+)/))[1]);
    assert.equal(await batch(v, 4), 'done 4 ok=4 failed=0 last_error=0 (none)');

    t = new Proc(process.execPath, [cli, 'load', tool, '-b', victim, '-f', 'reserve_slot', '-e', '-12', '-p', String(pid), '-i', '0.2'], env);
    await t.waitFor(/Injecting -12 into reserve_slot/);
    await waitAttached(dir, pid);
    assert.equal(await batch(v, 10), 'done 10 ok=0 failed=10 last_error=-12 (Cannot allocate memory)');
    await t.waitFor(/calls=10 injected=10/);
    await t.stop('SIGINT');

    // Every third call only.
    t = new Proc(process.execPath, [cli, 'load', tool, '-b', victim, '-f', 'reserve_slot', '-e', '-28', '-n', '3', '-i', '0.2'], env);
    await t.waitFor(/Injecting -28 into reserve_slot/);
    await waitAttached(dir, pid);
    assert.equal(await batch(v, 9), 'done 9 ok=6 failed=3 last_error=-28 (No space left on device)');
    await t.waitFor(/calls=9 injected=3/);
    await t.stop('SIGINT');

    // The tool is gone: its hook goes with it and the function runs again.
    for (let i = 0; i < 100; i++) {
      const s = await queryStatus(dir);
      if (s.attachments.length === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(await batch(v, 5), 'done 5 ok=5 failed=0 last_error=0 (none)');
  } finally {
    v?.child.stdin?.end();
    await v?.stop('SIGTERM');
    await t?.stop('SIGINT');
    stopServer(dir);
  }
});

test('on a kernel, errinject says why bpf_override_return cannot reach a user function', { skip: !built && 'examples not built', timeout: 30000 }, () => {
  // Without the shim: the kernel refuses the program at load (no CONFIG_BPF_KPROBE_OVERRIDE, or
  // a uprobe is not a kprobe) or its attach (EINVAL); the tool must exit 1 and say so.
  const r = spawnSync(tool, ['-b', victim, '-f', 'reserve_slot', '-d', '1'], { encoding: 'utf8', timeout: 20000 });
  assert.equal(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /errinject: cannot (load the program|attach to reserve_slot).*(kprobes|Operation not permitted|Permission denied)/);
});
