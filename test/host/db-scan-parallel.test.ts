// SPDX-License-Identifier: MIT
//
// A listing walked by several threads (src/lib/db/scan-parallel.ts): the
// buckets cover the key space once; the lines are the single-thread walk's,
// byte for byte and in the same order, for every filter and thread count;
// an early return stops the workers; a worker's failure is thrown.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test, { type ExecutionContext } from 'ava';

import { parsePrefix } from '../../src/lib/addr.js';
import { recordKey } from '../../src/lib/db/keys.js';
import { openEnv, type Env } from '../../src/lib/db/lmdb.js';
import type { StoredRecord } from '../../src/lib/db/schema.js';
import { bucketRange, interpolate, parallelLines, scanWorkerFile, splitKeys } from '../../src/lib/db/scan-parallel.js';
import type { BanStore, ListFilter } from '../../src/lib/db/index.js';
import { openFfwall } from '../../src/lib/index.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';
import { recordInfo } from '../../src/lib/transport-direct.js';
import { ffwall } from './cli-helpers.js';
import { clock, freshStore } from './db-helpers.js';

async function text(it: AsyncIterable<Uint8Array>): Promise<{ text: string; chunks: number }> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(Buffer.from(c));
  return { text: Buffer.concat(parts).toString('utf8'), chunks: parts.length };
}

/** A store of @n records over IPv4 (spread over the space), IPv6 and ::/96 keys, of mixed sources, ports, reasons and states. */
function populated(n: number): { store: BanStore; close: () => Promise<void>; path: string } {
  const c = clock(Date.UTC(2026, 5, 1));
  const s = freshStore({ now: c.now, aggregation: { enabled: false } });
  const { store } = s;
  for (let i = 0; i < n; i++) {
    const x = (i * 2654435761) % 4294967296;
    const prefix =
      i % 11 === 3 ? `2001:db8:${(i % 4096).toString(16)}::${i.toString(16)}` : i % 97 === 5 ? `::${i.toString(16)}` : `${x >>> 24}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.${x & 255}`;
    store.ban({
      prefix,
      reason: i % 5 === 0 ? `spam run ${i % 3}` : 'password guessing',
      source: (['cli', 'feed', 'policy'] as const)[i % 3] ?? 'cli',
      tag: i % 2 === 0 ? '' : 'jail-a',
      ports: i % 4 === 0 ? [25, 587] : [],
      ...(i % 7 === 0 ? { permanent: true } : { ttl: 3600 * (1 + (i % 5)) }),
    });
  }
  c.advance(3600 * 2.5);
  store.sweep(c.now(), 100_000);
  return s;
}

test('interpolate: n - 1 increasing keys strictly inside, after the bytes first and last share', (t) => {
  const first = recordKey(parsePrefix('10.0.0.1'));
  const last = recordKey(parsePrefix('10.255.0.9'));
  const keys = interpolate(first, last, 16);
  t.is(keys.length, 15);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as Buffer;
    t.true(Buffer.compare(k, first) > 0 && Buffer.compare(k, last) < 0, k.toString('hex'));
    t.true(k.subarray(0, 12).equals(first.subarray(0, 12)), 'the shared bytes are kept');
    if (i > 0) t.true(Buffer.compare(keys[i - 1] as Buffer, k) < 0);
  }
  t.deepEqual(interpolate(first, first, 16), [], 'one key: no cut');
  const next = Buffer.from(first);
  next[16] = (next[16] as number) + 1;
  t.deepEqual(interpolate(first, next, 16), [], 'adjacent keys: no cut');
});

