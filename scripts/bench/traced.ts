// The measurement most figures share: a victim times N calls of something, untraced, then
// traced by a tool on the kernel and under bpftime (`bpftime load` for the tool, `bpftime
// start` for the victim), with the tool's count checked against the victim's.
//
// Victims (examples/bench/uprobe_victim, syscall_victim) print "ready pid=<pid>", wait for a
// line on stdin, then print
//   target=<what> calls=<counted calls> n=<timed calls> total_ns=<ns> ns_per_call=<ns>
// Tools (examples/malloc/malloc, examples/bench/lookups, getppid_tp) print a "Tracing ..."
// line once attached, then "pid=<pid> count=<n>" lines every interval.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { queryStatus } from '../../src-ts/cli/status';
import { paths, missing, isRoot } from './env';
import { Proc, sleep } from './proc';
import { Cell, median, na } from './report';

const RESULT = /^target=\w+ calls=(\d+) n=(\d+) total_ns=(\d+) ns_per_call=([\d.]+)$/;
const READY = /^ready pid=(\d+)$/;

export interface RunParams {
  iters: number;          // timed calls per traced run
  itersUntraced: number;  // timed calls per untraced run
  reps: number;           // runs per configuration; the median is reported
  settleMs: number;       // bpftime: pause between "Tracing" and the trigger
}

/** What one figure traces: the victim, the tool and how each is called. */
export interface TraceSpec {
  victim: string;                          // the victim binary
  victimArgs: (n: number) => string[];
  tool: string;                            // the tool binary
  toolArgs: (pid: string) => string[];
  perCallMs: number;                       // generous bound on one traced call, for timeouts
}

type Cmd = [string, string[]];

interface Side {
  env: NodeJS.ProcessEnv;
  victim: (cmd: string, args: string[]) => Cmd;
  tool: (cmd: string, args: string[]) => Cmd;
  startMs: number;   // victim start, up to its ready line
  attachMs: number;  // tool start, up to its "Tracing" line
  settleMs: number;
}

export const bpftimeMissing = (...files: string[]): string | null =>
  missing(files, 'run scripts/build-examples.sh') ??
  missing([paths.cli, paths.shim, paths.agent], 'bpftime is not built yet (npm run build)');

export async function untracedRun(s: TraceSpec, n: number, env: NodeJS.ProcessEnv = process.env,
  wrap: (cmd: string, args: string[]) => Cmd = (c, a) => [c, a]): Promise<number> {
  // stdin at EOF: the victim starts at once.
  const [cmd, args] = wrap(s.victim, s.victimArgs(n));
  const v = new Proc(cmd, args, { stdin: 'ignore', env });
  try {
    await v.waitFor(READY, 20000, 'its ready line');
    const r = await v.waitFor(RESULT, 30000 + n * 1e-4, 'its result line');
    return Number(r[4]);
  } finally {
    await v.wait(5000);
  }
}

interface TracedResult { nsPerCall: number; calls: number; counted: number }

async function tracedRun(s: TraceSpec, side: Side, n: number): Promise<TracedResult> {
  const [vcmd, vargs] = side.victim(s.victim, s.victimArgs(n));
  const victim = new Proc(vcmd, vargs, { env: side.env });
  let tool: Proc | null = null;
  let finished = false;
  try {
    const pid = (await victim.waitFor(READY, side.startMs, 'the victim\'s ready line'))[1];
    const [tcmd, targs] = side.tool(s.tool, s.toolArgs(pid));
    tool = new Proc(tcmd, targs, { env: side.env, stdin: 'ignore' });
    await tool.waitFor(/^Tracing /, side.attachMs, 'attach message ("Tracing ...")');
    if (side.settleMs) await sleep(side.settleMs);

    victim.write('go\n');
    const r = await victim.waitFor(RESULT, 30000 + n * s.perCallMs, 'the victim\'s result line');
    const calls = Number(r[1]);

    // The tools print cumulative counts every second.
    let counted = calls;
    try {
      await tool.waitFor(new RegExp(`^pid=${pid} count=${calls}$`), 3500, `a count of ${calls}`);
    } catch {
      const m = tool.lastMatch(new RegExp(`^pid=${pid} count=(\\d+)$`));
      counted = m ? Number(m[1]) : 0;
    }
    finished = true;
    return { nsPerCall: Number(r[4]), calls, counted };
  } finally {
    if (tool) await tool.stop('SIGINT', 5000);
    // A victim that never got its trigger would wait forever.
    if (finished) await victim.wait(5000); else await victim.stop('SIGKILL', 2000);
  }
}

async function tracedColumn(s: TraceSpec, side: Side, p: RunParams): Promise<Cell> {
  const runs: number[] = [];
  for (let i = 0; i < p.reps; i++) {
    let r: TracedResult;
    try {
      r = await tracedRun(s, side, p.iters);
    } catch (e) {
      return na((e as Error).message);
    }
    if (r.counted !== r.calls) {
      return na(`the tool counted ${r.counted} of ${r.calls} calls: the probe did not fire on every call`);
    }
    runs.push(r.nsPerCall);
  }
  return { ok: true, value: median(runs), runs, note: `${p.iters + 1000} hits counted per run` };
}

