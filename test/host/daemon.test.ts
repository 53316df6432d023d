// SPDX-License-Identifier: MIT
//
// The daemon in operation (issue 8) against FakeKernel and a temporary
// BanStore: every kernel event kind, an overflow reconciling, the hit sync,
// the expiry sweep, the membership filter's upkeep and rebuild, the control
// socket served by the running daemon (malformed and oversized requests
// included), the safety rules and reload().
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { Daemon, SAFETY_REASON_PREFIX, type DaemonOptions, type SweepReport } from '../../src/daemon/daemon.js';
import type { SafetyChecker, SafetyCheckLike, SafetyEntryLike, SafetySource } from '../../src/daemon/transport.js';
import { parseAddress, parsePrefix, type IpPrefix } from '../../src/lib/addr.js';
import { CONTROL_MAX_LINE } from '../../src/lib/control.js';
import type { BanStore } from '../../src/lib/db/index.js';
import { openFfwall } from '../../src/lib/ffwall.js';
import { FakeKernel, type FakeKernelOptions } from '../../src/lib/kernel-fake.js';
import type { Kernel, KernelEntry } from '../../src/lib/kernel.js';
import { clock, freshStore, type Clock } from './db-helpers.js';

const ip = (i: number): string => `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;

async function until(fn: () => boolean | Promise<boolean>, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 5));
  }
  return fn();
}

async function entries(k: Kernel): Promise<Map<string, KernelEntry>> {
  const m = new Map<string, KernelEntry>();
  for await (const b of k.dump()) for (const e of b) if (e.kind !== 'allow') m.set(e.prefix.toString(), e);
  return m;
}

async function allowed(k: Kernel): Promise<string[]> {
  const out: string[] = [];
  for await (const b of k.allowDump()) for (const e of b) out.push(e.prefix.toString());
  return out;
}

/** Counts turns of the event loop (setImmediate callbacks) from now until stop(). */
function eventLoopTurns(): { readonly turns: number; stop(): void } {
  let turns = 0;
  let done = false;
  const spin = (): void => {
    if (done) return;
    turns++;
    setImmediate(spin);
  };
  setImmediate(spin);
  return {
    get turns() {
      return turns;
    },
    stop() {
      done = true;
    },
  };
}

function banMany(store: BanStore, c: Clock, n: number, from = 0): string[] {
  const out: string[] = [];
  for (let i = from; i < from + n; i++) {
    c.t += 1;
    store.ban({ prefix: ip(i), source: 'cli', ttl: 3600 });
    out.push(ip(i));
  }
  return out;
}

interface Rig {
  c: Clock;
  k: FakeKernel;
  store: BanStore;
  d: Daemon;
  dir: string;
  sock: string;
  done(): Promise<void>;
}

/** A daemon over a FakeKernel on @c's clock, timers off, and its socket in a temp dir. */
async function rig(
  o: { maxEntries?: number; kernel?: FakeKernelOptions; daemon?: Partial<DaemonOptions>; before?: (store: BanStore, c: Clock) => void; fractionalClock?: boolean } = {},
): Promise<Rig> {
  const c = clock(Date.now());
  const { store, close } = freshStore({ now: c.now });
  // The real module's clock may carry a fraction of a second.
  const kclock = o.fractionalClock === true ? () => c.t / 1000 + 0.25 : () => Math.floor(c.t / 1000);
  const k = new FakeKernel({ maxEntries: o.maxEntries ?? 100, clock: kclock, ...o.kernel });
  o.before?.(store, c);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-daemon-'));
  const sock = path.join(dir, 'ffwall.sock');
  const d = new Daemon({
    kernel: k,
    store,
    window: { now: c.now, filterBuilder: 'ts' },
    control: { path: sock },
    intervals: { sync: 0, sweep: 0, prune: 0, safety: 0 },
    serverVersion: 'test',
    ...o.daemon,
  });
  await d.start();
  return {
    c,
    k,
    store,
    d,
    dir,
    sock,
    async done() {
      await d.stop();
      await k.close();
      await close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A raw connection to the socket: send lines, read lines. */
async function raw(sock: string): Promise<{ send(s: string | Buffer): void; next(): Promise<Record<string, unknown>>; closed: Promise<void>; end(): void }> {
  const s = net.createConnection(sock);
  const lines: string[] = [];
  const waiters: Array<(l: string) => void> = [];
  let buf = '';
  s.on('data', (d) => {
    buf += d.toString('utf8');
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w !== undefined) w(l);
      else lines.push(l);
    }
  });
  s.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => s.on('close', () => resolve()));
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  return {
    send: (x) => s.write(x),
    next: async () => {
      const l = lines.shift() ?? (await new Promise<string>((resolve) => waiters.push(resolve)));
      return JSON.parse(l) as Record<string, unknown>;
    },
    closed,
    end: () => s.end(),
  };
}

test('events: MISS promotes, EVICTED makes cold (batched), EXPIRED expires, OVERFLOW reconciles at once', async (t) => {
  const r = await rig({ maxEntries: 3, kernel: { eventRingSize: 16 } });
  const { c, k, store, d } = r;
  const handled = new Map<string, number>();
  d.on('handled', (h) => handled.set(h.type, (handled.get(h.type) ?? 0) + 1));
  const modes: string[] = [];
  d.on('report', (rep) => modes.push(rep.mode));

  // EVICTED: 5 bans through the daemon's Ffwall into a table of 3.
  for (let i = 0; i < 5; i++) await d.ffwall.block(ip(i), { ttl: 3600 });
  t.true(await until(() => (handled.get('evicted') ?? 0) >= 2), 'two evictions handled');
  await d.flushEvents();
  const counts = store.counts();
  t.is(counts.kernel, 3);
  t.is(counts.cold, 2);

  // MISS: a cold ban's address sends a SYN; the filter knows it (FILTER_ADD on the socket path), the daemon promotes it.
  const cold = [...store.hottest()].find((x) => x.state === 'cold');
  t.truthy(cold);
  const coldAddr = (cold as { prefix: IpPrefix }).prefix;
  t.is(k.packet({ src: coldAddr, proto: 'tcp', dport: 25 }), 'pass');
  t.true(await until(() => store.get(coldAddr)?.state === 'kernel'), 'promoted after the MISS');
  t.is(k.packet({ src: coldAddr, proto: 'tcp', dport: 25 }), 'drop');
  t.true((handled.get('miss') ?? 0) >= 1);

  // EXPIRED: a short ban runs out in both the kernel and the database.
  await d.ffwall.block('192.0.2.50', { ttl: 5, pin: true });
  c.advance(10);
  k.gc();
  t.true(await until(() => store.get('192.0.2.50')?.state === 'expired'), 'expired in the database');
  t.true((handled.get('expired') ?? 0) >= 1);

  // OVERFLOW: 60 evictions at once overrun a ring of 16; the daemon reconciles.
  const before = modes.length;
  await k.add(Array.from({ length: 60 }, (_, i) => ({ prefix: parseAddress(ip(1000 + i)) })));
  t.true(await until(() => (handled.get('overflow') ?? 0) >= 1), 'an overflow was handled');
  t.true(await until(() => modes.length > before && modes.at(-1) === 'reconcile'), 'it reconciled');
  // The unknown entries (not in the database) are gone after the reconcile.
  t.true(await until(async () => [...(await entries(k)).keys()].every((a) => store.get(a) !== undefined)));
  await r.done();
});

test("events lost: the daemon counts its own reader's losses (OVERFLOW counts), not the rings nobody reads", async (t) => {
  const r = await rig({ maxEntries: 100, kernel: { eventRingSize: 16 } });
  const { k, d } = r;
  let evicted = 0;
  const lost: number[] = [];
  d.on('handled', (h) => {
    if (h.type === 'evicted') evicted++;
    if (h.type === 'overflow') lost.push(h.lost);
  });
  // A reader that never reads (as a command descriptor opened for reading would be).
  const idle = k.events();
  await k.add(Array.from({ length: 100 }, (_, i) => ({ prefix: parseAddress(ip(i)) })));
  // Three rounds of 10 evictions, each read by the daemon before the next: it loses nothing, the idle ring loses 30 - 16.
  for (let round = 1; round <= 3; round++) {
    await k.add(Array.from({ length: 10 }, (_, i) => ({ prefix: parseAddress(ip(1000 + round * 100 + i)) })));
    t.true(await until(() => evicted >= round * 10), `round ${round} read`);
  }
  t.is((await k.stats()).eventsLost, 14, "STATS counts the idle ring's losses");
  t.is(d.eventsLost, 0, 'the daemon lost nothing');
  // A storm of 60 at once overruns the daemon's ring too.
  await k.add(Array.from({ length: 60 }, (_, i) => ({ prefix: parseAddress(ip(2000 + i)) })));
  t.true(await until(() => lost.length >= 1), 'an overflow was read');
  t.true(d.eventsLost > 0);
  t.is(d.eventsLost, lost.reduce((a, b) => a + b, 0), 'the sum of the OVERFLOW counts');
  t.is((await k.stats()).eventsLost, 14 + 60 + d.eventsLost, 'STATS: the idle ring lost all 60, the daemon its own share');
  await idle.close();
  await r.done();
});

test('overflow: reconciles while one is running are coalesced into one more', async (t) => {
  const r = await rig({ before: (s, c) => void banMany(s, c, 20) });
  const modes: string[] = [];
  r.d.on('report', (rep) => modes.push(rep.mode));
  const ov = { type: 'overflow' as const, prefix: undefined, pinned: false, monitor: false, value: 1, time: 0 };
  await Promise.all([r.d.handle(ov), r.d.handle(ov), r.d.handle(ov), r.d.handle(ov)]);
  t.deepEqual(modes, ['reconcile', 'reconcile'], 'the running one and one queued behind it');
  await r.done();
});

test('sync: hit counts and last hits move into the database, from DUMP hit_since only', async (t) => {
  const r = await rig({ before: (s, c) => void banMany(s, c, 10), fractionalClock: true });
  const { c, k, store, d } = r;
  const dumps: (number | undefined)[] = [];
  const origDump = k.dump.bind(k);
  k.dump = (o) => {
    dumps.push(o?.hitSince);
    return origDump(o);
  };
  c.advance(5);
  for (let i = 0; i < 3; i++) k.packet({ src: parseAddress(ip(2)), proto: 'tcp', dport: 25 });
  k.packet({ src: parseAddress(ip(7)), proto: 'udp', dport: 53 });
  const s1 = await d.syncHits();
  t.is(s1.entries, 2);
  t.is(s1.applied, 2);
  t.is(store.get(ip(2))?.hitCount, 3);
  t.is(store.get(ip(7))?.hitCount, 1);
  const lastHit = store.get(ip(2))?.lastHit ?? 0;
  t.true(Math.abs(lastHit - c.t) <= 1500, `last hit ${lastHit} is the wall-clock time of the packets (${c.t})`);
  // The next cycle asks only for entries hit since the last one began: the boundary second's entries come again and count once.
  c.advance(5);
  const s2 = await d.syncHits();
  t.is(s2.since, s1.next);
  t.is(s2.entries, 2);
  t.is(store.get(ip(2))?.hitCount, 3);
  c.advance(5);
  t.is((await d.syncHits()).entries, 0, 'nothing hit since: nothing dumped');
  k.packet({ src: parseAddress(ip(2)), proto: 'tcp', dport: 25 });
  const s3 = await d.syncHits();
  t.is(s3.entries, 1);
  t.is(store.get(ip(2))?.hitCount, 4);
  t.true(dumps.every((h) => h !== undefined && h >= 1), `every dump had a hit_since: ${dumps.join(',')}`);
  await r.done();
});

test('sweep: expired bans leave the database and the kernel, and are recorded', async (t) => {
  // The kernel's clock stands still: only the database's expiry passes.
  const r = await rig({ kernel: { clock: () => 1000 } });
  const { c, k, store, d } = r;
  await d.ffwall.block('192.0.2.1', { ttl: 60 });
  await d.ffwall.block('192.0.2.2', { ttl: 3600 });
  t.true((await entries(k)).has('192.0.2.1'));
  // The database's clock passes the expiry; the kernel's entry would live on (its clock is behind).
  k.advance(0);
  const kernelClock = c.t;
  c.advance(120);
  const sweeps: number[] = [];
  d.on('sweep', (s) => sweeps.push(s.expired));
  const s = await d.sweep();
  t.is(s.expired, 1);
  t.is(s.deletedFromKernel, 1);
  t.is(store.get('192.0.2.1')?.state, 'expired');
  t.is(store.get('192.0.2.2')?.state, 'kernel');
  t.false((await entries(k)).has('192.0.2.1'));
  t.true((await entries(k)).has('192.0.2.2'));
  t.true([...store.history('192.0.2.1')].some((e) => e.type === 'expire'), 'an expire event in the history');
  t.deepEqual(sweeps, [1]);
  t.true(c.t > kernelClock);
  await r.done();
});

test('filter: bans through the socket and bans by other processes enter the filter; a drifted filter is rebuilt', async (t) => {
  const r = await rig({ maxEntries: 2 });
  const { c, k, store, d } = r;
  const built = d.filter;
  t.is(built.added, 0);
  // Through the socket: FILTER_ADD at once.
  const fw = await openFfwall({ transport: 'client', socket: r.sock });
  await fw.block('198.51.100.1', { ttl: 3600 });
  await fw.close();
  t.is(d.filter.added, 1);
  // By another process (straight into the database): the sweep finds it in the history.
  c.t += 1;
  store.ban({ prefix: '198.51.100.2', source: 'cli', ttl: 3600 });
  c.t += 1;
  const s = await d.sweep();
  t.is(s.filterAdded, 1, 'the socket ban is not added twice');
  t.deepEqual(s.bans, { api: 1, cli: 1 }, 'bans by source, from every process (metrics)');
  t.is(d.filter.added, 2);
  // Both come back after eviction: a MISS from each is promoted.
  await k.add([{ prefix: parseAddress('203.0.113.1') }, { prefix: parseAddress('203.0.113.2') }]);
  for (const a of ['198.51.100.1', '198.51.100.2']) {
    await until(async () => !(await entries(k)).has(a));
    t.is(k.packet({ src: parseAddress(a), proto: 'tcp', dport: 25 }), 'pass');
    t.true(await until(() => store.get(a)?.state === 'kernel'), `${a} promoted from the filter`);
  }
  // Drift: 3000 bans added to a filter sized for ~1300 pass the 1% rate: rebuilt.
  c.t += 1;
  await store.bulkBan(Array.from({ length: 3000 }, (_, i) => ({ prefix: ip(5000 + i), source: 'feed' as const, ttl: 3600 })));
  c.t += 1;
  const s2 = await d.sweep();
  t.is(s2.filterAdded, 3000);
  t.is(s2.rebuilt?.reason, 'rate');
  t.true((s2.rebuilt?.filter.members ?? 0) >= 3000);
  t.is(d.filter.added, 0);
  t.true(d.filter.fpr < 0.01);
  // Removals: unbanning most of them asks for a rebuild too.
  c.t += 1;
  for (let i = 0; i < 2500; i++) store.unban(ip(5000 + i));
  c.t += 1;
  const s3 = await d.sweep();
  t.is(s3.filterRemoved, 2500);
  t.is(s3.rebuilt?.reason, 'removals');
  await r.done();
});

test('control socket: the running daemon serves the protocol, survives malformed and oversized requests, mode 0660', async (t) => {
  const r = await rig();
  const errors: string[] = [];
  const requests: string[] = [];
  r.d.on('protocolError', (e) => errors.push(e));
  r.d.on('request', (q) => requests.push(`${q.op}:${q.result}`));
  t.is(statSync(r.sock).mode & 0o777, 0o660);
  const fw = await openFfwall({ transport: 'client', socket: r.sock });
  const b = await fw.block('192.0.2.9', { ports: [25], reason: 'spam' });
  t.true(b.created);
  t.is(b.record?.state, 'kernel');
  t.true((await fw.check('192.0.2.9', { port: 25 })).blocked);

  const c1 = await raw(r.sock);
  t.is((await c1.next()).ffwall, 'control');
  c1.send('{not json\n');
  t.is(((await c1.next()).error as { code: string }).code, 'EPROTO');
  c1.send('{"id":1,"op":"nope"}\n');
  t.is(((await c1.next()).error as { code: string }).code, 'EPROTO');
  c1.send('{"id":2,"op":"block","args":{"request":{"target":"not-an-ip"}}}\n');
  const bad = await c1.next();
  t.false(bad.ok);
  c1.send('{"id":3,"op":"status"}\n');
  t.true((await c1.next()).ok, 'the same connection goes on after malformed requests');
  c1.end();

  const c2 = await raw(r.sock);
  await c2.next();
  c2.send(Buffer.alloc(CONTROL_MAX_LINE + 10, 0x61));
  const tooBig = await c2.next();
  t.is((tooBig.error as { code: string }).code, 'EPROTO');
  await c2.closed;

  // Still serving after all that.
  t.false((await fw.check('192.0.2.10')).blocked);
  t.is((await fw.unblock('192.0.2.9')).removed, true);
  await fw.close();
  t.true(errors.includes('malformed JSON'));
  t.true(errors.includes('request too large'));
  t.true(requests.includes('block:ok'));
  await r.done();
});

/** A fixed safety list (the real one, safety.ts, reads /proc and /etc). */
class FixedSafety implements SafetySource {
  constructor(
    public list: SafetyEntryLike[],
    readonly minV4 = 16,
  ) {}
  async refresh(): Promise<SafetyEntryLike[]> {
    return this.list;
  }
  entries(): SafetyEntryLike[] {
    return this.list;
  }
  async check(target: IpPrefix, options: { force?: boolean }): Promise<SafetyCheckLike> {
    const collisions = this.list.filter((e) => e.prefix.contains(target) || target.contains(e.prefix));
    const res: SafetyCheckLike = { ok: collisions.length === 0, collisions, reasons: collisions.map((e) => e.reason) };
    if (target.family === 4 && target.length - 96 < this.minV4 && options.force !== true) {
      res.force = `${target.toString()} is shorter than /${this.minV4}`;
      res.ok = false;
    }
    return res;
  }
}

/** FixedSafety with checker(), as SafetyList has it: the host's state read once per request; @withEntries: the checker carries its entries (the daemon then screens a packed feed with them). */
class CheckerSafety extends FixedSafety {
  checkers = 0;
  checks = 0;
  /** Targets the checker function was called with. */
  checked = 0;
  withEntries = false;
  override async check(target: IpPrefix, options: { force?: boolean }): Promise<SafetyCheckLike> {
    this.checks++;
    return super.check(target, options);
  }
  async checker(): Promise<SafetyChecker> {
    this.checkers++;
    const list = [...this.list];
    const minV4 = this.minV4;
    const check = (target: IpPrefix, options: { force?: boolean }): SafetyCheckLike => {
      this.checked++;
      const collisions = list.filter((e) => e.prefix.contains(target) || target.contains(e.prefix));
      const res: SafetyCheckLike = { ok: collisions.length === 0, collisions, reasons: collisions.map((e) => e.reason) };
      if (target.family === 4 && target.length - 96 < minV4 && options.force !== true) {
        res.force = `${target.toString()} is shorter than /${minV4}`;
        res.ok = false;
      }
      return res;
    };
    return this.withEntries ? Object.assign(check, { entries: list }) : check;
  }
}

const SAFETY_LIST: SafetyEntryLike[] = [
  { prefix: parsePrefix('192.0.2.254'), kind: 'gateway', reason: 'default gateway on eth0' },
  { prefix: parsePrefix('127.0.0.0/8'), kind: 'loopback', reason: 'loopback' },
  { prefix: parsePrefix('2001:db8::53'), kind: 'resolver', reason: 'resolver in /etc/resolv.conf' },
];

for (const [name, make] of [
  ['checker() with its entries: a packed screen', () => Object.assign(new CheckerSafety(SAFETY_LIST), { withEntries: true })],
  ['checker()', () => new CheckerSafety(SAFETY_LIST)],
  ['check() per entry', () => new FixedSafety(SAFETY_LIST)],
] as const) {
  test(`a feed through the daemon (safety by ${name}): every entry checked, a refusal changes nothing; then the whole feed in the kernel before the records, recorded, its hosts in the filter`, async (t) => {
    const safety = make();
    const r = await rig({ maxEntries: 50_000, daemon: { safety } });
    const { k, store, d } = r;
    const refused: string[] = [];
    d.on('refused', (x) => refused.push(`${x.target} ${x.code}`));
    const fw = await openFfwall({ transport: 'client', socket: r.sock });
    const n = 20_000;
    const lines: string[] = [];
    for (let i = 0; i < n; i++) lines.push(ip(i));
    const feed = (extra: string): Buffer => Buffer.from(`${[...lines.slice(0, 7000), extra, ...lines.slice(7000)].join('\n')}\n`);
    // The gateway in the feed: refused, nothing blocked or recorded.
    const e1 = await t.throwsAsync(fw.blockFeed(feed('192.0.2.254')), { code: 'EALLOWLISTED', message: /192\.0\.2\.254 is inside 192\.0\.2\.254 \(gateway/ });
    t.regex(e1.message, /nothing was blocked/);
    // A host inside a safety prefix, and an IPv6 safety host: refused.
    await t.throwsAsync(fw.blockFeed(feed('127.0.0.9')), { code: 'EALLOWLISTED', message: /127\.0\.0\.9 is inside 127\.0\.0\.0\/8 \(loopback/ });
    await t.throwsAsync(fw.blockFeed(feed('2001:db8::53')), { code: 'EALLOWLISTED', message: /2001:db8::53 is inside 2001:db8::53 \(resolver/ });
    // A prefix too short for the force rule: refused too.
    await t.throwsAsync(fw.blockFeed(feed('11.0.0.0/8')), { code: 'EFORCE' });
    t.is((await entries(k)).size, 0);
    t.is(store.get(ip(0)), undefined);
    t.deepEqual(refused, ['192.0.2.254 EALLOWLISTED', '127.0.0.9 EALLOWLISTED', '2001:db8::53 EALLOWLISTED', '11.0.0.0/8 EFORCE']);
    // A /24 around the gateway: the gateway joins the allowlist, the ban goes ahead.
    const added = d.filter.added;
    const atProgress: Promise<number>[] = [];
    const res = await fw.blockFeed(feed('192.0.2.0/24'), { ttl: '1h', onProgress: () => atProgress.push(k.stats().then((st) => st.entries)) });
    t.deepEqual(res, { total: n + 1, applied: n + 1, changed: n + 1 });
    const seen = await Promise.all(atProgress);
    t.true(seen.length >= 2, `${seen.length} progress reports`);
    t.is(seen[0], n, 'every host was in the kernel at the first report');
    t.is(store.get(ip(n - 1))?.source, 'api');
    t.is((await fw.databaseCounts())?.kernel, n + 1);
    t.true((await allowed(k)).includes('192.0.2.254'));
    t.is(k.packet({ src: parseAddress('192.0.2.254'), proto: 'tcp', dport: 22 }), 'pass', 'the gateway still passes');
    t.is(k.packet({ src: parseAddress('192.0.2.7'), proto: 'tcp', dport: 22 }), 'drop');
    t.is(k.packet({ src: parseAddress(ip(12345)), proto: 'tcp', dport: 25 }), 'drop');
    t.is(d.filter.added - added, n, 'the hosts went into the membership filter');
    if (safety instanceof CheckerSafety) t.deepEqual([safety.checkers, safety.checks], [5, 0], 'one checker per feed, no check() per entry');
    // Screened: only the targets that share an address with a safety entry, or are not hosts, reach the checker (the /8, the /24, the three refused hosts).
    if (safety instanceof CheckerSafety && safety.withEntries) t.is(safety.checked, 5);
    if (safety instanceof CheckerSafety && !safety.withEntries) t.true(safety.checked > 5 * n);
    await fw.close();
    await r.done();
  });
}

test('a sweep during a feed through the daemon leaves the filter upkeep to the feed: its hosts go into the filter once, and the next sweep adds none of them again', async (t) => {
  const r = await rig({ maxEntries: 50_000 });
  const { k, d } = r;
  const n = 25_000;
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(ip(i));
  // A sweep while the feed runs: after the kernel took the feed and the first chunk's records were written.
  const sweeps: SweepReport[] = [];
  const add = k.add.bind(k);
  k.add = async (...a: Parameters<FakeKernel['add']>) => {
    if (sweeps.length === 0) sweeps.push(await d.sweep());
    return add(...a);
  };
  const before = d.filter.added;
  const fw = await openFfwall({ transport: 'client', socket: r.sock });
  const res = await fw.blockFeed(Buffer.from(`${lines.join('\n')}\n`), { ttl: '1h' });
  t.is(res.applied, n);
  t.is(sweeps.length, 1, 'a sweep ran during the feed');
  t.true(sweeps[0]?.filterDeferred, 'it left the filter upkeep for later');
  t.is(sweeps[0]?.filterAdded, 0);
  t.is(d.filter.added - before, n, 'every host into the filter once, by the feed');
  const next = await d.sweep();
  t.falsy(next.filterDeferred);
  t.is(next.filterAdded, 0, 'the next sweep reads the feed\'s history and adds none of it again');
  t.is(next.bans.api, n, 'and counts its bans');
  t.is(d.filter.added - before, n);
  await fw.close();
  await r.done();
});

test('a sweep that reads a long history (an import made by another process) lets the event loop run while it reads, and adds every host', async (t) => {
  const r = await rig({ maxEntries: 100 });
  const { store, c, d } = r;
  const n = 45_000;
  // Another process's import: records and history only, nothing of it through the daemon.
  c.t += 1000;
  await store.bulkBan(
    Array.from({ length: n }, (_, i) => ({ prefix: ip(i), source: 'feed' as const, ttl: 3600 })),
    {},
  );
  c.t += 1000;
  const before = d.filter.added;
  // Turns of the event loop while the sweep runs (a policy request, the socket, would be served in them).
  const loop = eventLoopTurns();
  const report = await d.sweep();
  loop.stop();
  t.is(report.filterAdded, n);
  t.is(report.bans.feed, n);
  t.is(d.filter.added - before, n);
  // One turn every 10,000 events at least; before, the whole read ran in one turn.
  t.true(loop.turns >= Math.floor(n / 10_000), `${loop.turns} turns of the event loop during the sweep`);
  await r.done();
});

test('a sweep that expires a feed at once lets the event loop run between its transactions, and expires every ban', async (t) => {
  const r = await rig({ maxEntries: 100 });
  const { store, c, d, k } = r;
  const n = 45_000;
  // Marked as in the kernel, so the sweep DELetes each transaction's expired bans: the calls show where each ends.
  await store.bulkBan(
    Array.from({ length: n }, (_, i) => ({ prefix: ip(i), source: 'feed' as const, ttl: 60, state: 'kernel' as const })),
    {},
  );
  await d.sweep();
  c.t += 120_000;
  const loop = eventLoopTurns();
  const turnsAtDel: number[] = [];
  const del = k.del.bind(k);
  k.del = async (...a: Parameters<FakeKernel['del']>) => {
    turnsAtDel.push(loop.turns);
    return del(...a);
  };
  const report = await d.sweep();
  loop.stop();
  t.is(report.expired, n);
  t.is(store.get(ip(n - 1))?.state, 'expired');
  t.true(turnsAtDel.length >= Math.ceil(n / 10_000), `${turnsAtDel.length} transactions`);
  // A turn of the event loop between each two.
  for (let i = 1; i < turnsAtDel.length; i++) t.true((turnsAtDel[i] as number) > (turnsAtDel[i - 1] as number), `turns at each DEL: ${turnsAtDel.join(', ')}`);
  await r.done();
});

test('pruning a long history lets the event loop run between its transactions, and keeps the newest events', async (t) => {
  const r = await rig({ maxEntries: 100 });
  const { store, d } = r;
  const n = 45_000;
  await store.bulkBan(
    Array.from({ length: n }, (_, i) => ({ prefix: ip(i), source: 'feed' as const, ttl: 3600 })),
    {},
  );
  store.retention = { maxCount: 1000 };
  const loop = eventLoopTurns();
  const pruned = await d.pruneHistory();
  loop.stop();
  t.is(pruned, n - 1000);
  t.is(store.historyCount(), 1000);
  t.is([...store.history(ip(n - 1))].length, 1, 'the newest event stays');
  t.is([...store.history(ip(0))].length, 0);
  t.true(loop.turns >= Math.floor((n - 1000) / 10_000), `${loop.turns} turns of the event loop during the prune`);
  await r.done();
});

test('safety: the automatic allowlist (database and kernel) protects its addresses; short prefixes need force; entries follow the list', async (t) => {
  const safety = new FixedSafety([
    { prefix: parsePrefix('127.0.0.0/8'), kind: 'loopback', reason: 'loopback' },
    { prefix: parsePrefix('192.0.2.254'), kind: 'gateway', reason: 'default gateway on eth0' },
  ]);
  const r = await rig({ daemon: { safety } });
  const { k, store, d } = r;
  t.deepEqual((await allowed(k)).sort(), ['127.0.0.0/8', '192.0.2.254']);
  t.true([...store.allowlist()].every((a) => a.reason.startsWith(SAFETY_REASON_PREFIX)));
  const refused: string[] = [];
  d.on('refused', (x) => refused.push(`${x.target} ${x.code}`));
  const fw = await openFfwall({ transport: 'client', socket: r.sock });
  await t.throwsAsync(fw.block('192.0.2.254'), { code: 'EALLOWLISTED' });
  // An SSH session appears: banning its address is refused and it joins the allowlist.
  safety.list = [...safety.list, { prefix: parsePrefix('198.51.100.22'), kind: 'ssh', reason: 'SSH session from 198.51.100.22 port 40000 to port 22' }];
  await t.throwsAsync(fw.block('198.51.100.22'), { code: 'EALLOWLISTED', message: /SSH session/ });
  t.true((await allowed(k)).includes('198.51.100.22'));
  t.truthy(store.allowedBy('198.51.100.22'));
  // A prefix shorter than /16 needs force; with force it goes ahead (the gateway inside stays allowed).
  await t.throwsAsync(fw.block('192.0.0.0/8'), { code: 'EFORCE' });
  const forced = await fw.block('192.0.0.0/8', { force: true, ttl: 60 });
  t.true(forced.created);
  t.is(k.packet({ src: parseAddress('192.0.2.254'), proto: 'tcp', dport: 22 }), 'pass', 'the gateway still passes');
  t.is(k.packet({ src: parseAddress('192.0.2.7'), proto: 'tcp', dport: 22 }), 'drop');
  t.deepEqual(refused, ['192.0.2.254 EALLOWLISTED', '198.51.100.22 EALLOWLISTED', '192.0.0.0/8 EFORCE']);
  // The SSH session closes: the next refresh takes its entry away; hand-made entries stay.
  await fw.allow('203.0.113.5', { reason: 'by hand' });
  safety.list = safety.list.filter((e) => e.kind !== 'ssh');
  const rep = await d.refreshSafety();
  t.deepEqual(rep?.removed, ['198.51.100.22']);
  t.false((await allowed(k)).includes('198.51.100.22'));
  t.true((await allowed(k)).includes('203.0.113.5'));
  t.is(d.safetyEntries().length, 2);
  await fw.close();
  await r.done();
});

test('reload: intervals, socket mode and store options change while running', async (t) => {
  const r = await rig();
  const syncs: number[] = [];
  r.d.on('sync', (s) => syncs.push(s.entries));
  await r.d.reload({ intervals: { sync: 0.05, sweep: 0, prune: 0, safety: 0 }, control: { mode: 0o600 }, store: { escalation: { baseTtl: 7200 } } });
  t.true(await until(() => syncs.length >= 2), 'the sync timer runs');
  t.is(statSync(r.sock).mode & 0o777, 0o600);
  t.is(r.store.escalation.baseTtl, 7200);
  await t.throwsAsync(async () => r.d.reload({ store: { escalation: { baseTtl: -1 } } }), { instanceOf: RangeError });
  t.is(r.store.escalation.baseTtl, 7200, 'a bad store option changes nothing');
  await r.done();
});

test('reload: devices gone from the configuration are detached, new ones attached, hand-attached ones stay', async (t) => {
  const r = await rig({ daemon: { kernelSetup: { devices: ['eth0', 'eth1'] } } });
  const named = async (): Promise<string[]> => (await r.k.devices()).filter((d) => d.named).map((d) => d.name).sort();
  t.deepEqual(await named(), ['eth0', 'eth1']);
  await r.k.attach('eth2'); // by hand (ffwall attach): not the configuration's
  const seen: Array<{ attached: string[]; detached: string[] }> = [];
  r.d.on('devices', (d) => seen.push(d));
  await r.d.reload({ kernelSetup: { devices: ['eth0', 'eth3'] } });
  t.deepEqual(await named(), ['eth0', 'eth2', 'eth3']);
  t.deepEqual(seen, [{ attached: ['eth3'], detached: ['eth1'] }]);
  // Packets on a detached device pass; on a configured one they are judged.
  r.k.addNetdev('eth1', 3);
  r.k.addNetdev('eth3', 4);
  await r.k.add([{ prefix: parseAddress('198.51.100.7') }]);
  t.is(r.k.packet({ src: parseAddress('198.51.100.7'), proto: 'tcp', dport: 25, device: 'eth1' }), 'pass');
  t.is(r.k.packet({ src: parseAddress('198.51.100.7'), proto: 'tcp', dport: 25, device: 'eth3' }), 'drop');
  // An empty list detaches what the configuration had attached, and nothing else.
  await r.d.reload({ kernelSetup: { devices: [] } });
  t.deepEqual(await named(), ['eth2']);
  // A device already detached by hand is not an error at the next reload.
  await r.d.reload({ kernelSetup: { devices: ['eth0'] } });
  await r.k.detach('eth0');
  await r.d.reload({ kernelSetup: { devices: [] } });
  t.deepEqual(await named(), ['eth2']);
  await r.done();
});

test('stop: leaves the kernel table and the socket file is gone', async (t) => {
  const r = await rig({ before: (s, c) => void banMany(s, c, 5) });
  await r.d.stop();
  t.is((await r.k.stats()).entries, 5);
  t.throws(() => statSync(r.sock));
  await r.done();
});
