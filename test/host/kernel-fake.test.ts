// SPDX-License-Identifier: MIT
//
// FakeKernel behaviour that the conformance suite cannot pin down on the
// real module (exact ring sizes, the clock and gc timing, limits too large
// or too slow to reach in the guest) or that only the fake offers (its
// test hooks).
import test from 'ava';

import { parseAddress, parsePrefix } from '../../src/lib/addr.js';
import { bloomInsert } from '../../src/lib/bloom.js';
import { isKernelError, type KernelEvent, type KernelEventStream } from '../../src/lib/kernel.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';
import { collect } from '../conformance/kernel-suite.js';

const host = parseAddress;

async function drain(s: KernelEventStream, n: number): Promise<KernelEvent[]> {
  return collect(s, n, 20);
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'success';
  } catch (e) {
    return isKernelError(e) ? e.code : String(e);
  }
}

test('a full ring keeps its records and announces the gap with one OVERFLOW of the exact size', async (t) => {
  const k = new FakeKernel({ maxEntries: 1, eventRingSize: 16 });
  const s = k.events();
  await k.add(Array.from({ length: 21 }, (_, i) => ({ prefix: host(`10.0.0.${i + 1}`) })));
  const got = await drain(s, 100);
  t.is(got.length, 17);
  t.true(got.slice(0, 16).every((e) => e.type === 'evicted'));
  t.like(got[16], { type: 'overflow', value: 4, prefix: undefined });
  t.is((await k.stats()).eventsLost, 4);
  // Readers are independent: one opened later sees only later events.
  const late = k.events();
  await k.add([{ prefix: host('10.0.1.1') }]);
  t.is((await drain(late, 10)).length, 1);
  t.is((await drain(s, 10)).length, 1);
  await k.close();
  t.true(s.closed && late.closed);
});

test('the OVERFLOW waits for a free slot and comes before any later record', async (t) => {
  const k = new FakeKernel({ maxEntries: 1, eventRingSize: 16 });
  const s = k.events();
  await k.add(Array.from({ length: 19 }, (_, i) => ({ prefix: host(`10.0.0.${i + 1}`) })));
  const first = await drain(s, 1);
  t.is(first[0]?.prefix?.toString(), '10.0.0.1');
  // One free slot: a new record cannot go in without its OVERFLOW, so it is lost too.
  await k.add([{ prefix: host('10.0.0.100') }]);
  const rest = await drain(s, 100);
  t.is(rest.length, 16);
  t.is(rest[14]?.prefix?.toString(), '10.0.0.16');
  t.like(rest[15], { type: 'overflow', value: 3 });
});

test('advance() runs the gc passes that fall due; until then an expired entry is a miss but still counted', async (t) => {
  const k = new FakeKernel({ gcInterval: 10 });
  const s = k.events();
  const t0 = k.now;
  await k.add([{ prefix: host('192.0.2.1'), ttl: 1 }]);
  k.advance(1);
  t.is(k.now, t0 + 1);
  t.like(await k.lookup(host('192.0.2.1')), { match: 'none' });
  t.like(await k.stats(), { entries: 1, expired: 0 });
  t.deepEqual(await drain(s, 5), []);
  k.advance(9);
  t.like(await k.stats(), { entries: 0, expired: 1 });
  const ev = await drain(s, 5);
  t.is(ev.length, 1);
  t.like(ev[0], { type: 'expired', time: t0 + 10 });
  // gc() reclaims at once.
  await k.add([{ prefix: host('192.0.2.2'), ttl: 1 }]);
  k.advance(1);
  t.is(k.gc(), 1);
});

test('an injected clock drives expiry and the gc passes without advance()', async (t) => {
  let now = 5000;
  const k = new FakeKernel({ clock: () => now, gcInterval: 2 });
  await k.add([{ prefix: host('192.0.2.1'), ttl: 3 }]);
  t.is((await k.lookup(host('192.0.2.1'))).entry?.expires, 5003);
  now = 5003;
  t.like(await k.lookup(host('192.0.2.1')), { match: 'none', now: 5003 });
  now = 5004;
  t.like(await k.stats(), { entries: 0, expired: 1, now: 5004 });
  k.advance(10);
  t.is(k.now, 5014);
});

test('CLOCK: a hit since the hand passed saves an entry; pinned entries are skipped', async (t) => {
  const k = new FakeKernel({ maxEntries: 4 });
  const s = k.events();
  await k.add(['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4'].map((a) => ({ prefix: host(a) })));
  await k.add([{ prefix: host('10.0.0.5') }]);
  // Every entry was referenced by its ADD: one full turn, then the first.
  t.is((await drain(s, 5))[0]?.prefix?.toString(), '10.0.0.1');
  t.is(k.packet({ src: host('10.0.0.2'), proto: 'tcp', dport: 80 }), 'drop');
  await k.add([{ prefix: host('10.0.0.6') }]);
  t.is((await drain(s, 5))[0]?.prefix?.toString(), '10.0.0.3', '10.0.0.2 was hit');
  await k.add([{ prefix: host('10.0.0.4'), pinned: true }]);
  await k.add([{ prefix: host('10.0.0.7') }]);
  const ev = await drain(s, 5);
  t.not(ev[0]?.prefix?.toString(), '10.0.0.4');
  t.like(await k.lookup(host('10.0.0.4')), { match: 'exact' });
});

