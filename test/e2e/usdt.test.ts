// USDT through bpftrace: the probe's arguments (a register and a string) reach the program, and
// its semaphore is raised while bpftrace is attached and lowered again when it goes, so the
// victim's guarded probe sites run only while traced.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, cli, haveCommand, root, withServer } from './harness';

const victim = path.join(root, 'examples', 'usdt', 'usdt_victim');

test('bpftrace usdt probe with semaphore', { skip: (!haveCommand('bpftrace') && 'bpftrace not installed') || (!fs.existsSync(victim) && 'examples not built'), timeout: 60000 }, async () => {
  await withServer(async (env, _dir, procs) => {
    const v = new Proc(process.execPath, [cli, 'start', victim], env, { stdin: true });
    procs.push(v);
    const pid = Number((await v.waitFor(/ready pid=(\d+)/))[1]);
    v.write('4\n');
    await v.waitFor(/done 4 fired 0/); // nobody attached: the semaphore is zero
    const bt = new Proc(process.execPath, [cli, 'load', 'bpftrace', '-p', String(pid), '-e',
      `usdt:${victim}:bpftime:request { @n = count(); printf("req %d %s\\n", arg0, str(arg1)); }`], env);
    procs.push(bt);
    await bt.waitFor(/Attaching 1 probe/);
    await new Promise((r) => setTimeout(r, 500));
    v.write('5\n');
    await v.waitFor(/done 5 fired 5/);
    await bt.waitFor(/^req 4 label$/m);
    await bt.stop('SIGINT');
    assert.deepEqual(bt.out.match(/^req \d+ label$/gm), ['req 0 label', 'req 1 label', 'req 2 label', 'req 3 label', 'req 4 label']);
    assert.match(bt.out, /^@n: 5$/m);
    v.write('3\n');
    await v.waitFor(/done 3 fired 0/); // detached: the semaphore is back to zero
  }, 'SIGTERM');
});
