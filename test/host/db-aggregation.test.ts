// SPDX-License-Identifier: MIT
import test from 'ava';

import { BanStore, type BanResult } from '../../src/lib/db/index.js';
import { clock, DAY, freshStore } from './db-helpers.js';

test('a /128 from an automatic source becomes its /64; cli, api and feed keep the /128 unless asked', async (t) => {
  const { store, close } = freshStore();
  for (const source of ['policy', 'logwatch'] as const) {
    const r = store.ban({ prefix: `2001:db8:${source.length}::1:2:3:4`, source });
    t.is(r.record.prefix.length, 64, source);
    t.is(r.aggregation?.requested.toString(), `2001:db8:${source.length}:0:1:2:3:4`);
    t.is(r.aggregation?.banned.toString(), `2001:db8:${source.length}::/64`);
  }
  const cli = store.ban({ prefix: '2001:db8:99::1', source: 'cli' });
  t.is(cli.record.prefix.toString(), '2001:db8:99::1');
  t.is(cli.aggregation, undefined);
  const api = store.ban({ prefix: '2001:db8:98::1', source: 'api', aggregate: true });
  t.is(api.record.prefix.toString(), '2001:db8:98::/64');
  // A feed lists exactly what it bans: its /128s stay /128s, unless asked.
  const feed = store.ban({ prefix: '2001:db8:96::1', source: 'feed' });
  t.is(feed.record.prefix.toString(), '2001:db8:96::1');
  t.is(feed.aggregation, undefined);
  t.is(store.ban({ prefix: '2001:db8:95::1', source: 'feed', aggregate: true }).record.prefix.toString(), '2001:db8:95::/64');
  const optOut = store.ban({ prefix: '2001:db8:97::1', source: 'logwatch', aggregate: false });
  t.is(optOut.record.prefix.toString(), '2001:db8:97::1');
  // IPv4 is never widened.
  t.is(store.ban({ prefix: '192.0.2.1', source: 'logwatch' }).record.prefix.toString(), '192.0.2.1');
  // An allowlisted address inside the /64 keeps the ban on the /128, and says why.
  store.allowAdd('2001:db8:55::53', 'resolver');
  const kept = store.ban({ prefix: '2001:db8:55::66', source: 'logwatch' });
  t.is(kept.record.prefix.toString(), '2001:db8:55::66');
  t.regex(kept.aggregation?.skipped ?? '', /allowlisted 2001:db8:55::53/);
  await close();
});

test('three distinct /64s inside one /48 ban the /48, escalated; counted per /64', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  const ban = (ip: string): BanResult => store.ban({ prefix: ip, source: 'logwatch', reason: 'smtp auth' });
  t.is(ban('2001:db8:1:a::1').aggregation?.escalated, undefined);
  // Two addresses in the same /64 count once.
  t.is(ban('2001:db8:1:a::2').aggregation?.escalated, undefined);
  t.is(ban('2001:db8:1:b::1').aggregation?.escalated, undefined);
  // Another /48 does not count.
  t.is(ban('2001:db8:2:c::1').aggregation?.escalated, undefined);
  const third = ban('2001:db8:1:c::1');
  const esc = third.aggregation?.escalated;
  t.is(esc?.prefix.toString(), '2001:db8:1::/48');
  t.is(esc?.distinct64, 3);
  t.is(esc?.threshold, 3);
  const parent = esc !== undefined && 'record' in esc.result ? esc.result : undefined;
  t.truthy(parent);
  t.is(parent?.record.prefix.toString(), '2001:db8:1::/48');
  t.is(parent?.durationFrom, 'escalated');
  // One level above the highest episode count among its /64s (1).
  t.is(parent?.duration, 2 * DAY);
  t.regex(parent?.record.reason ?? '', /3 \/64s banned inside 2001:db8:1::\/48/);
  t.is(store.get('2001:db8:1::/48')?.state, 'cold');
  // A fourth /64 reports the /48 as already banned.
  const fourth = ban('2001:db8:1:d::1').aggregation?.escalated;
  t.deepEqual(fourth?.result, { skipped: '2001:db8:1::/48 is already banned' });
  // Expired /64s no longer count.
  c.advance(400 * DAY);
  store.sweep();
  t.is(ban('2001:db8:1:e::1').aggregation?.escalated, undefined);
  await close();
});

test('aggregation is configurable: lengths, threshold, sources, off', async (t) => {
  const { store, close } = freshStore({ aggregation: { hostPrefix: 56, parentPrefix: 40, threshold: 2, sources: ['feed'] } });
  t.is(store.ban({ prefix: '2001:db8:0:1::1', source: 'logwatch' }).record.prefix.length, 128);
  const a = store.ban({ prefix: '2001:db8:0:100::1', source: 'feed' });
  t.is(a.record.prefix.toString(), '2001:db8:0:100::/56');
  const b = store.ban({ prefix: '2001:db8:0:200::1', source: 'feed' });
  t.is(b.aggregation?.escalated?.prefix.toString(), '2001:db8::/40');
  await close();
  const off = freshStore({ aggregation: { enabled: false } });
  t.is(off.store.ban({ prefix: '2001:db8::1', source: 'feed' }).record.prefix.length, 128);
  await off.close();
  t.throws(() => BanStore.open({ path: '/nonexistent-never-created', aggregation: { hostPrefix: 48, parentPrefix: 64 } }), { instanceOf: RangeError });
});
