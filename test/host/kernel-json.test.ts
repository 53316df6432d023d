// SPDX-License-Identifier: MIT
//
// kernel-json.ts: the NDJSON lines written from DUMP columns are exactly
// JSON.stringify(banInfo(entry)) of the same entries, allowlist entries
// skipped, at most the limit.
import test from 'ava';

import { IpPrefix } from '../../src/lib/addr.js';
import { banInfo, KernelLineWriter } from '../../src/lib/kernel-json.js';
import type { EntryKind, KernelColumns, KernelEntry } from '../../src/lib/kernel.js';

const PINNED = 1;
const MONITOR = 2;

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

function columns(es: readonly KernelEntry[]): KernelColumns {
  const n = es.length;
  const c: KernelColumns = {
    count: n,
    addrs: new Uint8Array(n * 16),
    prefixLen: new Uint8Array(n),
    kind: new Uint8Array(n),
    nports: new Uint8Array(n),
    ports: new Uint16Array(n * 8),
    flags: new Uint16Array(n),
    expires: new Float64Array(n),
    lastHit: new Float64Array(n),
    hits: new Uint32Array(n),
    flagPinned: PINNED,
    flagMonitor: MONITOR,
  };
  es.forEach((e, i) => {
    e.prefix.writeTo(c.addrs, i * 16);
    c.prefixLen[i] = e.prefix.length;
    c.kind[i] = e.kind === 'exact' ? 1 : e.kind === 'prefix' ? 2 : 3;
    c.nports[i] = e.ports.length;
    e.ports.forEach((p, j) => (c.ports[i * 8 + j] = p));
    c.flags[i] = (e.pinned ? PINNED : 0) | (e.monitor ? MONITOR : 0);
    c.expires[i] = e.expires;
    c.lastHit[i] = e.lastHit;
    c.hits[i] = e.hits;
  });
  return c;
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
