// Helpers for end-to-end tests: processes whose output is watched line by line, a private
// runtime directory per test (so tests never share a server), and cleanup that always runs.
import { ChildProcess, spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { after } from 'node:test';

export const root = path.resolve(__dirname, '..', '..', '..');
export const cli = path.join(root, 'bin', 'bpftime.js');
/** The installed `bpftime` command: a sh launcher that execs plain `start`/`load` runs itself
 * (the Node CLI's `start`/`load` go through it too) and hands everything else to `cli`. */
export const launcher = path.join(root, 'bin', 'bpftime');
export const shimLib = path.join(root, 'build', 'lib', 'libbpftime-syscall-server.so');
export const agentLib = path.join(root, 'build', 'lib', 'libbpftime-agent.so');

export function tmpRuntimeDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bpftime-test-'));
}

/** Every process a test started and that has not exited yet. */
const live = new Set<Proc>();

// A test that times out never reaches its own cleanup, and the processes it started would keep
// this test file (and the whole suite) waiting on their pipes: when the file's tests are over,
// whatever they started is killed.
after(() => {
  for (const p of live) p.killGroup();
});

export class Proc {
  readonly child: ChildProcess;
  out = '';
  private waiters: Array<() => void> = [];
  exited: Promise<number | null>;
  /** Exited, and its output read. */
  done = false;

  constructor(cmd: string, args: string[], env: NodeJS.ProcessEnv, opts: { stdin?: boolean } = {}) {
    // Its own process group, so that cleanup reaches every process it started.
    this.child = spawn(cmd, args, { env, detached: true, stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const onData = (d: Buffer) => {
      this.out += d.toString();
      for (const w of this.waiters.splice(0)) w();
    };
    this.child.stdout!.on('data', onData);
    this.child.stderr!.on('data', onData);
    live.add(this);
    // 'exit' can come before the last of the output has been read from the pipes (a tool that
    // prints everything as it exits, on a loaded machine): settle at 'close', when both pipes
    // reached their end, or a second after 'exit' where a process it left behind keeps them open.
    this.exited = new Promise((resolve) => {
      let settled = false;
      const settle = () => {
        if (settled) return;
        settled = true;
        this.done = true;
        live.delete(this);
        for (const w of this.waiters.splice(0)) w();
        resolve(this.child.exitCode);
      };
      this.child.on('close', settle);
      this.child.on('exit', () => setTimeout(settle, 1000));
    });
  }

  /** Waits until the output matches re (searching from `from`); returns the match. */
  async waitFor(re: RegExp, timeoutMs = 15000, from = 0): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = this.out.slice(from).match(re);
      if (m) return m;
      if (Date.now() > deadline || this.done) {
        throw new Error(`timed out waiting for ${re} (exit ${this.child.exitCode}); output so far:\n${this.out}`);
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(10, Math.min(200, deadline - Date.now())));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  write(s: string): void {
    this.child.stdin!.write(s);
  }

  async stop(sig: NodeJS.Signals = 'SIGINT', graceMs = 5000): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill(sig);
      const t = setTimeout(() => this.killGroup(), graceMs);
      const code = await this.exited;
      clearTimeout(t);
      this.killGroup();
      return code;
    }
    this.killGroup();
    return this.child.exitCode;
  }

  /** SIGKILL to whatever of its process group is left. */
  killGroup(): void {
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      /* all gone */
    }
  }
}

/** The environment of a test's bpftime processes. Hints for the user (a tool whose probes no
 * traced process has yet) are off: tests compare tools' output with the kernel's; hints.test.ts
 * checks them. */
export function bpftimeEnv(runtimeDir: string): NodeJS.ProcessEnv {
  return { ...process.env, BPFTIME_RUNTIME_DIR: runtimeDir, BPFTIME_IDLE_TIMEOUT_MS: '2000', BPFTIME_NO_HINTS: '1' };
}

/** Runs body with a fresh server (`bpftime serve`) in a private runtime dir, then stops every
 * Proc in procs with `stop` (the server last): each test sees its own kernel. */
export async function withServer(
  body: (env: NodeJS.ProcessEnv, dir: string, procs: Proc[], server: Proc) => Promise<void>,
  stop: NodeJS.Signals = 'SIGINT',
): Promise<void> {
  const dir = tmpRuntimeDir();
  const env = bpftimeEnv(dir);
  const server = new Proc(process.execPath, [cli, 'serve'], env);
  const procs: Proc[] = [server];
  try {
    await server.waitFor(/serving on/);
    await body(env, dir, procs, server);
  } finally {
    for (const p of procs.reverse()) await p.stop(stop);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Stops the server of a test's runtime dir, if one runs. */
export function stopServer(runtimeDir: string): void {
  try {
    const pid = Number(fs.readFileSync(path.join(runtimeDir, 'server.pid'), 'utf8'));
    if (pid > 0) process.kill(pid, 'SIGTERM');
  } catch {
    /* none */
  }
}

export function haveCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

export const isRoot = (process.getuid?.() ?? 1) === 0;

/** Why `bpftime attach` (the ptrace injector) cannot work on this machine, or false. */
export async function cannotPtrace(): Promise<string | false> {
  if (process.arch !== 'x64') return 'the injector is x86-64 only';
  const { addon } = require('../../src-ts/native/addon') as typeof import('../../src-ts/native/addon');
  const sleeper = new Proc('sleep', ['30'], process.env);
  try {
    await new Promise((r) => setTimeout(r, 50));
    const r = addon.ptraceCheck(sleeper.child.pid!);
    return r.ok ? false : `ptrace not permitted: ${r.error}`;
  } finally {
    await sleeper.stop('SIGKILL');
  }
}

/** A process environment with nothing of bpftime in it (a target started untraced). */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BPFTIME_') && k !== 'LD_PRELOAD'));
}
