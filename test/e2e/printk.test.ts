// bpf_printk from a uprobe program reaches the served trace_pipe: a libbpf tool
// (examples/printk) prints each malloc of the victim with its size argument (read from the
// pt_regs context) and the thread's name; `cat trace_pipe` under the shim shows those lines in
// the kernel's format.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, cli, root, shimLib, withServer } from './harness';
import { waitInstalled } from './tools';

const tool = path.join(root, 'examples', 'printk', 'printk');
const victim = path.join(root, 'examples', 'malloc', 'victim');

test('bpf_printk lines appear in the served trace_pipe', { skip: !fs.existsSync(tool) && 'examples not built', timeout: 60000 }, async () => {
  await withServer(async (env, dir, procs) => {
    const v = new Proc(process.execPath, [cli, 'start', victim], env, { stdin: true });
    procs.push(v);
    const pid = Number((await v.waitFor(/ready pid=(\d+)/))[1]);
    const t = new Proc(process.execPath, [cli, 'load', tool, '-p', String(pid)], env);
    procs.push(t);
    await t.waitFor(/Printing malloc calls/);
    await waitInstalled(dir, pid, 1);
    const pipe = new Proc('cat', ['/sys/kernel/tracing/trace_pipe'], { ...env, LD_PRELOAD: shimLib });
    procs.push(pipe);
    v.write('3\n');
    await v.waitFor(/done 3/);
    for (let i = 0; i < 200 && (pipe.out.match(/bpf_trace_printk: malloc\(16\) by victim/g) ?? []).length < 3; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const lines = pipe.out.split('\n').filter((l) => l.includes('bpf_trace_printk'));
    assert.equal(lines.length, 3, pipe.out);
    for (const l of lines) assert.match(l, new RegExp(`^\\s+victim-${pid} \\[\\d{3}\\] d\\.\\.31 +\\d+\\.\\d{6}: bpf_trace_printk: malloc\\(16\\) by victim$`));
  }, 'SIGTERM');
});
