// SPDX-License-Identifier: MIT
import test from 'ava';

import { clock, DAY, freshStore, HOUR } from './db-helpers.js';

test('history records ban, expire, evict, unban with time and details, per record and overall', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  const t0 = c.t;
  store.ban({ prefix: '192.0.2.1', source: 'logwatch', tag: 'sshd', reason: 'brute force', ttl: HOUR, ports: [22] });
  store.ban({ prefix: '192.0.2.2', source: 'cli' });
  store.markLoaded(['192.0.2.1']);
  store.markEvicted(['192.0.2.1']);
  c.advance(HOUR);
  store.sweep();
  c.advance(1);
  store.unban('192.0.2.1', { by: 'admin' });
  const h = [...store.history('192.0.2.1')];
  t.deepEqual(h.map((e) => e.type), ['ban', 'evict', 'expire', 'unban']);
  t.deepEqual(h.map((e) => e.time), [t0, t0, t0 + HOUR * 1000, t0 + HOUR * 1000 + 1000]);
  t.like(h[0]?.details, { action: 'created', source: 'logwatch', tag: 'sshd', reason: 'brute force', ports: [22], duration: HOUR, durationFrom: 'explicit' });
  t.like(h[3]?.details, { by: 'admin', state: 'expired' });
  t.is(h[0]?.prefix.toString(), '192.0.2.1');
  t.deepEqual([...store.history('192.0.2.2')].map((e) => e.type), ['ban']);
  t.is(store.historyCount(), 5);
  t.deepEqual([...store.historyAll()].map((e) => `${e.type} ${e.prefix.toString()}`), ['ban 192.0.2.1', 'ban 192.0.2.2', 'evict 192.0.2.1', 'expire 192.0.2.1', 'unban 192.0.2.1']);
  t.deepEqual([...store.historyAll({ since: t0 + 1 })].map((e) => e.type), ['expire', 'unban']);
  await close();
});

test('retention: max age and max count prune the oldest events by range deletes', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now, history: { maxAge: 10 * DAY * 1000, maxCount: 25 } });
  for (let day = 0; day < 30; day++) {
    store.ban({ prefix: `192.0.2.${day}`, source: 'cli', ttl: 60 });
    c.advance(DAY);
  }
  t.is(store.historyCount(), 30);
  // Now = day 30: age keeps the events of days 20..29 (10 events); count alone would keep 25.
  t.is(store.pruneHistory(), 20);
  t.is(store.historyCount(), 10);
  const left = [...store.historyAll()];
  t.is(left.length, 10);
  t.is(left[0]?.prefix.toString(), '192.0.2.20');
  t.deepEqual([...store.history('192.0.2.5')], [], 'the per-record index is pruned as well');
  t.is([...store.history('192.0.2.25')].length, 1);
  await close();

  const byCount = freshStore({ now: c.now, history: { maxCount: 1000 } });
  const inputs = Array.from({ length: 25_000 }, (_, i) => ({ prefix: `10.0.${i >> 8}.${i & 255}`, source: 'feed' as const }));
  await byCount.store.bulkBan(inputs);
  t.is(byCount.store.historyCount(), 25_000);
  t.is(byCount.store.pruneHistory(), 24_000);
  t.is(byCount.store.historyCount(), 1000);
  t.is([...byCount.store.historyAll()].length, 1000);
  t.is([...byCount.store.historyAll({ limit: 1 })][0]?.prefix.toString(), '10.0.93.192', 'the newest 1000 are kept (from index 24000)');
  t.is(byCount.store.pruneHistory(), 0);
  await byCount.close();
});

test('pruneHistory(now, max) prunes at most max events, oldest first; fewer than max means nothing is left', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now, history: { maxCount: 5 } });
  for (let i = 0; i < 30; i++) {
    store.ban({ prefix: `192.0.2.${i}`, source: 'cli', ttl: 60 });
    c.advance(1);
  }
  t.is(store.pruneHistory(c.now(), 10), 10);
  t.is(store.historyCount(), 20);
  t.deepEqual([...store.history('192.0.2.9')], [], 'the oldest went first');
  t.is([...store.history('192.0.2.10')].length, 1);
  t.is(store.pruneHistory(c.now(), 0), 0);
  t.is(store.pruneHistory(c.now(), 100), 15, 'the rest, fewer than max');
  t.is(store.historyCount(), 5);
  t.is(store.pruneHistory(c.now(), 100), 0);
  t.throws(() => store.pruneHistory(c.now(), -1), { instanceOf: RangeError });
  t.throws(() => store.pruneHistory(c.now(), Number.NaN), { instanceOf: RangeError });
  await close();
});
