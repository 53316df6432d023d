// SPDX-License-Identifier: MIT
//
// The encoded values a bulk write reuses (src/lib/db/encode.ts): the bytes
// must be those the table's own encoder writes, and a memo must never hand
// out the bytes of another value.
import test from 'ava';

import { HistoryWriter, sameShallow, ValueMemo, type HistoryValue } from '../../src/lib/db/encode.js';
import { openEnv } from '../../src/lib/db/lmdb.js';
import { clock, freshStore, tempDir } from './db-helpers.js';

function env(): { e: ReturnType<typeof openEnv>; done: () => Promise<void> } {
  const dir = tempDir();
  const e = openEnv({ path: dir.path, noSync: true });
  return {
    e,
    done: async () => {
      await e.close();
      dir.remove();
    },
  };
}

const key = (n: number): Buffer => {
  const k = Buffer.alloc(17);
  k.writeUInt32BE(n, 12);
  k[16] = 128;
  return k;
};

test('sameShallow: equal scalars and arrays of scalars; a missing, extra or nested field is a difference', (t) => {
  t.true(sameShallow({ a: 1, b: 'x', c: [25, 465], d: null, e: false }, { a: 1, b: 'x', c: [25, 465], d: null, e: false }));
  t.true(sameShallow({ a: 1, b: 2 }, { b: 2, a: 1 }), 'the order of the keys does not matter');
  t.false(sameShallow({ a: 1 }, { a: 2 }));
  t.false(sameShallow({ a: [25] }, { a: [25, 587] }));
  t.false(sameShallow({ a: [25] }, { a: [587] }));
  t.false(sameShallow({ a: undefined }, { b: undefined }), 'undefined under another name');
  t.false(sameShallow({ a: 1 }, { a: 1, b: undefined }));
  t.false(sameShallow({ a: 1, b: undefined }, { a: 1 }));
  t.false(sameShallow({ a: { x: 1 } }, { a: { x: 1 } }), 'a nested object is never equal');
  t.false(sameShallow({ a: [{ x: 1 }] }, { a: [{ x: 1 }] }));
  t.false(sameShallow({ a: null }, { a: 0 }));
});

test('HistoryWriter writes the bytes the encoder writes for the whole event, for every shape of event', async (t) => {
  const { e, done } = env();
  const table = e.table<HistoryValue>('history');
  const w = new HistoryWriter(table);
  const events: HistoryValue[] = [
    { type: 'ban', key: key(1), details: { action: 'created', source: 'feed', tag: 'spamhaus', reason: '', ports: [], level: 1, duration: 86400, durationFrom: 'base', expires: 1_700_000_000_000 } },
    { type: 'ban', key: key(2), details: { action: 'created', source: 'feed', tag: 'spamhaus', reason: '', ports: [], level: 1, duration: 86400, durationFrom: 'base', expires: 1_700_000_000_000 } },
    { type: 'ban', key: key(3), details: { action: 'refreshed', source: 'cli', reason: 'spam ünïcödé', ports: [25, 465, 587], level: 3, duration: null, durationFrom: 'explicit', expires: null, pinned: true } },
    { type: 'unban', key: key(3), details: { by: 'admin', snapshot: { ports: [25], reason: 'x', expires: null } } },
    { type: 'expire', key: key(4), details: {} },
    { type: 'evict', key: key(5), details: { reason: 'x'.repeat(3000) } },
    { type: 'ban', key: key(6), details: { action: 'created', source: 'feed', tag: 'spamhaus', reason: '', ports: [], level: 1, duration: 86400, durationFrom: 'base', expires: 1_700_000_000_000 } },
  ];
  for (const ev of events) t.deepEqual(Buffer.from(w.bytes(ev)), table.encode(ev), `${ev.type} of key ${Buffer.from(ev.key).readUInt32BE(12)}`);
  // Written and read back: each event keeps its own key and details.
  e.write(() => {
    events.forEach((ev, i) => w.put(Buffer.from([i]), ev));
  });
  events.forEach((ev, i) => {
    const got = table.get(Buffer.from([i]));
    t.deepEqual(Buffer.from(got?.key ?? []), Buffer.from(ev.key));
    t.deepEqual(got?.details, ev.details);
    t.is(got?.type, ev.type);
  });
  await done();
});

test('ValueMemo: equal values share one encoding, a different one is encoded afresh, and a caller changing a value it put changes nothing stored', async (t) => {
  const { e, done } = env();
  const table = e.table<Record<string, unknown>>('bans');
  const memo = new ValueMemo(table);
  const a = { ports: [25], reason: 'spam', expires: 5, state: 'kernel' };
  const b1 = memo.bytes(a);
  t.is(memo.bytes({ ...a, ports: [25] }), b1, 'an equal value reuses the bytes');
  t.not(memo.bytes({ ...a, ports: [25, 587] }), b1);
  e.write(() => {
    memo.put(key(1), a);
    a.ports.push(465); // the caller changes its array after the put
    memo.put(key(2), { ports: [25], reason: 'spam', expires: 5, state: 'kernel' });
    memo.put(key(3), { ports: [25], reason: 'spam', expires: 6, state: 'kernel' });
    memo.put(key(4), { ports: [25], reason: 'spam', expires: 6, state: 'cold' });
  });
  t.deepEqual(table.get(key(1)), { ports: [25], reason: 'spam', expires: 5, state: 'kernel' });
  t.deepEqual(table.get(key(2)), { ports: [25], reason: 'spam', expires: 5, state: 'kernel' }, 'the memo kept its own copy of the first value');
  t.deepEqual(table.get(key(3)), { ports: [25], reason: 'spam', expires: 6, state: 'kernel' });
  t.deepEqual(table.get(key(4)), { ports: [25], reason: 'spam', expires: 6, state: 'cold' });
  await done();
});

test('a bulk ban of a feed writes every record and history event under its own key, as single bans do', async (t) => {
  const c = clock();
  const { store, close } = freshStore({ now: c.now });
  const addrs = Array.from({ length: 300 }, (_, i) => `198.51.${i >> 8}.${i & 255}`);
  // Three runs of equal bans with a different one in between: the memos must switch and switch back.
  const inputs = addrs.map((prefix, i) => ({ prefix, source: 'feed' as const, tag: i === 150 ? 'other' : 'spamhaus', ttl: 3600, ...(i === 200 ? { ports: [25] } : {}) }));
  const res = await store.bulkBan(inputs, { batchSize: 128 });
  t.is(res.created, 300);
  for (const [i, a] of addrs.entries()) {
    const r = store.get(a);
    t.is(r?.prefix.toString(), a);
    t.is(r?.tag, i === 150 ? 'other' : 'spamhaus');
    t.deepEqual(r?.ports, i === 200 ? [25] : []);
    const h = [...store.history(a)];
    t.is(h.length, 1);
    t.is(h[0]?.prefix.toString(), a);
    t.like(h[0]?.details, { action: 'created', source: 'feed', tag: i === 150 ? 'other' : 'spamhaus', ports: i === 200 ? [25] : [], duration: 3600 });
  }
  // A refresh of one of them is an event of its own with its own details.
  c.advance(10);
  store.ban({ prefix: addrs[7] as string, source: 'cli', reason: 'again' });
  t.deepEqual([...store.history(addrs[7] as string)].map((e) => e.details.action), ['created', 'refreshed']);
  t.is(store.get(addrs[7] as string)?.reason, 'again');
  t.is(store.get(addrs[8] as string)?.reason, '');
  await close();
});
