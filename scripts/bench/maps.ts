// Figure: map commands from the tool side, ns per bpf() call.
//
// examples/bench/map_ops makes raw bpf(2) calls through libc's syscall() in timed loops, with
// the attr sizes libbpf passes, on a hash and an array map (1024 u32 keys, u64 values, full):
// run as root it measures the kernel, under LD_PRELOAD of the shim it measures bpftime (the
// shim runs element commands on the map's shared memory, without the server).
import path from 'node:path';

import { paths, isRoot, missing, ROOT } from './env';
import { Proc } from './proc';
import { Cell, Figure, Row, median, na } from './report';
import { bpftimeMissing, libStamp, withRuntimeDir } from './traced';

export const mapOpsBin = path.join(ROOT, 'examples/bench/map_ops');

const LINE = /^op=(\S+) calls=(\d+) ns_per_call=([\d.]+) runs=([\d.,]+)$/;
const ERR = /^op=(\S+) error=(.*)$/;

export interface MapOpsOptions { ms: number; reps: number }

/** Runs map_ops once for `ops`; a cell per op (n/a with the reason when it failed). */
export async function runMapOps(ops: string[], o: MapOpsOptions, env: NodeJS.ProcessEnv | null): Promise<Record<string, Cell>> {
  const out: Record<string, Cell> = {};
  const fail = (reason: string) => { for (const op of ops) out[op] ??= na(reason); return out; };
  const args = ['-t', String(o.ms), '-r', String(o.reps), ...ops];
  const p = new Proc(mapOpsBin, args, { env: env ?? process.env, stdin: 'ignore' });
  // Calibration plus reps: about (reps + 2) × ms per op, longer for slow commands.
  await p.wait(20000 + ops.length * (o.reps + 4) * o.ms * 4);
  for (const l of p.lines) {
    const m = LINE.exec(l);
    if (m) {
      out[m[1]] = { ok: true, value: Number(m[3]), runs: m[4].split(',').map(Number), note: `${m[2]} calls per run` };
      continue;
    }
    const e = ERR.exec(l);
    if (e) out[e[1]] = na(`bpf() failed: ${e[2]}`);
  }
  if (p.exit?.code !== 0) return fail(`map_ops exited (${p.exitText()})${p.stderrTail()}`);
  return fail('map_ops printed no result');
}

export async function kernelMapOps(ops: string[], o: MapOpsOptions): Promise<Record<string, Cell>> {
  const why = !isRoot() ? 'kernel BPF needs root' : missing([mapOpsBin], 'run scripts/build-examples.sh');
  if (why) return Object.fromEntries(ops.map((op) => [op, na(why)]));
  return runMapOps(ops, o, null);
}

/** map_ops under the shim, in a fresh runtime directory (the shim starts the server). */
export async function shimMapOps(ops: string[], o: MapOpsOptions): Promise<Record<string, Cell>> {
  const why = bpftimeMissing(mapOpsBin);
  if (why) return Object.fromEntries(ops.map((op) => [op, na(why)]));
  const before = libStamp();
  const out = await withRuntimeDir((dir) => runMapOps(ops, o, shimEnv(dir)));
  if (Object.values(out).every((c) => c.ok) || libStamp() === before) return out;
  return withRuntimeDir((dir) => runMapOps(ops, o, shimEnv(dir))); // build/lib was rebuilt meanwhile
}

/** The environment `bpftime load` gives a tool. */
export function shimEnv(dir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    LD_PRELOAD: paths.shim,
    BPFTIME_RUNTIME_DIR: dir,
    BPFTIME_NODE: process.execPath,
    BPFTIME_SERVER_JS: path.join(ROOT, 'dist/src-ts/server/main.js'),
  };
}

/**
 * Kernel and shim side by side under the same load: `rounds` rounds, each one kernel run then one
 * shim run of every op (one rep each, the shim's server kept across rounds), and per op the median
 * of the rounds. Other work on the machine comes and goes; runs minutes apart would compare
 * different machines.
 */
