// Ring buffers end to end: a libbpf tool (examples/ringbuf) sends each malloc of the victims
// through a BPF_MAP_TYPE_RINGBUF with bpf_ringbuf_reserve/submit; libbpf's ring_buffer (the map
// mmap'ed as the kernel lays it out, epoll on the map fd) receives them under the shim. Every
// call arrives exactly once, with its thread and name, and nothing is dropped; with four traced
// processes producing at once, each one's calls arrive exactly once too.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, cli, root, withServer } from './harness';
import { waitInstalled } from './tools';

const tool = path.join(root, 'examples', 'ringbuf', 'ringbuf');
const victim = path.join(root, 'examples', 'malloc', 'victim');

async function attachedEverywhere(dir: string, pids: number[]): Promise<void> {
  for (const pid of pids) await waitInstalled(dir, pid, 1);
}

async function run(nVictims: number, calls: number): Promise<void> {
  await withServer(async (env, dir, procs) => {
    const victims: Proc[] = [];
    const pids: number[] = [];
    for (let i = 0; i < nVictims; i++) {
      const v = new Proc(process.execPath, [cli, 'start', victim], env, { stdin: true });
      procs.push(v);
      victims.push(v);
      pids.push(Number((await v.waitFor(/ready pid=(\d+)/))[1]));
    }
    const t = new Proc(process.execPath, [cli, 'load', tool, ...pids.flatMap((p) => ['-p', String(p)])], env);
    procs.push(t);
    await t.waitFor(/Tracing malloc/);
    await attachedEverywhere(dir, pids);
    for (const v of victims) v.write(`${calls}\n`);
    for (const v of victims) await v.waitFor(new RegExp(`done ${calls}`));
    const count = (pid: number) => (t.out.match(new RegExp(`^pid=${pid} tid=${pid} size=16 comm=victim$`, 'gm')) ?? []).length;
    const total = () => pids.reduce((s, p) => s + count(p), 0);
    for (let i = 0; i < 200 && total() < nVictims * calls; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300)); // nothing more may come
    for (const pid of pids) assert.equal(count(pid), calls, `pid ${pid}: ${t.out.slice(-2000)}`);
    await t.stop('SIGINT');
    assert.match(t.out, new RegExp(`events=${nVictims * calls} dropped=0`));
  }, 'SIGTERM');
}

const skip = !fs.existsSync(tool) && 'examples not built';

test('ring buffer events arrive exactly once each', { skip, timeout: 60000 }, () => run(1, 500));

test('ring buffer events of four processes arrive exactly once each', { skip, timeout: 90000 }, () => run(4, 1000));
