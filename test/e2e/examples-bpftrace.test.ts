// The bpftrace scripts in examples/bpftrace run under the shim and print what they promise:
// malloc_sizes.bt counts exactly the victim's mallocs, opens.bt shows a traced shell's opens
// with their results.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, cli, haveCommand, root, withServer } from './harness';

const scripts = path.join(root, 'examples', 'bpftrace');
const victim = path.join(root, 'examples', 'malloc', 'victim');
const skip = (!haveCommand('bpftrace') && 'bpftrace not installed') || (!fs.existsSync(victim) && 'examples not built');

test('examples/bpftrace/malloc_sizes.bt counts a victim\'s mallocs exactly', { skip, timeout: 60000 }, async () => {
  await withServer(async (env, _dir, procs) => {
    const bt = new Proc(process.execPath, [cli, 'load', 'bpftrace', path.join(scripts, 'malloc_sizes.bt')], env);
    procs.push(bt);
    await bt.waitFor(/tracing malloc/);
    const v = new Proc(process.execPath, [cli, 'start', victim], env, { stdin: true });
    procs.push(v);
    const pid = (await v.waitFor(/ready pid=(\d+)/))[1];
    v.write('1000\n');
    await v.waitFor(/done 1000/);
    v.write('q\n');
    await v.exited;
    bt.child.kill('SIGINT');
    await bt.exited;
    assert.match(bt.out, new RegExp(`^@calls\\[${pid}\\]: 1000$`, 'm'));
    assert.match(bt.out, /^done$/m);
  });
});

test('examples/bpftrace/opens.bt shows a traced shell\'s opens and their results', { skip, timeout: 60000 }, async () => {
  await withServer(async (env, _dir, procs) => {
    const bt = new Proc(process.execPath, [cli, 'load', 'bpftrace', path.join(scripts, 'opens.bt')], env);
    procs.push(bt);
    await bt.waitFor(/PID\s+COMM\s+RET\s+PATH/);
    const sh = new Proc(process.execPath, [cli, 'start', '/bin/sh', '-c', 'cat /etc/hostname >/dev/null; cat /nonexistent-bpftime-example 2>/dev/null; true'], env);
    procs.push(sh);
    await sh.exited;
    await bt.waitFor(/^\d+\s+cat\s+-2 \/nonexistent-bpftime-example$/m);
    assert.match(bt.out, /^\d+\s+cat\s+3 \/etc\/hostname$/m);
  });
});
