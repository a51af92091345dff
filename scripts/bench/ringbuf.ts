// Figure: ring buffer throughput, from producers at a uprobe to a consumer tool.
//
// K victims (examples/malloc/victim, each one producer) call malloc N times each; the tool
// examples/ringbuf/ringbuf -q -p PID... sends every call through a BPF_MAP_TYPE_RINGBUF record
// (reserve, fill, submit) and consumes them with libbpf's ring_buffer__poll (epoll). It prints
// `events=E dropped=D rate=R` at exit: E records consumed, D reservations that found the ring
// full (counted by the program), R = E over the time from the first to the last poll that
// returned records. Every run is checked: E + D must be K × N, so nothing is lost unaccounted.
import path from 'node:path';

import { ROOT, paths, isRoot, missing } from './env';
import { Proc, sleep } from './proc';
import { Cell, Figure, Row, median, na } from './report';
import { bpftimeMissing, cliEnv, withRuntimeDir } from './traced';
import { queryStatus } from '../../src-ts/cli/status';

const TOOL = path.join(ROOT, 'examples/ringbuf/ringbuf');
const VICTIM = path.join(ROOT, 'examples/malloc/victim');
const LAUNCHER = path.join(path.dirname(paths.cli), 'bpftime');
const CALLS = 1_000_000; // per producer
const ROUNDS = 3;

interface RunResult { events: number; dropped: number; rate: number }

/** One run: K producers, one consumer. bpftime: env is the runtime dir's (null: the kernel). */
async function run(producers: number, dir: string | null): Promise<RunResult> {
  const env = dir ? cliEnv(dir) : process.env;
  const wrap = (verb: string, cmd: string, args: string[]): [string, string[]] => (dir ? [LAUNCHER, [verb, cmd, ...args]] : [cmd, args]);
  const victims: Proc[] = [];
  let tool: Proc | null = null;
  try {
    const pids: string[] = [];
    for (let i = 0; i < producers; i++) {
      const v = new Proc(...wrap('start', VICTIM, []), { env });
      victims.push(v);
      pids.push((await v.waitFor(/^ready pid=(\d+)$/, 20000, 'the victim\'s ready line'))[1]);
    }
    tool = new Proc(...wrap('load', TOOL, ['-q', ...pids.flatMap((p) => ['-p', p])]), { env, stdin: 'ignore' });
    await tool.waitFor(/^Tracing malloc/, 60000, 'attach message ("Tracing malloc ...")');
    if (dir) await installedEverywhere(dir, pids);
    for (const v of victims) v.write(`${CALLS}\n`);
    for (const v of victims) await v.waitFor(new RegExp(`^done ${CALLS}$`), 120000, `"done ${CALLS}"`);
    await sleep(300); // the consumer drains what is left
    await tool.stop('SIGINT', 10000);
    const m = tool.lastMatch(/^events=(\d+) dropped=(\d+) rate=(\d+)$/);
    if (!m) throw new Error(`the tool printed no totals (${tool.exitText()})${tool.stderrTail()}`);
    return { events: Number(m[1]), dropped: Number(m[2]), rate: Number(m[3]) };
  } finally {
    if (tool) await tool.stop('SIGKILL', 2000);
    for (const v of victims) { v.write('q\n'); await v.wait(5000); await v.stop('SIGKILL', 2000); }
  }
}

/** Waits until every victim's agent installed the tool's uprobe (the tool's attach call waits for
 * agents only a moment; a run before that would count too few). */
async function installedEverywhere(dir: string, pids: string[]): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const s = await queryStatus(dir);
    const ok = pids.every((pid) => s.attachments.some((a: any) => a.agents.some((g: any) => String(g.pid) === pid && g.state === 'attached')));
    if (ok) return;
    await sleep(50);
  }
  throw new Error('the victims\' agents did not install the uprobe in 10 s');
}

