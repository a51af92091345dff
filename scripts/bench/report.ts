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

function fmt(v: number): string {
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
  out.push('| run | ns per call | overhead per hit (ns) | runs (ns per call) |');
  out.push('|---|---:|---:|---|');
  for (const r of f.rows) {
    const runs = r.nsPerCall.ok ? r.nsPerCall.runs.map(fmt).join(', ') : '';
    out.push(`| ${r.label} | ${cellText(r.nsPerCall)} | ${cellText(r.overheadNs)} | ${runs} |`);
  }
  out.push('');
  for (const s of f.summary) out.push(`${s.label}: ${cellText(s.cell)}`, '');
  return out.join('\n');
}

export function reportMarkdown(date: string, host: Record<string, unknown>, figures: Figure[]): string {
  const head = [
    '# bpftime-ts benchmarks',
    '',
    `${date} — kernel ${host.kernel}, ${host.cpus} × ${host.cpu}, node ${host.node}`,
    '',
  ];
  return head.concat(figures.map(figureMarkdown)).join('\n');
}

export function reportJson(date: string, host: Record<string, unknown>, figures: Figure[]): string {
  return JSON.stringify({ date, host, figures }, null, 2) + '\n';
}
