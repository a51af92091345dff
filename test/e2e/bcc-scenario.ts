// Scenarios for bcc's Python tools (Debian's bpfcc-tools 0.26, unmodified): a target started
// first (under `bpftime start`, or plainly for the kernel), the tool started against it (under
// the shim, or on the kernel), lines written to the target, and what the tool printed. Where the
// kernel can run BPF (root, tracefs), the same scenario on the kernel gives the reference.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import { Proc, isRoot, shimLib, tmpRuntimeDir } from './harness';
import { Mode, startRun, targetArgv } from './run-mode';

export const sbin = (t: string) => `/usr/sbin/${t}`;
const headers = `/lib/modules/${os.release()}/build`;

/** Why bcc's tools cannot run here, or false. */
export function bccMissing(): string | false {
  if (!fs.existsSync(sbin('trace-bpfcc'))) return 'bpfcc-tools not installed (scripts/setup.sh)';
  if (spawnSync('/usr/bin/python3', ['-c', 'import bcc']).status !== 0) return 'python3-bpfcc not installed (scripts/setup.sh)';
  if (!fs.existsSync(headers)) return `no kernel headers at ${headers} (scripts/setup.sh links them)`;
  if (spawnSync('sh', ['-c', 'command -v cc']).status !== 0) return 'no C compiler';
  return false;
}

// The kernel as reference: root, kernel BPF and a mounted tracefs.
export const kernelSkip = !isRoot ? 'not root' : !fs.existsSync('/sys/kernel/tracing/events') ? 'tracefs not mounted'
  : spawnSync('bpftool', ['-j', 'prog', 'show']).status !== 0 ? 'no kernel BPF (bpftool prog show fails)' : false;

// Python leaves SIGINT ignored when it arrives ignored (background jobs of a shell): reset it
// before exec so that the tools stop on SIGINT as on a terminal, and print their summaries.
export const SIGINT_DEFAULT = 'import os,signal,sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])';

export type { Mode };

export interface Scenario {
  /** The traced program and its arguments (started first; prints "ready pid=N"). */
  target: string[];
  /** The tool's argv; "{PID}" becomes the target's pid, "{NAME}" the value of NAME in vars. */
  tool: string[];
  vars?: Record<string, string>;
  /** Printed by the tool once its probes are attached. */
  ready: RegExp;
  /** After `ready`, wait until the tool sleeps in its perf buffer poll (for tools that print their header
   * before opening their perf buffer: events before that are lost, on a kernel too). */
  untilPolling?: boolean;
  /** Lines written to the target after `ready`, one every 300 ms, until the tool prints
   * something matching `seen` (for tools that open their perf buffer after saying ready). */
  warmUp?: { line: string; seen: RegExp };
  /** Written to the target's stdin at once (bash: to learn its pid). */
  preamble?: string;
  /** Lines for the target's stdin, each answered by a line matching done(i). */
  steps: string[];
  done: (step: string) => RegExp;
  /** Whether the tool's output holds everything it should print before it is stopped (tools
   * that print at exit leave this out). */
  until?: (out: string) => boolean;
  /** Target on a pseudo-terminal (bash's readline). */
  pty?: boolean;
  /** Why this kernel cannot run the scenario (beyond kernel BPF itself), or false. */
  kernelSkip?: () => string | false;
}

/** Runs one scenario under the shim (target under `bpftime start`) or on the kernel, and returns
 * what the tool printed and the target's pid. */
