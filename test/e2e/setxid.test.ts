// Programs that change their ids run under the agent exactly as without it. glibc applies every
// set*id call to all threads of the process (the agent's included) and aborts when the results
// differ; the agent's threads take the caller's capability state before each call (setxid.c).
// The target runs with the malloc example tool attached (a uprobe in libc), and its output is
// compared with a plain run; after the change the agent's probes still count and its server
// connection still serves. A program exec'ed after dropping root cannot reach root's server
// socket: it runs at once, untraced, and says so on stderr.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, haveCommand, isRoot, root, stopServer, tmpRuntimeDir } from './harness';
import { settledCount } from './malloc-tool';
import { queryStatus } from '../../src-ts/cli/status';

const tool = path.join(root, 'examples', 'malloc', 'malloc');
const skip = (!isRoot && 'needs root (changes ids)') || (!fs.existsSync(tool) && 'examples not built') ||
  (!haveCommand('cc') && 'no C compiler') || false;

interface Run { code: number | null; signal: string | null; stdout: string; stderr: string }

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, input = ''): Promise<Run> {
  return new Promise((resolve) => {
    const c = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    c.stdin.on('error', () => {}); // a program that exits before reading: EPIPE is no failure
    c.stdin.end(input);
  });
}

function buildProgram(dir: string): string {
  const bin = path.join(dir, 'setxid_calls');
  execFileSync('cc', ['-O0', '-g', '-o', bin, path.join(root, 'test', 'programs', 'setxid_calls.c')]);
  return bin;
}

/** Starts the malloc tool (a uprobe on libc's malloc in every traced process). */
async function startTool(env: NodeJS.ProcessEnv): Promise<Proc> {
  const t = new Proc(process.execPath, [cli, 'load', tool, '-i', '0.3'], env);
  await t.waitFor(/Tracing malloc in .*libc/);
  return t;
}

test('setpriv, chroot --userspec, runuser change ids under the agent as without it', { skip: (skip || (!haveCommand('setpriv') && 'no setpriv')) as any, timeout: 90000 }, async () => {
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  const t = await startTool(env);
  try {
    for (const args of [
      ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', 'id'],
      ['setpriv', '--reuid=nobody', '--regid=nogroup', '--init-groups', '--bounding-set=-all', '--inh-caps=-all', '--', 'id'],
      ['setpriv', '--euid=nobody', '--egid=nogroup', '--keep-groups', '--', 'id', '-u'],
      ['chroot', '--userspec=nobody:nogroup', '/', 'id'], // setgroups + setgid + setuid, no KEEPCAPS
      ...(haveCommand('runuser') ? [['runuser', '-u', 'nobody', '--', 'id']] : []),
    ]) {
      const plain = await run(args[0], args.slice(1));
      assert.equal(plain.code, 0, plain.stderr);
      const traced = await run(process.execPath, [cli, 'start', ...args], env);
      assert.equal(traced.signal, null, `${args.join(' ')} died:\n${traced.stderr}`);
      assert.equal(traced.code, 0, traced.stderr);
      assert.equal(traced.stdout, plain.stdout);
    }
    // `id`, exec'ed as nobody, may not enter root's runtime directory: untraced, and it says so.
    const traced = await run(process.execPath, [cli, 'start', 'setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', '--', 'id'], env);
    assert.match(traced.stderr, /bpftime agent: uid 65534 may not reach the server in .*; this process is not traced/);
  } finally {
    await t.stop('SIGINT');
    stopServer(dir);
  }
});

test('KEEPCAPS + setresuid + capset, failing set*id calls: same results and the same credentials on every thread', { skip: skip as any, timeout: 90000 }, async () => {
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  const bin = buildProgram(dir);
  const plain = await run(bin, []);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /^setresuid\(0, 0, 0\) = -1 EPERM$/m);
  assert.match(plain.stdout, /^all threads agree: yes$/m);
  const t = await startTool(env);
  try {
    const traced = await run(process.execPath, [cli, 'start', bin], env);
    assert.equal(traced.signal, null, traced.stderr);
    assert.equal(traced.code, 0, traced.stderr);
    // The agent's thread was there to be compared (and agreed, or stdout says no).
    const n = Number(traced.stderr.match(/threads compared: (\d+)/)?.[1]);
    assert.ok(n >= 2, `the agent's thread is not in the process:\n${traced.stderr}`);
    assert.equal(traced.stdout, plain.stdout, traced.stderr);
  } finally {
    await t.stop('SIGINT');
    stopServer(dir);
  }
});

