// The summary as a chart: for each timed figure, bpftime's bar beside the kernel's on a log
// axis, with the issue's target marked. Written as SVG (no dependencies), then converted to
// PNG by whichever converter this machine has (rsvg-convert from librsvg2-bin, inkscape,
// ImageMagick); without one the SVG is all there is, and the report says so.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

import { SummaryLine, fmt, unitNs } from './report';

const W = 1180;
const LABEL_W = 420;
const PLOT_X0 = LABEL_W + 10;
const PLOT_X1 = W - 110;
const ROW_H = 44;
const BAR_H = 15;
const TOP = 96;
const KERNEL_COLOR = '#4c78a8';
const BPFTIME_COLOR = '#f58518';
const TARGET_COLOR = '#d62728';

const escXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/`/g, '');

function timeText(ns: number): string {
  if (ns >= 1e9) return `${fmt(ns / 1e9)} s`;
  if (ns >= 1e6) return `${fmt(ns / 1e6)} ms`;
  if (ns >= 1e3) return `${fmt(ns / 1e3)} µs`;
  return `${fmt(ns)} ns`;
}

const DECADE_NAMES = ['1 ns', '10 ns', '100 ns', '1 µs', '10 µs', '100 µs', '1 ms', '10 ms', '100 ms', '1 s', '10 s'];

export function chartSvg(lines: SummaryLine[], subtitle: string): string | null {
  const rows = lines.filter((l) => l.chart && l.unit !== 'KiB');
  if (!rows.length) return null;
  const ns = (c: SummaryLine['kernel'], unit: SummaryLine['unit']) =>
    (c.ok && c.value > 0 ? c.value * unitNs[unit as 'ns' | 'ms'] : null);
  const values = rows.flatMap((l) => [ns(l.kernel, l.unit), ns(l.bpftime, l.unit)]).filter((v): v is number => v !== null);
  const lo = Math.max(-1, Math.floor(Math.log10(Math.min(...values, 10))));
  const hi = Math.min(10, Math.ceil(Math.log10(Math.max(...values, 100))));
  const x = (v: number) => PLOT_X0 + ((Math.log10(Math.max(v, 10 ** lo)) - lo) / (hi - lo)) * (PLOT_X1 - PLOT_X0);
  const H = TOP + rows.length * ROW_H + 50;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Verdana, sans-serif">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="16" y="30" font-size="20" font-weight="bold">bpftime-ts beside the kernel (log scale, shorter is better)</text>`);
  out.push(`<text x="16" y="52" font-size="12" fill="#555">${escXml(subtitle)}</text>`);
  // legend
  const ly = 74;
  out.push(`<rect x="16" y="${ly - 11}" width="14" height="12" fill="${KERNEL_COLOR}"/><text x="36" y="${ly}" font-size="13">kernel (or the plain process)</text>`);
  out.push(`<rect x="260" y="${ly - 11}" width="14" height="12" fill="${BPFTIME_COLOR}"/><text x="280" y="${ly}" font-size="13">bpftime</text>`);
  out.push(`<line x1="360" y1="${ly - 12}" x2="360" y2="${ly + 2}" stroke="${TARGET_COLOR}" stroke-width="3"/><text x="368" y="${ly}" font-size="13">target for bpftime</text>`);
  // decades
  for (let d = lo; d <= hi; d++) {
    const gx = x(10 ** d);
    out.push(`<line x1="${gx.toFixed(1)}" y1="${TOP - 6}" x2="${gx.toFixed(1)}" y2="${H - 40}" stroke="#ddd"/>`);
    const name = d >= 0 && d < DECADE_NAMES.length ? DECADE_NAMES[d] : `1e${d} ns`;
    out.push(`<text x="${gx.toFixed(1)}" y="${H - 22}" font-size="12" text-anchor="middle" fill="#444">${name}</text>`);
  }
  rows.forEach((l, i) => {
    const y0 = TOP + i * ROW_H;
    if (i % 2) out.push(`<rect x="0" y="${y0 - 4}" width="${W}" height="${ROW_H}" fill="#f6f6f6" opacity="0.7"/>`);
    const label = l.label.length > 58 ? `${l.label.slice(0, 56)}…` : l.label;
    out.push(`<text x="${LABEL_W}" y="${y0 + BAR_H + 6}" font-size="13" text-anchor="end">${escXml(label)}</text>`);
    let t: number | null = null;
    if (l.target.startsWith('≤')) t = Number(l.target.split(' ')[1]) * unitNs[l.unit as 'ns' | 'ms'];
    else if (l.target.startsWith('≥') && l.kernel.ok) t = (l.kernel.value * unitNs[l.unit as 'ns' | 'ms']) / Number(l.target.split(/[ ×]/)[1]);
    // 'bpftime ≤ 1.3× native -O2': the reference column times that factor.
    else if (l.target.startsWith('bpftime ≤') && l.kernel.ok) t = l.kernel.value * unitNs[l.unit as 'ns' | 'ms'] * Number(l.target.split(/[ ×]/)[2]);
    const tx = t !== null && t > 0 ? x(t) : null;
    const bars: [SummaryLine['kernel'], string, number][] = [[l.kernel, KERNEL_COLOR, y0], [l.bpftime, BPFTIME_COLOR, y0 + BAR_H + 3]];
    for (const [c, color, by] of bars) {
      const v = ns(c, l.unit);
      if (v === null) {
        out.push(`<text x="${PLOT_X0 + 4}" y="${by + BAR_H - 3}" font-size="11" fill="#888">n/a</text>`);
        continue;
      }
      const bx = x(v);
      out.push(`<rect x="${PLOT_X0}" y="${by}" width="${Math.max(1, bx - PLOT_X0).toFixed(1)}" height="${BAR_H}" fill="${color}"/>`);
      // The value follows the bar, or the target mark when that stands where the text would.
      const tx0 = color === BPFTIME_COLOR && tx !== null && tx > bx - 2 && tx < bx + 56 ? tx + 5 : bx + 4;
      out.push(`<text x="${tx0.toFixed(1)}" y="${by + BAR_H - 3}" font-size="11" fill="#222">${timeText(v)}</text>`);
    }
    // The target mark, over the bpftime bar.
    if (tx !== null) {
      out.push(`<line x1="${tx.toFixed(1)}" y1="${y0 + BAR_H}" x2="${tx.toFixed(1)}" y2="${y0 + 2 * BAR_H + 6}" stroke="${TARGET_COLOR}" stroke-width="3"/>`);
    }
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Converts the SVG to PNG with the first converter that works; null and the reason if none. */
export function svgToPng(svg: string, png: string): { ok: true; tool: string } | { ok: false; reason: string } {
  const tries: [string, string[]][] = [
    ['rsvg-convert', ['-o', png, svg]],
    ['inkscape', [svg, '--export-type=png', `--export-filename=${png}`]],
    ['magick', [svg, png]],
    ['convert', [svg, png]],
  ];
  const failed: string[] = [];
  for (const [tool, args] of tries) {
    try {
      fs.rmSync(png, { force: true });
      execFileSync(tool, args, { stdio: 'pipe', timeout: 60_000 });
      if (fs.existsSync(png) && fs.statSync(png).size > 0) return { ok: true, tool };
      failed.push(`${tool}: no output`);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code !== 'ENOENT') failed.push(`${tool}: ${String(err.message).split('\n')[0].slice(0, 80)}`);
    }
  }
  return {
    ok: false,
    reason: `no SVG converter here${failed.length ? ` (${failed.join('; ')})` : ''}; install librsvg2-bin (rsvg-convert)`,
  };
}
