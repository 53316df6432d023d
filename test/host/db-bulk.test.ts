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

test('bulkBan screens a batch against the allowlist by ranges: every ban inside an allowlisted prefix is still refused, anywhere in the batch, and the rest are written', async (t) => {
  const { store, close } = freshStore();
  store.allowAdd('10.0.7.0/24', 'lab');
  store.allowAdd('10.0.9.9', 'gateway');
  store.allowAdd('2001:db8::/32', 'v6 lab');
  // 3000 bans in one batch (the screen is built after the batch's first 64 checks), refused ones early and late.
  const prefixes: string[] = [];
  for (let i = 0; i < 3000; i++) prefixes.push(`10.1.${i >> 8}.${i & 255}`);
  const refused = new Map<number, string>([
    [3, '10.0.7.1'],
    [100, '10.0.7.200'],
    [1500, '10.0.9.9'],
    [2998, '2001:db8:1::1'],
  ]);
  for (const [i, p] of refused) prefixes[i] = p;
  // Beside the allowlist, not inside it: written.
  prefixes[2000] = '10.0.0.0/8';
  prefixes[2001] = '10.0.9.8';
  prefixes[2002] = '2001:db9::1';
  const res = await store.bulkBan(
    prefixes.map((prefix) => ({ prefix, source: 'feed' as const, ttl: 3600 })),
    { batchSize: 10_000 },
  );
  t.deepEqual(
    res.refused.map((r) => r.index),
    [...refused.keys()],
  );
  for (const r of res.refused) t.regex(r.error, /allowlist/i);
  t.is(res.created, 3000 - refused.size);
  for (const p of refused.values()) t.is(store.get(p), undefined, `${p} not written`);
  for (const p of ['10.0.0.0/8', '10.0.9.8', '2001:db9::1', '10.1.11.183']) t.truthy(store.get(p), `${p} written`);
  // An allowlist entry added between two batches is seen by the next one.
  store.allowAdd('10.2.0.0/16', 'later');
  const later = await store.bulkBan(Array.from({ length: 200 }, (_, i) => ({ prefix: i === 150 ? '10.2.3.4' : `10.3.0.${i}`, source: 'feed' as const, ttl: 3600 })));
  t.deepEqual(
    later.refused.map((r) => r.index),
    [150],
  );
  await close();
});
