// SPDX-License-Identifier: MIT
//
// The fast NDJSON path of `ffwall list --json` (src/lib/record-json.ts):
// every line is exactly JSON.stringify(recordInfo(record)), for every kind
// of record and awkward text; the ISO times match Date's; and the rows are
// the same bytes directly, through the control socket (raw payloads after
// {"rows":N} lines), and from the command.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { FLOAT32_OPTIONS, Packr } from 'msgpackr';

import { decodeRecord, scratchRecord } from '../../src/lib/db/raw-record.js';
import type { StoredRecord } from '../../src/lib/db/schema.js';
import { ClientTransport, ControlServer, openFfwall } from '../../src/lib/index.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';
import { isoTime, recordJson } from '../../src/lib/record-json.js';
import { recordInfo } from '../../src/lib/transport-direct.js';
import { ffwall } from './cli-helpers.js';
import { clock, freshStore } from './db-helpers.js';

function* mapRaw<T>(it: Iterable<{ key: Uint8Array; value: Readonly<StoredRecord> }>, fn: (key: Uint8Array, value: Readonly<StoredRecord>) => T): Generator<T> {
  for (const { key, value } of it) yield fn(key, value);
}

test('isoTime is Date.toISOString, edges of days, years and the calendar included', (t) => {
  const cases = [
    0, -1, 1, 999, 1000, 86_399_999, 86_400_000, -86_400_000, 951_782_400_000, 951_868_799_999, 951_868_800_000, 4_107_542_400_000, -2_208_988_800_000,
    Date.parse('0000-01-01T00:00:00.000Z'), Date.parse('9999-12-31T23:59:59.999Z'), Date.parse('2024-02-29T12:34:56.789Z'), Date.parse('2100-03-01T00:00:00.000Z'),
    Date.parse('-000001-12-31T23:59:59.999Z'), Date.parse('+010000-01-01T00:00:00.000Z'), 1.5,
  ];
  // A deterministic spread over 0000..9999 and around now.
  let x = 12345;
  for (let i = 0; i < 20000; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    cases.push(Math.floor((x / 2147483648) * 315_537_897_599_999) - 62_167_219_200_000);
    cases.push(1_700_000_000_000 + x * 7);
  }
  const bad = cases.filter((ms) => isoTime(ms) !== new Date(ms).toISOString());
  t.deepEqual(bad, []);
});

test('recordJson is JSON.stringify(recordInfo()) for every kind of record', (t) => {
  const c = clock(Date.UTC(2026, 1, 28, 23, 59, 59));
  const s = freshStore({ now: c.now, aggregation: { enabled: false } });
  t.teardown(() => s.close());
  const { store } = s;
  const reasons = ['', 'plain', 'with "quotes" and \\ backslash', 'line\nbreak\ttab\u0001ctl', 'ünïcödé 中文 😀', 'lone \ud800 surrogate', '\u2028\u2029', 'x'.repeat(256)];
  const targets = ['192.0.2.1', '198.51.100.0/24', '10.0.0.0/8', '0.0.0.0/0', '2001:db8::1', '2001:db8:1::/48', '::ffff:0:0/96', '::', '::1', 'fe80::1:2:3:4', '2001:db8:0:0:1::/80'];
  let i = 0;
  for (const target of targets) {
    for (const reason of reasons) {
      const tgt = i % reasons.length === 0 ? target : target.includes(':') ? `2001:db8:${(i + 1).toString(16)}::${i.toString(16)}` : `203.0.${i & 255}.${(i * 7) & 255}`;
      store.ban({
        prefix: tgt,
        reason,
        source: (['cli', 'api', 'policy', 'logwatch', 'feed'] as const)[i % 5] ?? 'cli',
        tag: i % 3 === 0 ? '' : reasons[(i + 3) % reasons.length]?.slice(0, 64) ?? '',
        ports: i % 4 === 0 ? [25, 465, 587] : i % 4 === 1 ? [25] : [],
        ...(i % 6 === 0 ? { permanent: true } : { ttl: 60 + i }),
        pinned: i % 2 === 0,
        monitor: i % 5 === 0,
      });
      c.advance(3601 + i * 977);
      i++;
    }
  }
  // Hits, expiries and remembered records.
  store.applyHits([...store.list({ limit: 20 })].map((r, k) => ({ prefix: r.prefix, delta: k + 1, lastHit: c.now() - k * 1000 })));
  c.advance(86400 * 3);
  store.sweep(c.now(), 1000);
  let n = 0;
  const states = new Set<string>();
  // listRaw() reuses its value object: each is serialized before the next.
  const lines = [...mapRaw(store.listRaw(), (key, value) => recordJson(key, value))];
  const full = [...store.list()];
  t.is(lines.length, full.length);
  lines.forEach((line, k) => {
    const info = recordInfo(full[k] as (typeof full)[number]);
    states.add(info.state);
    t.is(line, JSON.stringify(info), info.target);
    n++;
  });
  // The fast decoder reads every record as lmdb-js's own decoder does (list() goes through get() for a source filter).
  const viaGet = [...store.list({ source: 'cli' })].map((r) => JSON.stringify(recordInfo(r)));
  const viaScan = full.filter((r) => r.source === 'cli').map((r) => JSON.stringify(recordInfo(r)));
  t.deepEqual(viaScan.sort(), viaGet.sort());
  t.true(viaGet.length > 0);
  t.true(n >= targets.length * reasons.length - 8, `${n} records`);
  t.true(states.has('expired') && states.size >= 2, [...states].join(','));
});

