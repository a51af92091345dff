// What follows a traced process: its exec'd images and forked children, whether it was started
// with the agent (`bpftime start`) or got it later (`bpftime attach PID`), and id changes after an
// attach. Stock bpftrace under the shim traces family_victim (test/programs/family_victim.c,
// compiled with clang): a uprobe on beat() and openat of marker paths say which process of the
// family ran what.
//  - attach follows exec: the image the process execs loads the agent again (sys_exit_execve, the
//    new image's calls), exactly the lines the kernel's bpftrace prints; --no-follow: nothing of
//    the new image.
//  - a forked child gets an agent thread of its own: a tool started after the fork reaches it
//    (its attachments are installed in the child before the tool goes on), with uprobes, syscall
//    tracepoints and profile: samples of the child's own.
//  - a process that changes ids after `bpftime attach` (KEEPCAPS + setresuid + capset, as
//    setpriv) runs as without the agent, and the tool sees its calls as the kernel's does.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Proc, bpftimeEnv, cannotPtrace, cleanEnv, cli, haveCommand, isRoot, root, stopServer, tmpRuntimeDir } from './harness';
import { queryStatus } from '../../src-ts/cli/status';

const haveTools = haveCommand('bpftrace') && haveCommand('clang');

/** Why this machine cannot run these tests, or false. */
async function cannotRun(needPtrace: boolean): Promise<string | false> {
  if (!haveTools) return 'needs bpftrace and clang';
  return needPtrace ? cannotPtrace() : false;
}

function build(dir: string, name: string): string {
  const bin = path.join(dir, name);
  execFileSync('clang', ['-O2', '-g', '-o', bin, path.join(root, 'test', 'programs', `${name}.c`)]);
  return bin;
}

async function cli1(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; out: string }> {
  const p = new Proc(process.execPath, [cli, ...args], env);
  const code = await p.exited;
  return { code, out: p.out };
}

/** bpftrace under the shim (kernel = false) or on the kernel; resolves once its probes are in
 * (BEGIN runs after bpftrace attached every probe). */
async function bpftrace(script: string, env: NodeJS.ProcessEnv, kernel: boolean): Promise<Proc> {
  const full = `BEGIN { printf("tracing\\n"); } ${script}`;
  const p = kernel ? new Proc('bpftrace', ['-e', full], env) : new Proc(process.execPath, [cli, 'load', 'bpftrace', '-e', full], env);
  await p.waitFor(/^tracing$/m, 30000);
  return p;
}

/** Sends one command to the victim and waits for its answer, then for the tool's line. */
async function step(v: Proc, cmd: string, answer: RegExp, tool?: Proc, line?: RegExp): Promise<RegExpMatchArray> {
  const vFrom = v.out.length, tFrom = tool?.out.length ?? 0;
  v.write(`${cmd}\n`);
  const m = await v.waitFor(answer, 15000, vFrom);
  if (tool && line) await tool.waitFor(line, 15000, tFrom);
  return m;
}

/** The tool's lines about the victim from its first beat on (the kernel also saw the victim's own
 * start), pid made P. They include the exec'd image's loader opening ld.so.cache and libc, which
 * the agent's LD_AUDIT stage recorded and the agent delivered after the exec's exit. */
function familyLines(out: string, pid: number): string[] {
  const lines = out.split('\n').filter((l) => /^(beat |openat |exit_execve )/.test(l));
  return lines.slice(Math.max(0, lines.findIndex((l) => l.startsWith('beat ')))).map((l) => l.replaceAll(`pid=${pid} `, 'pid=P '));
}

