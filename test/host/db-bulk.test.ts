// SPDX-License-Identifier: MIT
import test from 'ava';

import type { BanInput } from '../../src/lib/db/index.js';
import { freshStore } from './db-helpers.js';

const N = 1_000_000;

function* inputs(n: number): Generator<BanInput> {
  for (let i = 0; i < n; i++) {
    yield { prefix: `${10 + (i >>> 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`, source: 'feed', tag: 'bulk', ttl: 3600 };
  }
}

test('a 1M bulk ban commits in batches with monotone progress; hottest-N scan', async (t) => {
  const { store, close } = freshStore();
  const progress: number[] = [];
  let lagMax = 0;
  let last = Date.now();
  const timer = setInterval(() => {
    const now = Date.now();
    lagMax = Math.max(lagMax, now - last);
    last = now;
  }, 5);
  const started = process.hrtime.bigint();
  const r = await store.bulkBan(inputs(N), { batchSize: 10_000, onProgress: (n) => progress.push(n) });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(timer);
  t.log(`bulk ban: ${N} in ${seconds.toFixed(2)} s = ${Math.round(N / seconds)} bans/s (history on, 10k per transaction); worst timer gap ${lagMax} ms`);
  t.is(r.committed, N);
  t.is(r.created, N);
  t.is(r.batches, 100);
  t.deepEqual(r.refused, []);
  t.is(progress.length, 100);
  t.true(progress.every((p, i) => i === 0 || p > (progress[i - 1] ?? 0)), 'progress is strictly increasing');
  t.is(progress[0], 10_000);
  t.is(progress.at(-1), N);
  t.deepEqual(store.counts(), { kernel: 0, cold: N, expired: 0, total: N });
  t.is(store.historyCount(), N);

  // Hit sync for 100k of them, then the hottest 100k in order.
  const h0 = Date.now();
  const updates = Array.from({ length: 100_000 }, (_, i) => {
    const j = i * 7;
    return { prefix: `10.${(j >>> 16) & 255}.${(j >>> 8) & 255}.${j & 255}`, delta: 1, lastHit: h0 + i };
  });
  const hs = process.hrtime.bigint();
  const applied = store.applyHits(updates);
  const hitSeconds = Number(process.hrtime.bigint() - hs) / 1e9;
  t.is(applied.applied, 100_000);
  t.log(`hit sync: 100000 updates in ${hitSeconds.toFixed(2)} s = ${Math.round(100_000 / hitSeconds)}/s`);
  const s0 = process.hrtime.bigint();
  let n = 0;
  let prev = Infinity;
  let ordered = true;
  for (const rec of store.hottest(1_000_000)) {
    if (rec.lastHit > prev) ordered = false;
    prev = rec.lastHit;
    n++;
  }
  const scan = Number(process.hrtime.bigint() - s0) / 1e9;
  t.log(`hottest-N scan: ${n} records in ${scan.toFixed(2)} s = ${Math.round(n / scan)} records/s`);
  t.is(n, N);
  t.true(ordered, 'lastHit never increases along the scan');
  t.is([...store.hottest(1)][0]?.lastHit, h0 + 99_999);
  const p0 = process.hrtime.bigint();
  let m = 0;
  for (const _ of store.activePrefixes()) m++;
  const ps = Number(process.hrtime.bigint() - p0) / 1e9;
  t.log(`active prefixes (membership filter input): ${m} in ${ps.toFixed(2)} s = ${Math.round(m / ps)}/s`);
  t.is(m, N);
  await close();
});
