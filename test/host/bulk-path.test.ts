// SPDX-License-Identifier: MIT
//
// The bulk path of blockMany() with a database (issue 11): the shared
// options checked once and copied to each plain item, the targets parsed
// once and handed to the direct transport, the allowlist checked for the
// whole input before anything is written (BanStore.firstAllowed), and the
// store's supernet keys.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { BanStore } from '../../src/lib/db/index.js';
import { recordKey, supernetKey } from '../../src/lib/db/keys.js';
import { FfwallError, openFfwall, parsePrefix, type Ffwall, type IpPrefix } from '../../src/lib/index.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';

async function setupDb(): Promise<{ fw: Ffwall; kernel: FakeKernel; dir: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-bulk-path-'));
  const kernel = new FakeKernel({});
  const fw = await openFfwall({ kernel, database: path.join(dir, 'db'), databaseOptions: { noSync: true } });
  return { fw, kernel, dir };
}

test('blockMany: plain items and target+reason items take the shared options; other items their own', async (t) => {
  const { fw, kernel, dir } = await setupDb();
  const res = await fw.blockMany(
    ['192.0.2.1', parsePrefix('2001:DB8::/48'), { target: '192.0.2.2', reason: 'own' }, { target: '192.0.2.3', reason: undefined } as unknown as { target: string }, { target: '192.0.2.4', ttl: '1h' }, { target: '192.0.2.5', ports: [25] }],
    { source: 'feed', sourceTag: 'bulk-test', reason: 'shared', ttl: '2d' },
  );
  t.deepEqual(res, { total: 6, applied: 6, changed: 6 });
  const rec = async (target: string) => (await fw.show(target)).record;
  const day = 86_400_000;
  for (const [target, reason, ttlMs] of [
    ['192.0.2.1', 'shared', 2 * day],
    ['2001:db8::/48', 'shared', 2 * day],
    ['192.0.2.2', 'own', 2 * day],
    ['192.0.2.3', '', 2 * day],
    ['192.0.2.4', 'shared', 3_600_000],
    ['192.0.2.5', 'shared', 2 * day],
  ] as const) {
    const r = await rec(target);
    t.is(r?.target, target, `${target} is in the database under its normal form`);
    t.is(r?.reason, reason, `${target}: reason`);
    t.is(r?.source, 'feed');
    t.is(r?.sourceTag, 'bulk-test');
    t.is(r?.state, 'kernel');
    const left = Date.parse(r?.expiresAt ?? '') - Date.now();
    t.true(left > ttlMs - 60_000 && left <= ttlMs, `${target}: expiry ${left} ms away, ${ttlMs} asked`);
  }
  t.deepEqual((await rec('192.0.2.5'))?.ports, [25]);
  t.deepEqual((await rec('192.0.2.1'))?.ports, [], 'one item\'s ports do not leak into the shared template');
  t.is((await kernel.stats()).entries + (await kernel.stats()).prefixes, 6);
  await fw.close();
  rmSync(dir, { recursive: true, force: true });
});

test('blockMany: a bad target or a bad shared option is refused with its index, nothing written', async (t) => {
  const { fw, kernel, dir } = await setupDb();
  const e1 = await t.throwsAsync(fw.blockMany(['192.0.2.1', '192.0.2.300']), { instanceOf: TypeError });
  t.regex(e1?.message ?? '', /^items\[1\]: /);
  const e2 = await t.throwsAsync(fw.blockMany(['192.0.2.1', { target: '192.0.2.2', reason: 'bad\nreason' }]), { instanceOf: TypeError });
  t.regex(e2?.message ?? '', /items\[1\]\.reason/);
  const e3 = await t.throwsAsync(fw.blockMany(['192.0.2.1'], { ttl: 'soon' }));
  t.truthy(e3);
  t.deepEqual((await fw.status()).database, { kernel: 0, cold: 0, expired: 0, total: 0 });
  t.is((await kernel.stats()).entries, 0);
  await fw.close();
  rmSync(dir, { recursive: true, force: true });
});

