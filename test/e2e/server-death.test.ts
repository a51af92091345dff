// The syscall server killed with SIGKILL while everything runs: tools, traced targets and a later
// server must all come through it (issue 4).
//   - a tool asleep in epoll on a ring buffer (the example libbpf tool) wakes, its poll fails
//     with EIO, the shim says once that the server went away, and the tool ends;
//   - a tool making bpf() calls that need the server (stock bpftool in batch mode) gets a prompt
//     EIO and ends with an error, instead of hanging or starting a server that knows none of its fds;
//   - the traced target keeps running and answering, its hooks gone with the server's objects, its
//     agent thread asleep (not spinning) until a server exists again;
//   - a new server serves new tools (stock bpftool lists programs), and the old target registers
//     with it and is traced again by a new tool.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cli, haveCommand, root, shimLib, tmpRuntimeDir } from './harness';
import { toolOnPty, waitAttached } from './tools';
import { queryStatus } from '../../src-ts/cli/status';

const ringTool = path.join(root, 'examples', 'ringbuf', 'ringbuf');
const victim = path.join(root, 'examples', 'malloc', 'victim');
const built = fs.existsSync(ringTool) && fs.existsSync(victim);
const libstdbuf = '/usr/libexec/coreutils/libstdbuf.so';
const skip = !built ? 'examples not built' : !haveCommand('bpftool') ? 'bpftool not installed'
  : !fs.existsSync(libstdbuf) ? 'coreutils stdbuf library not found' : false;

