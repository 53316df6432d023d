// SPDX-License-Identifier: MIT
//
// The benchmark helpers of bench/lib: order statistics, the Mann-Whitney U
// test against values worked by hand / from tables, the bootstrap ratio CI
// and the SVG chart's structure.
import test from 'ava';

import { bootstrapMedianRatio, mannWhitney, median, normalCdf, quantile, summarize } from '../../bench/lib/stats.js';
import { lineChart } from '../../bench/lib/svg.js';

test('quantiles interpolate linearly; median of even and odd counts', (t) => {
  t.is(median([3, 1, 2]), 2);
  t.is(median([4, 1, 3, 2]), 2.5);
  t.is(quantile([1, 2, 3, 4, 5], 0.25), 2);
  t.true(Number.isNaN(median([])));
  const s = summarize([10, 20, 30, 40, 50]);
  t.is(s.q1, 20);
  t.is(s.q3, 40);
  t.is(s.relIqr, 20 / 30);
});

test('normalCdf matches known values', (t) => {
  t.true(Math.abs(normalCdf(0) - 0.5) < 1e-6);
  t.true(Math.abs(normalCdf(1.96) - 0.975) < 1e-3);
  t.true(Math.abs(normalCdf(-1.96) - 0.025) < 1e-3);
});

test('Mann-Whitney U: separated samples are significant, identical ones are not', (t) => {
  const a = [1, 2, 3, 4, 5, 6, 7, 8];
  const b = [11, 12, 13, 14, 15, 16, 17, 18];
  const r = mannWhitney(a, b);
  t.is(r.u, 0);
  t.is(r.effect, 0);
  t.true(r.p < 0.002, `p = ${r.p}`);
  t.is(mannWhitney(b, a).u, 64);
  const same = mannWhitney([5, 5, 5, 5], [5, 5, 5, 5]);
  t.is(same.p, 1);
  // Interleaved samples: U = 6 of 16 pairs, near the middle: not significant.
  const mixed = mannWhitney([1, 3, 5, 7], [2, 4, 6, 8]);
  t.is(mixed.u, 6);
  t.true(mixed.p > 0.5);
});

test('Mann-Whitney U counts ties as half', (t) => {
  t.is(mannWhitney([1, 2], [2, 3]).u, 0.5);
});

test('bootstrap ratio CI brackets the ratio of medians and is reproducible', (t) => {
  const a = [100, 102, 98, 101, 99, 103, 97];
  const b = [50, 51, 49, 52, 48, 50, 50];
  const r = bootstrapMedianRatio(a, b);
  t.is(r.ratio, 2);
  t.true(r.lo <= 2 && r.hi >= 2);
  t.true(r.lo > 1.8 && r.hi < 2.2);
  t.deepEqual(bootstrapMedianRatio(a, b), r);
});

test('lineChart draws one path per series with several points, DNF points hollow', (t) => {
  const svg = lineChart(
    [
      { name: 'a', points: [{ x: 1000, y: 1 }, { x: 1e6, y: 2, lo: 1.5, hi: 2.5 }] },
      { name: 'b<&>', points: [{ x: 1000, y: 3 }, { x: 1e6, y: 3, dnf: true }] },
    ],
    { title: 'cost', xLabel: 'entries', yLabel: 'ns', xLog: true },
  );
  t.true(svg.startsWith('<svg'));
  t.is((svg.match(/<path /g) ?? []).length, 1);
  t.true(svg.includes('DNF'));
  t.true(svg.includes('b&lt;&amp;&gt;'));
  t.true(svg.includes('>1M<'));
});