async function run(mode: Mode, sc: Scenario): Promise<{ out: string; pid: number }> {
  const dir = tmpRuntimeDir();
  const procs: Proc[] = [];
  try {
    const base = await startRun(mode, dir, procs);
    const argvOfTarget = targetArgv(mode, sc.target);
    const target = sc.pty
      ? new Proc('script', ['-q', '-f', '-e', '-c', argvOfTarget.map(shq).join(' '), '/dev/null'], base, { stdin: true })
      : new Proc(argvOfTarget[0], argvOfTarget.slice(1), base, { stdin: true });
    procs.push(target);
    if (sc.preamble) target.write(sc.preamble + '\n');
    const pid = Number((await target.waitFor(/ready pid=(\d+)/, 30000))[1]);
    const argv = sc.tool.map((a) => a.replace(/\{(\w+)\}/g, (m, k) => (k === 'PID' ? String(pid) : sc.vars?.[k] ?? m)));
    const toolEnv = { ...base, PYTHONUNBUFFERED: '1', ...(mode === 'shim' ? { LD_PRELOAD: shimLib } : {}) };
    const tool = new Proc('/usr/bin/python3', ['-c', SIGINT_DEFAULT, ...argv], toolEnv);
    procs.push(tool);
    await tool.waitFor(sc.ready, 90000); // bcc compiles with clang first: seconds
    if (sc.untilPolling) await waitPolling(tool);
    for (let i = 0; sc.warmUp && !sc.warmUp.seen.test(tool.out); i++) {
      if (i > 100) throw new Error(`${argv[0]} never reported the warm-up lines; output:\n${tool.out}`);
      target.write(sc.warmUp.line + '\n');
      await new Promise((r) => setTimeout(r, 300));
    }
    for (const s of sc.steps) {
      const from = target.out.length;
      target.write(s + '\n');
      await target.waitFor(sc.done(s), 15000, from);
    }
    for (const deadline = Date.now() + 20000; sc.until && !sc.until(tool.out); ) {
      if (Date.now() > deadline || tool.done) throw new Error(`${argv[0]} did not print what was expected; output:\n${tool.out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await tool.stop('SIGINT', 10000);
    return { out: tool.out, pid };
  } catch (e) {
    if (mode === 'shim') (e as Error).message += `\nserver log:\n${procs[0].out}\ntarget printed:\n${procs[1]?.out}`;
    throw e;
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The CPUs bcc opens a perf buffer on (libbpf/bcc read the possible ones). */
function possibleCpus(): number {
  try {
    return fs.readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim().split(',')
      .reduce((n, r) => { const [a, b] = r.split('-').map(Number); return n + (b === undefined ? 1 : b - a + 1); }, 0);
  } catch {
    return os.cpus().length;
  }
}

/** Waits (bounded) until p's main thread sleeps in bcc's perf_buffer_poll: poll (ppoll under the
 * shim, which waits for the buffers' eventfds) on one fd per CPU, seen three times in a row (the
 * shim's own waits for the server are on one socket). bcc enters it once open_perf_buffer has put
 * every buffer in place. */
export async function waitPolling(p: Proc): Promise<void> {
  const polls = new Set([7, 271]); // poll, ppoll (x86-64)
  const ncpu = possibleCpus();
  let seen = 0;
  for (const deadline = Date.now() + 30000; Date.now() < deadline; ) {
    let f: string[];
    try {
      f = fs.readFileSync(`/proc/${p.child.pid}/syscall`, 'utf8').split(' ');
    } catch {
      return; // no /proc/PID/syscall (not permitted): nothing to wait on
    }
    seen = polls.has(Number(f[0])) && Number(f[2]) === ncpu ? seen + 1 : 0;
    if (seen >= 3) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the tool never waited for its perf buffer; output:\n${p.out}`);
}

function shq(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Runs the scenario under the shim, checks it, and where the kernel is available runs it there
 * too and checks that the kernel gives the same. */
export async function shimAndKernel(t: { diagnostic: (s: string) => void }, sc: Scenario, check: (out: string, pid: number, mode: Mode) => unknown): Promise<void> {
  const a = await runChecked('shim', sc, check);
  const skip = kernelSkip || sc.kernelSkip?.();
  if (skip) {
    t.diagnostic(`kernel reference skipped: ${skip}`);
    return;
  }
  let b: unknown;
  try {
    b = await runChecked('kernel', sc, check);
  } catch (e) {
    // bcc 0.26's Python passes stack garbage as ref_ctr_offset: where another uprobe sits at the
    // same place with another offset (another tool's, or this tool's own return probe), the
    // kernel refuses the mismatch and bcc's uprobe_events fallback fails on its over-long event name for libraries
    // named /proc/PID/root/usr/lib/...: no reference then, through no fault of the shim's.
    if (/cannot attach uprobe, Invalid argument/.test((e as Error).message)) {
      t.diagnostic('kernel reference unavailable: bcc could not attach there (its garbage ref_ctr_offset differs from that of another uprobe at the same place, see dmesg)');
      return;
    }
    throw e;
  }
  assert.deepEqual(a, b, 'the shim and the kernel disagree');
}

async function runChecked(mode: Mode, sc: Scenario, check: (out: string, pid: number, mode: Mode) => unknown): Promise<unknown> {
  try {
    const r = await run(mode, sc);
    try {
      return check(r.out, r.pid, mode);
    } catch (e) {
      (e as Error).message += `\n${sc.tool[0]} printed (${mode}):\n${r.out}`;
      throw e;
    }
  } catch (e) {
    (e as Error).message = `[${mode}] ${(e as Error).message}`;
    throw e;
  }
}

export const doneLine = (s: string) => new RegExp(`^done ${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm');
