// Perf buffers end to end: a libbpf tool (examples/perfbuf) sends each malloc of the victim
// through a PERF_EVENT_ARRAY with bpf_perf_event_output; libbpf's perf_buffer (mmap'ed rings,
// epoll) receives them under the shim. Every call arrives once, with its size and thread name,
// and nothing is lost.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, cli, root, withServer } from './harness';
import { waitInstalled } from './tools';

const tool = path.join(root, 'examples', 'perfbuf', 'perfbuf');
const victim = path.join(root, 'examples', 'malloc', 'victim');

test('perf buffer events arrive exactly once each', { skip: !fs.existsSync(tool) && 'examples not built', timeout: 60000 }, async () => {
  await withServer(async (env, dir, procs) => {
    const v = new Proc(process.execPath, [cli, 'start', victim], env, { stdin: true });
    procs.push(v);
    const pid = Number((await v.waitFor(/ready pid=(\d+)/))[1]);
    const t = new Proc(process.execPath, [cli, 'load', tool, '-p', String(pid)], env);
    procs.push(t);
    await t.waitFor(/Tracing malloc/);
    await waitInstalled(dir, pid, 1);
    v.write('500\n');
    await v.waitFor(/done 500/);
    const line = new RegExp(`^pid=${pid} tid=${pid} size=16 comm=victim$`, 'gm');
    for (let i = 0; i < 100 && (t.out.match(line) ?? []).length < 500; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300)); // nothing more may come
    assert.equal((t.out.match(line) ?? []).length, 500, t.out.slice(-2000));
    await t.stop('SIGINT');
    assert.match(t.out, /events=500 lost=0/);
  }, 'SIGTERM');
});
