// Figure: the cost of one uretprobe hit.
//
// As the uprobe figure, with `examples/malloc/malloc -r` counting returns of bench_target
// (`push %rbp` prologue) in examples/bench/uprobe_victim, on the kernel and under bpftime.
import path from 'node:path';

import { paths, ROOT } from './env';
import { Figure } from './report';
import { RunParams, bpftimeColumn, interleaved, kernelColumn, pairedOverhead, ratio, untracedColumn } from './traced';
import { CPU_TIME_NOTE, mallocSpec } from './uprobe';

const FN = 'bench_target';

export async function uretprobeFigure(p: RunParams, log: (s: string) => void): Promise<Figure> {
  const spec = mallocSpec(FN, ['-r']);
  const [untraced, kernel, bpftime] = await interleaved([
    (q) => untracedColumn(spec, q),
    (q) => kernelColumn(spec, q),
    (q) => bpftimeColumn(spec, q),
  ], p, (rep) => log(`uretprobe: rep ${rep + 1}/${p.reps} (untraced, kernel, bpftime)`));
  const kOver = pairedOverhead(kernel, untraced);
  const bOver = pairedOverhead(bpftime, untraced);
  return {
    id: 'uretprobe',
    title: 'Cost of one uretprobe hit',
    description:
      'An empty function (`bench_target`, `push %rbp` prologue) called in a loop by ' +
      '`examples/bench/uprobe_victim`, untraced, then with its returns counted by `examples/malloc/malloc -r ' +
      '-b <victim> -f bench_target -p <pid>` on the kernel and under bpftime. A return probe costs an entry ' +
      'hook (which records the return address and calls the function) and the return trampoline. Every traced run is checked: the ' +
      `tool counted every return. The three runs are made in turn, ${p.reps} times; overhead per hit = the median ` +
      `of (traced − untraced) over those rounds. ${CPU_TIME_NOTE}`,
    params: {
      'calls per traced run': p.iters,
      'calls per untraced run': p.itersUntraced,
      runs: p.reps,
      victim: path.relative(ROOT, paths.uprobeVictim),
    },
    rows: [
      { label: `untraced, ${FN}`, nsPerCall: untraced, overheadNs: null },
      { label: `kernel uretprobe, ${FN}`, nsPerCall: kernel, overheadNs: kOver },
      { label: `bpftime uretprobe, ${FN}`, nsPerCall: bpftime, overheadNs: bOver },
    ],
    summary: [{ label: 'kernel/bpftime per-hit overhead', cell: ratio(kOver, bOver) }],
    headline: [{ label: `uretprobe hit, ${FN}`, unit: 'ns', kernel: kOver, bpftime: bOver, target: { kind: 'max', value: 40 } }],
  };
}