test('splitKeys: sorted, distinct bounds whose buckets hold every key once, none of them more than a few percent of a spread table', async (t) => {
  const s = populated(6000);
  t.teardown(() => s.close());
  const keys = [...s.store.list({})].map((r) => recordKey(r.prefix));
  const bounds = splitKeys(envOn(t, s.path).table('bans'));
  t.true(bounds.length > 256, `${bounds.length} bounds`);
  for (let i = 1; i < bounds.length; i++) t.true(Buffer.compare(bounds[i - 1] as Buffer, bounds[i] as Buffer) < 0);
  const per = new Array<number>(bounds.length + 1).fill(0);
  for (const k of keys) {
    let b = 0;
    while (b < bounds.length && Buffer.compare(k, bounds[b] as Buffer) >= 0) b++;
    const r = bucketRange(bounds, b);
    t.true((r.start === undefined || Buffer.compare(k, r.start) >= 0) && (r.end === undefined || Buffer.compare(k, r.end) < 0));
    per[b] = (per[b] as number) + 1;
  }
  t.is(
    per.reduce((a, b) => a + b, 0),
    keys.length,
  );
  t.true(Math.max(...per) < keys.length * 0.03, `largest bucket ${Math.max(...per)} of ${keys.length}`);
  const none = splitKeys({ keys: () => [] });
  t.deepEqual(
    none.map((k) => Buffer.from(k).toString('hex')),
    ['00000000000000000000ffff0000000000', '00000000000000000001000000000000' + '00'],
    'an empty table: the bounds of IPv4 only (three buckets)',
  );
});

test('listChunks with 2 and 3 threads: the single-thread lines, byte for byte, for every filter, NDJSON and targets', async (t) => {
  t.truthy(scanWorkerFile(), 'the worker is built beside scan-parallel.js');
  const s = populated(5000);
  t.teardown(() => s.close());
  const { store } = s;
  const counts = store.counts();
  t.true(counts.expired > 0 && counts.kernel + counts.cold > counts.expired, JSON.stringify(counts));
  const filters: ListFilter[] = [{}, { state: ['kernel', 'cold'] }, { state: 'expired' }, { port: 25 }, { reason: 'spam' }, { reason: /run [12]$/ }, { tag: 'jail-a' }, { reason: 'none has it' }];
  for (const f of filters) {
    for (const targets of [false, true]) {
      const one = await text(store.listChunks(f, { targets, threads: 1 }));
      const want = [...store.list(f)].map((r) => `${targets ? r.prefix.toString() : JSON.stringify(recordInfo(r))}\n`).join('');
      t.is(one.text, want, 'threads 1: the lines of list()');
      if (f.reason !== 'none has it') t.true(one.text.length > 0, JSON.stringify(f));
      for (const threads of [2, 3]) {
        const many = await text(store.listChunks(f, { targets, threads, chunkBytes: 4096 }));
        t.is(many.text, one.text, `${JSON.stringify(f)} targets=${targets} threads=${threads}`);
        // reuse: the lines that go straight out share buffers; text() copies each chunk before asking for the next.
        const reused = await text(store.listChunks(f, { targets, threads, chunkBytes: 4096, reuse: true }));
        t.is(reused.text, one.text, `reuse ${JSON.stringify(f)} targets=${targets} threads=${threads}`);
      }
    }
  }
});

test('listChunks with threads: an empty table lists nothing; a limit or a source filter walks one thread', async (t) => {
  const empty = freshStore();
  t.teardown(() => empty.close());
  t.is((await text(empty.store.listChunks({}, { targets: false, threads: 2 }))).text, '');
  const s = populated(800);
  t.teardown(() => s.close());
  const limited = await text(s.store.listChunks({ limit: 10 }, { targets: true, threads: 4 }));
  t.is(limited.text.split('\n').length - 1, 10);
  const bySource = await text(s.store.listChunks({ source: 'feed' }, { targets: false, threads: 4 }));
  const feed = [...s.store.list({ source: 'feed' })];
  t.true(feed.length > 0);
  t.is(bySource.text, feed.map((r) => `${JSON.stringify(recordInfo(r))}\n`).join(''));
});

