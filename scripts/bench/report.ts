// Results as data, as Markdown, as JSON.

// One measured configuration: a value, or why there is none.
export type Cell =
  | { ok: true; value: number; runs: number[]; note?: string }
  | { ok: false; reason: string };

export interface Row {
  label: string;
  nsPerCall: Cell;
  overheadNs: Cell | null; // null: not applicable (the baseline)
}

export interface Figure {
  id: string;
  title: string;
  description: string;
  params: Record<string, number | string>;
  rows: Row[];
  summary: { label: string; cell: Cell }[];
  headline?: Headline[]; // this figure's lines in the summary table and the chart
  columns?: [string, string]; // headers of the two value columns (default: ns per call, overhead per hit)
}

/** One line of the summary table: the kernel (or the plain process, where bpftime adds to
 * one) beside bpftime, with the issue's target when there is one. */
export interface Headline {
  label: string;
  unit: 'ns' | 'ms' | 'KiB';
  kernel: Cell;
  bpftime: Cell;
  /** max: bpftime's value must be at most `value`; speedup: kernel ÷ bpftime at least `value`;
   * slowdown: bpftime ÷ the reference column (native code, say) at most `value`. */
  target?: { kind: 'max' | 'speedup' | 'slowdown'; value: number };
  kernelLabel?: string; // what the kernel column holds, when it is not the kernel
  chart?: boolean;      // false: kept out of the chart (default: in it when a time)
}

export const na = (reason: string): Cell => ({ ok: false, reason: oneLine(reason) });

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' / ').trim().slice(0, 400);
}

export function fmt(v: number): string {
  if (Math.abs(v) >= 100) return v.toFixed(0);
  if (Math.abs(v) >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

const esc = (s: string) => s.replace(/\|/g, '\\|');

export function cellText(c: Cell | null, unit = ''): string {
  if (!c) return '—';
  if (!c.ok) return `n/a (${esc(c.reason)})`;
  return `${fmt(c.value)}${unit}${c.note ? ` (${esc(c.note)})` : ''}`;
}

export function figureMarkdown(f: Figure): string {
  const out = [`## ${f.title}`, '', f.description, ''];
  out.push(`Parameters: ${Object.entries(f.params).map(([k, v]) => `${k}=${v}`).join(', ')}`, '');
  const [value, over] = f.columns ?? ['ns per call', 'overhead per hit (ns)'];
  out.push(`| run | ${value} | ${over} | ${f.columns ? 'runs' : `runs (${value})`} |`);
  out.push('|---|---:|---:|---|');
  for (const r of f.rows) {
    const runs = r.nsPerCall.ok ? r.nsPerCall.runs.map(fmt).join(', ') : '';
    out.push(`| ${r.label} | ${cellText(r.nsPerCall)} | ${cellText(r.overheadNs)} | ${runs} |`);
  }
  out.push('');
  for (const s of f.summary) out.push(`${s.label}: ${cellText(s.cell)}`, '');
  return out.join('\n');
}

/** Ratios far below 1 keep two significant digits. */
export function ratioText(r: number): string {
  return r > 0 && r < 0.1 ? r.toPrecision(2) : fmt(r);
}

export const unitNs = { ns: 1, ms: 1e6 } as const;

export function valueText(c: Cell, unit: Headline['unit']): string {
  return c.ok ? `${fmt(c.value)} ${unit}` : `n/a (${esc(c.reason)})`;
}

export interface SummaryLine {
  figure: string;
  label: string;
  unit: Headline['unit'];
  kernel: Cell;
  bpftime: Cell;
  ratio: Cell;               // kernel ÷ bpftime
  target: string;            // as text, '—' when none
  met: boolean | null;       // null: no target, or nothing to judge
  kernelLabel?: string;
  chart: boolean;
}

export function summaryLines(figures: Figure[]): SummaryLine[] {
  const out: SummaryLine[] = [];
  for (const f of figures) {
    for (const h of f.headline ?? []) {
      let ratio: Cell;
      if (!h.kernel.ok) ratio = na(`kernel: ${h.kernel.reason}`);
      else if (!h.bpftime.ok) ratio = na(`bpftime: ${h.bpftime.reason}`);
      else if (h.bpftime.value <= 0) ratio = na('bpftime within noise of zero');
      else ratio = { ok: true, value: h.kernel.value / h.bpftime.value, runs: [] };
      let target = '—';
      let met: boolean | null = null;
      if (h.target?.kind === 'max') {
        target = `≤ ${h.target.value} ${h.unit}`;
        if (h.bpftime.ok) met = h.bpftime.value <= h.target.value;
      } else if (h.target?.kind === 'speedup') {
        target = `≥ ${h.target.value}× faster than the kernel`;
        if (ratio.ok) met = ratio.value >= h.target.value;
      } else if (h.target?.kind === 'slowdown') {
        target = `bpftime ≤ ${h.target.value}× ${h.kernelLabel ?? 'the kernel'}`;
        if (ratio.ok) met = 1 / ratio.value <= h.target.value;
      }
      out.push({
        figure: f.id, label: h.label, unit: h.unit, kernel: h.kernel, bpftime: h.bpftime, ratio, target, met,
        kernelLabel: h.kernelLabel, chart: h.chart ?? h.unit !== 'KiB',
      });
    }
  }
  return out;
}

export function summaryMarkdown(lines: SummaryLine[], chart: string | null): string {
  const out = ['## Summary', ''];
  out.push('Kernel and bpftime measured in this run. Ratio = kernel ÷ bpftime (above 1: bpftime is faster). ' +
    'Where the "kernel" cell is a plain process (start-up, memory), the label says so.', '');
  out.push('| figure | kernel | bpftime | ratio | target | met? |');
  out.push('|---|---:|---:|---:|---|---|');
  for (const l of lines) {
    const label = l.kernelLabel ? `${l.label} (kernel column: ${l.kernelLabel})` : l.label;
    const ratio = l.ratio.ok ? `${ratioText(l.ratio.value)}×` : 'n/a';
    const met = l.met === null ? (l.target === '—' ? '—' : 'n/a') : l.met ? 'yes' : 'no';
    out.push(`| ${esc(label)} | ${valueText(l.kernel, l.unit)} | ${valueText(l.bpftime, l.unit)} | ${ratio} | ${l.target} | ${met} |`);
  }
  out.push('');
  if (chart) out.push(`![bpftime beside the kernel, log scale](${chart})`, '');
  return out.join('\n');
}

export function reportMarkdown(date: string, host: Record<string, unknown>, figures: Figure[],
  chart: string | null = null, chartNote = ''): string {
  const head = [
    '# bpftime-ts benchmarks',
    '',
    `${date} — kernel ${host.kernel}, ${host.cpus} × ${host.cpu}, node ${host.node}`,
    '',
  ];
  if (host['load average at start'] !== undefined) {
    head.push(`Other load on the machine: 1-minute load average ${host['load average at start']} at the start, ` +
      `${host['load average at end']} at the end (${host.cpus} CPUs); the figures are noisier when it is high.`, '');
  }
  const lines = summaryLines(figures);
  if (lines.length) head.push(summaryMarkdown(lines, chart));
  if (chartNote) head.push(chartNote, '');
  return head.concat(figures.map(figureMarkdown)).join('\n');
}

export function reportJson(date: string, host: Record<string, unknown>, figures: Figure[]): string {
  return JSON.stringify({ date, host, summary: summaryLines(figures), figures }, null, 2) + '\n';
}