test('blockMany: an allowlisted item anywhere refuses the whole input before the first batch', async (t) => {
  const { fw, kernel, dir } = await setupDb();
  await fw.allow(['198.51.100.0/24', '2001:db8:1::/48'], { reason: 'partners' });
  const items: string[] = [];
  for (let i = 0; i < 25_000; i++) items.push(`10.2.${i >> 8}.${i & 255}`);
  items.push('198.51.100.77');
  const err = await t.throwsAsync(fw.blockMany(items, { ttl: '1h' }));
  t.true(err instanceof FfwallError || (err as { code?: string } | undefined)?.code !== undefined);
  t.regex(err?.message ?? '', /198\.51\.100\.77/);
  t.is((err as { index?: number; badIndex?: number } | undefined)?.badIndex ?? (err as { index?: number } | undefined)?.index, 25_000);
  t.is((await fw.status()).database?.total, 0, 'no batch was written');
  t.is((await kernel.stats()).entries, 0);
  // Not allowlisted: next to it, and an IPv6 host outside the /48.
  t.deepEqual(await fw.blockMany(['198.51.101.1', '2001:db8:2::1']), { total: 2, applied: 2, changed: 2 });
  await fw.close();
  rmSync(dir, { recursive: true, force: true });
});

test('blockMany: more than one batch is written in key order; every item banned, a duplicate refreshes, progress to the total', async (t) => {
  const { fw, kernel, dir } = await setupDb();
  // 12,000 distinct addresses in scrambled order (an odd multiplier permutes 0..2^24-1).
  const items: Array<string | { target: string; reason: string }> = [];
  for (let i = 0; i < 12_000; i++) {
    const x = Math.imul(i, 2654435761) & 0xffffff;
    items.push(`10.${x >>> 16}.${(x >>> 8) & 255}.${x & 255}`);
  }
  const dup = items[5] as string;
  items.push({ target: dup, reason: 'second' });
  const seen: number[] = [];
  const res = await fw.blockMany(items, { reason: 'first', ttl: '1h', onProgress: (p) => seen.push(p.done) });
  t.deepEqual(res, { total: 12_001, applied: 12_001, changed: 12_000 });
  t.deepEqual(seen, [10_000, 12_001]);
  const rec = (await fw.show(dup)).record;
  t.is(rec?.reason, 'second', 'the later duplicate refreshed the earlier one');
  t.is(rec?.banCount, 2);
  t.is((await kernel.stats()).entries, 12_000);
  await fw.close();
  // The order of the writes: the history's ban events, in the order they were made.
  const store = BanStore.open({ path: path.join(dir, 'db'), noSync: true });
  const order = [...store.historyAll()].filter((e) => e.type === 'ban').map((e) => e.prefix.v4Host() ?? -1);
  await store.close();
  t.is(order.length, 12_001);
  const firstBatch = order.slice(0, 10_000);
  t.deepEqual(firstBatch, [...firstBatch].sort((a, b) => a - b), 'the first batch is in key order');
  t.true((firstBatch[9_999] ?? 0) <= Math.min(...order.slice(10_000)), 'the second batch follows the first in key order');
  rmSync(dir, { recursive: true, force: true });
});

