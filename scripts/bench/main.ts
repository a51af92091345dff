// npm run bench: runs the benchmark figures and writes the report to stdout,
// bench-results/latest.md, bench-results/latest.json and the chart (latest.svg, and
// latest.png when an SVG converter is installed).
//
//   node dist/scripts/bench/main.js [--iters N] [--iters-untraced N] [--reps R]
//                                   [--settle-ms MS] [--out DIR] [--only ID,ID...]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { chartSvg, svgToPng } from './chart';
import { controlFigure } from './control';
import { ROOT, hostInfo } from './env';
import { helpersFigure } from './helpers';
import { mapsFigure } from './maps';
import { killAll } from './proc';
import { Figure, reportJson, reportMarkdown, summaryLines } from './report';
import { startupFigure } from './startup';
import { syscallTpFigure } from './syscall_tp';
import { uprobeFigure, UprobeParams } from './uprobe';
import { uretprobeFigure } from './uretprobe';
import { benchJit } from './jit';
import { testRunFigure } from './test_run';
import { tailCallFigure } from './tailcall';
import { ringbufFigure } from './ringbuf';

interface Args extends UprobeParams { out: string; only: string[] | null }

// Each module, by the name --only takes, in report order.
const MODULES: [string, (a: Args, log: (s: string) => void) => Promise<Figure[]>][] = [
  ['uprobe', async (a, log) => [await uprobeFigure(a, log)]],
  ['uretprobe', async (a, log) => [await uretprobeFigure(a, log)]],
  ['syscall-tp', async (a, log) => [await syscallTpFigure(a, log)]],
  ['helpers', async (a, log) => [await helpersFigure(a, log)]],
  ['map-ops', async (_a, log) => [await mapsFigure(log)]],
  ['ringbuf', async (_a, log) => [await ringbufFigure(log)]],
  ['control-plane', async (_a, log) => [await controlFigure(log)]],
  ['agent-startup', async (_a, log) => [await startupFigure(log)]],
  ['jit', async (_a, log) => benchJit(log)],
  ['test-run', async (_a, log) => [await testRunFigure(log)]],
  ['tail-call', async (_a, log) => [await tailCallFigure(log)]],
];

function parseArgs(argv: string[]): Args {
  const a: Args = {
    iters: 300_000,
    itersUntraced: 10_000_000,
    reps: 3,
    settleMs: 500,
    out: path.join(ROOT, 'bench-results'),
    only: null,
  };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (!v || !Number.isInteger(n) || n < 0) throw new Error(`${flag} wants a non-negative integer`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    switch (f) {
      case '--iters': a.iters = num(f, argv[++i]); break;
      case '--iters-untraced': a.itersUntraced = num(f, argv[++i]); break;
      case '--reps': a.reps = Math.max(1, num(f, argv[++i])); break;
      case '--settle-ms': a.settleMs = num(f, argv[++i]); break;
      case '--out': a.out = path.resolve(argv[++i] ?? '.'); break;
      case '--only': {
        a.only = (argv[++i] ?? '').split(',').filter(Boolean);
        const bad = a.only.filter((m) => !MODULES.some(([id]) => id === m));
        if (bad.length || !a.only.length) throw new Error(`--only takes some of ${MODULES.map(([id]) => id).join(',')}`);
        break;
      }
      case '-h': case '--help':
        console.log('usage: bench [--iters N] [--iters-untraced N] [--reps R] [--settle-ms MS] [--out DIR] [--only ID,ID...]');
        console.log(`modules: ${MODULES.map(([id]) => id).join(', ')}`);
        process.exit(0);
      default: throw new Error(`unknown argument ${f}`);
    }
  }
  if (a.iters === 0 || a.itersUntraced === 0) throw new Error('iteration counts must be > 0');
  return a;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const log = (s: string) => process.stderr.write(`bench: ${s}\n`);
  const figures: Figure[] = [];
  const loadStart = os.loadavg()[0];
  const t0 = Date.now();
  for (const [id, run] of MODULES) {
    if (args.only && !args.only.includes(id)) continue;
    const t = Date.now();
    figures.push(...(await run(args, log)));
    log(`${id}: ${((Date.now() - t) / 1000).toFixed(1)} s`);
  }
  log(`all figures: ${((Date.now() - t0) / 1000).toFixed(1)} s`);

  const date = new Date().toISOString();
  const host: Record<string, string | number> = { ...hostInfo(), 'load average at start': loadStart.toFixed(2), 'load average at end': os.loadavg()[0].toFixed(2) };
  fs.mkdirSync(args.out, { recursive: true });

  // The chart: SVG always, PNG when a converter is installed.
  let chart: string | null = null;
  let chartNote = '';
  const svg = chartSvg(summaryLines(figures), `${date} — kernel ${host.kernel}, ${host.cpus} × ${host.cpu}`);
  for (const f of ['latest.svg', 'latest.png']) fs.rmSync(path.join(args.out, f), { force: true });
  if (svg) {
    const svgPath = path.join(args.out, 'latest.svg');
    fs.writeFileSync(svgPath, svg);
    const png = svgToPng(svgPath, path.join(args.out, 'latest.png'));
    if (png.ok) {
      chart = 'latest.png';
      log(`chart: latest.png (${png.tool})`);
    } else {
      chart = 'latest.svg';
      chartNote = `Chart: PNG n/a (${png.reason}); the SVG is latest.svg.`;
      log(`chart: ${chartNote}`);
    }
  }

  const md = reportMarkdown(date, host, figures, chart, chartNote);
  process.stdout.write(md + '\n');
  fs.writeFileSync(path.join(args.out, 'latest.md'), md + '\n');
  fs.writeFileSync(path.join(args.out, 'latest.json'), reportJson(date, host, figures));
  log(`wrote ${path.relative(process.cwd(), path.join(args.out, 'latest.md'))}, latest.json${chart ? ` and ${chart}` : ''}`);
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => { killAll(); process.exit(130); });
}

main().then(() => process.exit(0), (e: Error) => {
  process.stderr.write(`bench: ${e.message}\n`);
  killAll();
  process.exit(1);
});
