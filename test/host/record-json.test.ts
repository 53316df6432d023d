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

import { parsePrefix } from '../../src/lib/addr.js';
import { KEY_BYTES, recordKey } from '../../src/lib/db/keys.js';
import { LineWriter, lineRoom, rawFilter } from '../../src/lib/db/raw-json.js';
import { decodeRecord, scratchRecord } from '../../src/lib/db/raw-record.js';
import type { ListFilter } from '../../src/lib/db/types.js';
import type { StoredRecord } from '../../src/lib/db/schema.js';
import { ClientTransport, ControlServer, openFfwall } from '../../src/lib/index.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';
import { isoTime, keyTarget, recordJson } from '../../src/lib/record-json.js';
import { recordInfo } from '../../src/lib/transport-direct.js';
import { ffwall } from './cli-helpers.js';
import { clock, freshStore } from './db-helpers.js';

/** Every chunk of @it, each as it came (not copied). */
async function gather(it: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return out;
}

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

test('raw-json: the line written from the stored bytes is recordJson() of the decoded record, for every msgpack form, and remembered lines stay right', (t) => {
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
    base,
    { ...base, ports: [], expires: 1_798_552_414_472, permanent: true, reason: 'ünïcödé "q" 😀', tag: '' },
    { ...base, ports: [], expires: 1_798_552_414_472, permanent: true, reason: 'ünïcödé "q" 😀', tag: '' },
    { ...base, reason: 'x'.repeat(300), hitCount: 70_000, banCount: 300, episodes: 2 ** 31, kernelHits: -5, lastHit: -1 },
    { ...base, reason: 'y'.repeat(70_000), lastSeen: 8_640_000_000_000_000, firstSeen: 0.5, hitCount: 2 ** 40 },
    { ...base, ports: [1, 2, 3, 4, 5, 6, 7, 65535], state: 'expired', source: 'feed', monitor: true, lastHit: 1_795_960_414_999 },
    { ...base, reason: 'tab\there\u0001 \\ "', tag: 'ctl\n', lastHit: 86_400_000 * 365 * 7000 },
    base,
  ];
  const keys = [recordKey(parsePrefix('192.0.2.1')), recordKey(parsePrefix('10.0.0.0/8')), recordKey(parsePrefix('2001:db8::/48')), recordKey(parsePrefix('::ffff:0:0/96')), recordKey(parsePrefix('0.0.0.0/0'))];
  for (const targets of [false, true]) {
    const w = new LineWriter(rawFilter({}), targets);
    const out = Buffer.alloc(1 << 20);
    variants.forEach((v, i) => {
      const key = keys[i % keys.length] as Uint8Array;
      // Values in a larger buffer than they fill, as LMDB's read buffer is.
      const bytes = Buffer.concat([packr.pack(v), Buffer.alloc(7, 0xcc)]);
      const len = bytes.length - 7;
      const end = w.write(key, key.length, bytes, len, out, 3);
      t.true(end > 3 && end - 3 <= lineRoom(len));
      const want = targets ? `${keyTarget(key)}\n` : `${recordJson(key, packr.unpack(bytes.subarray(0, len)) as StoredRecord)}\n`;
      t.is(out.toString('utf8', 3, end), want, `${targets} ${i}`);
    });
  }
  // Filters: the verdict of a repeated value is remembered with it.
  const w = new LineWriter(rawFilter({ state: ['expired'] }), false);
  const out = Buffer.alloc(1 << 20);
  for (const v of [base, base, variants[6] as StoredRecord, variants[6] as StoredRecord, base]) {
    const bytes = packr.pack(v);
    t.is(w.write(keys[0] as Uint8Array, KEY_BYTES, bytes, bytes.length, out, 0) > 0, v.state === 'expired');
  }
  // Values of one length that differ in one byte (in a whole word, or in the tail after the
  // last whole word), read at every alignment: never taken for the value before.
  for (const shift of [0, 1, 2, 3]) {
    const w2 = new LineWriter(rawFilter({}), false);
    const a = packr.pack({ ...base, reason: 'abcdefgh-1' });
    const b = packr.pack({ ...base, reason: 'abcdefgh-2' });
    const c = packr.pack({ ...base, reason: 'abcdefgh-1', hitCount: 4 });
    t.is(a.length, b.length);
    t.is(a.length, c.length);
    // The reason last (any key order is a record), so that its last byte is past the last whole word.
    const { reason: _r, ...rest } = base;
    const pad = [0, 1, 2, 3].find((p) => packr.pack({ ...rest, reason: `${'x'.repeat(p)}1` }).length % 4 !== 0) ?? 0;
    const d = packr.pack({ ...rest, reason: `${'x'.repeat(pad)}1` });
    const e = packr.pack({ ...rest, reason: `${'x'.repeat(pad)}2` });
    t.not(d.length % 4, 0);
    t.is(d.length, e.length);
    for (const v of [a, a, b, b, a, c, c, a, d, d, e, e, d]) {
      const mem = new Uint8Array(new ArrayBuffer(v.length + 8), shift, v.length + 4);
      mem.set(v, 0);
      const end = w2.write(keys[0] as Uint8Array, KEY_BYTES, mem, v.length, out, 0);
      t.is(out.toString('utf8', 0, end), `${recordJson(keys[0] as Uint8Array, packr.unpack(v) as StoredRecord)}\n`, `shift ${shift}`);
    }
  }
  // Forms it does not know: -2, nothing written.
  for (const bad of [packr.pack({ ...base, extra: 1 }), packr.pack([1, 2]), new Packr({ useRecords: false, useFloat32: FLOAT32_OPTIONS.ALWAYS }).pack({ ...base, hitCount: 1.5 })]) {
    t.is(new LineWriter(rawFilter({}), false).write(keys[0] as Uint8Array, KEY_BYTES, bad, bad.length, out, 0), -2);
  }
});

