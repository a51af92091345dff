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
import path from 'node:path';

import { paths, ROOT } from './env';
import { Figure, Row } from './report';
import { RunParams, TraceSpec, bpftimeColumn, kernelColumn, overhead, ratio, untracedColumn } from './traced';

export type UprobeParams = RunParams;

/** How the victims time their calls (examples/bench/uprobe_victim.c, syscall_victim.c). */
export const CPU_TIME_NOTE =
  'Times are the victim thread\'s CPU time (`CLOCK_THREAD_CPUTIME_ID`: user and kernel time, so a kernel ' +
  'probe\'s trap and a syscall\'s tracepoint count, time spent waiting for a CPU does not), which keeps the ' +
  'figures steady on a machine busy with other work.';

export const TARGETS = [
  { fn: 'bench_target', prologue: '`push %rbp` prologue' },
  { fn: 'bench_target_sub', prologue: '`sub $8, %rsp` prologue' },
];

/** malloc counting calls (or, with `-r`, returns) of `fn` in the uprobe victim. */
export function mallocSpec(fn: string, extra: string[] = []): TraceSpec {
  return {
    victim: paths.uprobeVictim,
    victimArgs: (n) => [String(n), fn],
    tool: paths.mallocTool,
    toolArgs: (pid) => ['-b', fs.existsSync(paths.uprobeVictim) ? fs.realpathSync(paths.uprobeVictim) : paths.uprobeVictim,
      '-f', fn, '-p', pid, ...extra],
    perCallMs: 0.2, // ~1-12 µs measured per hit; 200 µs is a hang
  };
}

export async function uprobeFigure(p: UprobeParams, log: (s: string) => void): Promise<Figure> {
  const rows: Row[] = [];
  const summary: Figure['summary'] = [];
  const headline: NonNullable<Figure['headline']> = [];
  for (const { fn, prologue } of TARGETS) {
    const spec = mallocSpec(fn);
    log(`uprobe ${fn}: untraced`);
    const untraced = await untracedColumn(spec, p);
    log(`uprobe ${fn}: kernel`);
    const kernel = await kernelColumn(spec, p);
    log(`uprobe ${fn}: bpftime`);
    const bpftime = await bpftimeColumn(spec, p);

    const kOver = overhead(kernel, untraced);
    const bOver = overhead(bpftime, untraced);
    rows.push(
      { label: `untraced, ${fn} (${prologue})`, nsPerCall: untraced, overheadNs: null },
      { label: `kernel uprobe, ${fn}`, nsPerCall: kernel, overheadNs: kOver },
      { label: `bpftime, ${fn}`, nsPerCall: bpftime, overheadNs: bOver },
    );
    summary.push({ label: `kernel/bpftime per-hit overhead, ${fn}`, cell: ratio(kOver, bOver) });
    headline.push({ label: `uprobe hit, ${fn} (${prologue})`, unit: 'ns', kernel: kOver, bpftime: bOver, target: { kind: 'max', value: 30 } });
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
      `Median of ${p.reps} runs; overhead per hit = traced minus untraced ns per call. ${CPU_TIME_NOTE}`,
    params: {
      'calls per traced run': p.iters,
      'calls per untraced run': p.itersUntraced,
      runs: p.reps,
      victim: path.relative(ROOT, paths.uprobeVictim),
    },
    rows,
    summary,
    headline,
  };
}
