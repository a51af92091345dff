// Figure: what a syscall tracepoint adds to each syscall.
//
// examples/bench/syscall_victim times N getppid() calls, untraced, then counted by
// examples/bench/getppid_tp (a program on syscalls:sys_enter_getppid that counts the victim's
// calls) on the kernel and under bpftime (tool under `bpftime load`, victim under `bpftime
// start`). Added ns per syscall = traced minus untraced.
import path from 'node:path';

import { paths, ROOT } from './env';
import { CPU_TIME_NOTE } from './uprobe';
import { Cell, Figure, median, na } from './report';
import {
  RunParams, TraceSpec, bpftimeColumn, bpftimeMissing, cliEnv, interleaved, kernelColumn, pairedOverhead, ratio,
  retryIfRebuilt, untracedColumn, untracedRun, withRuntimeDir,
} from './traced';

const victim = path.join(ROOT, 'examples/bench/syscall_victim');
const tool = path.join(ROOT, 'examples/bench/getppid_tp');

const spec: TraceSpec = {
  victim,
  victimArgs: (n) => [String(n)],
  tool,
  toolArgs: (pid) => ['-p', pid],
  perCallMs: 0.05,
};

/** The victim under `bpftime start` with nothing attached: what the agent alone costs. */
async function agentIdleColumn(p: RunParams): Promise<Cell> {
  const why = bpftimeMissing(victim);
  if (why) return na(why);
  return retryIfRebuilt(() => withRuntimeDir(async (dir) => {
    const runs: number[] = [];
    try {
      for (let i = 0; i < p.reps; i++) {
        runs.push(await untracedRun(spec, p.itersUntraced, cliEnv(dir), (c, a) => [process.execPath, [paths.cli, 'start', c, ...a]]));
      }
    } catch (e) {
      return na((e as Error).message);
    }
    return { ok: true, value: median(runs), runs } as Cell;
  }));
}

export async function syscallTpFigure(base: RunParams, log: (s: string) => void): Promise<Figure> {
  // getppid() costs ~100-300 ns: more calls per run than the uprobe figure.
  const p: RunParams = { ...base, iters: base.iters * 3, itersUntraced: Math.min(base.itersUntraced, base.iters * 3) };
  // untraced, idle agent, kernel, bpftime in turn, once per rep.
  const [untraced, idle, kernel, bpftime] = await interleaved([
    (q) => untracedColumn(spec, q),
    (q) => agentIdleColumn(q),
    (q) => kernelColumn(spec, q),
    (q) => bpftimeColumn(spec, q),
  ], p, (rep) => log(`syscall tracepoint: rep ${rep + 1}/${p.reps} (untraced, idle agent, kernel, bpftime)`));
  const kOver = pairedOverhead(kernel, untraced);
  const bOver = pairedOverhead(bpftime, untraced);
  return {
    id: 'syscall-tp',
    title: 'Cost of a syscall tracepoint (ns added per getppid())',
    description:
      '`examples/bench/syscall_victim` calls `getppid()` in a loop, untraced, then with ' +
      '`examples/bench/getppid_tp` counting its calls at `syscalls:sys_enter_getppid` on the kernel and under ' +
      'bpftime (`bpftime load` for the tool, `bpftime start` for the victim: the agent rewrites the syscall ' +
      'site to call its trampoline). Every traced run is checked: the tool counted every call. "Under the ' +
      'agent, nothing attached" is the victim under `bpftime start` with no tool. The four runs are made in ' +
      `turn, ${p.reps} times; added per syscall = the median of (traced − untraced) over those rounds. ${CPU_TIME_NOTE}`,
    params: { 'calls per traced run': p.iters, 'calls per untraced run': p.itersUntraced, runs: p.reps },
    rows: [
      { label: 'untraced getppid()', nsPerCall: untraced, overheadNs: null },
      { label: 'under the agent, nothing attached', nsPerCall: idle, overheadNs: pairedOverhead(idle, untraced) },
      { label: 'kernel: sys_enter_getppid program', nsPerCall: kernel, overheadNs: kOver },
      { label: 'bpftime: sys_enter_getppid program', nsPerCall: bpftime, overheadNs: bOver },
    ],
    summary: [{ label: 'kernel/bpftime ns added per syscall', cell: ratio(kOver, bOver) }],
    headline: [{ label: 'syscall tracepoint, ns added per syscall', unit: 'ns', kernel: kOver, bpftime: bOver, target: { kind: 'max', value: 25 } }],
  };
}
