// SPDX-License-Identifier: MIT
//
// The public API (openFfwall, Ffwall) over the direct transport and a
// FakeKernel: what block, check, unblock, allow and the events do, and that
// bad input is refused before anything changes.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { AddressError, DurationError, FfwallError, openFfwall, parseAddress, parsePrefix, type Ffwall, type FfwallEvent } from '../../src/lib/index.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';

async function setup(options: ConstructorParameters<typeof FakeKernel>[0] = {}): Promise<{ fw: Ffwall; kernel: FakeKernel }> {
  const kernel = new FakeKernel(options);
  const fw = await openFfwall({ kernel });
  return { fw, kernel };
}

test('block, check and unblock an address', async (t) => {
  const { fw, kernel } = await setup();
  t.is(fw.transport, 'direct');
  const before = Date.now();
  const b = await fw.block('192.0.2.7', { ports: [587, 25, 465, 25], ttl: '7d', reason: 'spam' });
  t.is(b.target, '192.0.2.7');
  t.true(b.created);
  t.deepEqual(b.ports, [25, 465, 587], 'ports sorted and deduplicated');
  const exp = Date.parse(b.expiresAt ?? '');
  t.true(exp >= before - 1000 + 7 * 86400_000 && exp <= Date.now() + 1000 + 7 * 86400_000);

  const c = await fw.check('192.0.2.7', { port: 25 });
  t.true(c.blocked);
  t.is(c.verdict, 'drop');
  t.is(c.match, 'exact');
  t.deepEqual(c.rule?.ports, [25, 465, 587]);
  t.is(c.rule?.target, '192.0.2.7');
  t.is((await fw.check('192.0.2.7', { port: 80 })).verdict, 'pass');
  t.is((await fw.check('192.0.2.7')).verdict, 'ports');
  t.is(kernel.packet({ src: parseAddress('192.0.2.7'), proto: 'tcp', dport: 25 }), 'drop');

  // A second block replaces the ban (not created) and keeps its hits.
  const again = await fw.block('192.0.2.7', { ttl: '1h' });
  t.false(again.created);
  const c2 = await fw.check('192.0.2.7', { port: 80 });
  t.is(c2.verdict, 'drop', 'the whole address now');
  t.is(c2.rule?.hits, 1);

  t.deepEqual(await fw.unblock('192.0.2.7'), { target: '192.0.2.7', removed: true });
  t.deepEqual(await fw.unblock('192.0.2.7'), { target: '192.0.2.7', removed: false });
  const c3 = await fw.check('192.0.2.7');
  t.false(c3.blocked);
  t.is(c3.match, 'none');
  t.is(c3.rule, null);
  await fw.close();
});

test('a prefix ban, permanent and pinned, matches addresses inside it', async (t) => {
  const { fw } = await setup();
  const b = await fw.block('2001:db8:1::/48', { permanent: true, pin: true });
  t.is(b.expiresAt, null);
  t.true(b.pinned);
  const c = await fw.check('2001:db8:1:2::99');
  t.is(c.match, 'prefix');
  t.is(c.rule?.target, '2001:db8:1::/48');
  t.is(c.rule?.expiresAt, null);
  t.false((await fw.check('2001:db8:2::1')).blocked);
  await fw.close();
});

test('monitor bans are reported but not blocking', async (t) => {
  const { fw, kernel } = await setup();
  await fw.block('198.51.100.1', { monitor: true });
  const c = await fw.check('198.51.100.1');
  t.is(c.verdict, 'monitor');
  t.false(c.blocked);
  t.is(kernel.packet({ src: parseAddress('198.51.100.1'), proto: 'udp', dport: 53 }), 'pass');
  await fw.close();
});

