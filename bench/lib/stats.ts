// SPDX-License-Identifier: MIT
//
// Small statistics for benchmark samples: order statistics, a Mann-Whitney U
// test (normal approximation with tie correction) and a bootstrap confidence
// interval for the ratio of two medians.  Deterministic: the bootstrap draws
// from a seeded generator, so the same samples give the same report.

/** The q-quantile (0..1) of the values, by linear interpolation; NaN if empty. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = s[lo] as number;
  const b = s[hi] as number;
  return a + (b - a) * (pos - lo);
}

export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  return values.reduce((s, v) => s + v, 0) / values.length;
}

/** Median absolute deviation from the median. */
export function mad(values: readonly number[]): number {
  const m = median(values);
  return median(values.map((v) => Math.abs(v - m)));
}

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  q1: number;
  q3: number;
  /** Interquartile range relative to the median (spread, 0.1 = 10%). */
  relIqr: number;
}

export function summarize(values: readonly number[]): Summary {
  const m = median(values);
  const q1 = quantile(values, 0.25);
  const q3 = quantile(values, 0.75);
  return {
    n: values.length,
    median: m,
    min: values.length === 0 ? Number.NaN : Math.min(...values),
    max: values.length === 0 ? Number.NaN : Math.max(...values),
    q1,
    q3,
    relIqr: m === 0 ? Number.NaN : (q3 - q1) / m,
  };
}

/** Standard normal cumulative distribution (Abramowitz-Stegun 7.1.26 erf). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

export interface MannWhitney {
  /** U of the first sample: how often one of its values exceeds one of the second's (ties count half). */
  u: number;
  /** Two-sided p-value, normal approximation with continuity and tie corrections. */
  p: number;
  /** P(a value of the first sample > one of the second), U / (n1 n2). */
  effect: number;
}

/** Two-sided Mann-Whitney U test of samples a and b. */
export function mannWhitney(a: readonly number[], b: readonly number[]): MannWhitney {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return { u: Number.NaN, p: Number.NaN, effect: Number.NaN };
  const all = [...a.map((v) => ({ v, first: true })), ...b.map((v) => ({ v, first: false }))].sort((x, y) => x.v - y.v);
  // Mid-ranks for ties; the tie term of the variance on the way.
  let r1 = 0;
  let tieTerm = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && (all[j + 1] as { v: number }).v === (all[i] as { v: number }).v) j++;
    const rank = (i + j) / 2 + 1;
    const t = j - i + 1;
    tieTerm += t * t * t - t;
    for (let k = i; k <= j; k++) if ((all[k] as { first: boolean }).first) r1 += rank;
    i = j + 1;
  }
  const u = r1 - (n1 * (n1 + 1)) / 2;
  const n = n1 + n2;
  const mu = (n1 * n2) / 2;
  const sigma2 = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (sigma2 <= 0) return { u, p: 1, effect: u / (n1 * n2) };
  const z = (Math.abs(u - mu) - 0.5) / Math.sqrt(sigma2);
  const p = Math.min(1, 2 * (1 - normalCdf(Math.max(0, z))));
  return { u, p, effect: u / (n1 * n2) };
}

/** A small seeded generator (mulberry32): uniform in [0, 1). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface RatioCi {
  /** median(a) / median(b). */
  ratio: number;
  lo: number;
  hi: number;
  /** Confidence level, e.g. 0.95. */
  level: number;
}

/** Percentile bootstrap CI of median(a)/median(b), resampling each sample independently. */
export function bootstrapMedianRatio(a: readonly number[], b: readonly number[], opts: { resamples?: number; level?: number; seed?: number } = {}): RatioCi {
  const level = opts.level ?? 0.95;
  const ratio = median(a) / median(b);
  if (a.length === 0 || b.length === 0) return { ratio, lo: Number.NaN, hi: Number.NaN, level };
  const rand = seededRandom(opts.seed ?? 0x5eed);
  const draw = (xs: readonly number[]): number[] => xs.map(() => xs[Math.floor(rand() * xs.length)] as number);
  const ratios: number[] = [];
  for (let i = 0; i < (opts.resamples ?? 2000); i++) ratios.push(median(draw(a)) / median(draw(b)));
  return { ratio, lo: quantile(ratios, (1 - level) / 2), hi: quantile(ratios, 1 - (1 - level) / 2), level };
}