test('store.listChunks on one thread, NDJSON and targets: the lines of list() for every filter, chunked, with runs of identical values', async (t) => {
  const c = clock(Date.UTC(2026, 1, 28, 23, 59, 59));
  const s = freshStore({ now: c.now, aggregation: { enabled: false } });
  t.teardown(() => s.close());
  const { store } = s;
  const reasons = ['', 'plain', 'with "quotes" and \\ backslash', 'line\nbreak', 'ünïcödé 中文 😀', 'x'.repeat(300)];
  let i = 0;
  for (let run = 0; run < 12; run++) {
    // A run of bans that differ only in their key (one import), then the clock moves.
    const reason = reasons[run % reasons.length] ?? '';
    const n = 1 + (run % 5) * 7;
    for (let j = 0; j < n; j++, i++) {
      const v6 = run % 4 === 3;
      store.ban({
        prefix: v6 ? `2001:db8:${run}::${j.toString(16)}${j % 3 === 0 ? '/128' : ''}` : `198.${run}.${j}.${(j * 13) & 255}${j % 9 === 8 ? '/30' : ''}`.replace(/\.(\d+)\/30$/, (_, x: string) => `.${Number(x) & 252}/30`),
        reason,
        source: (['cli', 'feed', 'policy'] as const)[run % 3] ?? 'cli',
        tag: run % 2 === 0 ? '' : `tag-${run % 4}`,
        ports: run % 3 === 0 ? [25, 587] : [],
        ...(run % 5 === 0 ? { permanent: true } : { ttl: 60 + run * 3600 }),
      });
    }
    c.advance(1800);
  }
  store.applyHits([...store.list({ limit: 15 })].map((r, k) => ({ prefix: r.prefix, delta: k + 1, lastHit: c.now() - k * 1000 })));
  const filters: ListFilter[] = [
    {},
    { limit: 7 },
    { state: 'expired' },
    { state: ['kernel', 'cold'] },
    { state: ['kernel', 'cold'], limit: 40 },
    { source: 'feed' },
    { source: 'policy', tag: 'tag-1' },
    { tag: 'tag-3' },
    { port: 25 },
    { port: 465, state: ['expired'] },
    { reason: 'quotes' },
    { reason: /^ünï/ },
    { reason: 'nothing like it' },
  ];
  // First few expired (active states walk the table in key order), then most (through the hot index).
  for (const phase of [1, 2]) {
  c.advance(phase === 1 ? 3600 * 3 : 86400 * 2);
  store.sweep(c.now(), 1000);
  const counts = store.counts();
  t.true(counts.expired > 0 && (phase === 1 ? counts.kernel + counts.cold > counts.expired : counts.kernel + counts.cold < counts.expired), JSON.stringify(counts));
  for (const f of filters) {
    const want = [...store.list(f)].map((r) => `${JSON.stringify(recordInfo(r))}\n`).join('');
    for (const chunk of [600, 1 << 20]) {
      const parts = await gather(store.listChunks(f, { targets: false, chunkBytes: chunk, threads: 1 }));
      t.is(Buffer.concat(parts).toString('utf8'), want, `${JSON.stringify(f)} ${chunk}`);
      t.true(parts.every((p) => p.length > 0 && p[p.length - 1] === 10));
      // reuse: the chunks share two buffers; each is copied before the next is asked for, as a writer that drains does.
      const copied: Buffer[] = [];
      const buffers = new Set<ArrayBufferLike>();
      for await (const p of store.listChunks(f, { targets: false, chunkBytes: chunk, threads: 1, reuse: true })) {
        copied.push(Buffer.from(p));
        buffers.add(p.buffer);
      }
      t.is(Buffer.concat(copied).toString('utf8'), want, `reuse ${JSON.stringify(f)} ${chunk}`);
      if (copied.length > 4) t.true(buffers.size < copied.length, `${buffers.size} buffers for ${copied.length} chunks`);
      if (chunk === 600 && want.length > 5000) t.true(parts.length > 3);
      const targets = [...store.list(f)].map((r) => `${r.prefix.toString()}\n`).join('');
      t.is(Buffer.concat(await gather(store.listChunks(f, { targets: true, chunkBytes: chunk, threads: 1 }))).toString('utf8'), targets, `targets ${JSON.stringify(f)}`);
    }
  }
  }
});