test('the allowlist wins, and blocking inside it is refused with EALLOWLISTED naming the entry', async (t) => {
  const { fw, kernel } = await setup();
  t.deepEqual(await fw.allow('192.0.2.0/24', { reason: 'office' }), [{ target: '192.0.2.0/24', changed: true }]);
  const err = await t.throwsAsync(fw.block('192.0.2.9'), { instanceOf: FfwallError });
  t.is(err.code, 'EALLOWLISTED');
  t.regex(err.message, /192\.0\.2\.9 is on the allowlist \(by 192\.0\.2\.0\/24\)/);
  t.regex(err.message, /nothing was blocked/);
  t.is((await kernel.stats()).entries, 0);
  // A batch with one allowlisted item changes nothing and names the item.
  const errMany = await t.throwsAsync(fw.blockMany(['203.0.113.1', '192.0.2.10', '203.0.113.2']), { instanceOf: FfwallError });
  t.is(errMany.code, 'EALLOWLISTED');
  t.regex(errMany.message, /192\.0\.2\.10 \(item 1\)/);
  t.is((await kernel.stats()).entries, 0);
  const c = await fw.check('192.0.2.9');
  t.is(c.match, 'allow');
  t.false(c.blocked);
  t.deepEqual(await fw.disallow(['192.0.2.0/24']), [{ target: '192.0.2.0/24', changed: true }]);
  t.true((await fw.block('192.0.2.9')).created);
  await fw.close();
});

test('bad input is a TypeError or RangeError and changes nothing', async (t) => {
  const { fw, kernel } = await setup();
  const cases: Array<[() => Promise<unknown>, new (...a: never[]) => Error, RegExp]> = [
    [() => fw.block('1.2.3'), AddressError, /four dotted parts/],
    [() => fw.block('192.0.2.7/24'), AddressError, /did you mean 192\.0\.2\.0\/24/],
    [() => fw.block('192.0.2.7', { ttl: '7x' }), DurationError, /invalid duration/],
    [() => fw.block('192.0.2.7', { ttl: 0 }), TypeError, /permanent: true/],
    [() => fw.block('192.0.2.7', { ttl: '1h', permanent: true }), TypeError, /either ttl or permanent/],
    [() => fw.block('192.0.2.7', { ports: [0] }), RangeError, /port 1\.\.65535/],
    [() => fw.block('192.0.2.7', { ports: [1, 2, 3, 4, 5, 6, 7, 8, 9] }), RangeError, /at most 8/],
    [() => fw.block('192.0.2.7', { reason: 'x'.repeat(300) }), RangeError, /longer than 256/],
    [() => fw.block('192.0.2.7', { reason: 'a\nb' }), TypeError, /control characters/],
    [() => fw.block('192.0.2.7', { source: 'x' as never }), TypeError, /source must be one of/],
    [() => fw.check('192.0.2.0/24'), AddressError, /single address/],
    [() => fw.check('192.0.2.1', { port: 70000 }), RangeError, /port/],
    [() => fw.blockMany(['192.0.2.1', '192.0.2.300']), TypeError, /items\[1\]: invalid address/],
  ];
  for (const [fn, cls, re] of cases) {
    const err = await t.throwsAsync(fn());
    t.true(err instanceof cls, `${err?.message} is a ${cls.name}`);
    t.regex(err?.message ?? '', re);
  }
  t.is((await kernel.stats()).entries, 0, 'nothing was added');
  t.is((await kernel.stats()).inserted, 0);
  await fw.close();
});

