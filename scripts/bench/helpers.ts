// Figure: the cost of a map lookup made by a program (hash maps: a helper call; array maps: inlined
// by the kernel's verifier and by bpftime's JIT alike).
//
// examples/bench/lookups attaches a uprobe to bench_target of examples/bench/uprobe_victim
// whose program makes N bpf_map_lookup_elem() calls per hit (a bounded loop; every key is
// present), then counts the hit. The per-hit cost with N lookups minus the per-hit cost with
// none, divided by N, is the cost of one lookup as the program pays it (the loop's own
// iteration included), on the kernel and under bpftime, in the same run.
import fs from 'node:fs';
import path from 'node:path';

import { paths, ROOT } from './env';
import { Cell, Figure, Row, na } from './report';
import { RunParams, TraceSpec, bpftimeColumn, interleaved, kernelColumn, pairedOverhead } from './traced';

const LOOKUPS = 256;
const FN = 'bench_target';

const lookupsTool = path.join(ROOT, 'examples/bench/lookups');

function spec(kind: 'hash' | 'array', n: number): TraceSpec {
  return {
    victim: paths.uprobeVictim,
    victimArgs: (iters) => [String(iters), FN],
    tool: lookupsTool,
    toolArgs: (pid) => ['-b', fs.realpathSync(paths.uprobeVictim), '-f', FN, '-p', pid, '-m', kind, '-n', String(n)],
    perCallMs: 0.5, // 256 kernel hash lookups take ~10 µs
  };
}

/** (with − without) / n for each round, the median as the value. */
function perLookup(withN: Cell, without: Cell, n: number): Cell {
  if (!withN.ok) return na(withN.reason);
  if (!without.ok) return na(`the 0-lookup baseline: ${without.reason}`);
  const d = pairedOverhead(withN, without);
  if (!d.ok) return d;
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  return { ok: true, value: r3(d.value / n), runs: d.runs.map((v) => r3(v / n)) };
}

export async function helpersFigure(base: RunParams, log: (s: string) => void): Promise<Figure> {
  // Fewer calls than the plain uprobe figure: a hit costs up to ~10 µs here.
  const p: RunParams = { ...base, iters: Math.max(1000, Math.round(base.iters / 3)) };
  const rows: Row[] = [];
  const headline: NonNullable<Figure['headline']> = [];
  const sides = [
    { name: 'kernel', column: kernelColumn },
    { name: 'bpftime', column: bpftimeColumn },
  ] as const;
  const per: Record<string, Record<string, Cell>> = { hash: {}, array: {} };
  for (const side of sides) {
    // 0, hash and array lookups in turn, once per rep: each difference is taken within a round.
    const [zero, hash, array] = await interleaved(
      [spec('hash', 0), spec('hash', LOOKUPS), spec('array', LOOKUPS)].map((s) => (q: RunParams) => side.column(s, q)),
      p, (rep) => log(`helpers: ${side.name}, rep ${rep + 1}/${p.reps} (0, ${LOOKUPS} hash, ${LOOKUPS} array lookups)`));
    rows.push(
      { label: `${side.name}, 0 lookups per hit`, nsPerCall: zero, overheadNs: null },
      { label: `${side.name}, ${LOOKUPS} hash lookups per hit`, nsPerCall: hash, overheadNs: null },
      { label: `${side.name}, ${LOOKUPS} array lookups per hit`, nsPerCall: array, overheadNs: null },
    );
    per.hash[side.name] = perLookup(hash, zero, LOOKUPS);
    per.array[side.name] = perLookup(array, zero, LOOKUPS);
  }
  for (const kind of ['hash', 'array'] as const) {
    for (const side of sides) {
      rows.push({ label: `${side.name}: one ${kind} lookup (ns, from the per-hit difference / ${LOOKUPS})`, nsPerCall: per[kind][side.name], overheadNs: null });
    }
    headline.push({
      label: `program-side ${kind} map lookup`,
      unit: 'ns',
      kernel: per[kind].kernel,
      bpftime: per[kind].bpftime,
      target: { kind: 'max', value: kind === 'hash' ? 20 : 5 },
    });
  }
  return {
    id: 'helpers',
    title: 'Map lookups from a program (ns per bpf_map_lookup_elem)',
    description:
      '`examples/bench/lookups` attaches a uprobe to `bench_target` of `examples/bench/uprobe_victim`; ' +
      `its program makes 0 or ${LOOKUPS} \`bpf_map_lookup_elem\` calls per hit in a bounded loop (u32 keys ` +
      '0..63, all present, u64 values summed) in a hash or an array map, then counts the hit. One lookup = ' +
      `(ns per hit with ${LOOKUPS} lookups − ns per hit with none) / ${LOOKUPS}, the loop iteration included. ` +
      'The kernel inlines array lookups and calls the hash lookup directly (verifier rewrites); bpftime\'s JIT ' +
      'inlines array lookups the same way (bounds check and element address in the program\'s code) and calls ' +
      `the hash lookup helper. Every run is checked: the tool counted every hit. The three runs are made in turn, ` +
      `${p.reps} times per side; one lookup is the median over those rounds.`,
    params: { 'calls per traced run': p.iters, runs: p.reps, 'lookups per hit': LOOKUPS, tool: 'examples/bench/lookups' },
    columns: ['ns per call (per hit; per lookup in the last rows)', 'overhead'],
    rows,
    summary: [],
    headline,
  };
}
