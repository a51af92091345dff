// bpf_user_ringbuf_drain in an attached program: a libbpf loader fills a user ring buffer with
// user_ring_buffer__reserve/submit/discard and attaches a uprobe program to tick() in a victim;
// each tick drains the ring (the agent's handle on the map, JIT'ed callback reading records with
// bpf_dynptr_read) and adds up the records in an array map. The victim under `bpftime start`
// must leave the map exactly as on the kernel.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, haveCommand, root, shimLib, stopServer, tmpRuntimeDir } from './harness';

const srcDir = path.join(root, 'test', 'programs');
const missing = ['clang', 'cc'].filter((c) => !haveCommand(c));

function build(dir: string): { obj: string; loader: string; victim: string } {
  const multiarch = execFileSync('cc', ['-print-multiarch'], { encoding: 'utf8' }).trim() || 'x86_64-linux-gnu';
  const obj = path.join(dir, 'user_ringbuf_uprobe.bpf.o');
  execFileSync('clang', ['-target', 'bpf', '-O2', '-g', '-Wall', '-D__TARGET_ARCH_x86', `-I/usr/include/${multiarch}`,
    '-c', path.join(srcDir, 'user_ringbuf_uprobe.bpf.c'), '-o', obj]);
  const loader = path.join(dir, 'user_ringbuf_uprobe');
  const victim = path.join(dir, 'user_ringbuf_victim');
  execFileSync('cc', ['-O1', '-g', '-Wall', path.join(srcDir, 'user_ringbuf_uprobe.c'), '-o', loader, '-lbpf', '-lelf', '-lz']);
  execFileSync('cc', ['-O1', '-g', path.join(srcDir, 'user_ringbuf_victim.c'), '-o', victim]);
  return { obj, loader, victim };
}

/** Loads, fills the ring, runs the victim (3 ticks) with `runVictim`, returns the results line. */
async function scenario(loaderEnv: NodeJS.ProcessEnv, b: ReturnType<typeof build>, runVictim: () => string): Promise<string> {
  const l = new Proc(b.loader, [b.obj, b.victim], loaderEnv, { stdin: true });
  try {
    await l.waitFor(/^ready$/m, 30000);
    assert.match(runVictim(), /done/);
    const from = l.out.length;
    l.write('show\n');
    const m = await l.waitFor(/^sum=.*$/m, 10000, from);
    return m[0];
  } finally {
    l.child.stdin?.end();
    await l.stop();
  }
}

test('a uprobe program drains a user ring buffer filled by libbpf, as on the kernel', { skip: missing.length > 0 && `missing ${missing.join(', ')}`, timeout: 120000 }, async (t) => {
  const dir = tmpRuntimeDir();
  const b = build(dir);
  const env = bpftimeEnv(dir);
  let shim: string;
  try {
    shim = await scenario({ ...env, LD_PRELOAD: shimLib }, b, () => {
      const r = spawnSync(process.execPath, [cli, 'start', b.victim, '3'], { env, encoding: 'utf8', timeout: 60000 });
      return r.stdout + r.stderr;
    });
  } finally {
    stopServer(dir);
  }
  // 100 records, every tenth discarded: the first tick drains 90 (sum 4500), the others none.
  assert.equal(shim, 'sum=4500 count=90 calls=3 first=90 last=0');
  let kernel: string;
  try {
    kernel = await scenario(process.env, b, () => execFileSync(b.victim, ['3'], { encoding: 'utf8' }));
  } catch (e) {
    t.skip(`kernel path unavailable (${String(e).split('\n')[0]}): shim output not compared`);
    return;
  }
  assert.equal(shim, kernel);
  fs.rmSync(dir, { recursive: true, force: true });
});