test('blockMany reports progress in order and applies everything', async (t) => {
  const { fw, kernel } = await setup({ maxEntries: 200_000 });
  const items: string[] = [];
  for (let i = 0; i < 150_000; i++) items.push(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  const seen: number[] = [];
  const res = await fw.blockMany(items, { ttl: '1h', ports: [25], onProgress: (p) => seen.push(p.done) });
  t.deepEqual(res, { total: 150_000, applied: 150_000, changed: 150_000 });
  t.true(seen.length >= 3, 'one report per chunk');
  t.deepEqual(
    seen,
    [...seen].sort((a, b) => a - b),
    'in order',
  );
  t.is(seen[seen.length - 1], 150_000);
  t.is((await kernel.stats()).entries, 150_000);
  const un = await fw.unblockMany(items.slice(0, 1000));
  t.is(un.changed, 1000);
  t.is((await kernel.stats()).entries, 149_000);
  await fw.close();
});

test('events arrive while someone listens, in wall-clock time', async (t) => {
  const { fw, kernel } = await setup({ maxEntries: 4 });
  const got: FfwallEvent[] = [];
  const done = new Promise<void>((resolve) => {
    fw.on('event', (e) => {
      got.push(e);
      if (got.length === 3) resolve();
    });
  });
  // Let the subscription open before the evictions happen.
  await new Promise((r) => setTimeout(r, 20));
  await fw.blockMany(['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5', '192.0.2.6', '192.0.2.7']);
  await done;
  t.is(got.length, 3);
  for (const e of got) {
    t.is(e.type, 'evicted');
    t.regex(e.target ?? '', /^192\.0\.2\.[1-7]$/);
    t.true(Math.abs(Date.parse(e.at) - Date.now()) < 5000, 'dated in wall-clock time');
  }
  t.is((await kernel.stats()).evicted, 3);
  fw.removeAllListeners('event');
  await fw.close();
});

test('a closed instance refuses calls; close is idempotent', async (t) => {
  const { fw } = await setup();
  await fw.close();
  await fw.close();
  const err = await t.throwsAsync(fw.block('192.0.2.1'), { instanceOf: FfwallError });
  t.is(err.code, 'ECLOSED');
});

test('openFfwall checks its options', async (t) => {
  await t.throwsAsync(openFfwall({ transport: 'carrier-pigeon' as never }), { instanceOf: TypeError });
  await t.throwsAsync(openFfwall({ defaultTtl: 0 }), { instanceOf: TypeError });
  await t.throwsAsync(openFfwall({ kernel: new FakeKernel(), transport: 'client' }), { instanceOf: TypeError });
  // Not a kernel (a string, a plain object): refused at open, not at the first call or at close().
  for (const kernel of ['none', {}, { add() {} }, null]) {
    await t.throwsAsync(openFfwall({ kernel: kernel as never, database: false }), { instanceOf: TypeError, message: /kernel must be a Kernel/ });
  }
});

test('without the module, the direct transport says the module is not loaded', async (t) => {
  const err = await t.throwsAsync(openFfwall({ transport: 'direct', device: '/nonexistent/ffwall' }), { instanceOf: FfwallError });
  t.is(err.code, 'ENOMODULE');
  t.regex(err.message, /module is not loaded/);
});

test('the default TTL applies to a block without one', async (t) => {
  const kernel = new FakeKernel();
  const fw = await openFfwall({ kernel, defaultTtl: '2h' });
  const b = await fw.block('192.0.2.1');
  const ms = Date.parse(b.expiresAt ?? '') - Date.now();
  t.true(ms > 7190_000 && ms <= 7201_000, `${ms}`);
  const c = await fw.check('192.0.2.1');
  const ms2 = Date.parse(c.rule?.expiresAt ?? '') - Date.now();
  t.true(ms2 > 7190_000 && ms2 <= 7201_000, `the kernel entry's expiry is 2h ahead (${ms2})`);
  await fw.close();
});

// ---- With the ban database (issue 7): block writes the record and the kernel entry.


async function setupDb(options: { maxEntries?: number; now?: () => number } = {}): Promise<{ fw: Ffwall; kernel: FakeKernel; dir: string }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-api-db-'));
  const kernel = new FakeKernel(options.maxEntries === undefined ? {} : { maxEntries: options.maxEntries });
  const fw = await openFfwall({
    kernel,
    database: path.join(dir, 'bans.lmdb'),
    databaseOptions: { noSync: true, ...(options.now === undefined ? {} : { now: options.now }) },
  });
  return { fw, kernel, dir };
}

test('with a database: block writes the record and the kernel entry, check answers from both, unblock removes both', async (t) => {
  const { fw, kernel, dir } = await setupDb();
  const b = await fw.block('192.0.2.7', { ports: [25], reason: 'unknown users', source: 'policy' });
  t.true(b.created);
  t.is(b.action, 'created');
  t.is(b.durationFrom, 'base', 'no ttl: the escalation rule decides (first offence)');
  t.true(b.inKernel);
  t.is(b.record?.state, 'kernel');
  t.is(b.record?.reason, 'unknown users');
  t.is(b.record?.source, 'policy');
  const left = Date.parse(b.expiresAt ?? '') - Date.now();
  t.true(left > 86_390_000 && left <= 86_400_000, `24h for a first ban (${left})`);
  const k = await kernel.lookup(parseAddress('192.0.2.7'), 25);
  t.is(k.verdict, 'drop');
  t.true(k.entry !== undefined && k.entry.ttl > 86_390 && k.entry.ttl <= 86_400, 'the kernel TTL is the time left');

  const c = await fw.check('192.0.2.7', { port: 25 });
  t.true(c.blocked);
  t.true(c.inKernel);
  t.is(c.record?.target, '192.0.2.7');
  t.is(c.record?.banCount, 1);

  t.deepEqual(await fw.unblock('192.0.2.7'), { target: '192.0.2.7', removed: true });
  const c2 = await fw.check('192.0.2.7', { port: 25 });
  t.false(c2.blocked);
  t.is(c2.record, null, 'the record is gone');
  t.is((await kernel.stats()).entries, 0);
  await fw.close();
  rmSync(dir, { recursive: true, force: true });
});

