// Stock libbpf-tools opensnoop (Debian's binary, unmodified: CO-RE, syscall tracepoints, a perf
// buffer) under the shim sees the opens of processes started under the agent: successful ones
// with their fd, failed ones with their errno, each under the right command name.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { Proc, cli, withServer } from './harness';
import { toolOnPty, waitAttached } from './tools';

const opensnoop = '/usr/sbin/opensnoop';
const missing = `/nonexistent-bpftime-${process.pid}`;

test('opensnoop reports the opens of a traced process', { skip: !fs.existsSync(opensnoop) && 'libbpf-tools not installed', timeout: 60000 }, async () => {
  await withServer(async (env, dir, procs) => {
    // libbpf-tools buffer stdout unless it is a terminal: give it one.
    const tool = toolOnPty(`${opensnoop}`, env);
    procs.push(tool);
    await tool.waitFor(/PID\s+COMM\s+FD\s+ERR\s+PATH/);
    await waitAttached(dir, 2);
    const target = new Proc(process.execPath, [cli, 'start', '/bin/sh', '-c', `cat /etc/hostname >/dev/null; cat ${missing} 2>/dev/null; exit 0`], env);
    procs.push(target);
    assert.equal(await target.exited, 0);
    await tool.waitFor(new RegExp(`^\\d+\\s+cat\\s+-1\\s+2 ${missing}\\r?$`, 'm'));
    assert.match(tool.out, /^\d+\s+cat\s+3\s+0 \/etc\/hostname\r?$/m);
  });
});
