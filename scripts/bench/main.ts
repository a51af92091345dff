// npm run bench: runs the benchmark figures and writes the report to stdout,
// bench-results/latest.md and bench-results/latest.json.
//
//   node dist/scripts/bench/main.js [--iters N] [--iters-untraced N] [--reps R]
//                                   [--settle-ms MS] [--out DIR]
import fs from 'node:fs';
import path from 'node:path';

import { ROOT, hostInfo } from './env';
import { killAll } from './proc';
import { Figure, reportJson, reportMarkdown } from './report';
import { uprobeFigure, UprobeParams } from './uprobe';
import { benchJit } from './jit';

interface Args extends UprobeParams { out: string }

function parseArgs(argv: string[]): Args {
  const a: Args = {
    iters: 300_000,
    itersUntraced: 10_000_000,
    reps: 3,
    settleMs: 500,
    out: path.join(ROOT, 'bench-results'),
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
      case '-h': case '--help':
        console.log('usage: bench [--iters N] [--iters-untraced N] [--reps R] [--settle-ms MS] [--out DIR]');
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
  figures.push(await uprobeFigure(args, log));
  figures.push(...(await benchJit(log)));

  const date = new Date().toISOString();
  const host = hostInfo();
  const md = reportMarkdown(date, host, figures);
  process.stdout.write(md + '\n');
  fs.mkdirSync(args.out, { recursive: true });
  fs.writeFileSync(path.join(args.out, 'latest.md'), md + '\n');
  fs.writeFileSync(path.join(args.out, 'latest.json'), reportJson(date, host, figures));
  log(`wrote ${path.relative(process.cwd(), path.join(args.out, 'latest.md'))} and latest.json`);
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => { killAll(); process.exit(130); });
}

main().then(() => process.exit(0), (e: Error) => {
  process.stderr.write(`bench: ${e.message}\n`);
  killAll();
  process.exit(1);
});
