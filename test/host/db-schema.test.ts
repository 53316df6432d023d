// SPDX-License-Identifier: MIT
import test from 'ava';

import { BanStore, SCHEMA_VERSION, SchemaError } from '../../src/lib/db/index.js';
import { clock, DAY, tempDir } from './db-helpers.js';
import { stampSchema, v4, writeV1, type V1Fixture } from './db-fixture-v1.js';

test('a schema-1 database is migrated to the current schema on open (1 -> 2 -> 3 -> 4), indexes and counters built', async (t) => {
  const c = clock();
  const dir = tempDir();
  const t0 = c.t - 10 * DAY * 1000;
  const recs: V1Fixture[] = [
    { ip16: v4(192, 0, 2, 1), length: 128, record: { ports: [25], reason: 'spam', source: 'logwatch:postfix', first: t0, last: t0 + 1, lastHit: t0 + 50, hits: 9, bans: 3, expires: c.t + DAY * 1000, state: 'kernel' } },
    { ip16: v4(192, 0, 2, 2), length: 128, record: { ports: [], reason: 'manual', source: 'cli', first: t0, last: t0 + 2, lastHit: 0, hits: 0, bans: 1, expires: 0, state: 'cold' } },
    { ip16: v4(198, 51, 100, 0), length: 120, record: { ports: [], reason: 'old', source: 'spamhaus-drop', first: t0, last: t0, lastHit: t0 + 10, hits: 4, bans: 1, expires: t0 + DAY * 1000, state: 'expired' } },
  ];
  // Enough records for several migration batches (10k each).
  for (let i = 0; i < 25_000; i++) {
    recs.push({ ip16: v4(10, (i >> 16) & 255, (i >> 8) & 255, i & 255), length: 128, record: { ports: [], reason: 'feed', source: 'feed:x', first: t0, last: t0, lastHit: 0, hits: 0, bans: 1, expires: c.t + 2 * DAY * 1000, state: 'cold' } });
  }
  await writeV1(dir.path, recs);

  const store = BanStore.open({ path: dir.path, now: c.now, noSync: true });
  t.is(store.schemaVersion, SCHEMA_VERSION);
  t.is(SCHEMA_VERSION, 4);
  t.deepEqual(store.prefixLengths(), [{ length: 120, records: 1 }, { length: 128, records: 25_002 }], 'schema 4: the records per prefix length, counted');
  const a = store.get('192.0.2.1');
  t.like(a, { source: 'logwatch', tag: 'postfix', reason: 'spam', firstSeen: t0, lastSeen: t0 + 1, lastHit: t0 + 50, hitCount: 9, banCount: 3, episodes: 3, permanent: false, pinned: false, monitor: false, state: 'kernel' });
  t.deepEqual(a?.ports, [25]);
  t.like(store.get('192.0.2.2'), { source: 'cli', tag: '', expires: null, permanent: true, state: 'cold' });
  t.like(store.get('198.51.100.0/24'), { source: 'api', tag: 'spamhaus-drop', state: 'expired' });
  t.deepEqual(store.counts(), { kernel: 1, cold: 25_001, expired: 1, total: 25_003 });
  // The new indexes work: hottest first, by source, and the old expiry index still drives the sweep.
  t.deepEqual([...store.hottest(2)].map((r) => r.prefix.toString()), ['192.0.2.1', '192.0.2.2'], 'most recent hit, then most recent ban; the expired /24 is not active');
  t.is([...store.list({ source: 'logwatch', tag: 'postfix' })].length, 1);
  t.is([...store.list({ source: 'feed', tag: 'x' })].length, 25_000);
  // Schema 3's key indexes: the one record in state 'kernel'; no pinned record.
  t.deepEqual([...store.inKernelPrefixes()].map((p) => p.toString()), ['192.0.2.1']);
  t.deepEqual([...store.pinnedActive()], []);
  // A re-ban escalates from the migrated episode count.
  c.advance(DAY);
  const swept = store.sweep();
  t.is(swept.expired.length, 1);
  t.is(store.ban({ prefix: '192.0.2.1', source: 'logwatch' }).duration, 8 * DAY);
  await store.close();

  // Opening again is a no-op (already current).
  const again = BanStore.open({ path: dir.path, noSync: true });
  t.is(again.counts().total, 25_003);
  await again.close();
  dir.remove();
});

test('a newer schema is refused with an error naming both versions', async (t) => {
  const dir = tempDir();
  const s = BanStore.open({ path: dir.path, noSync: true });
  s.ban({ prefix: '192.0.2.1', source: 'cli' });
  await s.close();
  await stampSchema(dir.path, 7);
  const err = t.throws(() => BanStore.open({ path: dir.path }), { instanceOf: SchemaError });
  t.is(err?.found, 7);
  t.is(err?.supported, SCHEMA_VERSION);
  t.regex(err?.message ?? '', /schema version 7.*up to 4.*upgrade ffwall/);
  t.is((err as { code?: string } | undefined)?.code, 'EFFWALLSCHEMA');
  dir.remove();
});

