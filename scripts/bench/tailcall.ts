// Figure: what a bpf_tail_call costs (issue 6), through BPF_PROG_TEST_RUN: an XDP program alone
// (`leaf`), one that tail-calls it (`entry`), and one that tail-calls itself until the limit of
// 33 stops it (`chain`), on the kernel's JIT, bpftime's JIT and its interpreter
// (examples/bench/tailcalls.bpf.c, driven by examples/bench/tailcalls). The cost of one tail
// call is (chain - leaf) / 33.
import path from 'node:path';

import { isRoot, missing, ROOT } from './env';
import { shimEnv } from './maps';
import { Proc } from './proc';
import { Cell, Figure, Headline, Row, median, na } from './report';
import { bpftimeMissing, withRuntimeDir } from './traced';

const BIN = path.join(ROOT, 'examples/bench/tailcalls');
const PROGS = ['leaf', 'entry', 'chain'];
const CALLS = 5;
const TARGET_MS = 40;
const TAIL_CALLS_IN_CHAIN = 33;
const LINE = /^result=([0-9a-f]+) ns_per_run=([\d.]+)$/;

/** ns per run from `calls` test-run calls of `repeat` runs; every run must answer XDP_PASS. */
async function runs(name: string, repeat: number, calls: number, env: NodeJS.ProcessEnv): Promise<Cell> {
  const p = new Proc(BIN, [name, String(repeat), String(calls)], { env, stdin: 'ignore' });
  await p.wait(300_000);
  const ns: number[] = [];
  for (const l of p.lines) {
    const m = LINE.exec(l);
    if (m && m[1] !== '00000002') return na(`${name} answered 0x${m[1]}, not XDP_PASS: a tail call fell through`);
    if (m) ns.push(Number(m[2]));
    const e = /^error: (.*)$/.exec(l);
    if (e) return na(e[1]);
  }
  if (p.exit?.code !== 0 || !ns.length) return na(`tailcalls exited (${p.exitText()})${p.stderrTail()}`);
  return { ok: true, value: median(ns), runs: ns };
}

async function measure(name: string, env: NodeJS.ProcessEnv): Promise<Cell> {
  const est = await runs(name, 2000, 1, env);
  if (!est.ok) return est;
  const repeat = Math.max(1, Math.min(5_000_000, Math.round((TARGET_MS * 1e6) / Math.max(est.value, 1))));
  return runs(name, repeat, CALLS, env);
}

const perTailCall = (chain: Cell, leaf: Cell): Cell =>
  chain.ok && leaf.ok
    ? { ok: true, value: (chain.value - leaf.value) / TAIL_CALLS_IN_CHAIN, runs: [], note: `(chain - leaf) / ${TAIL_CALLS_IN_CHAIN}` }
    : na('chain or leaf not measured');

export async function tailCallFigure(log: (s: string) => void): Promise<Figure> {
  const kernelWhy = !isRoot() ? 'kernel BPF needs root' : missing([BIN], 'run scripts/build-examples.sh');
  const shimWhy = bpftimeMissing(BIN);
  const res: Record<string, Record<string, Cell>> = { kernel: {}, jit: {}, interp: {} };
  await withRuntimeDir(async (jitDir) => withRuntimeDir(async (interpDir) => {
    const envs: Record<string, NodeJS.ProcessEnv | string> = {
      kernel: kernelWhy ?? process.env,
      jit: shimWhy ?? shimEnv(jitDir),
      interp: shimWhy ?? { ...shimEnv(interpDir), BPFTIME_JIT: '0' },
    };
    for (const name of PROGS) {
      log(`tail-call: ${name}`);
      for (const [engine, env] of Object.entries(envs)) res[engine][name] = typeof env === 'string' ? na(env) : await measure(name, env);
    }
  }));
  const label: Record<string, string> = { kernel: 'kernel JIT', jit: 'bpftime JIT', interp: 'bpftime interpreter' };
  const rows: Row[] = [];
  for (const engine of ['kernel', 'jit', 'interp']) {
    for (const name of PROGS) rows.push({ label: `${label[engine]}, ${name}`, nsPerCall: res[engine][name], overheadNs: null });
    rows.push({ label: `${label[engine]}, one tail call`, nsPerCall: perTailCall(res[engine].chain, res[engine].leaf), overheadNs: null });
  }
  const per = (e: string) => perTailCall(res[e].chain, res[e].leaf);
  const headline: Headline[] = [
    { label: 'bpf_tail_call, per call (33-call chain)', unit: 'ns', kernel: per('kernel'), bpftime: per('jit') },
  ];
  return {
    id: 'tail-call',
    title: 'bpf_tail_call through BPF_PROG_TEST_RUN (ns per run)',
    description:
      'XDP programs from `examples/bench/tailcalls.bpf.c` run by `examples/bench/tailcalls` through ' +
      '`bpf_prog_test_run_opts` with `repeat` runs per call (the duration the test run reports: mean ns per run): ' +
      '`leaf` alone, `entry` tail-calling `leaf` through a prog array that libbpf filled from `.values`, and ' +
      '`chain` tail-calling itself until the limit of 33 makes the call fall through. On the kernel (as root, its ' +
      'JIT) and under the shim for bpftime (JIT, and the interpreter with BPFTIME_JIT=0). Median of ' +
      `${CALLS} calls of about ${TARGET_MS} ms. One tail call costs (chain - leaf) / 33.`,
    params: { calls: CALLS, 'ms per call': TARGET_MS },
    columns: ['ns per run', '—'],
    rows,
    summary: ['kernel', 'jit', 'interp'].map((e) => ({ label: `${label[e]}: one tail call`, cell: per(e) })),
    headline,
  };
}
