// Figure: the cost of one uprobe hit.
//
// examples/bench/uprobe_victim times N calls of an empty function, untraced,
// then traced by examples/malloc/malloc (-f FUNC -p PID) on the kernel and
// under bpftime. The tool's count for the victim must equal the victim's
// number of calls, or the traced time measures nothing.
//
// Two targets, because the kernel's cost depends on the probed instruction:
// bench_target starts with `push %rbp`, which the kernel emulates;
// bench_target_sub starts with `sub $8, %rsp`, which it must single-step.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { paths, missing, isRoot, ROOT } from './env';
import { Proc, sleep } from './proc';
import { Cell, Figure, Row, median, na } from './report';

export interface UprobeParams {
  iters: number;          // timed calls per traced run
  itersUntraced: number;  // timed calls per untraced run
  reps: number;           // runs per configuration; the median is reported
  settleMs: number;       // bpftime: pause between "Tracing" and the trigger
}

const RESULT = /^target=\w+ calls=(\d+) n=(\d+) total_ns=(\d+) ns_per_call=([\d.]+)$/;

export const TARGETS = [
  { fn: 'bench_target', prologue: '`push %rbp` prologue' },
  { fn: 'bench_target_sub', prologue: '`sub $8, %rsp` prologue' },
];
const READY = /^ready pid=(\d+)$/;

type Cmd = [string, string[]];

interface Tracer {
  label: string;
  env: NodeJS.ProcessEnv;
  victim: (n: number, fn: string) => Cmd;
  tool: (args: string[]) => Cmd;
  startMs: number;   // victim start, up to its ready line
  attachMs: number;  // tool start, up to its "Tracing" line
  settleMs: number;
  perCallMs: number; // generous bound on one traced call, for the run timeout
}

async function untracedRun(n: number, fn: string): Promise<number> {
  // stdin at EOF: the victim starts at once.
  const v = new Proc(paths.uprobeVictim, [String(n), fn], { stdin: 'ignore' });
  try {
    await v.waitFor(READY, 5000, 'its ready line');
    const r = await v.waitFor(RESULT, 30000 + n * 1e-4, 'its result line');
    return Number(r[4]);
  } finally {
    await v.wait(5000);
  }
}

interface TracedResult { nsPerCall: number; calls: number; counted: number }