export async function untracedColumn(s: TraceSpec, p: RunParams): Promise<Cell> {
  const why = missing([s.victim], 'run scripts/build-examples.sh');
  if (why) return na(why);
  const runs: number[] = [];
  try {
    for (let i = 0; i < p.reps; i++) runs.push(await untracedRun(s, p.itersUntraced));
  } catch (e) {
    return na((e as Error).message);
  }
  return { ok: true, value: median(runs), runs };
}

export async function kernelColumn(s: TraceSpec, p: RunParams): Promise<Cell> {
  if (!isRoot()) return na('kernel BPF needs root');
  const why = missing([s.victim, s.tool], 'run scripts/build-examples.sh');
  if (why) return na(why);
  return tracedColumn(s, {
    env: process.env,
    victim: (c, a) => [c, a],
    tool: (c, a) => [c, a],
    startMs: 5000,
    attachMs: 20000,
    settleMs: 0,
  }, p);
}

/** The pid of the server answering in `dir`, or null. */
export async function serverPid(dir: string): Promise<number | null> {
  if (!fs.existsSync(path.join(dir, 'server.sock'))) return null;
  try {
    return (await queryStatus(dir, 2000)).server.pid as number;
  } catch {
    return null;
  }
}

/** Runs `fn` with a fresh runtime directory (nothing left from elsewhere), removed after with
 * the server our runs started there (it would otherwise idle for 10 s). */
export async function withRuntimeDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpftime-bench-'));
  try {
    return await fn(dir);
  } finally {
    const pid = await serverPid(dir);
    if (pid) try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export const cliEnv = (dir: string): NodeJS.ProcessEnv => ({ ...process.env, BPFTIME_RUNTIME_DIR: dir });

/** When our libraries change during a try that failed (a concurrent `npm run build` rewrote
 * build/lib under running processes: SIGBUS, SIGSEGV), the try is made once more. */
export function libStamp(): string {
  return [paths.shim, paths.agent].map((f) => { try { return fs.statSync(f).mtimeMs; } catch { return 0; } }).join(',');
}

export async function retryIfRebuilt(fn: () => Promise<Cell>): Promise<Cell> {
  const before = libStamp();
  const c = await fn();
  if (c.ok || libStamp() === before) return c;
  const again = await fn();
  if (again.ok) again.note = [again.note, 'retried: build/lib was rebuilt during the first try'].filter(Boolean).join('; ');
  return again;
}

export async function bpftimeColumn(s: TraceSpec, p: RunParams): Promise<Cell> {
  const why = bpftimeMissing(s.victim, s.tool);
  if (why) return na(why);
  return retryIfRebuilt(() => withRuntimeDir((dir) => tracedColumn(s, {
    env: cliEnv(dir),
    victim: (c, a) => [process.execPath, [paths.cli, 'start', c, ...a]],
    tool: (c, a) => [process.execPath, [paths.cli, 'load', c, ...a]],
    startMs: 20000,
    attachMs: 60000,
    settleMs: p.settleMs,
  }, p)));
}

/** Runs each configuration once per rep, in turn, so that slow drifts of the machine (other
 * load, frequency) reach every configuration alike; cell i gathers configuration i's runs. A
 * configuration that fails once is n/a with its reason. */
export async function interleaved(configs: ((p: RunParams) => Promise<Cell>)[], p: RunParams,
  log?: (rep: number) => void): Promise<Cell[]> {
  const runs: number[][] = configs.map(() => []);
  const failed: (Cell | null)[] = configs.map(() => null);
  const note: (string | undefined)[] = configs.map(() => undefined);
  for (let rep = 0; rep < p.reps; rep++) {
    log?.(rep);
    for (let i = 0; i < configs.length; i++) {
      if (failed[i]) continue;
      const c = await configs[i]({ ...p, reps: 1 });
      if (!c.ok) failed[i] = c;
      else { runs[i].push(...c.runs); note[i] = c.note; }
    }
  }
  return configs.map((_, i) => failed[i] ?? { ok: true, value: median(runs[i]), runs: runs[i], note: note[i] });
}

/** traced minus baseline, run by run when both have the same number of runs (interleaved),
 * else minus the baseline's median; the value is the median of the differences. */
export function pairedOverhead(traced: Cell, base: Cell): Cell {
  if (!traced.ok) return na(traced.reason);
  if (!base.ok) return na(`no untraced baseline: ${base.reason}`);
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  const diffs = traced.runs.length === base.runs.length
    ? traced.runs.map((v, i) => r3(v - base.runs[i]))
    : traced.runs.map((v) => r3(v - base.value));
  return { ok: true, value: r3(median(diffs)), runs: diffs };
}

/** traced minus baseline, per run. */
export function overhead(traced: Cell, base: Cell): Cell {
  if (!traced.ok) return na(traced.reason);
  if (!base.ok) return na(`no untraced baseline: ${base.reason}`);
  const sub = (x: number) => Math.round((x - base.value) * 1000) / 1000;
  return { ok: true, value: sub(traced.value), runs: traced.runs.map(sub) };
}

/** a / b (kernel over bpftime: above 1, bpftime is faster). */
export function ratio(a: Cell, b: Cell, aName = 'kernel', bName = 'bpftime'): Cell {
  if (!a.ok) return na(`${aName}: ${a.reason}`);
  if (!b.ok) return na(`${bName}: ${b.reason}`);
  if (b.value <= 0) return na(`${bName} measured ${b.value} (within noise of its baseline)`);
  return { ok: true, value: Math.round((a.value / b.value) * 1000) / 1000, runs: [] };
}