test('bpftime attach follows exec as bpftime start does (as on the kernel); --no-follow does not', { timeout: 120000 }, async (t) => {
  const why = await cannotRun(true);
  if (why) return t.skip(why);
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  const bin = build(dir, 'family_victim');
  const script = `uprobe:${bin}:beat { printf("beat pid=%d arg=%d\\n", pid, arg0); @beats[arg0] = count(); } ` +
    'tracepoint:syscalls:sys_enter_openat /comm == "family_victim"/ { printf("openat pid=%d %s\\n", pid, str(args->filename)); } ' +
    'tracepoint:syscalls:sys_exit_execve /comm == "family_victim"/ { printf("exit_execve pid=%d ret=%d\\n", pid, args->ret); }';
  const marker = (who: string) => new RegExp(`^openat pid=\\d+ /nonexistent/family-marker-${who}$`, 'm');

  /** beat, exec (the new image beats), beat again, with attach (mode) between start and the first beat. */
  async function drive(kernel: boolean, attach: string[] | null): Promise<{ lines: string[]; out: string }> {
    const tool = await bpftrace(script, kernel ? process.env : env, kernel);
    const v = new Proc(bin, [], cleanEnv(), { stdin: true });
    try {
      const pid = Number((await v.waitFor(/ready pid=(\d+)/))[1]);
      if (attach) {
        const a = await cli1(['attach', ...attach, String(pid)], env);
        assert.equal(a.code, 0, a.out);
      }
      await step(v, 'beat', /beat done/, tool, marker('parent'));
      const follows = !attach || !attach.includes('--no-follow');
      await step(v, 'exec', /image pid=/, tool, follows ? marker('exec') : undefined);
      await step(v, 'beat', /beat done/, tool, follows ? marker('parent') : undefined);
      v.write('quit\n');
      assert.equal(await v.exited, 0, v.out);
      await tool.stop('SIGINT');
      return { lines: familyLines(tool.out, pid), out: tool.out };
    } finally {
      await v.stop('SIGKILL');
      await tool.stop('SIGINT');
    }
  }

  try {
    const shim = await drive(false, []);
    const libc = shim.lines.find((l) => /^openat pid=P \/.*\/libc\.so\.6$/.test(l)) ?? 'openat of libc';
    assert.deepEqual(shim.lines, [
      'beat pid=P arg=1', 'openat pid=P /nonexistent/family-marker-parent',
      'exit_execve pid=P ret=0', 'openat pid=P /etc/ld.so.cache', libc,
      'beat pid=P arg=3', 'openat pid=P /nonexistent/family-marker-exec',
      'beat pid=P arg=1', 'openat pid=P /nonexistent/family-marker-parent',
    ], shim.out);

    // --no-follow: the new image runs without the agent; the counts (map memory, written before
    // the victim answered) show that nothing of it ran a program.
    const only = await drive(false, ['--no-follow']);
    assert.deepEqual(only.lines, ['beat pid=P arg=1', 'openat pid=P /nonexistent/family-marker-parent'], only.out);
    assert.match(only.out, /^@beats\[1\]: 1$/m);
    assert.doesNotMatch(only.out, /^@beats\[3\]/m);

    let kernel: { lines: string[]; out: string };
    try {
      kernel = await drive(true, null);
    } catch (e) {
      return t.skip(`kernel bpftrace unavailable: ${(e as Error).message.split('\n')[0]}`);
    }
    assert.deepEqual(shim.lines, kernel.lines, `kernel:\n${kernel.out}\nshim:\n${shim.out}`);
  } finally {
    stopServer(dir);
  }
});

