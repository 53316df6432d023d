// SPDX-License-Identifier: MIT
//
// The kernel window (src/lib/window.ts) and the daemon's event handling
// (src/daemon/daemon.ts) against FakeKernel and a temporary BanStore.
import test from 'ava';

import { Daemon } from '../../src/daemon/daemon.js';
import { IpPrefix, parseAddress, parsePrefix } from '../../src/lib/addr.js';
import { bloomTest } from '../../src/lib/bloom.js';
import type { BanStore } from '../../src/lib/db/index.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';
import type { FlushOptions, IpPrefix as P, Kernel, KernelEntry, KernelEvent, MembershipFilter } from '../../src/lib/index.js';
import { filterSize, KernelWindow } from '../../src/lib/window.js';
import { clock, freshStore, type Clock } from './db-helpers.js';

const ip = (i: number): string => `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;

/** A FakeKernel whose clock follows @c (seconds) and which records the filter loads, flushes and deletions. */
class Recorder extends FakeKernel {
  filters: MembershipFilter[] = [];
  flushes = 0;
  deleted: string[] = [];
  /** Entries of the table seen after every ADD and DEL (for "never empty"). */
  sizes: number[] = [];
  constructor(c: Clock, maxEntries: number, extra: { maxPrefixes?: number } = {}) {
    super({ maxEntries, clock: () => c.t / 1000, ...extra });
  }
  override async filterLoad(f: MembershipFilter): Promise<void> {
    this.filters.push(f);
    return super.filterLoad(f);
  }
  override async flush(o?: FlushOptions): Promise<number> {
    this.flushes++;
    return super.flush(o);
  }
  override async del(prefixes: readonly P[], options?: Parameters<FakeKernel['del']>[1]): ReturnType<FakeKernel['del']> {
    this.deleted.push(...prefixes.map((p) => p.toString()));
    const r = await super.del(prefixes, options);
    this.sizes.push((await this.stats()).entries);
    return r;
  }
  override async add(rules: Parameters<FakeKernel['add']>[0], options?: Parameters<FakeKernel['add']>[1]): ReturnType<FakeKernel['add']> {
    const r = await super.add(rules, options);
    this.sizes.push((await this.stats()).entries);
    return r;
  }
}

async function entries(k: Kernel): Promise<Map<string, KernelEntry>> {
  const m = new Map<string, KernelEntry>();
  for await (const b of k.dump()) for (const e of b) if (e.kind !== 'allow') m.set(e.prefix.toString(), e);
  return m;
}

/** @n bans, one ms apart: the later, the hotter (most recent ban; none hit). */
function banMany(store: BanStore, c: Clock, n: number, extra: (i: number) => object = () => ({})): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    c.t += 1;
    store.ban({ prefix: ip(i), source: 'cli', ttl: 3600, ...extra(i) });
    out.push(ip(i));
  }
  return out;
}

function inFilter(f: MembershipFilter | undefined, a: string): boolean {
  if (f === undefined) return false;
  return bloomTest(f.data, f.seed, f.nhashes, parseAddress(a).bytes);
}

test('restore loads the hottest N up to the cap, marks the rest cold, and the filter holds every active ban', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  const k = new Recorder(c, 100);
  const all = banMany(store, c, 300);
  // A hit makes the coldest ten the hottest.
  store.applyHits(all.slice(0, 10).map((a, i) => ({ prefix: a, delta: 1, lastHit: c.t + i })));
  const hottest = [...store.hottest(100)].map((r) => r.prefix.toString());
  t.deepEqual(hottest.slice(0, 10), all.slice(0, 10).reverse());
  const w = new KernelWindow(k, store, { now: c.now });
  t.true(await w.isEmpty());
  const r = await w.start();
  t.is(r.mode, 'restore');
  t.is(r.loaded, 100);
  t.is(r.inKernel, 100);
  t.is(r.cold, 200);
  t.is(r.active, 300);
  const inKernel = await entries(k);
  t.deepEqual([...inKernel.keys()].sort(), [...hottest].sort(), 'the kernel holds exactly the hottest 100');
  const counts = store.counts();
  t.is(counts.kernel, 100);
  t.is(counts.cold, 200);
  for (const a of hottest) t.is(store.get(a)?.state, 'kernel');
  t.is(k.filters.length, 1);
  const f = k.filters[0];
  t.is(f?.members, 300);
  t.true(all.every((a) => inFilter(f, a)), 'every active ban is in the filter');
  t.is(r.filter.bytes, filterSize(300, 32 << 20).bytes);
  t.is(k.flushes, 0);
  await close();
});

test('restore reserves the exact table for the host bans only, not for the prefixes', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  const reserved: number[] = [];
  class Reserving extends Recorder {
    override async reserve(entries: number): Promise<number> {
      reserved.push(entries);
      return super.reserve(entries);
    }
  }
  const k = new Reserving(c, 100_000, { maxPrefixes: 10_000 });
  banMany(store, c, 50);
  for (let i = 0; i < 3000; i++) store.ban({ prefix: `2001:db8:${(i >>> 16) & 0xffff}:${i & 0xffff}::/64`, source: 'cli', ttl: 3600 });
  const r = await new KernelWindow(k, store, { now: c.now }).start();
  t.is(r.loaded, 50);
  t.is(r.loadedPrefixes, 3000);
  t.deepEqual(reserved, [50]);
  t.true((await k.stats()).buckets < 1024, 'the hash was not sized for the 3000 prefixes');
  await close();
});

test('restore after a reboot: every record loaded is marked kernel with its kernel counter reset, whatever its family or length; the old window outside the new one goes cold', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  const k = new Recorder(c, 30, { maxPrefixes: 64 });
  // Mixed keys, so that the marks (written in key order) cover every family and length.
  const targets: string[] = [];
  for (let i = 0; i < 40; i++) targets.push(ip(i * 7919));
  for (let i = 0; i < 10; i++) targets.push(`2001:db8:${i.toString(16)}::${(i + 1).toString(16)}`);
  for (let i = 0; i < 10; i++) targets.push(`198.51.${i}.0/24`, `2001:db8:${(100 + i).toString(16)}::/48`);
  for (const target of targets) {
    c.t += 1;
    store.ban({ prefix: target, source: 'cli', ttl: 3600 });
  }
  // The window before the reboot, with kernel counters: five of the coldest
  // (out of the new window) and ten of the hottest IPv4 hosts (in it again).
  const before = [...targets.slice(0, 5), ...targets.slice(30, 40)];
  store.markLoaded(before);
  store.applyHits(before.map((a) => ({ prefix: a, kernelHits: 5 })));
  t.true(before.every((a) => store.get(a)?.kernelHits === 5));
  const w = new KernelWindow(k, store, { now: c.now });
  const r = await w.start();
  t.is(r.mode, 'restore');
  const inKernel = await entries(k);
  t.is(inKernel.size, r.loaded + r.loadedPrefixes);
  for (const target of targets) {
    const rec = store.get(target);
    const key = parsePrefix(target).toString();
    t.is(rec?.state, inKernel.has(key) ? 'kernel' : 'cold', key);
    if (inKernel.has(key)) t.is(rec?.kernelHits, 0, `${key}: the kernel counts from 0 again`);
  }
  t.is(store.counts().kernel, inKernel.size);
  t.true(before.slice(0, 5).every((a) => store.get(a)?.state === 'cold'), 'the coldest, loaded before the reboot, are out of the new window');
  t.true(before.slice(5).every((a) => inKernel.has(a)), 'the hottest are in the new window');
  await close();
});

test('restore counts each TTL from its ADD, not from the start of a long restore, so the next reconcile has nothing to fix', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  const k = new Recorder(c, 100);
  banMany(store, c, 50);
  // A slow database: one minute passes while the window is chosen, before the ADD.
  const slow = new Proxy(store, {
    get(target, prop) {
      if (prop === 'activeKeys') {
        return function* (): Generator<Uint8Array> {
          c.t += 60_000;
          yield* target.activeKeys();
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  const r = await new KernelWindow(k, slow, { now: c.now }).start();
  t.is(r.loaded, 50);
  const kernelNow = (await k.stats()).now;
  for (const [key, e] of await entries(k)) {
    const expires = store.get(key)?.expires ?? 0;
    t.true(Math.abs(kernelNow + e.ttl - expires / 1000) <= 1, `${key}: the kernel entry ends with its ban`);
  }
  const again = await new KernelWindow(k, store, { now: c.now }).start();
  t.is(again.mode, 'reconcile');
  t.is(again.updated, 0, 'no entry had a wrong expiry');
  t.is(again.loaded + again.deleted, 0);
  await close();
});

test('restore: expired bans are not loaded and end expired; TTL is the time left; permanent and pinned honoured', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  const k = new Recorder(c, 10);
  store.ban({ prefix: '192.0.2.1', source: 'cli', ttl: 2 }); // will have expired
  store.ban({ prefix: '192.0.2.2', source: 'cli', ttl: 3600 });
  store.ban({ prefix: '192.0.2.3', source: 'cli', permanent: true });
  store.ban({ prefix: '192.0.2.4', source: 'cli', ttl: 3600, pinned: true, ports: [25, 587], monitor: true });
  store.ban({ prefix: '198.51.100.0/24', source: 'cli', ttl: 7200 });
  c.advance(1000); // 1000 s later: the first has expired, the others have 2600 s (6200 s) left
  const w = new KernelWindow(k, store, { now: c.now });
  const r = await w.restore();
  t.is(r.expired, 1);
  t.is(store.get('192.0.2.1')?.state, 'expired');
  const e = await entries(k);
  t.false(e.has('192.0.2.1'));
  t.is(e.get('192.0.2.2')?.ttl, 2600, 'kernel TTL = time left, not the original 3600');
  t.is(e.get('192.0.2.3')?.ttl, 0, 'permanent: no kernel expiry');
  t.is(e.get('192.0.2.3')?.expires, 0);
  const p = e.get('192.0.2.4');
  t.true(p?.pinned);
  t.true(p?.monitor);
  t.deepEqual(p?.ports, [25, 587]);
  t.is(e.get('198.51.100.0/24')?.kind, 'prefix');
  t.is(e.get('198.51.100.0/24')?.ttl, 6200);
  t.is(r.loadedPrefixes, 1);
  t.is(store.get('198.51.100.0/24')?.state, 'kernel');
  t.false(inFilter(k.filters[0], '192.0.2.1'), 'an expired ban is not in the filter');
  t.is(k.filters[0]?.members, 3, 'host bans only: prefixes live in the kernel');
  await close();
});

test('restore: pinned bans beyond the window displace the coldest unpinned ones; beyond the cap they stay cold', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  const k = new Recorder(c, 10);
  // 0..3 pinned and coldest; 4..19 unpinned and hotter.
  const all = banMany(store, c, 20, (i) => (i < 4 ? { pinned: true } : {}));
  const r = await new KernelWindow(k, store, { now: c.now }).restore();
  const e = await entries(k);
  t.is(e.size, 10);
  for (const a of all.slice(0, 4)) t.true(e.get(a)?.pinned, `${a} pinned and loaded`);
  t.deepEqual(
    [...e.keys()].filter((a) => !e.get(a)?.pinned).sort(),
    all.slice(14).sort(),
    'the 6 hottest unpinned fill the rest',
  );
  t.is(store.counts().kernel, 10);
  t.is(r.pinnedOverCap, 0);

  // More pinned bans than the capacity: the hottest pinned fill it, the rest stay cold (in the filter).
  const c2 = clock();
  const s2 = freshStore({ now: c2.now });
  const k2 = new Recorder(c2, 5);
  const pinned = banMany(s2.store, c2, 8, () => ({ pinned: true }));
  const r2 = await new KernelWindow(k2, s2.store, { now: c2.now }).restore();
  t.is(r2.inKernel, 5);
  t.is(r2.pinnedOverCap, 3);
  t.deepEqual([...(await entries(k2)).keys()].sort(), pinned.slice(3).sort());
  t.true(pinned.every((a) => inFilter(k2.filters[0], a)));
  await s2.close();
  await close();
});

test('reconcile adds the missing, deletes the stale, fixes states and never flushes', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  const k = new Recorder(c, 50);
  const all = banMany(store, c, 40);
  const w = new KernelWindow(k, store, { now: c.now });
  await w.restore();
  t.is((await k.stats()).entries, 40);
  // While userland was away: 5 unbanned in the database only, 5 new bans in the database only,
  // 3 entries in the kernel the database never knew, one ban changed its ports.
  for (const a of all.slice(0, 5)) store.unban(a);
  const fresh = ['172.16.0.1', '172.16.0.2', '172.16.0.3', '172.16.0.4', '172.16.0.5'];
  for (const a of fresh) {
    c.t += 1;
    store.ban({ prefix: a, source: 'cli', ttl: 600, state: 'kernel' });
  }
  await k.add(['203.0.113.1', '203.0.113.2', '203.0.113.3'].map((a) => ({ prefix: parseAddress(a) })));
  store.ban({ prefix: all[20] as string, source: 'cli', ttl: 3600, ports: [25] });
  const kept = all.slice(5);
  k.deleted = [];
  k.sizes = [];
  t.false(await w.isEmpty());
  const r = await w.start();
  t.is(r.mode, 'reconcile');
  t.is(k.flushes, 0, 'never FLUSH');
  t.true(k.sizes.every((n) => n > 0), 'the table was never empty');
  t.false(k.deleted.some((a) => kept.includes(a)), 'entries in both stayed throughout');
  const e = await entries(k);
  t.deepEqual([...e.keys()].sort(), [...kept, ...fresh].sort());
  t.deepEqual(e.get(all[20] as string)?.ports, [25], 'a changed ban is corrected in place');
  t.is(r.deleted, 8);
  t.is(r.loaded, 5);
  t.is(r.updated, 1);
  t.is(store.counts().kernel, 40);
  t.is(k.filters.length, 2);
  t.true([...kept, ...fresh].every((a) => inFilter(k.filters[1], a)));
  await close();
});

test('reconcile of a full table keeps the hot window: the coldest entries outside it make room', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  const k = new Recorder(c, 10);
  const all = banMany(store, c, 20);
  // The kernel holds the 10 coldest (as if loaded long ago), the database says the 10 hottest belong.
  await k.add(all.slice(0, 10).map((a) => ({ prefix: parseAddress(a), ttl: 3000 })));
  store.markLoaded(all.slice(0, 10));
  k.sizes = [];
  const r = await new KernelWindow(k, store, { now: c.now }).reconcile();
  t.is(k.flushes, 0);
  t.true(k.sizes.every((n) => n > 0));
  t.deepEqual([...(await entries(k)).keys()].sort(), all.slice(10).sort());
  t.is(r.deleted, 10);
  t.is(r.loaded, 10);
  for (const a of all.slice(0, 10)) t.is(store.get(a)?.state, 'cold');
  for (const a of all.slice(10)) t.is(store.get(a)?.state, 'kernel');
  await close();
});

test('the allowlist is mirrored into the kernel, both ways, and a ban under it is refused, not fatal', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  const k = new Recorder(c, 100);
  store.ban({ prefix: '192.0.2.9', source: 'cli', ttl: 600 });
  store.ban({ prefix: '192.0.2.10', source: 'cli', ttl: 600 });
  store.allowAdd('192.0.2.8/29', 'office'); // after the bans: the database keeps them
  store.allowAdd('2001:db8::/32');
  await k.allowAdd([parsePrefix('10.0.0.0/8')]); // not in the database
  const r = await new KernelWindow(k, store, { now: c.now }).restore();
  const allow: string[] = [];
  for await (const b of k.allowDump()) for (const e of b) allow.push(e.prefix.toString());
  t.deepEqual(allow.sort(), ['192.0.2.8/29', '2001:db8::/32']);
  t.is(r.allowAdded, 2);
  t.is(r.allowRemoved, 1);
  t.is(r.refused, 2, 'the kernel refuses bans under its allowlist (EEXIST); they stay cold');
  t.is(store.get('192.0.2.9')?.state, 'cold');
  await close();
});

/** Runs @fn until it returns true or @ms pass. */
async function until(fn: () => boolean | Promise<boolean>, ms = 2000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return fn();
}

test('daemon: a MISS from a cold banned address is promoted and the next packet is dropped', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  const k = new Recorder(c, 10);
  const all = banMany(store, c, 30);
  const d = new Daemon({ kernel: k, store, window: { now: c.now } });
  const promoted: string[] = [];
  d.on('promote', (p) => promoted.push(`${p.address.toString()}:${String(p.promoted)}`));
  const report = await d.start();
  t.is(report.mode, 'restore');
  const cold = all[0] as string;
  t.is(store.get(cold)?.state, 'cold');
  t.is(k.packet({ src: parseAddress(cold), proto: 'tcp', dport: 25 }), 'pass', 'the first SYN passes (a miss)');
  t.true(await until(() => promoted.includes(`${cold}:true`)), 'the daemon promoted it');
  t.is(store.get(cold)?.state, 'kernel');
  t.is(k.packet({ src: parseAddress(cold), proto: 'tcp', dport: 25 }), 'drop', 'the next SYN is dropped');
  // A filter false positive (no ban) changes nothing.
  const r = await d.window.promote(parseAddress('10.200.0.1'));
  t.false(r.promoted);
  await d.stop();
  t.is(d.state, 'stopped');
  t.is((await k.stats()).entries, 10, 'stop leaves the kernel table in place');
  await close();
});

test('daemon: EVICTED makes the record cold, EXPIRED expires it (or makes it cold when the database ban lasts longer)', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  const k = new Recorder(c, 3);
  store.ban({ prefix: '192.0.2.1', source: 'cli', ttl: 5 });
  const d = new Daemon({ kernel: k, store, window: { now: c.now } });
  const states: string[] = [];
  d.on('state', (s) => states.push(`${s.event} ${s.prefix.toString()} ${s.state}`));
  await d.start();
  t.is(store.get('192.0.2.1')?.state, 'kernel');
  // Three more bans through the window's promote path fill the table; a fourth evicts one.
  for (const a of ['192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5']) {
    store.ban({ prefix: a, source: 'cli', ttl: 3600 });
    await d.window.promote(parseAddress(a));
  }
  t.true(await until(() => states.some((s) => s.startsWith('evicted '))));
  const ev = states.find((s) => s.startsWith('evicted ')) ?? '';
  const victim = ev.split(' ')[1] as string;
  t.is(store.get(victim)?.state, 'cold', `${ev}`);
  t.true(ev.endsWith(' cold'));

  // Kernel expiry with the database expiry passed: expired in both.
  const k1 = (await entries(k)).has('192.0.2.1');
  if (k1) {
    c.advance(6);
    k.advance(0);
    k.gc();
    t.true(await until(() => states.includes('expired 192.0.2.1 expired')), states.join('; '));
    t.is(store.get('192.0.2.1')?.state, 'expired');
  } else {
    t.pass('192.0.2.1 was the evicted one');
  }
  // A kernel TTL shorter than the database's (the ban was extended meanwhile): cold.
  const ext = [...(await entries(k)).keys()][0] as string;
  await k.add([{ prefix: parseAddress(ext), ttl: 1 }]);
  c.advance(2);
  k.gc();
  t.true(await until(() => states.includes(`expired ${ext} cold`)), states.join('; '));
  t.is(store.get(ext)?.state, 'cold');
  await d.stop();
  await close();
});

test('daemon: an OVERFLOW reconciles', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  const k = new Recorder(c, 10);
  banMany(store, c, 5);
  const d = new Daemon({ kernel: k, store, window: { now: c.now } });
  const modes: string[] = [];
  d.on('report', (r) => modes.push(r.mode));
  await d.start();
  await k.add([{ prefix: parseAddress('203.0.113.9') }]); // unknown to the database
  const ov: KernelEvent = { type: 'overflow', prefix: undefined, pinned: false, monitor: false, value: 7, time: 0 };
  await d.handle(ov);
  t.deepEqual(modes, ['restore', 'reconcile']);
  t.false((await entries(k)).has('203.0.113.9'));
  await d.stop();
  await close();
});

test('filterSize: ~1.3 bytes per member with headroom, k 6, clamped to filterMaxBytes', (t) => {
  const s = filterSize(1_000_000, 32 << 20);
  t.is(s.nhashes, 6);
  t.false(s.clamped);
  t.true(s.bytes > 1_000_000 * 1.25 * 1.29 && s.bytes < 1_000_000 * 1.25 * 1.31, String(s.bytes));
  t.true(s.expectedFpr < 0.01, String(s.expectedFpr));
  const small = filterSize(100_000_000, 32 << 20);
  t.true(small.clamped);
  t.is(small.bytes, 32 << 20);
  t.is(filterSize(0, 64).bytes, 64);
  t.true(new IpPrefix(new Uint8Array(16), 0).length === 0);
});
