// SPDX-License-Identifier: MIT
//
// kernel-json.ts: the NDJSON lines written from DUMP columns are exactly
// JSON.stringify(banInfo(entry)) of the same entries, allowlist entries
// skipped, at most the limit.  The columns are built by kernel.ts
// columnsOf() (the fake's dumpColumns()); the expected text comes from the
// entries themselves, so a column it got wrong shows here.
import test from 'ava';

import { IpPrefix, parsePrefix } from '../../src/lib/addr.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';
import { banInfo, KernelLineWriter } from '../../src/lib/kernel-json.js';
import { columnsOf as columns, type EntryKind, type KernelEntry } from '../../src/lib/kernel.js';

/** Seeded: the same entries every run. */
function entries(n: number): KernelEntry[] {
  let seed = 11;
  const rnd = (m: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % m;
  };
  const out: KernelEntry[] = [];
  for (let i = 0; i < n; i++) {
    const v6 = rnd(3) === 0;
    const bytes = new Uint8Array(16);
    if (v6) for (let b = 0; b < 16; b++) bytes[b] = rnd(256);
    else {
      bytes[10] = 0xff;
      bytes[11] = 0xff;
      for (let b = 12; b < 16; b++) bytes[b] = rnd(256);
    }
    const kinds: EntryKind[] = ['exact', 'prefix', 'allow'];
    const kind = kinds[rnd(3)] ?? 'exact';
    const length = kind === 'exact' ? 128 : v6 ? 16 + rnd(112) : 96 + rnd(32);
    const prefix = IpPrefix.masked(bytes, length);
    const ports = Array.from({ length: rnd(3) === 0 ? rnd(9) : 0 }, () => 1 + rnd(65535)).sort((a, b) => a - b);
    // Times around a midnight (the formatter caches the day), and never (0).
    const expires = rnd(4) === 0 ? 0 : 1_000_000 + rnd(200_000);
    const lastHit = rnd(2) === 0 ? 0 : 1_000_000 + rnd(200_000);
    out.push({ prefix, kind, ports, pinned: rnd(2) === 0, monitor: rnd(4) === 0, ttl: 0, expires, lastHit, hits: rnd(2) === 0 ? 0 : rnd(2 ** 31) * 2 });
  }
  return out;
}

test('lines from columns are JSON.stringify(banInfo()) of the same entries; the allowlist is skipped', (t) => {
  const es = entries(5000);
  // Kernel second 1,100,000 is midnight UTC: entries a second before and at it (the formatter caches the day).
  const offsetMs = Date.UTC(2026, 10, 30) - 1_100_000 * 1000;
  const edge = (s: string, expires: number, lastHit: number): KernelEntry => ({ prefix: IpPrefix.masked(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 192, 0, 2, 1]), 128), kind: 'exact', ports: [25, 587], pinned: false, monitor: false, ttl: 0, expires, lastHit, hits: Number(s) });
  es.splice(10, 0, edge('1', 1_099_999, 1_100_000), edge('2', 1_100_000, 1_099_999), edge('3', 1_099_999, 0));
  const want = es
    .filter((e) => e.kind !== 'allow')
    .map((e) => `${JSON.stringify(banInfo(e, offsetMs))}\n`)
    .join('');
  const w = new KernelLineWriter(offsetMs);
  const half = Math.floor(es.length / 2);
  // Two batches through one writer, as a dump gives them.
  const a = w.lines(columns(es.slice(0, half)), Infinity);
  const b = w.lines(columns(es.slice(half)), Infinity);
  t.is(a.text + b.text, want);
  t.is(a.count + b.count, es.filter((e) => e.kind !== 'allow').length);
  for (const part of ['"ports":[25,587]', '"lastHitAt":null', '"pinned":true', '"monitor":true', '"expiresAt":null', '"2026-11-29T23:59:59.000Z"', '"2026-11-30T00:00:00.000Z"', '/']) t.true(want.includes(part), part);
});

test('lines stops at the limit', (t) => {
  const es = entries(100).filter((e) => e.kind !== 'allow');
  const r = new KernelLineWriter(0).lines(columns(es), 7);
  t.is(r.count, 7);
  t.is(r.text.split('\n').length - 1, 7);
  t.is(r.text, es.slice(0, 7).map((e) => `${JSON.stringify(banInfo(e, 0))}\n`).join(''));
});

test("the fake's dumpColumns() holds the ban entries of its dump(), without the allowlist", async (t) => {
  const k = new FakeKernel();
  const p = (s: string): IpPrefix => parsePrefix(s);
  await k.add([
    { prefix: p('192.0.2.1'), ports: [25, 465], ttl: 600, pinned: true, monitor: false },
    { prefix: p('2001:db8::/48'), ports: [], ttl: 0, pinned: false, monitor: true },
    { prefix: p('198.51.100.7'), ports: [], ttl: 0, pinned: false, monitor: false },
  ]);
  await k.allowAdd([p('203.0.113.0/24')]);
  const fromDump: string[] = [];
  for await (const batch of k.dump()) for (const e of batch) if (e.kind !== 'allow') fromDump.push(JSON.stringify(banInfo(e, 0)));
  const w = new KernelLineWriter(0);
  let text = '';
  for await (const c of k.dumpColumns()) text += w.lines(c, Infinity).text;
  t.deepEqual(text.split('\n').filter((l) => l !== ''), fromDump);
  t.is(fromDump.length, 3);
  t.true(text.includes('"ports":[25,465],"pinned":true'));
  t.false(text.includes('203.0.113.0'));
  await k.close();
});