for (const how of ['start', 'attach'] as const) {
  test(`a child forked under bpftime ${how} gets an agent of its own: a tool started after the fork reaches it`, { timeout: 120000 }, async (t) => {
    const why = await cannotRun(how === 'attach');
    if (why) return t.skip(why);
    const dir = tmpRuntimeDir();
    const env = bpftimeEnv(dir);
    const bin = build(dir, 'family_victim');
    const server = new Proc(process.execPath, [cli, 'serve'], env);
    let tool: Proc | undefined, v: Proc | undefined;
    try {
      await server.waitFor(/serving on/); // first: the victim's agent would start one of its own
      v = how === 'start'
        ? new Proc(process.execPath, [cli, 'start', bin], env, { stdin: true })
        : new Proc(bin, [], cleanEnv(), { stdin: true });
      const pid = Number((await v.waitFor(/ready pid=(\d+)/))[1]);
      if (how === 'attach') {
        const a = await cli1(['attach', String(pid)], env);
        assert.equal(a.code, 0, a.out);
      }
      const child = Number((await step(v, 'fork', /child pid=(\d+)/))[1]);
      // The child's agent registers as the child (its own connection) once forked.
      for (let i = 0; ; i++) {
        const st = await queryStatus(dir);
        if (st.clients.some((c: any) => c.role === 'agent' && c.pid === child)) break;
        assert.ok(i < 100, `the child's agent never registered: ${JSON.stringify(st.clients)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      tool = await bpftrace(`uprobe:${bin}:beat /pid == ${child}/ { printf("beat pid=%d arg=%d\\n", pid, arg0); } ` +
        `tracepoint:syscalls:sys_enter_openat /pid == ${child}/ { printf("openat pid=%d %s\\n", pid, str(args->filename)); } ` +
        `profile:hz:49 /pid == ${child}/ { printf("profile pid=%d\\n", pid); }`, env, false);
      // Attaching is synchronous: when bpftrace went on to BEGIN, every agent had answered, the
      // child's own among them.
      const s = await queryStatus(dir);
      const inChild = s.attachments.flatMap((a: any) => a.agents.filter((g: any) => g.pid === child).map((g: any) => g.state));
      // uprobe, tracepoint and one clock event per CPU.
      assert.ok(inChild.length >= 3 && inChild.every((st: string) => st === 'attached'), JSON.stringify(s.attachments, null, 1));
      await tool.waitFor(new RegExp(`^beat pid=${child} arg=2$`, 'm'));
      await tool.waitFor(new RegExp(`^openat pid=${child} /nonexistent/family-marker-child$`, 'm'));
      await tool.waitFor(new RegExp(`^profile pid=${child}$`, 'm'));
      // The parent's own calls are not the child's.
      await step(v, 'beat', /beat done/);
      v.write('quit\n');
      assert.equal(await v.exited, 0, v.out);
      await tool.stop('SIGINT');
      assert.doesNotMatch(tool.out, new RegExp(`pid=(?!${child}\\b)\\d+`), tool.out);
    } finally {
      await tool?.stop('SIGINT');
      await v?.stop('SIGKILL');
      await server.stop('SIGTERM');
    }
  });
}

test('a process that changes ids after bpftime attach runs as without the agent, its calls seen as on the kernel', { timeout: 120000 }, async (t) => {
  const why = (!isRoot && 'needs root (changes ids)') || await cannotRun(true);
  if (why) return t.skip(why);
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  const bin = build(dir, 'setxid_calls');
  const script = 'tracepoint:syscalls:sys_enter_setresuid /comm == "setxid_calls"/ ' +
    '{ printf("setresuid %d %d %d\\n", args->ruid, args->euid, args->suid); } ' +
    'tracepoint:syscalls:sys_enter_setresgid /comm == "setxid_calls"/ ' +
    '{ printf("setresgid %d %d %d\\n", args->rgid, args->egid, args->sgid); } ' +
    'tracepoint:syscalls:sys_enter_exit_group /comm == "setxid_calls"/ { printf("exit_group\\n"); }';
  const idLines = (out: string) => out.split('\n').filter((l) => /^(setres[ug]id|exit_group)/.test(l));

  /** Runs the program to its end (the agent attached first when attach; a tool watching when
   * there is one); returns what the program and the tool printed. */
  async function drive(tool: Proc | null, attach: boolean): Promise<{ out: string; code: number | null; lines: string[]; threads: number }> {
    const v = new Proc(bin, ['--wait'], cleanEnv(), { stdin: true });
    try {
      const pid = Number((await v.waitFor(/ready pid=(\d+)/))[1]);
      if (attach) {
        const a = await cli1(['attach', String(pid)], env);
        assert.equal(a.code, 0, a.out);
      }
      v.write('go\n');
      v.child.stdin!.end();
      const code = await v.exited;
      if (tool) {
        await tool.waitFor(/^exit_group$/m);
        await tool.stop('SIGINT');
      }
      // What it printed after "ready" (stdout and stderr; the number of threads differs).
      const out = v.out.replace(/^ready pid=\d+\n/, '').replace(/^threads compared: \d+\n/m, '');
      const threads = Number(v.out.match(/^threads compared: (\d+)$/m)?.[1]);
      return { out, code, lines: tool ? idLines(tool.out) : [], threads };
    } finally {
      await v.stop('SIGKILL');
      await tool?.stop('SIGINT');
    }
  }

  try {
    const plain = await drive(null, false);
    assert.equal(plain.code, 0, plain.out);
    assert.match(plain.out, /^all threads agree: yes$/m);
    const traced = await drive(await bpftrace(script, env, false), true);
    assert.equal(traced.code, 0, traced.out);
    assert.equal(traced.out, plain.out);
    assert.ok(traced.threads >= 2, `the agent's thread was not in the process: ${traced.threads}`);
    assert.ok(traced.lines.length >= 6, traced.lines.join('\n'));
    let kernelTool: Proc;
    try {
      kernelTool = await bpftrace(script, process.env, true);
    } catch (e) {
      return t.skip(`kernel bpftrace unavailable: ${(e as Error).message.split('\n')[0]}`);
    }
    const kernel = await drive(kernelTool, false);
    assert.deepEqual(traced.lines, kernel.lines);
  } finally {
    stopServer(dir);
  }
});

test('bpftime attach to a shell: the very next command it runs is traced (bash keeps its own environment)', { timeout: 90000 }, async (t) => {
  const why = (!haveCommand('bash') && 'no bash') || await cannotRun(true);
  if (why) return t.skip(why);
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  const sh = new Proc('bash', ['--norc', '--noprofile'], cleanEnv(), { stdin: true });
  let tool: Proc | undefined;
  try {
    sh.write('echo pid=$$\n');
    const pid = Number((await sh.waitFor(/pid=(\d+)/))[1]);
    tool = await bpftrace('tracepoint:syscalls:sys_enter_openat /comm == "cat"/ { printf("openat comm=%s %s\\n", comm, str(args->filename)); }', env, false);
    const a = await cli1(['attach', String(pid)], env);
    assert.equal(a.code, 0, a.out);
    sh.write('cat /nonexistent/family-marker-shell; echo done\n');
    await sh.waitFor(/^done$/m);
    await tool.waitFor(/^openat comm=cat \/nonexistent\/family-marker-shell$/m);
    // The loader's opens of the exec'd cat come first (its LD_AUDIT stage).
    assert.match(tool.out, /^openat comm=cat \/etc\/ld\.so\.cache$(.*\n)*^openat comm=cat \/nonexistent\/family-marker-shell$/m);
  } finally {
    sh.child.stdin?.end();
    await sh.stop('SIGKILL');
    await tool?.stop('SIGINT');
    stopServer(dir);
  }
});