test('schema 3 keeps the inKernel and pinned key indexes in step with every change', async (t) => {
  const c = clock();
  const dir = tempDir();
  const store = BanStore.open({ path: dir.path, now: c.now, noSync: true });
  store.ban({ prefix: '192.0.2.1', source: 'cli', pinned: true, ttl: 60 });
  store.ban({ prefix: '192.0.2.2', source: 'cli', state: 'kernel' });
  store.ban({ prefix: '2001:db8::/48', source: 'cli', pinned: true, permanent: true });
  const keys = (g: Iterable<{ toString(): string }>): string[] => [...g].map((x) => x.toString()).sort();
  t.deepEqual(keys(store.inKernelPrefixes()), ['192.0.2.2']);
  t.deepEqual(keys([...store.pinnedActive()].map((r) => r.prefix)), ['192.0.2.1', '2001:db8::/48']);
  store.markLoaded(['192.0.2.1']);
  store.markEvicted(['192.0.2.2']);
  t.deepEqual(keys(store.inKernelPrefixes()), ['192.0.2.1']);
  // Expiry takes a pinned ban out of both indexes; unban removes the other.
  c.advance(120);
  store.sweep();
  t.deepEqual(keys(store.inKernelPrefixes()), []);
  t.deepEqual(keys([...store.pinnedActive()].map((r) => r.prefix)), ['2001:db8::/48']);
  store.unban('2001:db8::/48');
  t.deepEqual([...store.pinnedActive()], []);
  await store.close();
  dir.remove();
});

test('schema 4 counts the records of each prefix length, through bans, expiry and unbans, and covering lookups probe only those', async (t) => {
  const c = clock();
  const dir = tempDir();
  const store = BanStore.open({ path: dir.path, now: c.now, noSync: true });
  t.deepEqual(store.prefixLengths(), [], 'a new database has counts, all zero');
  store.ban({ prefix: '192.0.2.1', source: 'cli', ttl: 60 });
  store.ban({ prefix: '192.0.2.2', source: 'cli' });
  store.ban({ prefix: '198.51.100.0/24', source: 'feed', tag: 'x' });
  store.ban({ prefix: '10.0.0.0/8', source: 'feed', tag: 'x' });
  store.ban({ prefix: '2001:db8::/48', source: 'cli' });
  // A second ban of the same prefix is the same record.
  store.ban({ prefix: '192.0.2.2', source: 'cli' });
  t.deepEqual(store.prefixLengths(), [
    { length: 48, records: 1 },
    { length: 104, records: 1 },
    { length: 120, records: 1 },
    { length: 128, records: 2 },
  ]);
  // Expiry keeps the record (remembered), so its length stays in use.
  c.advance(120);
  store.sweep();
  t.like(store.get('192.0.2.1'), { state: 'expired' });
  t.deepEqual(store.prefixLengths()?.find((l) => l.length === 128), { length: 128, records: 2 });
  t.like(store.covering('10.1.2.3'), { source: 'feed' });
  t.like(store.covering('198.51.100.77'), { reason: '' });
  t.is(store.covering('192.0.2.1'), undefined, 'expired: not active');
  t.like(store.covering('192.0.2.1', true), { state: 'expired' });
  // Unbans take their length out when it empties.
  t.is(store.unbanBySource('feed', 'x'), 2);
  store.unban('2001:db8::/48');
  t.deepEqual(store.prefixLengths(), [{ length: 128, records: 2 }]);
  t.is(store.covering('10.1.2.3'), undefined);
  await store.close();
  dir.remove();
});

test('schema 3 -> 4 counts the prefix lengths of the records already there, and covering still finds every ban', async (t) => {
  const c = clock();
  const dir = tempDir();
  const s3 = BanStore.open({ path: dir.path, now: c.now, noSync: true });
  for (let i = 0; i < 30; i++) s3.ban({ prefix: `192.0.2.${i}`, source: 'cli' });
  s3.ban({ prefix: '203.0.113.0/25', source: 'cli' });
  await s3.close();
  // As a schema-3 ffwall left it: no counts, version 3.
  await stampSchema(dir.path, 3, { dropBanLengths: true });
  const store = BanStore.open({ path: dir.path, now: c.now, noSync: true });
  t.is(store.schemaVersion, 4);
  t.deepEqual(store.prefixLengths(), [
    { length: 121, records: 1 },
    { length: 128, records: 30 },
  ]);
  t.like(store.covering('203.0.113.9'), { source: 'cli' });
  t.like(store.covering('192.0.2.29'), { source: 'cli' });
  // The counts go on from there.
  store.ban({ prefix: '203.0.113.128/25', source: 'cli' });
  t.deepEqual(store.prefixLengths()?.find((l) => l.length === 121), { length: 121, records: 2 });
  await store.close();
  dir.remove();
});

test('covering lookups read only the lengths the counts name; without counts they probe every length', async (t) => {
  const dir = tempDir();
  const s = BanStore.open({ path: dir.path, noSync: true });
  s.ban({ prefix: '198.51.100.0/24', source: 'cli' });
  await s.close();
  // Counts that leave /24 out (never written so by ffwall): the lookup skips it, which shows it reads only what they name.
  await stampSchema(dir.path, 4, { banLengths: [128, 1] });
  const skipping = BanStore.open({ path: dir.path, noSync: true });
  t.is(skipping.covering('198.51.100.7'), undefined);
  await skipping.close();
  // No counts at all: every length is probed.
  await stampSchema(dir.path, 4, { dropBanLengths: true });
  const probing = BanStore.open({ path: dir.path, noSync: true });
  t.is(probing.prefixLengths(), undefined);
  t.like(probing.covering('198.51.100.7'), { source: 'cli' });
  await probing.close();
  dir.remove();
});