test('with a database: a ban the kernel no longer holds (cold) still checks as blocked', async (t) => {
  const { fw, kernel, dir } = await setupDb();
  await fw.block('198.51.100.9', { ttl: '1h' });
  await kernel.del([parseAddress('198.51.100.9')]); // as an eviction would
  const c = await fw.check('198.51.100.9');
  t.false(c.inKernel);
  t.is(c.match, 'none');
  t.true(c.blocked, 'the database still bans it');
  t.is(c.record?.target, '198.51.100.9');
  // A prefix ban covers an address inside it.
  await fw.block('203.0.113.0/24', { ttl: '1h' });
  await kernel.del([parsePrefix('203.0.113.0/24')]);
  const c3 = await fw.check('203.0.113.77', { port: 25 });
  t.true(c3.blocked);
  t.is(c3.record?.target, '203.0.113.0/24');
  await fw.close();
  rmSync(dir, { recursive: true, force: true });
});

test('with a database: a repeat offender is banned longer (escalation)', async (t) => {
  let now = Date.UTC(2026, 10, 29);
  const { fw, dir } = await setupDb({ now: () => now });
  const first = await fw.block('192.0.2.50', { reason: 'spam' });
  t.is(first.durationFrom, 'base');
  t.is(Date.parse(first.expiresAt ?? ''), now + 86_400_000);
  now += 2 * 86_400_000; // the first ban has expired (the record is remembered)
  const second = await fw.block('192.0.2.50', { reason: 'spam again' });
  t.is(second.action, 'revived');
  t.is(second.durationFrom, 'escalated');
  t.is(Date.parse(second.expiresAt ?? ''), now + 2 * 86_400_000, 'doubled');
  t.is(second.record?.banCount, 2);
  t.is(second.record?.firstSeenAt, new Date(now - 2 * 86_400_000).toISOString());
  await fw.close();
  rmSync(dir, { recursive: true, force: true });
});

test('with a database: the allowlist lives in the database and the kernel, and refuses bans inside it', async (t) => {
  const { fw, kernel, dir } = await setupDb();
  await fw.allow('10.20.0.0/16', { reason: 'office' });
  t.is((await kernel.stats()).allowEntries, 1);
  const err = await t.throwsAsync(fw.block('10.20.3.4'), { instanceOf: FfwallError });
  t.is(err.code, 'EALLOWLISTED');
  t.regex(err.message, /by 10\.20\.0\.0\/16/);
  const errMany = await t.throwsAsync(fw.blockMany(['192.0.2.1', '10.20.9.9']), { instanceOf: FfwallError });
  t.regex(errMany.message, /item 1/);
  const st = await fw.status();
  t.deepEqual(st.database, { kernel: 0, cold: 0, expired: 0, total: 0 }, 'nothing was written');
  t.is((await kernel.stats()).entries, 0);
  await fw.disallow('10.20.0.0/16');
  t.is((await kernel.stats()).allowEntries, 0);
  t.true((await fw.block('10.20.3.4')).created);
  await fw.close();
  rmSync(dir, { recursive: true, force: true });
});

test('with a database: blockMany writes every record and fills the kernel up to its cap', async (t) => {
  const { fw, kernel, dir } = await setupDb({ maxEntries: 20_000 });
  const items: string[] = [];
  for (let i = 0; i < 25_000; i++) items.push(`10.1.${i >> 8}.${i & 255}`);
  const seen: number[] = [];
  const res = await fw.blockMany(items, { ttl: '2h', source: 'feed', onProgress: (p) => seen.push(p.done) });
  t.deepEqual(res, { total: 25_000, applied: 25_000, changed: 25_000 });
  t.deepEqual(seen, [10_000, 20_000, 25_000]);
  const st = await fw.status();
  t.is(st.database?.total, 25_000);
  t.is((await kernel.stats()).entries, 20_000, 'the kernel holds its cap');
  t.is((await kernel.stats()).evicted, 5_000);
  await fw.close();
  rmSync(dir, { recursive: true, force: true });
});
