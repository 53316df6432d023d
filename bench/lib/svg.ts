// SPDX-License-Identifier: MIT
//
// A small SVG line chart for benchmark results: one line per series, optional
// error bars, linear or logarithmic x axis.  No dependencies; the output is a
// standalone SVG document.

export interface Point {
  x: number;
  y: number;
  /** Error bar ends (e.g. quartiles), if any. */
  lo?: number;
  hi?: number;
  /** A point that did not finish: drawn as a hollow marker at y, labelled. */
  dnf?: boolean;
}

export interface Series {
  name: string;
  points: Point[];
  /** A colour of its own (default: the palette, by position). */
  color?: string;
  /** Draw the line dashed. */
  dashed?: boolean;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  xLog?: boolean;
  /** Start the y axis at zero (default true). */
  yFromZero?: boolean;
  width?: number;
  height?: number;
  /** Horizontal reference lines (e.g. a target), drawn dotted and labelled. */
  hlines?: Array<{ y: number; label: string }>;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Round numbers for axis ticks: about `count` of them covering [lo, hi]. */
function niceTicks(lo: number, hi: number, count: number): number[] {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= count) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

export function formatNumber(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (a >= 1e3) return `${Number((v / 1e3).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
}

export function lineChart(series: readonly Series[], opts: ChartOptions): string {
  const W = opts.width ?? 720;
  const H = opts.height ?? 420;
  const m = { left: 80, right: 200, top: 40, bottom: 56 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const pts = series.flatMap((s) => s.points);
  const fx = (x: number): number => (opts.xLog === true ? Math.log10(x) : x);
  const xs = pts.map((p) => fx(p.x));
  const ys = [...pts.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y]), ...(opts.hlines ?? []).map((h) => h.y)].filter((v) => Number.isFinite(v));
  let x0 = Math.min(...xs);
  let x1 = Math.max(...xs);
  if (!(x1 > x0)) (x0 -= 1), (x1 += 1);
  let y0 = opts.yFromZero === false ? Math.min(...ys) : Math.min(0, ...ys);
  let y1 = Math.max(...ys);
  if (!(y1 > y0)) y1 = y0 + 1;
  const yTicks = niceTicks(y0, y1 * 1.05, 6);
  y0 = Math.min(y0, yTicks[0] ?? y0);
  y1 = Math.max(y1, yTicks[yTicks.length - 1] ?? y1);
  const px = (x: number): number => m.left + ((fx(x) - x0) / (x1 - x0)) * pw;
  const py = (y: number): number => m.top + ph - ((y - y0) / (y1 - y0)) * ph;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(opts.title)}</text>`,
  ];
  for (const t of yTicks) {
    const y = py(t).toFixed(1);
    out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${m.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${formatNumber(t)}</text>`);
  }
  const xTickVals = [...new Set(pts.map((p) => p.x))].sort((a, b) => a - b);
  for (const t of xTickVals) {
    const x = px(t).toFixed(1);
    out.push(`<line x1="${x}" x2="${x}" y1="${m.top + ph}" y2="${m.top + ph + 5}" stroke="black"/>`);
    out.push(`<text x="${x}" y="${m.top + ph + 18}" text-anchor="middle">${formatNumber(t)}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="black"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${H - 12}" text-anchor="middle">${esc(opts.xLabel)}${opts.xLog === true ? ' (log scale)' : ''}</text>`);
  out.push(`<text transform="translate(18 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`);
  for (const h of opts.hlines ?? []) {
    const y = py(h.y).toFixed(1);
    out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${y}" y2="${y}" stroke="black" stroke-dasharray="2,3"/>`);
    out.push(`<text x="${m.left + 4}" y="${(py(h.y) - 4).toFixed(1)}">${esc(h.label)}</text>`);
  }
  series.forEach((s, i) => {
    const color = s.color ?? (COLORS[i % COLORS.length] as string);
    const dash = s.dashed === true ? ' stroke-dasharray="6,4"' : '';
    const done = s.points.filter((p) => p.dnf !== true).sort((a, b) => a.x - b.x);
    if (done.length > 1) {
      const d = done.map((p, k) => `${k === 0 ? 'M' : 'L'}${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    }
    for (const p of s.points) {
      const cx = px(p.x).toFixed(1);
      if (p.lo !== undefined && p.hi !== undefined && p.dnf !== true) {
        out.push(`<line x1="${cx}" x2="${cx}" y1="${py(p.lo).toFixed(1)}" y2="${py(p.hi).toFixed(1)}" stroke="${color}"/>`);
      }
      const fill = p.dnf === true ? 'white' : color;
      out.push(`<circle cx="${cx}" cy="${py(p.y).toFixed(1)}" r="4" fill="${fill}" stroke="${color}" stroke-width="2"/>`);
      if (p.dnf === true) out.push(`<text x="${cx}" y="${(py(p.y) - 8).toFixed(1)}" text-anchor="middle" fill="${color}">DNF</text>`);
    }
    const ly = m.top + 10 + i * 20;
    out.push(`<line x1="${m.left + pw + 14}" x2="${m.left + pw + 38}" y1="${ly}" y2="${ly}" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${m.left + pw + 44}" y="${ly}" dominant-baseline="middle">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