async function tracedRun(t: Tracer, n: number, fn: string): Promise<TracedResult> {
  const [vcmd, vargs] = t.victim(n, fn);
  const victim = new Proc(vcmd, vargs, { env: t.env });
  let tool: Proc | null = null;
  let finished = false;
  try {
    const pid = (await victim.waitFor(READY, t.startMs, 'the victim\'s ready line'))[1];
    const [tcmd, targs] = t.tool(['-b', fs.realpathSync(paths.uprobeVictim), '-f', fn, '-p', pid]);
    tool = new Proc(tcmd, targs, { env: t.env, stdin: 'ignore' });
    await tool.waitFor(/^Tracing /, t.attachMs, 'attach message ("Tracing ...")');
    if (t.settleMs) await sleep(t.settleMs);

    victim.write('go\n');
    const r = await victim.waitFor(RESULT, 30000 + n * t.perCallMs, 'the victim\'s result line');
    const calls = Number(r[1]);

    // The tool prints cumulative counts every second.
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

async function tracedColumn(t: Tracer, p: UprobeParams, fn: string): Promise<Cell> {
  const runs: number[] = [];
  for (let i = 0; i < p.reps; i++) {
    let r: TracedResult;
    try {
      r = await tracedRun(t, p.iters, fn);
    } catch (e) {
      return na((e as Error).message);
    }
    if (r.counted !== r.calls) {
      return na(`the tool counted ${r.counted} of ${r.calls} calls: the uprobe did not fire on every call`);
    }
    runs.push(r.nsPerCall);
  }
  return { ok: true, value: median(runs), runs, note: `${p.iters + 1000} hits counted per run` };
}

async function untracedColumn(p: UprobeParams, fn: string): Promise<Cell> {
  const why = missing([paths.uprobeVictim], 'run scripts/build-examples.sh');
  if (why) return na(why);
  const runs: number[] = [];
  try {
    for (let i = 0; i < p.reps; i++) runs.push(await untracedRun(p.itersUntraced, fn));
  } catch (e) {
    return na((e as Error).message);
  }
  return { ok: true, value: median(runs), runs };
}

async function kernelColumn(p: UprobeParams, fn: string): Promise<Cell> {
  if (!isRoot()) return na('kernel BPF needs root');
  const why = missing([paths.uprobeVictim, paths.mallocTool], 'run scripts/build-examples.sh');
  if (why) return na(why);
  return tracedColumn({
    label: 'kernel',
    env: process.env,
    victim: (n, f) => [paths.uprobeVictim, [String(n), f]],
    tool: (args) => [paths.mallocTool, args],
    startMs: 5000,
    attachMs: 20000,
    settleMs: 0,
    perCallMs: 0.2, // ~1-12 µs measured per hit; 200 µs is a hang
  }, p, fn);
}

async function bpftimeColumn(p: UprobeParams, fn: string): Promise<Cell> {
  const why = missing([paths.uprobeVictim, paths.mallocTool], 'run scripts/build-examples.sh') ??
    missing([paths.cli, paths.shim, paths.agent], 'bpftime is not built yet (npm install)');
  if (why) return na(why);
  // Both sides meet in a fresh runtime directory: nothing left from elsewhere.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bpftime-bench-'));
  try {
    const env = { ...process.env, BPFTIME_RUNTIME_DIR: dir };
    return await tracedColumn({
      label: 'bpftime',
      env,
      victim: (n, f) => [process.execPath, [paths.cli, 'start', paths.uprobeVictim, String(n), f]],
      tool: (args) => [process.execPath, [paths.cli, 'load', paths.mallocTool, ...args]],
      startMs: 20000,
      attachMs: 60000,
      settleMs: p.settleMs, // attachments reach the agent asynchronously
      perCallMs: 0.2,
    }, p, fn);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const overhead = (traced: Cell, base: Cell): Cell => {
  if (!traced.ok) return na('no measurement');
  if (!base.ok) return na(`no untraced baseline: ${base.reason}`);
  const sub = (x: number) => Math.round((x - base.value) * 1000) / 1000;
  return { ok: true, value: sub(traced.value), runs: traced.runs.map(sub) };
};

export async function uprobeFigure(p: UprobeParams, log: (s: string) => void): Promise<Figure> {
  const rows: Row[] = [];
  const summary: Figure['summary'] = [];
  for (const { fn, prologue } of TARGETS) {
    log(`uprobe ${fn}: untraced`);
    const untraced = await untracedColumn(p, fn);
    log(`uprobe ${fn}: kernel`);
    const kernel = await kernelColumn(p, fn);
    log(`uprobe ${fn}: bpftime`);
    const bpftime = await bpftimeColumn(p, fn);

    const kOver = overhead(kernel, untraced);
    const bOver = overhead(bpftime, untraced);
    let ratio: Cell;
    if (!kernel.ok) ratio = na(`kernel: ${kernel.reason}`);
    else if (!bpftime.ok) ratio = na(`bpftime: ${bpftime.reason}`);
    else if (!kOver.ok || !bOver.ok) ratio = na(`no untraced baseline`);
    else ratio = { ok: true, value: Math.round((kOver.value / bOver.value) * 1000) / 1000, runs: [] };

    rows.push(
      { label: `untraced, ${fn} (${prologue})`, nsPerCall: untraced, overheadNs: null },
      { label: `kernel uprobe, ${fn}`, nsPerCall: kernel, overheadNs: kOver },
      { label: `bpftime, ${fn}`, nsPerCall: bpftime, overheadNs: bOver },
    );
    summary.push({ label: `kernel/bpftime per-hit overhead, ${fn}`, cell: ratio });
  }

  return {
    id: 'uprobe',
    title: 'Cost of one uprobe hit',
    description:
      'An empty function called in a loop by `examples/bench/uprobe_victim`, untraced, then counted by ' +
      '`examples/malloc/malloc -b <victim> -f <function> -p <pid>` on the kernel and under bpftime ' +
      '(`bpftime load` for the tool, `bpftime start` for the victim). Every traced run is checked: the ' +
      'tool must have counted every call. The kernel emulates a probed `push %rbp` but single-steps ' +
      '`sub $8, %rsp`, hence two targets. ' +
      `Median of ${p.reps} runs; overhead per hit = traced minus untraced ns per call.`,
    params: {
      'calls per traced run': p.iters,
      'calls per untraced run': p.itersUntraced,
      runs: p.reps,
      victim: path.relative(ROOT, paths.uprobeVictim),
    },
    rows,
    summary,
  };
}