test('list --json: the same bytes directly, through the socket (raw row payloads), and from the command', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-ndjson-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const kernel = new FakeKernel({ maxEntries: 100_000 });
  const fw = await openFfwall({ kernel, database: path.join(dir, 'db'), databaseOptions: { noSync: true } });
  // Enough rows for several 256 KiB chunks, so payloads split across socket reads.
  const reqs = Array.from({ length: 6000 }, (_, i) => ({ target: i % 10 === 9 ? `2001:db8:${i.toString(16)}::/64` : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, reason: i % 7 === 0 ? `päss "${i}" \\ 😀` : 'spam', ports: i % 3 === 0 ? [25] : [] }));
  await fw.blockMany(reqs, { source: 'feed', sourceTag: 'test' });
  const sock = path.join(dir, 'ffwall.sock');
  const server = new ControlServer(fw, { path: sock });
  await server.start();
  t.teardown(async () => {
    await server.stop();
    await fw.close();
  });

  const collect = async (it: AsyncIterable<Uint8Array>): Promise<string> => {
    const parts: Buffer[] = [];
    for await (const c of it) parts.push(Buffer.from(c));
    return Buffer.concat(parts).toString('utf8');
  };
  const objects = async (it: AsyncIterable<unknown>): Promise<string> => {
    let s = '';
    for await (const r of it) s += `${JSON.stringify(r)}\n`;
    return s;
  };
  const direct = await collect(fw.listNdjson({}));
  t.is(direct.split('\n').length - 1, 6000);
  t.is(direct, await objects(fw.list({})), 'the fast path is the slow one');
  const client = await ClientTransport.connect(sock);
  t.teardown(() => client.close());
  t.is(await collect(client.listNdjson({})), direct, 'through the socket');
  // The connection goes on after a stream: a filtered one, then records as objects.
  const filtered = await collect(client.listNdjson({ port: 25, limit: 100 }));
  t.is(filtered, await collect(fw.listNdjson({ port: 25, limit: 100 })));
  t.is(filtered.split('\n').length - 1, 100);
  t.is(await objects(client.list({ state: ['cold'] })), await objects(fw.list({ state: ['cold'] })));

  const cli = await ffwall(['list', '--json', '--transport', 'client', '--socket', sock]);
  t.is(cli.code, 0, cli.stderr);
  t.is(cli.stdout, direct, 'ffwall list --json');
  const exp = await ffwall(['export', '--json', '--transport', 'client', '--socket', sock]);
  t.is(exp.code, 0, exp.stderr);
  t.is(exp.stdout, await collect(fw.listNdjson({ state: ['kernel', 'cold'] })), 'ffwall export --json');
});

test('decodeRecord reads every msgpack form a record takes, as msgpackr does, and gives up on others', (t) => {
  const packr = new Packr({ useRecords: false });
  const base: StoredRecord = {
    ports: [25, 465, 587],
    reason: 'spam',
    source: 'policy',
    tag: 'jail',
    firstSeen: 1_795_960_414_472,
    lastSeen: 1_795_960_414_472,
    lastHit: 0,
    hitCount: 3,
    banCount: 1,
    episodes: 1,
    expires: null,
    permanent: false,
    pinned: true,
    monitor: false,
    state: 'kernel',
    kernelHits: 2 ** 40,
  };
  const variants: StoredRecord[] = [
    base,
    { ...base, ports: [], expires: 1_798_552_414_472, permanent: true, reason: 'ünïcödé "q" 😀', tag: '' },
    { ...base, reason: 'x'.repeat(300), hitCount: 70_000, banCount: 300, episodes: 2 ** 31, kernelHits: -5, lastHit: -1 },
    { ...base, reason: 'y'.repeat(70_000), lastSeen: 2 ** 53 - 1, firstSeen: 0.5 },
    { ...base, ports: [1, 2, 3, 4, 5, 6, 7, 65535], state: 'expired', source: 'feed', monitor: true },
  ];
  const into = scratchRecord();
  for (const v of variants) {
    const bytes = packr.pack(v);
    t.true(decodeRecord(bytes, into), v.reason.slice(0, 20));
    t.deepEqual({ ...into, ports: [...into.ports] }, packr.unpack(bytes) as StoredRecord);
  }
  // Keys in another order decode the same.
  const reordered = Object.fromEntries(Object.entries(base).reverse());
  t.true(decodeRecord(packr.pack(reordered), into));
  t.deepEqual({ ...into, ports: [...into.ports] }, base);
  // Given up: an unknown key, a missing field, a float32, a map of the wrong kind, trailing bytes.
  t.false(decodeRecord(packr.pack({ ...base, extra: 1 }), into));
  const { tag: _tag, ...noTag } = base;
  t.false(decodeRecord(packr.pack(noTag), into));
  t.false(decodeRecord(new Packr({ useRecords: false, useFloat32: FLOAT32_OPTIONS.ALWAYS }).pack({ ...base, hitCount: 1.5 }), into));
  t.false(decodeRecord(packr.pack([1, 2, 3]), into));
  t.false(decodeRecord(Buffer.concat([packr.pack(base), Buffer.from([0])]), into));
});
