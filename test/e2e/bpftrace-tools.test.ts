// The bpftrace tools Debian ships (/usr/sbin/*.bt), unmodified, under the shim: those whose
// probes live in userspace (syscall tracepoints, uprobes on libc). A deterministic workload runs
// under bpftime start; the events each tool prints for it are checked.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import { Proc, bpftimeEnv, cli, haveCommand, stopServer, tmpRuntimeDir } from './harness';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Attachments the server has installed in at least one agent ('waiting': on a binary no agent
 * has mapped yet, attached when one maps it), BEGIN/END (uprobes on bpftrace itself) not
 * counted. */
function attachedCount(env: NodeJS.ProcessEnv): number {
  try {
    const st = JSON.parse(execFileSync(process.execPath, [cli, 'status', '--json'], { env, encoding: 'utf8' }));
    type A = { path: string; agents: Array<{ state: string }> };
    return (st.attachments ?? []).filter((a: A) => !/bpftrace$/.test(a.path) && a.agents.some((g) => g.state === 'attached' || g.state === 'waiting')).length;
  } catch {
    return 0;
  }
}

/** Runs tool `name` under the shim until its `probes` non-BEGIN/END probes are attached, runs
 * the workload under bpftime start, and returns what the tool printed. */
async function runTool(name: string, probes: number, workload: string[], settleMs = 800, seen: { workload?: string } = {}): Promise<string> {
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  const bt = new Proc(process.execPath, [cli, 'load', 'bpftrace', `/usr/sbin/${name}.bt`], env);
  try {
    await bt.waitFor(/Attaching \d+ probes/, 30000);
    for (const end = Date.now() + 15000; Date.now() < end && attachedCount(env) < probes; ) await sleep(100);
    assert.ok(attachedCount(env) >= probes, `${name}: probes not attached\n${bt.out}`);
    const w = new Proc(process.execPath, [cli, 'start', ...workload], { ...env, LC_ALL: 'C', LANG: 'C' });
    assert.equal(await w.exited, 0, w.out);
    seen.workload = w.out;
    await sleep(settleMs);
    await bt.stop('SIGINT', 5000); // END runs and the maps are printed
    // 'exit' may come before the last output is read
    const streams = [bt.child.stdout!, bt.child.stderr!].filter((x) => !x.destroyed && !x.readableEnded);
    await Promise.race([Promise.all(streams.map((x) => new Promise((r) => x.once('close', r)))), sleep(3000)]);
    return bt.out;
  } finally {
    await bt.stop('SIGKILL');
    stopServer(dir);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const skip = !haveCommand('bpftrace') && 'bpftrace not installed';
const sh = (script: string) => ['/bin/sh', '-c', script];

test('killsnoop.bt: kill(2) calls of a traced shell', { skip: skip || (!fs.existsSync('/usr/sbin/killsnoop.bt') && 'no killsnoop.bt'), timeout: 60000 }, async () => {
  // TIME PID COMM SIG TPID RESULT; kill -0 of an absent pid fails with ESRCH (-3).
  const out = await runTool('killsnoop', 2, sh('kill -0 $$; kill -0 2147483646 2>/dev/null; exit 0'));
  assert.match(out, /^TIME\s+PID\s+COMM\s+SIG\s+TPID\s+RESULT$/m, out); // from BEGIN
  const lines = out.split('\n').filter((l) => /^\d\d:\d\d:\d\d\s+\d+\s+sh\s/.test(l));
  assert.equal(lines.length, 2, out);
  const [ok, bad] = lines.map((l) => l.trim().split(/\s+/));
  assert.deepEqual([ok[3], ok[4], ok[5]], ['0', ok[1], '0'], out); // to itself, succeeded
  assert.deepEqual([bad[3], bad[4], bad[5]], ['0', '2147483646', '-3'], out);
});

test('statsnoop.bt: stat family of a traced process', { skip: skip || (!fs.existsSync('/usr/sbin/statsnoop.bt') && 'no statsnoop.bt'), timeout: 60000 }, async () => {
  const missing = `/nonexistent-bpftime-statsnoop-${process.pid}`;
  const out = await runTool('statsnoop', 8, sh(`stat /etc/hostname >/dev/null; stat ${missing} 2>/dev/null; exit 0`));
  assert.match(out, /^PID\s+COMM\s+ERR\s+PATH$/m, out);
  assert.match(out, /^\d+\s+stat\s+0 \/etc\/hostname$/m, out);
  assert.match(out, new RegExp(`^\\d+\\s+stat\\s+2 ${missing}$`, 'm'), out);
});

test('opensnoop.bt: open/openat of a traced process', { skip: skip || (!fs.existsSync('/usr/sbin/opensnoop.bt') && 'no opensnoop.bt'), timeout: 60000 }, async () => {
  const missing = `/nonexistent-bpftime-opensnoop-${process.pid}`;
  const out = await runTool('opensnoop', 4, sh(`cat /etc/hostname >/dev/null; cat ${missing} 2>/dev/null; exit 0`));
  assert.match(out, /^PID\s+COMM\s+FD\s+ERR\s+PATH$/m, out);
  assert.match(out, /^\d+\s+cat\s+3\s+0 \/etc\/hostname$/m, out);
  assert.match(out, new RegExp(`^\\d+\\s+cat\\s+-1\\s+2 ${missing}$`, 'm'), out);
});

test('gethostlatency.bt: getaddrinfo latency from libc uprobes', { skip: skip || (!fs.existsSync('/usr/sbin/gethostlatency.bt') && 'no gethostlatency.bt') || (!haveCommand('getent') && 'no getent'), timeout: 60000 }, async () => {
  // uprobe:libc:... resolved by library name; TIME PID COMM LATms HOST at each return.
  const out = await runTool('gethostlatency', 6, ['getent', 'ahosts', 'localhost']);
  assert.match(out, /^TIME\s+PID\s+COMM\s+LATms\s+HOST$/m, out);
  assert.match(out, /^\d\d:\d\d:\d\d\s+\d+\s+getent\s+\d+ localhost$/m, out);
});

test('bashreadline.bt: lines an interactive bash reads', { skip: skip || (!fs.existsSync('/usr/sbin/bashreadline.bt') && 'no bashreadline.bt') || (!haveCommand('script') && 'no script(1)'), timeout: 60000 }, async () => {
  // readline() only runs when bash is interactive on a terminal: script(1) gives it a pty, and
  // the lines arrive on its stdin. TIME PID COMMAND at readline's return.
  const out = await runTool('bashreadline', 1, sh(`(sleep 1; echo 'echo bpftime-readline-${process.pid}'; sleep 0.5; echo exit) | timeout 15 script -q -c 'bash --norc -i' /dev/null >/dev/null; exit 0`));
  assert.match(out, new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\s+\\d+\\s+echo bpftime-readline-${process.pid}$`, 'm'), out);
  assert.match(out, /^\d\d:\d\d:\d\d\s+\d+\s+exit$/m, out);
  assert.match(out, /^TIME\s+PID\s+COMMAND$/m, out);
});

test('setuids.bt: setresuid and setuid of a traced process', { skip: skip || (!fs.existsSync('/usr/sbin/setuids.bt') && 'no setuids.bt') || (!haveCommand('python3') && 'no python3') || (process.getuid?.() !== 0 && 'needs root to change uids'), timeout: 60000 }, async () => {
  // (Not setpriv: it keeps capabilities with PR_SET_KEEPCAPS, which is per thread, then changes
  // gids in every thread through glibc's setxid broadcast; with the agent's thread present the
  // second change fails there and glibc aborts, as it would for any multi-threaded setpriv.)
  const out = await runTool('setuids', 6, ['python3', '-c', 'import os; os.setresuid(65534, 65534, 65534); os.setuid(65534)']);
  assert.match(out, /^TIME\s+PID\s+COMM\s+UID\s+SYSCALL\s+ARGS \(RET\)$/m, out);
  assert.match(out, /^\d\d:\d\d:\d\d\s+\d+\s+python3\s+0\s+setresuid ruid=65534 euid=65534 suid=65534 \(0\)$/m, out);
  assert.match(out, /^\d\d:\d\d:\d\d\s+\d+\s+python3\s+65534\s+setuid\s+uid=65534 \(0\)$/m, out);
});

test('naptime.bt: nanosleep(2) with its parent from curtask->real_parent and the time read from user memory', { skip: skip || (!fs.existsSync('/usr/sbin/naptime.bt') && 'no naptime.bt') || (!haveCommand('perl') && 'no perl'), timeout: 60000 }, async () => {
  // glibc's sleep() and nanosleep() make clock_nanosleep: perl's syscall() makes nanosleep itself.
  const seen: { workload?: string } = {};
  const out = await runTool('naptime', 1, sh('perl -e \'my $t = pack("qq", 1, 250000000); syscall(35, $t, 0)\'; echo "sh=$$"'), 800, seen);
  assert.match(out, /^TIME\s+PPID\s+PCOMM\s+PID\s+COMM\s+SECONDS$/m, out);
  const shPid = seen.workload?.match(/sh=(\d+)/)?.[1];
  assert.ok(shPid, seen.workload);
  assert.match(out, new RegExp(`^\\d\\d:\\d\\d:\\d\\d ${shPid}\\s+sh\\s+\\d+\\s+perl\\s+1\\.250$`, 'm'), out);
});

test('syscount.bt: raw_syscalls counts by syscall and process, printed at END', { skip: skip || (!fs.existsSync('/usr/sbin/syscount.bt') && 'no syscount.bt'), timeout: 60000 }, async () => {
  const out = await runTool('syscount', 1, sh('for i in 1 2 3 4 5; do kill -0 $$; done; exit 0'));
  assert.match(out, /^Top 10 syscalls IDs:$/m, out);
  assert.match(out, /^@syscall\[62\]: 5$/m, out); // kill(2), only the shell's five
  assert.match(out, /^@process\[sh\]: \d+$/m, out);
});

test('cpuwalk.bt: profile:hz:99 samples a busy traced process, idle ticks filtered out by /pid/', { skip: skip || (!fs.existsSync('/usr/sbin/cpuwalk.bt') && 'no cpuwalk.bt') || (!haveCommand('python3') && 'no python3'), timeout: 60000 }, async () => {
  // Only traced processes are visible: the samples come from the busy loop, and the ticks of
  // other CPUs run as the idle task (pid 0), which the tool's /pid/ filter drops as on a kernel.
  const out = await runTool('cpuwalk', 2, ['python3', '-c', 'import time\nt = time.time() + 1.5\nwhile time.time() < t: pass']);
  assert.match(out, /^Sampling CPU at 99hz\.\.\. Hit Ctrl-C to end\.$/m, out);
  const counts = [...out.matchAll(/^\[(\d+), \d+\)\s+(\d+) \|/gm)].map((m) => Number(m[2]));
  const total = counts.reduce((a, b) => a + b, 0);
  assert.ok(total >= 3 && total <= 2 * 99 * 3, `samples ${total}\n${out}`);
});