test('BanStore.firstAllowed: the first refused index, none without an allowlist', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-bulk-path-'));
  const store = BanStore.open({ path: dir, noSync: true });
  const ps = ['192.0.2.1', '10.0.0.0/8', '10.9.8.7', '2001:db8::1'].map((s) => parsePrefix(s));
  t.is(store.firstAllowed(ps), undefined);
  store.allowAdd('10.9.0.0/16', 'lab');
  store.allowAdd('2001:db8::/32');
  const hit = store.firstAllowed(ps);
  t.is(hit?.index, 2, '10.0.0.0/8 contains the allowlisted /16 but is not inside it; 10.9.8.7 is');
  t.is(hit?.entry.prefix.toString(), '10.9.0.0/16');
  t.is(hit?.entry.reason, 'lab');
  t.is(store.firstAllowed([parsePrefix('2001:db8:5::/64')])?.entry.prefix.toString(), '2001:db8::/32');
  // The same over a count and a function (a packed feed).
  const asked: number[] = [];
  const viaAt = store.firstAllowed({ count: ps.length, at: (i) => (asked.push(i), ps[i] as IpPrefix) });
  t.deepEqual([viaAt?.index, viaAt?.entry.prefix.toString()], [2, '10.9.0.0/16']);
  t.deepEqual(asked, [0, 1, 2], 'stops at the first refused');
  t.is(store.firstAllowed({ count: 2, at: (i) => ps[i] as IpPrefix }), undefined);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('BanStore.firstAllowed over packed bytes: the allowlist read once into ranges, only overlapping entries looked up; the same answers', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-bulk-path-'));
  const store = BanStore.open({ path: dir, noSync: true });
  store.allowAdd('10.9.0.0/16', 'lab');
  store.allowAdd('2001:db8::/32');
  store.allowAdd('192.0.2.254', 'gateway');
  // 1000 entries (more than the allowlist: screened): a prefix around the /16 (overlaps, not inside), then the refused host at 700.
  const texts: string[] = [];
  for (let i = 0; i < 1000; i++) texts.push(`198.18.${i >> 8}.${i & 255}`);
  texts[300] = '10.0.0.0/8';
  texts[500] = '2001:db9::1';
  texts[700] = '10.9.200.1';
  texts[900] = '192.0.2.254';
  const ps = texts.map((s) => parsePrefix(s));
  const packed = { addrs: new Uint8Array(ps.length * 16), prefixLen: new Uint8Array(ps.length) };
  ps.forEach((p, i) => {
    p.writeTo(packed.addrs, i * 16);
    packed.prefixLen[i] = p.length;
  });
  const asked: number[] = [];
  const at = (i: number): IpPrefix => (asked.push(i), ps[i] as IpPrefix);
  const hit = store.firstAllowed({ count: ps.length, at, packed });
  t.deepEqual([hit?.index, hit?.entry.prefix.toString(), hit?.entry.reason], [700, '10.9.0.0/16', 'lab']);
  t.deepEqual(asked, [300, 700], 'only the entries that share an address with the allowlist were looked up');
  // Without the refused host: the gateway at 900.
  texts[700] = '10.10.0.1';
  ps[700] = parsePrefix(texts[700]);
  ps[700].writeTo(packed.addrs, 700 * 16);
  t.is(store.firstAllowed({ count: ps.length, at: (i) => ps[i] as IpPrefix, packed })?.index, 900);
  t.is(store.firstAllowed(ps)?.index, 900, 'the unscreened path agrees');
  // Fewer entries than the allowlist: looked up one by one, same answer.
  asked.length = 0;
  t.is(store.firstAllowed({ count: 2, at, packed }), undefined);
  t.deepEqual(asked, [0, 1]);
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

test('supernetKey is the record key of the supernet, at every length', (t) => {
  for (const s of ['192.0.2.255', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', '255.255.255.255', '::']) {
    const p = parsePrefix(s);
    for (let len = 0; len <= p.length; len++) t.true(supernetKey(p, len).equals(recordKey(p.supernet(len))), `${s} /${len} (128-space)`);
  }
});

test('blockMany: items with their own options reuse the checked options of the item before only when they are the same', async (t) => {
  const { fw, kernel, dir } = await setupDb();
  const res = await fw.blockMany(
    [
      { target: '192.0.2.1', ttl: '1h', ports: [25], reason: 'a' },
      { target: '192.0.2.2', ttl: '1h', ports: [25], reason: 'a' },
      { target: '192.0.2.3', ttl: '1h', ports: [26], reason: 'a' },
      { target: '192.0.2.4', ttl: '1h', ports: [26], reason: 'a', pin: true },
      { target: '192.0.2.5', ttl: '1h', ports: [26], reason: 'a' },
    ],
    { source: 'feed' },
  );
  t.deepEqual(res, { total: 5, applied: 5, changed: 5 });
  const show = async (target: string) => (await fw.show(target)).record;
  t.deepEqual((await show('192.0.2.2'))?.ports, [25]);
  t.deepEqual((await show('192.0.2.3'))?.ports, [26]);
  t.true((await show('192.0.2.4'))?.pinned);
  t.false((await show('192.0.2.5'))?.pinned, 'pin of the item before does not carry over');
  const err = await t.throwsAsync(
    fw.blockMany([
      { target: '192.0.2.6', ttl: '1h' },
      { target: '192.0.2.x', ttl: '1h' },
    ]),
    { instanceOf: TypeError },
  );
  t.regex(err?.message ?? '', /^items\[1\]: /, 'a bad target after a reused item still names its index');
  t.is((await kernel.stats()).entries, 5);
  await fw.close();
  rmSync(dir, { recursive: true, force: true });
});
