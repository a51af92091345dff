// Maps of maps end to end: test/programs/map_of_maps.bpf.c (compiled with clang) declares an
// ARRAY_OF_MAPS and a HASH_OF_MAPS with `__array(values, ...)`, which libbpf creates and fills
// (map_of_maps_loader.c). Its probe, at a uprobe of a victim started with `bpftime start`, looks
// up the inner map for the call's slot and reads and writes it; the loader then moves inner maps
// between slots from user space and runs the victim again. The program runs in another process
// than the tool's, so it finds the inner maps the server had that process's agent open. Expected
// values are asserted; where kernel BPF is available the kernel's output must be identical, in
// the interpreter and the JIT, and when the victim already runs before the maps are made. Stock bpftool dumps both outer maps (inner map ids by slot) under
// the shim, compared with the kernel by inner map name.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import { Proc, bpftimeEnv, haveCommand, isRoot, shimLib, stopServer, tmpRuntimeDir } from './harness';
import { VictimLoader, assertSameOnKernel, buildVictimLoader, haveLibbpfTools, runVictimLoaderUnderShim, victimLoaderEverywhere } from './libbpf-program';

const skip = !haveLibbpfTools && 'needs clang, cc and libbpf-dev';

type Built = VictimLoader;

const build = (dir: string): Built => buildVictimLoader('map_of_maps', 'map_of_maps_loader', dir);

function underShim(b: Built, jit: boolean, live = false): string {
  const r = runVictimLoaderUnderShim(b, jit, { env: live ? { MOM_LIVE: '1' } : {} });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

/** What map_of_maps.bpf.c must record for the loader's calls, worked out from the sources. */
function checkExpected(out: string): void {
  assert.match(out, /^outer_arr\[0\]: arr_a\nouter_arr\[1\]: No such file or directory\nouter_arr\[2\]: arr_b\n/);
  assert.match(out, /\nouter_hash\[1\]: hash_a\nouter_hash\[2\]: No such file or directory\nouter_hash\[3\]: hash_b\n/);
  const [first, second] = out.split('delete outer_arr[0]');
  // ops 0:1 0:1 0:6 into arr_a (+100 each at keys 1, 1, 2), 2:3 into arr_b (+102 at 3); hash
  // slots 1 and 3 get 1000 + op on first sight and +1 after; 7 calls find no array, 5 no hash
  assert.match(first, /\narr_a: 1=200 2=100\narr_b: 3=102\nhash_a: 2=1002\nhash_b: 3=1003 9=1005\nmisses\[0\] = 7\nmisses\[1\] = 5\n/);
  assert.match(second, /\nouter_arr\[0\]: No such file or directory\nouter_arr\[1\]: arr_a\n/);
  assert.match(second, /\nouter_hash\[1\]: hash_b\nouter_hash\[2\]: No such file or directory\nouter_hash\[3\]: No such file or directory\n/);
  assert.match(second, /\narr_a: 0=101 1=301 2=100\narr_b: 3=102\nhash_a: 2=1002\nhash_b: 0=1001 3=1003 5=1001 9=1005\nmisses\[0\] = 9\nmisses\[1\] = 7\n/);
}

test('maps of maps at a uprobe under bpftime start, as on the kernel', { skip, timeout: 180000 }, (t) => {
  const dir = tmpRuntimeDir();
  victimLoaderEverywhere(t, build(dir), checkExpected, 'outer_arr[0]:');
  fs.rmSync(dir, { recursive: true, force: true });
});

// The victim runs before any map exists: every inner map reaches its agent through the server's
// push made during the tool's update (and none through an attachment).
test('maps of maps filled while the traced process runs, as on the kernel', { skip, timeout: 180000 }, (t) => {
  const dir = tmpRuntimeDir();
  const b = build(dir);
  const out = underShim(b, true, true);
  checkExpected(out);
  assert.equal((out.match(/^live victim did (11|4) ops$/gm) ?? []).length, 2, out);
  if (!isRoot) t.skip('not root: kernel output not compared');
  else assertSameOnKernel(t, b.loader, [b.obj, b.victim], out, 'outer_arr[0]:', 1, { MOM_LIVE: '1' });
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Loads the object (paused), dumps both outer maps with bpftool, lets the loader finish. */
async function dumpOuter(b: Built, env: NodeJS.ProcessEnv, shim: boolean): Promise<string[]> {
  const bt = (args: string[]) => {
    const r = spawnSync('bpftool', args, { env: shim ? { ...env, LD_PRELOAD: shimLib } : env, encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 0, `bpftool ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const loader = new Proc(b.loader, [b.obj, b.victim], { ...env, MOM_PAUSE: '1', ...(shim ? { LD_PRELOAD: shimLib } : {}) }, { stdin: true });
  try {
    await loader.waitFor(/^paused$/m);
    const names = new Map<number, string>();
    for (const m of JSON.parse(bt(['-j', 'map', 'show']))) names.set(m.id, m.name);
    const u32 = (v: unknown): number =>
      Array.isArray(v) ? v.reduce((acc: number, x: string, k: number) => acc + Number(x) * 2 ** (8 * k), 0) : Number(v);
    const out: string[] = [];
    for (const outer of ['outer_arr', 'outer_hash']) {
      const dump: Array<Record<string, unknown>> = JSON.parse(bt(['-j', 'map', 'dump', 'name', outer]));
      const rows = dump.map((e) => `${outer}[${u32(e.key)}] = ${names.get(u32(e.value)) ?? `unknown id ${u32(e.value)}`}`);
      out.push(...rows.sort());
      out.push(bt(['map', 'show', 'name', outer]).split('\n')[0].replace(/^\d+: /, ''));
    }
    loader.write('go\n');
    assert.equal(await loader.exited, 0, loader.out);
    return out;
  } finally {
    await loader.stop('SIGKILL');
  }
}

test('bpftool dumps maps of maps filled by libbpf, as on the kernel', { skip: skip || (!haveCommand('bpftool') && 'needs bpftool'), timeout: 120000 }, async (t) => {
  const dir = tmpRuntimeDir();
  const b = build(dir);
  const shim = await dumpOuter(b, bpftimeEnv(dir), true);
  stopServer(dir);
  assert.deepEqual(shim, [
    'outer_arr[0] = arr_a', 'outer_arr[2] = arr_b', 'array_of_maps  name outer_arr  flags 0x0',
    'outer_hash[1] = hash_a', 'outer_hash[3] = hash_b', 'hash_of_maps  name outer_hash  flags 0x0',
  ]);
  if (!isRoot) {
    t.diagnostic('not root: kernel not compared');
    return;
  }
  let kernel: string[];
  try {
    kernel = await dumpOuter(b, { ...process.env }, false);
  } catch (e) {
    t.diagnostic(`kernel path unavailable: ${(e as Error).message.split('\n')[0]}`);
    return;
  }
  assert.deepEqual(shim, kernel);
  fs.rmSync(dir, { recursive: true, force: true });
});
