// SPDX-License-Identifier: MIT
import test from 'ava';

import { AllowlistedError, type BanRecord } from '../../src/lib/db/index.js';
import { clock, DAY, freshStore, HOUR } from './db-helpers.js';

const names = (rs: Iterable<BanRecord>): string[] => [...rs].map((r) => r.prefix.toString());

test('life cycle: ban -> cold/kernel -> expired by the sweep -> remembered -> re-ban escalates', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  const first = store.ban({ prefix: '192.0.2.7', source: 'cli', reason: 'spam', ports: [25, 587] });
  t.is(first.action, 'created');
  t.is(first.duration, DAY);
  t.is(first.durationFrom, 'base');
  t.is(first.record.state, 'cold');
  t.is(first.record.expires, c.t + DAY * 1000);
  t.deepEqual(first.record.ports, [25, 587]);
  t.is(store.markLoaded(['192.0.2.7']), 1);
  t.is(store.get('192.0.2.7')?.state, 'kernel');
  t.deepEqual(store.counts(), { kernel: 1, cold: 0, expired: 0, total: 1 });

  // Not yet due: the sweep leaves it.
  c.advance(DAY - 1);
  t.deepEqual(store.sweep().expired, []);
  c.advance(1);
  const swept = store.sweep();
  t.is(swept.expired.length, 1);
  t.true(swept.expired[0]?.wasInKernel);
  t.false(swept.more);
  const remembered = store.get('192.0.2.7');
  t.is(remembered?.state, 'expired');
  t.is(remembered?.banCount, 1);
  t.deepEqual(store.counts(), { kernel: 0, cold: 0, expired: 1, total: 1 });
  t.deepEqual(names(store.hottest(10)), [], 'an expired record is not active');
  t.deepEqual([...store.activePrefixes()], []);

  c.advance(HOUR);
  const again = store.ban({ prefix: '192.0.2.7', source: 'policy', reason: 'again' });
  t.is(again.action, 'revived');
  t.is(again.duration, 2 * DAY);
  t.is(again.durationFrom, 'escalated');
  t.is(again.record.banCount, 2);
  t.is(again.record.episodes, 2);
  t.is(again.record.firstSeen, first.record.firstSeen);
  t.is(again.record.lastSeen, c.t);
  t.deepEqual(again.record.ports, [], 'a revived ban takes the new ports (none: whole address)');
  t.is(again.record.source, 'policy');
  t.deepEqual(
    [...store.history('192.0.2.7')].map((e) => e.type),
    ['ban', 'expire', 'ban'],
    'loading into the kernel is not a history event',
  );
  await close();
});

test('escalation doubles per previous episode up to the cap; an explicit ttl wins; permanent is never swept', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  const durations: (number | null)[] = [];
  for (let i = 0; i < 10; i++) {
    const r = store.ban({ prefix: '198.51.100.1', source: 'feed' });
    durations.push(r.duration);
    c.advance((r.duration ?? 0) + 1);
    t.is(store.sweep().expired.length, 1);
  }
  t.deepEqual(durations, [1, 2, 4, 8, 16, 32, 64, 128, 180, 180].map((d) => d * DAY));

  // A refresh of an active ban does not escalate and never shortens it.
  const a = store.ban({ prefix: '198.51.100.2', source: 'cli', ttl: 10 * DAY });
  t.is(a.durationFrom, 'explicit');
  c.advance(HOUR);
  const refresh = store.ban({ prefix: '198.51.100.2', source: 'cli' });
  t.is(refresh.action, 'refreshed');
  t.is(refresh.record.episodes, 1);
  t.is(refresh.record.banCount, 2);
  t.is(refresh.record.expires, a.record.expires, 'kept the longer expiry');
  // An explicit ttl is taken as given, shorter or not, whatever the level.
  const explicit = store.ban({ prefix: '198.51.100.1', source: 'cli', ttl: 60 });
  t.is(explicit.action, 'revived');
  t.is(explicit.duration, 60);
  t.is(explicit.record.expires, c.t + 60_000);
  t.is(explicit.record.episodes, 11);

  // ttl 0 and permanent: no expiry, never swept.
  const p0 = store.ban({ prefix: '203.0.113.0/24', source: 'cli', ttl: 0 });
  const p1 = store.ban({ prefix: '203.0.114.0/24', source: 'cli', permanent: true, pinned: true });
  t.is(p0.record.expires, null);
  t.true(p0.record.permanent);
  t.true(p1.record.pinned && p1.record.permanent);
  c.advance(1000 * DAY);
  store.sweep();
  t.is(store.get('203.0.113.0/24')?.state, 'cold');
  t.is(store.get('203.0.114.0/24')?.state, 'cold');
  t.is(store.get('198.51.100.2')?.state, 'expired');
  await close();
});

