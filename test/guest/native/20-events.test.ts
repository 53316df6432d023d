// SPDX-License-Identifier: MIT
//
// The event stream of NativeKernel: every eviction under a tiny cap arrives
// as an 'evicted' event, a TTL expiry as 'expired', and a consumer that does
// not keep up pauses the reader, so the kernel ring overflows and the gap
// arrives as one 'overflow' event.
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

import test from 'ava';

import { IpPrefix, parseAddress } from '../../../src/lib/addr.js';
import type { KernelEvent, KernelEventStream, KernelRule } from '../../../src/lib/kernel.js';
import { NativeKernel } from '../../../src/lib/kernel-native.js';

const ko = process.env.FFWALL_KO ?? '';

test.before(() => {
  execFileSync('insmod', [ko]);
});

test.after.always(() => {
  spawnSync('rmmod', ['ffwall']);
});

function hosts(n: number, third: number): IpPrefix[] {
  const out: IpPrefix[] = [];
  for (let i = 0; i < n; i++) out.push(parseAddress(`172.16.${third + (i >> 8)}.${i & 255}`));
  return out;
}

/** Collects events until @until says so, or fails after @ms. */
async function collect(s: KernelEventStream, until: (evs: KernelEvent[]) => boolean, ms: number): Promise<KernelEvent[]> {
  const evs: KernelEvent[] = [];
  const it = s[Symbol.asyncIterator]();
  const deadline = Date.now() + ms;
  while (!until(evs)) {
    const left = deadline - Date.now();
    if (left <= 0) break;
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([it.next(), new Promise<'timeout'>((res) => (timer = setTimeout(() => res('timeout'), left)))]);
    clearTimeout(timer);
    if (r === 'timeout' || r.done === true) break;
    evs.push(r.value);
  }
  return evs;
}

test.serial('every eviction under a cap of 16 arrives as an evicted event', async (t) => {
  const k = NativeKernel.open('/dev/ffwall');
  const s = k.events();
  try {
    await k.setConfig({ maxEntries: 16 });
    const added = hosts(200, 0);
    const keys = new Set(added.map((p) => p.key()));
    const before = await k.stats();
    await k.add(added.map((prefix): KernelRule => ({ prefix })));
    const after = await k.stats();
    const delta = after.evicted - before.evicted;
    t.is(delta, 184);
    t.is(after.entries, 16);
    const evs = await collect(s, (e) => e.length >= delta, 60000);
    const evicted = evs.filter((e) => e.type === 'evicted');
    t.is(evicted.length, delta);
    t.is(evs.length, delta, 'no other event');
    t.true(evicted.every((e) => e.prefix !== undefined && keys.has(e.prefix.key())));
    t.is(new Set(evicted.map((e) => e.prefix?.key())).size, delta, 'each eviction once');
    t.true(evicted.every((e) => e.time > 0 && !e.pinned && !e.monitor));
  } finally {
    s.close();
    await k.flush();
    await k.close();
  }
});

test.serial('an entry with ttl 1 arrives as an expired event (gcInterval 1)', async (t) => {
  const k = NativeKernel.open('/dev/ffwall');
  const s = k.events();
  try {
    await k.setConfig({ maxEntries: 1024, gcInterval: 1 });
    const host = parseAddress('192.0.2.77');
    const before = await k.stats();
    await k.add([{ prefix: host, ttl: 1, monitor: true }]);
    const evs = await collect(s, (e) => e.some((x) => x.type === 'expired'), 60000);
    const expired = evs.filter((e) => e.type === 'expired');
    t.is(expired.length, 1);
    t.is(expired[0]?.prefix?.toString(), '192.0.2.77');
    t.true(expired[0]?.monitor);
    t.is((await k.stats()).expired - before.expired, 1);
  } finally {
    s.close();
    await k.setConfig({ gcInterval: 10 });
    await k.close();
  }
});

test.serial('a consumer that falls behind pauses the reader; the gap arrives as one overflow event', async (t) => {
  // A 16-record kernel ring (taken at open) and a queue of 8.
  writeFileSync('/sys/module/ffwall/parameters/event_ring_size', '16');
  const k = NativeKernel.open('/dev/ffwall', { eventQueueCap: 8 });
  const s = k.events();
  try {
    await k.flush();
    await k.setConfig({ maxEntries: 16 });
    const before = await k.stats();
    await k.add(hosts(200, 10).map((prefix): KernelRule => ({ prefix })));
    const delta = (await k.stats()).evicted - before.evicted;
    t.is(delta, 184);
    // Let the reader fill its queue and stop; the ring fills behind it.
    await new Promise((r) => setTimeout(r, 500));
    const evs = await collect(s, (e) => e.filter((x) => x.type === 'evicted').length + e.filter((x) => x.type === 'overflow').reduce((a, x) => a + x.value, 0) >= delta, 60000);
    const evicted = evs.filter((e) => e.type === 'evicted').length;
    const overflow = evs.filter((e) => e.type === 'overflow');
    t.is(overflow.length, 1, 'one overflow event at the gap');
    t.true((overflow[0]?.value ?? 0) > 0);
    t.is(overflow[0]?.prefix, undefined);
    t.true(evicted <= 8 + 16, `${evicted} evictions delivered: at most the queue plus the ring`);
    t.is(evicted + (overflow[0]?.value ?? 0), delta, 'delivered + lost = evicted');
    const st = await k.stats();
    // The command descriptor is opened write-only and has no ring: the only ring that lost records is this reader's.
    t.is(st.eventsLost - before.eventsLost, overflow[0]?.value ?? 0, 'STATS events_lost: exactly what this reader lost');
  } finally {
    s.close();
    await k.flush();
    await k.close();
    writeFileSync('/sys/module/ffwall/parameters/event_ring_size', '1024');
  }
});

test.serial('close() ends a pending iteration', async (t) => {
  const k = NativeKernel.open('/dev/ffwall');
  const s = k.events();
  const it = s[Symbol.asyncIterator]();
  const pending = it.next();
  setTimeout(() => s.close(), 50);
  t.deepEqual(await pending, { value: undefined, done: true });
  t.true(s.closed);
  // close() of the kernel closes its streams.
  const s2 = k.events();
  await k.close();
  t.true(s2.closed);
});