test('port sets: the module holds 1023 distinct sets; the next one is ENOSPC with a prefix applied', async (t) => {
  const k = new FakeKernel();
  const rules = Array.from({ length: 1024 }, (_, i) => ({ prefix: host(`10.0.${i >> 8}.${i & 255}`), ports: [i + 1] }));
  let err: unknown;
  try {
    await k.add(rules);
  } catch (e) {
    err = e;
  }
  t.true(isKernelError(err));
  t.like(err, { code: 'ENOSPC', applied: 1023, badIndex: undefined });
  t.like(await k.stats(), { entries: 1023, portsets: 1023 });
  // A shared set needs no slot.
  t.deepEqual(await k.add([{ prefix: host('192.0.2.1'), ports: [1] }]), { applied: 1, changed: 1 });
});

test('prefix and allowlist limits: ENOSPC, expired prefixes make room, never evicted', async (t) => {
  const k = new FakeKernel({ maxPrefixes: 2, maxAllow: 1 });
  await k.add([{ prefix: parsePrefix('10.0.0.0/8'), ttl: 1 }, { prefix: parsePrefix('11.0.0.0/8') }]);
  t.is(await code(k.add([{ prefix: parsePrefix('12.0.0.0/8') }])), 'ENOSPC');
  k.advance(1);
  t.deepEqual(await k.add([{ prefix: parsePrefix('12.0.0.0/8') }]), { applied: 1, changed: 1 });
  await k.allowAdd([host('192.0.2.1')]);
  t.is(await code(k.allowAdd([host('192.0.2.2')])), 'ENOSPC');
  t.deepEqual(await k.allowAdd([host('192.0.2.1')]), { applied: 1, changed: 0 });
});

test('re-ADD of an expired prefix creates it anew; of an expired exact entry updates it (as the module does)', async (t) => {
  const k = new FakeKernel({ gcInterval: 100 });
  k.addNetdev('ffw0', 3);
  await k.attach('ffw0');
  await k.add([{ prefix: parsePrefix('10.0.0.0/8'), ttl: 1 }, { prefix: host('192.0.2.1'), ttl: 1 }]);
  k.packet({ src: host('10.0.0.1'), proto: 'udp', dport: 53, device: 'ffw0' });
  k.packet({ src: host('192.0.2.1'), proto: 'udp', dport: 53, device: 'ffw0' });
  k.advance(1);
  t.deepEqual(await k.add([{ prefix: parsePrefix('10.0.0.0/8') }, { prefix: host('192.0.2.1') }]), { applied: 2, changed: 1 });
  t.is((await k.lookup(host('10.0.0.1'))).entry?.hits, 0);
  t.is((await k.lookup(host('192.0.2.1'))).entry?.hits, 1);
});

test('packet(): a device that is not hooked passes uncounted; MISS is limited to one per address per second', async (t) => {
  const k = new FakeKernel({ netdevs: { lo: 1, ffw0: 2, eth1: 3 } });
  await k.attach('ffw0');
  await k.add([{ prefix: host('192.0.2.1') }]);
  t.is(k.packet({ src: host('192.0.2.1'), proto: 'tcp', dport: 25, device: 'eth1' }), 'pass');
  t.is((await k.stats()).packetsSeen, 0);
  t.is(k.packet({ src: host('192.0.2.1'), proto: 'tcp', dport: 25, device: 'ffw0' }), 'drop');
  k.removeNetdev('ffw0');
  t.is(k.packet({ src: host('192.0.2.1'), proto: 'tcp', dport: 25, device: 'ffw0' }), 'pass');
  t.deepEqual(await k.devices(), [{ name: 'ffw0', ifindex: 0, named: true, hooked: false }]);

  const seed: [bigint, bigint] = [7n, 9n];
  const data = new Uint8Array(128);
  bloomInsert(data, seed, 3, host('198.51.100.1').bytes);
  await k.filterLoad({ data, nhashes: 3, seed, members: 1 });
  const s = k.events();
  const src = host('198.51.100.1');
  k.packet({ src, proto: 'tcp', dport: 25 });
  k.packet({ src, proto: 'tcp', dport: 25 });
  k.packet({ src, proto: 'tcp', dport: 25, flowStart: false });
  t.is((await drain(s, 10)).length, 1);
  k.advance(1);
  k.packet({ src, proto: 'icmp' });
  t.deepEqual(
    (await drain(s, 10)).map((e) => e.type),
    ['miss'],
  );
  t.like(await k.stats(), { filterProbes: 3, filterHits: 3 });
});

test('FILTER_LOAD beyond filterMaxBytes is EINVAL; a closed kernel refuses everything', async (t) => {
  const k = new FakeKernel({ filterMaxBytes: 128, path: '/dev/ffwall-test' });
  let err: unknown;
  try {
    await k.filterLoad({ data: new Uint8Array(192), nhashes: 1, seed: [0n, 0n], members: 0 });
  } catch (e) {
    err = e;
  }
  t.like(err, { code: 'EINVAL', syscall: 'ioctl', path: '/dev/ffwall-test', message: "EINVAL: invalid argument, ioctl '/dev/ffwall-test'" });
  await k.close();
  t.is(await code(k.stats()), 'EBADF');
  t.throws(() => k.events());
});

test('batches: an aborted signal stops before the first chunk; an empty batch reports (0, 0)', async (t) => {
  const k = new FakeKernel();
  const ac = new AbortController();
  ac.abort();
  const err = await t.throwsAsync(k.add([{ prefix: host('192.0.2.1') }], { signal: ac.signal }));
  t.like(err, { name: 'AbortError', code: 'ABORT_ERR', applied: 0 });
  const calls: number[][] = [];
  await k.del([], { onProgress: (d, n) => calls.push([d, n]) });
  t.deepEqual(calls, [[0, 0]]);
});
