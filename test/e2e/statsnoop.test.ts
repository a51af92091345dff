// Stock libbpf-tools statsnoop (Debian 0.26's binary, unmodified) decides which of its programs
// to load by checking for /sys/kernel/debug/tracing/events/syscalls/<name>/format, with the
// syscall's name where the kernel's events are sys_enter_<name>: so on a kernel it loads none
// and reports nothing. Under the shim it must do the same, because the served tracefs answers
// those paths as the kernel's does; a stat workload run meanwhile leaves no line.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import { spawnSync } from 'child_process';
import { shimLib } from './harness';
import { kernelToolsUsable, runWorkload, toolOnPty, withServer } from './tools';
import { queryStatus } from '../../src-ts/cli/status';

const statsnoop = '/usr/sbin/statsnoop';
const HEADER = /PID\s+COMM\s+RET\s+ERR\s+PATH/;

/** The tool's lines after its header (none expected). */
const events = (out: string) => out.split(HEADER)[1]?.split('\n').map((l) => l.trim()).filter((l) => l && !/^Session terminated/.test(l)) ?? [];

test('statsnoop loads what it loads on the kernel: nothing, for want of the events it looks for', { skip: !fs.existsSync(statsnoop) && 'libbpf-tools not installed', timeout: 60000 }, async (t) => {
  await withServer(async (env, dir, procs) => {
    // The path statsnoop checks and the kernel's real one, asked with access() as statsnoop does
    // (dash's test -r is a faccessat), as the served tracefs answers them.
    const probe = `for p in /sys/kernel/debug/tracing/events/syscalls/statfs/format /sys/kernel/debug/tracing/events/syscalls/sys_enter_statfs/format; do test -r $p && echo "$p yes" || echo "$p no"; done`;
    const seen = spawnSync('sh', ['-c', probe], { env: { ...env, LD_PRELOAD: shimLib }, encoding: 'utf8' });
    assert.match(seen.stdout, /syscalls\/statfs\/format no/);
    assert.match(seen.stdout, /syscalls\/sys_enter_statfs\/format yes/);

    const tool = toolOnPty(statsnoop, env);
    procs.push(tool);
    await tool.waitFor(HEADER);
    const s = await queryStatus(dir);
    assert.equal((s.objects as any).progs.length, 0, 'no program loaded');
    runWorkload(env, ['/usr/bin/stat', '/etc/hostname', '/nonexistent-statsnoop']);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(events(tool.out), []);
  });

  const noKernel = kernelToolsUsable();
  if (noKernel) return t.diagnostic(noKernel);
  const tool = toolOnPty(statsnoop);
  try {
    await tool.waitFor(HEADER, 20000);
    runWorkload(undefined, ['/usr/bin/stat', '/etc/hostname', '/nonexistent-statsnoop']);
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(events(tool.out), [], 'the kernel reports nothing either');
  } finally {
    await tool.stop('SIGINT');
  }
});