test('export: the plain format from the stored keys, directly and through the socket (targets taken from NDJSON)', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-export-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fw = await openFfwall({ kernel: new FakeKernel({ maxEntries: 100_000 }), database: path.join(dir, 'db'), databaseOptions: { noSync: true } });
  const reqs = Array.from({ length: 3000 }, (_, i) => ({ target: i % 10 === 9 ? `2001:db8:${i.toString(16)}::/64` : `10.1.${(i >> 8) & 255}.${i & 255}`, reason: 'spam' }));
  await fw.blockMany(reqs, { source: 'feed', sourceTag: 'test' });
  await fw.block('192.0.2.7', { source: 'cli', reason: 'by hand' });
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
  let want = '';
  for await (const r of fw.list({ state: ['kernel', 'cold'] })) want += `${r.target}\n`;
  t.is(want.split('\n').length - 1, 3001);
  t.is(await collect(fw.listTargets({ state: ['kernel', 'cold'] })), want, 'directly');
  const client = await ClientTransport.connect(sock);
  t.teardown(() => client.close());
  const viaSocket = await openFfwall({ transport: 'client', socket: sock });
  t.teardown(() => viaSocket.close());
  t.is(await collect(viaSocket.listTargets({ state: ['kernel', 'cold'] })), want, 'through the socket');
  t.is(await collect(viaSocket.listTargets({ source: 'cli' })), '192.0.2.7\n');
  const cli = await ffwall(['export', '--transport', 'client', '--socket', sock]);
  t.is(cli.code, 0, cli.stderr);
  t.regex(cli.stdout, /^# ffwall export, \d{4}-\d\d-\d\dT[\d:.]+Z\n/);
  t.is(cli.stdout.slice(cli.stdout.indexOf('\n') + 1), want);
  const file = path.join(dir, 'out.txt');
  const toFile = await ffwall(['export', '--transport', 'client', '--socket', sock, '--output', file, '--tag', 'test']);
  t.is(toFile.code, 0, toFile.stderr);
  t.regex(toFile.stdout, /exported 3000 bans/);
});