test('parallelLines: a return after the first chunk stops the workers, and the store lists again after', async (t) => {
  const s = populated(3000);
  t.teardown(() => s.close());
  const { store } = s;
  const all = (await text(store.listChunks({}, { targets: false, threads: 1 }))).text;
  const workerFile = scanWorkerFile() as string;
  const env = envOn(t, s.path);
  const it = parallelLines({ env, bans: env.table<StoredRecord>('bans'), path: s.path, filter: {}, targets: false, chunkBytes: 1024, threads: 3, workerFile });
  const first = await it.next();
  t.false(first.done);
  t.true(all.startsWith(Buffer.from(first.value as Buffer).toString('utf8')));
  const end = await it.return(undefined);
  t.true(end.done, 'return() resolves once the workers have stopped');
  t.is((await text(store.listChunks({}, { targets: false, threads: 3 }))).text, all);
});

test('parallelLines: the workers alone hand out every bucket; a worker that fails makes the walk throw', async (t) => {
  const s = populated(2000);
  t.teardown(() => s.close());
  const { store } = s;
  const all = (await text(store.listChunks({}, { targets: true, threads: 1 }))).text;
  const workerFile = scanWorkerFile() as string;
  const env = envOn(t, s.path);
  const base = { env, bans: env.table<StoredRecord>('bans'), filter: {}, targets: true, chunkBytes: 2048, workerFile, walkHere: false };
  t.is((await text(parallelLines({ ...base, path: s.path, threads: 3 }))).text, all, 'two workers, this thread only hands out');
  const err = await t.throwsAsync(text(parallelLines({ ...base, path: `${s.path}/no-such-database`, threads: 2 })));
  t.regex(err?.message ?? '', /a listing thread failed/);
});

/** A second handle on a store's environment (lmdb-js shares the one open in the process), closed after the test. */
function envOn(t: ExecutionContext, path: string): Env {
  const env = openEnv({ path, readOnly: true });
  t.teardown(() => env.close());
  return env;
}

test('the CLI: export and list --json with --threads 2 print what --threads 1 does; --threads 0 is refused', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-threads-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = path.join(dir, 'db');
  const fw = await openFfwall({ kernel: new FakeKernel({ maxEntries: 10_000 }), database: db, databaseOptions: { noSync: true } });
  await fw.blockMany(Array.from({ length: 2000 }, (_, i) => ({ target: i % 7 === 0 ? `2001:db8:${i.toString(16)}::1` : `198.${i % 250}.${i >> 8}.${i & 255}`, reason: `r${i % 3}` })), { ttl: '1h' });
  await fw.close();
  const base = ['--transport', 'direct', '--db', db];
  const body = (out: string): string => out.slice(out.indexOf('\n') + 1); // the export's dated comment line off
  const exp1 = await ffwall(['export', ...base, '--threads', '1']);
  const exp2 = await ffwall(['export', ...base, '--threads', '2']);
  t.is(exp1.code, 0, exp1.stderr);
  t.is(exp2.code, 0, exp2.stderr);
  t.is(body(exp1.stdout).split('\n').length - 1, 2000);
  t.is(body(exp2.stdout), body(exp1.stdout));
  const list1 = await ffwall(['list', '--json', ...base, '--threads', '1']);
  const list2 = await ffwall(['list', '--json', ...base, '--threads', '2']);
  t.is(list2.code, 0, list2.stderr);
  t.is(list2.stdout, list1.stdout);
  t.is(list1.stdout.split('\n').length - 1, 2000);
  const bad = await ffwall(['export', ...base, '--threads', '0']);
  t.not(bad.code, 0);
  t.regex(bad.stderr, /threads/);
  t.is(bad.stdout, '');
});

test('Ffwall.listNdjson/listTargets: a bad threads option is a RangeError before anything is read', async (t) => {
  const fw = await openFfwall({ kernel: new FakeKernel(), database: false });
  t.teardown(() => fw.close());
  for (const threads of [0, -1, 1.5, 65, Number.NaN]) {
    t.throws(() => fw.listNdjson({}, { threads }), { instanceOf: RangeError, message: /threads must be an integer 1\.\.64/ });
    t.throws(() => fw.listTargets({}, { threads }), { instanceOf: RangeError });
  }
  t.throws(() => fw.listNdjson({}, { reuse: 'yes' as unknown as boolean }), { instanceOf: TypeError });
});
