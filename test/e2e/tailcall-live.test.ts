// Prog array updates reach processes that are already running: the dispatcher of
// test/programs/tailcall.bpf.c is attached (libbpf loader, paused), a victim runs under
// `bpftime start` and calls the probed function on request. Slot 4 is emptied with stock bpftool
// before the victim starts, so its agent has never seen the program that goes there; bpftool then
// puts it back while the victim runs, and the very next call must tail-call into it (the update
// returns only once every agent can run the program). Emptying the slot again is seen at once.
// On the kernel (as root) the same steps must leave the same counts.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, haveCommand, isRoot, shimLib, tmpRuntimeDir } from './harness';
import { buildVictimLoader } from './libbpf-program';

const skip = (!haveCommand('bpftool') || !haveCommand('clang') || !fs.existsSync('/usr/include/bpf/libbpf.h')) && 'needs bpftool, clang and libbpf-dev';

// Indexes in tailcall.bpf.c's `results`.
const R_FALL = 1, R_LOOP_RET = 3, R_SUBTAIL = 24, R_SUBTAIL_AFTER = 25;

async function steps(dir: string, shim: boolean): Promise<number[][]> {
  const env = shim ? bpftimeEnv(dir) : { ...process.env };
  const bt = (args: string[]) => {
    const r = spawnSync('bpftool', args, { env: shim ? { ...env, LD_PRELOAD: shimLib } : env, encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 0, `bpftool ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const results = (): number[] => {
    const dump: Array<{ key: string[]; value: string[] }> = JSON.parse(bt(['-j', 'map', 'dump', 'name', 'results']));
    const num = (b: string[]) => Number(b.reduce((v, x, k) => v + (BigInt(x) << BigInt(8 * k)), 0n));
    const out: number[] = [];
    for (const e of dump) out[num(e.key)] = num(e.value);
    return [R_FALL, R_LOOP_RET, R_SUBTAIL, R_SUBTAIL_AFTER].map((k) => out[k]);
  };
  const loader = new Proc(path.join(dir, 'tailcall_loader'), [path.join(dir, 'tailcall.bpf.o'), path.join(dir, 'tailcall_victim')],
    { ...env, TAILCALL_PAUSE: '1', ...(shim ? { LD_PRELOAD: shimLib } : {}) }, { stdin: true });
  const victimCmd = shim ? [process.execPath, cli, 'start', path.join(dir, 'tailcall_victim'), '-'] : [path.join(dir, 'tailcall_victim'), '-'];
  let victim: Proc | undefined;
  try {
    await loader.waitFor(/^paused$/m);
    bt(['map', 'delete', 'name', 'jmp_table', 'key', '4', '0', '0', '0']);
    victim = new Proc(victimCmd[0], victimCmd.slice(1), env, { stdin: true });
    await victim.waitFor(/ready pid=\d+/);
    const call = async (op: string) => {
      const from = victim!.out.length;
      victim!.write(`${op}\n`);
      await victim!.waitFor(new RegExp(`done ${op}`), 15000, from);
    };
    const seen: number[][] = [];
    await call('4:3'); // empty slot: falls through
    seen.push(results());
    bt(['map', 'update', 'name', 'jmp_table', 'key', '4', '0', '0', '0', 'value', 'name', 'stage_subtail']);
    await call('4:3'); // the program the victim's agent was just given
    seen.push(results());
    bt(['map', 'delete', 'name', 'jmp_table', 'key', '4', '0', '0', '0']);
    await call('4:3');
    seen.push(results());
    return seen;
  } finally {
    await victim?.stop('SIGKILL');
    await loader.stop('SIGKILL');
  }
}

test('prog array updates reach running processes before the update returns, as on the kernel', { skip, timeout: 120000 }, async (t) => {
  const dir = tmpRuntimeDir();
  buildVictimLoader('tailcall', 'tailcall_loader', dir); // tailcall.bpf.o, tailcall_loader, tailcall_victim
  const shim = await steps(dir, true);
  // [fall, loop_ret, subtail, subtail_after] after each call
  assert.deepEqual(shim, [[1, 0, 0, 0], [1, 3, 1, 100], [2, 3, 1, 100]]);
  if (!isRoot) {
    t.diagnostic('not root: kernel not compared');
    return;
  }
  let kernel: number[][];
  try {
    kernel = await steps(dir, false);
  } catch (e) {
    t.diagnostic(`kernel path unavailable: ${(e as Error).message.split('\n')[0]}`);
    return;
  }
  assert.deepEqual(shim, kernel);
  fs.rmSync(dir, { recursive: true, force: true });
});