test('escalation is configurable (base, factor, cap, off)', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now, escalation: { baseTtl: HOUR, factor: 3, maxTtl: 20 * HOUR } });
  const got: (number | null)[] = [];
  for (let i = 0; i < 5; i++) {
    const r = store.ban({ prefix: '192.0.2.1', source: 'cli' });
    got.push(r.duration);
    c.advance((r.duration ?? 0) + 1);
    store.sweep();
  }
  t.deepEqual(got, [1, 3, 9, 20, 20].map((h) => h * HOUR));
  await close();
  const off = freshStore({ now: c.now, escalation: { enabled: false, baseTtl: 2 * HOUR } });
  for (let i = 0; i < 3; i++) {
    const r = off.store.ban({ prefix: '192.0.2.1', source: 'cli' });
    t.is(r.duration, 2 * HOUR);
    t.is(r.durationFrom, 'base');
    c.advance(3 * HOUR);
    off.store.sweep();
  }
  await off.close();
});

test('the allowlist refuses a ban inside it, with a clear error; removing it allows the ban', async (t) => {
  const { store, close } = freshStore();
  store.allowAdd('10.0.0.0/8', 'our network');
  store.allowAdd('2001:db8:1::/48', 'office');
  const err = t.throws(() => store.ban({ prefix: '10.1.2.3', source: 'cli' }), { instanceOf: AllowlistedError });
  t.regex(err?.message ?? '', /10\.1\.2\.3.*allowlisted 10\.0\.0\.0\/8 \(our network\)/);
  t.throws(() => store.ban({ prefix: '10.9.0.0/16', source: 'api' }), { instanceOf: AllowlistedError });
  t.throws(() => store.ban({ prefix: '2001:db8:1:2::9', source: 'cli' }), { instanceOf: AllowlistedError });
  t.is(store.counts().total, 0);
  // A ban outside, or one that only contains the allowlisted prefix, is fine.
  t.is(store.ban({ prefix: '11.0.0.1', source: 'cli' }).action, 'created');
  t.is(store.ban({ prefix: '0.0.0.0/0', source: 'cli' }).action, 'created');
  t.is(store.allowedBy('10.200.0.1')?.prefix.toString(), '10.0.0.0/8');
  t.deepEqual([...store.allowlist()].map((a) => a.prefix.toString()).sort(), ['10.0.0.0/8', '2001:db8:1::/48']);
  t.true(store.allowRemove('10.0.0.0/8'));
  t.false(store.allowRemove('10.0.0.0/8'));
  t.is(store.ban({ prefix: '10.1.2.3', source: 'cli' }).action, 'created');
  // An allowlist entry reports the active bans already inside it.
  t.is(store.allowAdd('10.1.0.0/16', 'later').activeBansInside, 1);
  await close();
});

test('hottest N: most recent hit first, ties broken by most recent ban, never-hit last', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  for (const ip of ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5']) {
    store.ban({ prefix: ip, source: 'cli' });
    c.advance(10);
  }
  const base = c.t;
  store.applyHits([
    { prefix: '192.0.2.1', delta: 3, lastHit: base + 1000 },
    { prefix: '192.0.2.2', delta: 1, lastHit: base + 1000 }, // same hit time as .1, banned later: before .1
    { prefix: '192.0.2.3', delta: 7, lastHit: base + 5000 },
  ]);
  t.deepEqual(names(store.hottest()), ['192.0.2.3', '192.0.2.2', '192.0.2.1', '192.0.2.5', '192.0.2.4']);
  t.deepEqual(names(store.hottest(2)), ['192.0.2.3', '192.0.2.2']);
  // An older lastHit never moves it back; absolute kernel counters are differenced.
  store.applyHits([{ prefix: '192.0.2.3', kernelHits: 10, lastHit: base }]);
  store.applyHits([{ prefix: '192.0.2.3', kernelHits: 15 }]);
  t.is(store.get('192.0.2.3')?.hitCount, 7 + 10 + 5);
  t.is(store.get('192.0.2.3')?.lastHit, base + 5000);
  // Reloaded into the kernel: its counter starts again at 0.
  store.markLoaded(['192.0.2.3']);
  store.applyHits([{ prefix: '192.0.2.3', kernelHits: 4 }]);
  t.is(store.get('192.0.2.3')?.hitCount, 26);
  const r = store.applyHits([{ prefix: '192.0.2.99', delta: 1 }]);
  t.deepEqual(r.missing.map((p) => p.toString()), ['192.0.2.99']);
  t.throws(() => store.applyHits([{ prefix: '192.0.2.1' }]), { instanceOf: TypeError });
  // A re-ban moves a never-hit record ahead of the other never-hit ones.
  c.advance(10);
  store.ban({ prefix: '192.0.2.4', source: 'cli' });
  t.deepEqual(names(store.hottest()).slice(3), ['192.0.2.4', '192.0.2.5']);
  await close();
});