export async function interleavedMapOps(ops: string[], o: MapOpsOptions & { rounds: number }): Promise<{ kernel: Record<string, Cell>; shim: Record<string, Cell> }> {
  const one = { ms: o.ms, reps: 1 };
  const kernelWhy = !isRoot() ? 'kernel BPF needs root' : missing([mapOpsBin], 'run scripts/build-examples.sh');
  const shimWhy = bpftimeMissing(mapOpsBin);
  const kRuns: Record<string, Cell[]> = {}, sRuns: Record<string, Cell[]> = {};
  await withRuntimeDir(async (dir) => {
    for (let r = 0; r < o.rounds; r++) {
      if (!kernelWhy) for (const [op, c] of Object.entries(await runMapOps(ops, one, null))) (kRuns[op] ??= []).push(c);
      if (!shimWhy) for (const [op, c] of Object.entries(await runMapOps(ops, one, shimEnv(dir)))) (sRuns[op] ??= []).push(c);
    }
  });
  const combine = (runs: Record<string, Cell[]>, why: string | null): Record<string, Cell> => Object.fromEntries(ops.map((op) => {
    if (why) return [op, na(why)];
    const cells = runs[op] ?? [];
    const bad = cells.find((c) => !c.ok);
    if (bad || !cells.length) return [op, bad ?? na('map_ops printed no result')];
    const values = cells.map((c) => (c.ok ? c.value : NaN));
    return [op, { ok: true, value: median(values), runs: values, note: `median of ${values.length} interleaved rounds` }];
  }));
  return { kernel: combine(kRuns, kernelWhy), shim: combine(sRuns, shimWhy) };
}

const DATA_OPS = [
  'hash.lookup', 'hash.update', 'hash.delete', 'hash.get_next_key',
  'array.lookup', 'array.update', 'array.get_next_key',
];

export async function mapsFigure(log: (s: string) => void): Promise<Figure> {
  const o = { ms: 40, reps: 1, rounds: 7 };
  log('map ops: kernel and bpftime shim, interleaved');
  const { kernel, shim } = await interleavedMapOps(DATA_OPS, o);
  const rows: Row[] = [];
  const headline: NonNullable<Figure['headline']> = [];
  for (const op of DATA_OPS) {
    rows.push({ label: `kernel, ${op}`, nsPerCall: kernel[op], overheadNs: null });
    rows.push({ label: `bpftime shim, ${op}`, nsPerCall: shim[op], overheadNs: null });
    headline.push({ label: `tool-side ${op.replace('.', ' ')}`, unit: 'ns', kernel: kernel[op], bpftime: shim[op], target: { kind: 'speedup', value: 10 } });
  }
  const arrayDelete = na('array elements cannot be deleted: EINVAL on the kernel and under bpftime');
  rows.push({ label: 'array.delete', nsPerCall: arrayDelete, overheadNs: null });
  return {
    id: 'map-ops',
    title: 'Map commands from the tool (ns per bpf() call)',
    description:
      '`examples/bench/map_ops` calls `syscall(__NR_bpf, ...)` in timed loops with the attr sizes libbpf ' +
      'passes: lookup, update (BPF_ANY, existing keys) and get_next_key (walking the map, restarting at the ' +
      'end) cycle over 1024 present u32 keys; delete removes present keys (the map is refilled, untimed, ' +
      'every 1024 deletes). Run as root for the kernel, with `LD_PRELOAD` of the shim for bpftime (element ' +
      `commands run in the shim on the map's shared memory). ${o.rounds} rounds, each a kernel run then a shim run ` +
      `of about ${o.ms} ms per op, so both see the same load; the median of the rounds.`,
    params: { 'ms per run': o.ms, rounds: o.rounds, 'keys': 1024, tool: path.relative(ROOT, mapOpsBin) },
    rows,
    summary: [],
    headline,
  };
}