test('after dropping root the agent still runs its probes and keeps its server connection', { skip: skip as any, timeout: 90000 }, async () => {
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  const bin = buildProgram(dir);
  const t = await startTool(env);
  let v: Proc | undefined;
  try {
    v = new Proc(process.execPath, [cli, 'start', bin, '--wait'], env, { stdin: true });
    const pid = Number((await v.waitFor(/ready pid=(\d+)/))[1]);
    v.write('go\n');
    await v.waitFor(/all threads agree: (yes|no)/);
    assert.match(v.out, /all threads agree: yes/, v.out);
    assert.match(v.out, /^Uid:\t65534\t65534\t65534\t65534$/m);
    const before = await settledCount(t, pid);
    v.write('1000\n');
    await v.waitFor(/done 1000/);
    assert.equal((await settledCount(t, pid)) - before, 1000, t.out);
    const s = await queryStatus(dir);
    assert.ok(s.clients.some((c: any) => c.role === 'agent' && c.pid === pid), `agent ${pid} not connected: ${JSON.stringify(s.clients)}`);
  } finally {
    v?.child.stdin?.end();
    await v?.stop('SIGTERM');
    await t.stop('SIGINT');
    stopServer(dir);
  }
});

test('syscall tracepoints see the id changes as on the kernel (the agent\'s own calls stay out)', { skip: (skip || (!haveCommand('bpftrace') && 'bpftrace not installed')) as any, timeout: 90000 }, async (t) => {
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  const bin = buildProgram(dir);
  const script = 'tracepoint:syscalls:sys_enter_setresgid,tracepoint:syscalls:sys_enter_setgroups,' +
    'tracepoint:syscalls:sys_enter_capset,tracepoint:syscalls:sys_enter_setuid,tracepoint:syscalls:sys_enter_prctl ' +
    '/comm == "setxid_calls"/ { printf("%s %s\\n", comm, probe); } ' +
    'tracepoint:syscalls:sys_exit_setresgid,tracepoint:syscalls:sys_exit_setuid /comm == "setxid_calls"/ ' +
    '{ printf("%s ret=%d\\n", probe, args->ret); } ' +
    // bpftrace prints "Attaching" before it attaches, in the script's order: the last probe
    // ticking says every tracepoint is in (under load the target could otherwise start first).
    'interval:ms:100 { if (@once == 0) { printf("attached\\n"); @once = 1; } }';
  const events = (out: string) => out.split('\n').filter((l) => /^(setxid_calls |tracepoint:)/.test(l));
  let shimEvents: string[];
  const bt = new Proc(process.execPath, [cli, 'load', 'bpftrace', '-e', script], env);
  try {
    await bt.waitFor(/^attached$/m, 30000);
    const traced = await run(process.execPath, [cli, 'start', bin], env);
    assert.equal(traced.code, 0, traced.stderr);
    // The program's last calls: setgroups([0]) after setuid(0) failed.
    await bt.waitFor(/sys_exit_setuid ret=-1\n(.*\n)*.*sys_enter_setgroups\n/, 10000);
    await bt.stop('SIGINT');
    shimEvents = events(bt.out);
  } finally {
    await bt.stop('SIGINT');
    stopServer(dir);
  }
  assert.ok(shimEvents.length > 10, shimEvents.join('\n'));
  const kernel = await run('bpftrace', ['-e', script, '-c', bin]);
  if (kernel.code !== 0 || !/Attaching/.test(kernel.stdout + kernel.stderr)) {
    t.skip(`kernel bpftrace unavailable: ${kernel.stderr.split('\n').slice(-2).join(' | ')}`);
    return;
  }
  assert.deepEqual(shimEvents, events(kernel.stdout));
});