test('list filters (state, source, tag, port, reason), unban, unbanBySource', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  store.ban({ prefix: '192.0.2.1', source: 'logwatch', tag: 'sshd', reason: 'ssh brute force', ports: [22] });
  store.ban({ prefix: '192.0.2.2', source: 'logwatch', tag: 'postfix', reason: 'smtp auth', ports: [25, 587] });
  store.ban({ prefix: '192.0.2.3', source: 'logwatch', tag: 'sshd', reason: 'ssh brute force', ports: [22] });
  store.ban({ prefix: '192.0.2.4', source: 'cli', reason: 'manual' });
  store.ban({ prefix: '192.0.2.5', source: 'feed', tag: 'spamhaus', ttl: 10 });
  c.advance(11);
  store.sweep();
  const sorted = (f: Parameters<typeof store.list>[0]): string[] => names(store.list(f)).sort();
  t.deepEqual(sorted({ source: 'logwatch', tag: 'sshd' }), ['192.0.2.1', '192.0.2.3']);
  t.deepEqual(sorted({ source: 'logwatch' }), ['192.0.2.1', '192.0.2.2', '192.0.2.3']);
  t.deepEqual(sorted({ port: 25 }), ['192.0.2.2', '192.0.2.4', '192.0.2.5'], 'a whole-address ban matches every port');
  t.deepEqual(sorted({ reason: /^ssh/ }), ['192.0.2.1', '192.0.2.3']);
  t.deepEqual(sorted({ state: 'expired' }), ['192.0.2.5']);
  t.deepEqual(sorted({ state: ['cold'], port: 22 }), ['192.0.2.1', '192.0.2.3', '192.0.2.4']);
  t.is([...store.list({ limit: 2 })].length, 2);
  const streamed: string[] = [];
  for await (const r of store.listStream({ source: 'cli' })) streamed.push((r as BanRecord).prefix.toString());
  t.deepEqual(streamed, ['192.0.2.4']);

  t.is(store.unbanBySource('logwatch', 'sshd'), 2);
  t.deepEqual(sorted({}), ['192.0.2.2', '192.0.2.4', '192.0.2.5']);
  t.is(store.unban('192.0.2.4')?.source, 'cli');
  t.is(store.unban('192.0.2.4'), undefined);
  t.is(store.get('192.0.2.4'), undefined);
  t.deepEqual(store.counts(), { kernel: 0, cold: 1, expired: 1, total: 2 });
  t.deepEqual([...store.history('192.0.2.4')].map((e) => e.type), ['ban', 'unban']);
  // Evicted from the kernel: cold, with an evict event.
  store.markLoaded(['192.0.2.2']);
  t.is(store.markEvicted(['192.0.2.2', '192.0.2.5']), 1, 'an expired record is not evicted');
  t.is(store.get('192.0.2.2')?.state, 'cold');
  t.deepEqual([...store.history('192.0.2.2', { reverse: true, limit: 1 })].map((e) => e.type), ['evict']);
  t.throws(() => store.ban({ prefix: '192.0.2.9', source: 'nobody' as never }), { instanceOf: TypeError });
  t.throws(() => store.ban({ prefix: '192.0.2.9', source: 'cli', ports: [0] }), { instanceOf: RangeError });
  t.throws(() => store.ban({ prefix: '192.0.3.0/23', source: 'cli' }), { message: /did you mean 192\.0\.2\.0\/23/ });
  await close();
});
