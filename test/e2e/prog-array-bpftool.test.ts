// Stock bpftool under the shim on a prog array that libbpf filled from `.values`
// (test/programs/tailcall.bpf.c, loaded by tailcall_loader.c, paused after loading): `map dump`
// lists the filled slots with their program ids (empty ones left out), `map show` names the
// owner program type. Where kernel BPF is available, the same on the kernel must give the same
// slots holding the same programs (ids differ, so they are compared by program name).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, haveCommand, isRoot, shimLib, tmpRuntimeDir } from './harness';
import { buildVictimLoader } from './libbpf-program';

const skip = (!haveCommand('bpftool') || !haveCommand('clang') || !fs.existsSync('/usr/include/bpf/libbpf.h')) && 'needs bpftool, clang and libbpf-dev';

interface View { slots: string[]; show: string }

/** Loads the object (paused), asks bpftool, lets the loader finish. */
async function inspect(dir: string, env: NodeJS.ProcessEnv, shim: boolean): Promise<View> {
  const bt = (args: string[]) => {
    const r = spawnSync('bpftool', args, { env: shim ? { ...env, LD_PRELOAD: shimLib } : env, encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 0, `bpftool ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const loader = new Proc(path.join(dir, 'tailcall_loader'), [path.join(dir, 'tailcall.bpf.o'), path.join(dir, 'tailcall_victim')],
    { ...env, TAILCALL_PAUSE: '1', ...(shim ? { LD_PRELOAD: shimLib } : {}) }, { stdin: true });
  try {
    await loader.waitFor(/^paused$/m);
    const dump: Array<{ key: string[]; value: string[] }> = JSON.parse(bt(['-j', 'map', 'dump', 'name', 'jmp_table']));
    const byId = new Map<number, string>();
    for (const p of JSON.parse(bt(['-j', 'prog', 'show']))) byId.set(p.id, p.name);
    const u32 = (b: string[]) => b.reduce((v, x, k) => v + Number(x) * 2 ** (8 * k), 0);
    const slots = dump.map((e) => `${u32(e.key)}: ${byId.get(u32(e.value)) ?? `unknown id ${u32(e.value)}`}`);
    const show = bt(['map', 'show', 'name', 'jmp_table']);
    loader.write('go\n');
    assert.equal(await loader.exited, 0, loader.out);
    return { slots, show };
  } finally {
    await loader.stop('SIGKILL');
  }
}

test('bpftool dumps a prog array filled by libbpf, as on the kernel', { skip, timeout: 120000 }, async (t) => {
  const dir = tmpRuntimeDir();
  buildVictimLoader('tailcall', 'tailcall_loader', dir); // tailcall.bpf.o, tailcall_loader, tailcall_victim
  const env = bpftimeEnv(dir);
  const shim = await inspect(dir, env, true);
  assert.deepEqual(shim.slots, ['0: stage_loop', '1: stage_foreach', '2: stage_chain', '3: stage_nested', '4: stage_subtail']);
  assert.match(shim.show, /prog_array {2}name jmp_table {2}flags 0x0\n\s+key 4B {2}value 4B {2}max_entries 8/);
  assert.match(shim.show, /owner_prog_type kprobe/);
  if (!isRoot) {
    t.diagnostic('not root: kernel not compared');
    return;
  }
  let kernel: View;
  try {
    kernel = await inspect(dir, { ...process.env }, false);
  } catch (e) {
    t.diagnostic(`kernel path unavailable: ${(e as Error).message.split('\n')[0]}`);
    return;
  }
  assert.deepEqual(shim.slots, kernel.slots);
  fs.rmSync(dir, { recursive: true, force: true });
});
