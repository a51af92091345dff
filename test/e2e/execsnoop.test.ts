// Stock libbpf-tools execsnoop (Debian's binary, unmodified) under the shim. Its enter program
// reads the parent's pid with CO-RE through bpf_get_current_task() (`task->real_parent->tgid`,
// offsets from the kernel's BTF), so each line's PPID comes from the agent's task_struct
// stand-ins. The exit of a successful exec is reported in the new image (ret 0, its comm); a
// failed one in the old image (-x shows it, with the errno).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { Proc, cli, withServer } from './harness';
import { toolOnPty, waitAttached } from './tools';

const execsnoop = '/usr/sbin/execsnoop';
const missing = `/nonexistent-bpftime-${process.pid}`;

test('execsnoop shows execs of a traced shell with its pid as PPID', { skip: !fs.existsSync(execsnoop) && 'libbpf-tools not installed', timeout: 60000 }, async () => {
  await withServer(async (env, dir, procs) => {
    // libbpf-tools buffer stdout unless it is a terminal: give it one. -x: failed execs too.
    const tool = toolOnPty(`${execsnoop} -x`, env);
    procs.push(tool);
    await tool.waitFor(/PCOMM\s+PID\s+PPID\s+RET\s+ARGS/);
    await waitAttached(dir, 2);
    const target = new Proc(process.execPath, [cli, 'start', '/bin/sh', '-c', `/bin/true; /bin/echo hi > /dev/null; ${missing} 2>/dev/null; echo sh=$$`], env);
    procs.push(target);
    assert.equal(await target.exited, 0);
    const sh = (await target.waitFor(/sh=(\d+)/))[1];
    // Children of the shell: their own pid, the shell's as PPID, exec's return value, argv.
    const t = await tool.waitFor(new RegExp(`^true\\s+(\\d+)\\s+${sh}\\s+0 /bin/true\\s*\\r?$`, 'm'));
    const e = await tool.waitFor(new RegExp(`^echo\\s+(\\d+)\\s+${sh}\\s+0 /bin/echo hi\\s*\\r?$`, 'm'));
    // A failed exec returns in the old image, still named after the shell: -ENOENT.
    const f = await tool.waitFor(new RegExp(`^sh\\s+(\\d+)\\s+${sh}\\s+-2 ${missing}\\s*\\r?$`, 'm'));
    const pids = [t[1], e[1], f[1]];
    assert.equal(new Set([...pids, sh]).size, 4, `each exec is in a child of its own: ${pids} (sh ${sh})`);
  });
});