/** ns per delivered event over the rounds (median), with the events/s and drops in the note. */
function column(results: RunResult[], producers: number): Cell {
  const want = producers * CALLS;
  const bad = results.find((r) => r.events + r.dropped !== want);
  if (bad) return na(`consumed ${bad.events} + dropped ${bad.dropped} of ${want} calls: events went missing`);
  const ns = results.map((r) => (r.rate > 0 ? 1e9 / r.rate : NaN));
  if (ns.some((x) => !Number.isFinite(x))) return na('the tool measured no rate (too few polls with records)');
  const rate = median(results.map((r) => r.rate));
  const dropped = median(results.map((r) => r.dropped));
  return {
    ok: true, value: median(ns), runs: ns,
    note: `${(rate / 1e6).toFixed(2)} M events/s, ${dropped} of ${want} dropped (ring full)`,
  };
}

export async function ringbufFigure(log: (s: string) => void): Promise<Figure> {
  const kernelWhy = !isRoot() ? 'kernel BPF needs root' : missing([TOOL, VICTIM], 'run scripts/build-examples.sh');
  const shimWhy = bpftimeMissing(TOOL, VICTIM);
  const rows: Row[] = [];
  const headline: NonNullable<Figure['headline']> = [];
  for (const producers of [1, 4]) {
    const k: RunResult[] = [], b: RunResult[] = [];
    let kFail: Cell | null = kernelWhy ? na(kernelWhy) : null;
    let bFail: Cell | null = shimWhy ? na(shimWhy) : null;
    // Kernel and bpftime in turn, round by round: both see the same load.
    for (let r = 0; r < ROUNDS; r++) {
      log(`ring buffer, ${producers} producer(s): round ${r + 1}/${ROUNDS} (kernel, bpftime)`);
      if (!kFail) try { k.push(await run(producers, null)); } catch (e) { kFail = na((e as Error).message); }
      if (!bFail) try { b.push(await withRuntimeDir((dir) => run(producers, dir))); } catch (e) { bFail = na((e as Error).message); }
    }
    const kernel = kFail ?? column(k, producers);
    const bpftime = bFail ?? column(b, producers);
    const who = producers === 1 ? '1 producer' : `${producers} producers`;
    rows.push({ label: `kernel, ${who}`, nsPerCall: kernel, overheadNs: null });
    rows.push({ label: `bpftime, ${who}`, nsPerCall: bpftime, overheadNs: null });
    headline.push({ label: `ring buffer, ns per event delivered to the consumer, ${who}`, unit: 'ns', kernel, bpftime });
  }
  return {
    id: 'ringbuf',
    title: 'Ring buffer: events per second from producers to a consumer tool',
    description:
      `Producers: ${'`examples/malloc/victim`'} processes (one producer each) calling malloc ${CALLS} times each; ` +
      'at each call the uprobe program of `examples/ringbuf/ringbuf` reserves a 40-byte record in a 256 KiB ' +
      'BPF_MAP_TYPE_RINGBUF, fills it and submits it; the tool consumes with libbpf\'s `ring_buffer__poll` ' +
      '(epoll) and reports the records it consumed, the reservations that found the ring full, and its rate (records ' +
      'over the time between the first and the last poll that returned some). The value is ns per delivered ' +
      'record (1e9 ÷ rate), the note the rate and the drops; every run is checked (consumed + dropped = calls). ' +
      'On the kernel each call also pays the kernel uprobe, so its producers are slower than the consumer; under ' +
      'bpftime the producers outrun the consumer and the ring fills, so the figure is the consumer\'s pace. ' +
      `${ROUNDS} rounds, kernel then bpftime in each; the median.`,
    params: { 'calls per producer': CALLS, rounds: ROUNDS, 'ring size': '256 KiB', tool: path.relative(ROOT, TOOL) },
    rows,
    summary: [],
    headline,
    columns: ['ns per delivered event', '—'],
  };
}