const GONE = /bpftime: the syscall server \(pid (\d+)\) went away.*restart it with: bpftime serve/g;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves with the exit code, or rejects when the process is still running after ms (a hang). */
async function exitsWithin(p: Proc, ms: number, what: string): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still running ${ms} ms after the server died:\n${p.out}`)), ms);
  });
  try {
    return await Promise.race([p.exited, hang]);
  } finally {
    clearTimeout(timer);
  }
}

async function startServer(env: NodeJS.ProcessEnv, dir: string): Promise<{ proc: Proc; pid: number }> {
  const proc = new Proc(process.execPath, [cli, 'serve'], env);
  const m = await proc.waitFor(/serving on .* \(pid (\d+)\)/);
  return { proc, pid: Number(m[1]) };
}

/** Waits until the server reports the agent of pid with the given state for some attachment. */
async function agentState(dir: string, pid: number, state: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const s = await queryStatus(dir);
    const states = s.attachments.flatMap((a: any) => a.agents.filter((g: any) => g.pid === pid).map((g: any) => g.state));
    if (states.includes(state)) return;
    await sleep(50);
  }
  assert.fail(`the agent of ${pid} never reached ${state}: ${JSON.stringify(await queryStatus(dir))}`);
}

/** CPU time (utime + stime, clock ticks) of pid's thread named name. */
function threadTicks(pid: number, name: string): number {
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (comm !== name) continue;
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // fields 14 and 15 of stat(5)
  }
  throw new Error(`no thread ${name} in ${pid}`);
}

test('a killed server wedges neither tools nor targets, and a new one takes over', { skip, timeout: 120000 }, async () => {
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  const procs: Proc[] = [];
  try {
    const first = await startServer(env, dir);
    procs.push(first.proc);
    const v = new Proc(process.execPath, [cli, 'start', victim], env, { stdin: true });
    procs.push(v);
    const pid = Number((await v.waitFor(/ready pid=(\d+)/))[1]);

    // (a) a ring buffer tool, asleep in epoll between events
    const rt = new Proc(process.execPath, [cli, 'load', ringTool, '-p', String(pid)], env);
    procs.push(rt);
    await rt.waitFor(/Tracing malloc of pid/);
    await agentState(dir, pid, 'attached');
    v.write('3\n');
    await v.waitFor(/done 3/);
    await rt.waitFor(new RegExp(`pid=${pid} .*size=`));

    // (b) a tool making bpf() calls that need the server: stock bpftool reading commands from a
    // pipe, its stdout line-buffered (coreutils' stdbuf library), one command answered before the kill
    const bt = new Proc('bpftool', ['batch', 'file', '-'], { ...env, LD_PRELOAD: `${libstdbuf} ${shimLib}`, _STDBUF_O: 'L' }, { stdin: true });
    procs.push(bt);
    bt.write('prog list\nversion\n'); // `version` prints once the listing is over
    await bt.waitFor(/name on_malloc[^]*\nbpftool v\d/);

    process.kill(first.pid, 'SIGKILL');
    await first.proc.exited;

    const rtCode = await exitsWithin(rt, 20000, 'the ring buffer tool');
    assert.match(rt.out, /polling the ring buffer failed: Input\/output error/);
    const said = [...rt.out.matchAll(GONE)];
    assert.equal(said.length, 1, `the shim says it once:\n${rt.out}`);
    assert.equal(Number(said[0][1]), first.pid);
    assert.match(rt.out, /events=3 /, 'what arrived before stays counted');
    assert.equal(rtCode, 0, 'the example tool ends as it does after any poll error');

    const before = bt.out.length;
    bt.write('prog list\n');
    bt.child.stdin!.end();
    const btCode = await exitsWithin(bt, 20000, 'bpftool');
    assert.notEqual(btCode, 0, `bpftool fails:\n${bt.out}`);
    assert.match(bt.out.slice(before), /Error: .*Input\/output error/, bt.out);
    assert.equal([...bt.out.matchAll(GONE)].length, 1, `the shim says it once:\n${bt.out}`);

    // (c) the target runs on, untraced, and its agent thread sleeps
    v.write('1000\n');
    await v.waitFor(/done 1000/);
    const ticks = threadTicks(pid, 'bpftime-agent');
    await sleep(3000);
    const used = threadTicks(pid, 'bpftime-agent') - ticks;
    assert.ok(used < 100, `the agent thread spins without a server: ${used} ticks in 3 s`);
    assert.ok(!fs.readdirSync(dir).includes('server.pid') || !isAlive(Number(fs.readFileSync(path.join(dir, 'server.pid'), 'utf8'))),
      'no server was started behind the user\'s back');

    // a new server serves new tools, and the old target registers with it again
    const second = await startServer(env, dir);
    procs.push(second.proc);
    for (let i = 0; i < 200; i++) {
      const s = await queryStatus(dir);
      if (s.clients.some((c: any) => c.role === 'agent' && c.pid === pid)) break;
      await sleep(50);
    }
    const st = await queryStatus(dir);
    assert.ok(st.clients.some((c: any) => c.role === 'agent' && c.pid === pid), `the target is back: ${JSON.stringify(st.clients)}`);
    const rt2 = new Proc(process.execPath, [cli, 'load', ringTool, '-p', String(pid)], env);
    procs.push(rt2);
    await rt2.waitFor(/Tracing malloc of pid/);
    await agentState(dir, pid, 'attached');
    const list = new Proc('bpftool', ['prog', 'list'], { ...env, LD_PRELOAD: shimLib });
    procs.push(list);
    assert.equal(await exitsWithin(list, 20000, 'bpftool prog list'), 0, list.out);
    assert.match(list.out, /kprobe +name on_malloc/);
    assert.doesNotMatch(list.out, GONE);
    v.write('2\n');
    await v.waitFor(/done 2/);
    await rt2.waitFor(new RegExp(`pid=${pid} .*size=`));
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const opensnoop = '/usr/sbin/opensnoop';

test('stock opensnoop ends with an error when the server dies; its traced shell runs on', { skip: !fs.existsSync(opensnoop) && 'libbpf-tools not installed', timeout: 90000 }, async () => {
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  const procs: Proc[] = [];
  try {
    const server = await startServer(env, dir);
    procs.push(server.proc);
    // libbpf-tools buffer stdout unless it is a terminal: give it one (script -e: its exit status).
    const tool = toolOnPty(`${opensnoop}`, env);
    procs.push(tool);
    await tool.waitFor(/PID\s+COMM\s+FD\s+ERR\s+PATH/);
    await waitAttached(dir, 2);
    // A shell that opens a file per line it reads, with builtins only (no child process).
    const target = new Proc(process.execPath, [cli, 'start', '/bin/sh', '-c', 'while read l; do read -r x < /etc/hostname; echo "opened $l"; done'], env, { stdin: true });
    procs.push(target);
    target.write('1\n');
    await target.waitFor(/opened 1/);
    await tool.waitFor(/^\d+\s+sh\s+\d+\s+0 \/etc\/hostname\r?$/m);

    process.kill(server.pid, 'SIGKILL');
    await server.proc.exited;
    const code = await exitsWithin(tool, 20000, 'opensnoop');
    assert.notEqual(code, 0, `opensnoop fails:\n${tool.out}`);
    assert.match(tool.out, /error polling perf buffer: Input\/output error/);
    assert.equal([...tool.out.matchAll(GONE)].length, 1, `the shim says it once:\n${tool.out}`);

    for (const n of [2, 3]) {
      target.write(`${n}\n`);
      await target.waitFor(new RegExp(`opened ${n}`));
    }
    assert.equal(target.child.exitCode, null, 'the target runs on');
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
