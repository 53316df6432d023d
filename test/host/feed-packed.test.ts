// SPDX-License-Identifier: MIT
//
// packPlainFeed() (the one-pass plain feed parser of the bulk load) against
// readFeed() (readline + parseFeedLine): the same entries, the same line
// numbers, the same first error; and Ffwall.blockFeed() over the kernel
// alone and with a database.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { FeedError, firstAllowlistOverlap, inKeyOrder, IpPrefix, isPackedFeed, openFfwall, packPlainFeed, parsePrefix, readFeed } from '../../src/lib/index.js';
import { keyOrderOf, packPlainFile, type PackedFeed } from '../../src/lib/feeds.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';
import { tryLoadBinding } from '../../src/lib/native.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-feed-packed-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
let fileNo = 0;

/** readFeed()'s verdict over @text: [line, target][] or the first error's message. */
async function slow(text: string | Buffer): Promise<[number, string][] | string> {
  const file = path.join(dir, `f${fileNo++}`);
  writeFileSync(file, text);
  const out: [number, string][] = [];
  try {
    for await (const e of readFeed(file, 'plain')) out.push([e.line, e.target]);
  } catch (err) {
    return (err as Error).message;
  }
  return out;
}

/** A packed feed's entries as [line, target]. */
function entriesOf(p: PackedFeed): [number, string][] {
  const out: [number, string][] = [];
  for (let i = 0; i < p.count; i++) out.push([p.lineOf[i] ?? 0, new IpPrefix(p.addrs.subarray(i * 16, i * 16 + 16), p.prefixLen[i] ?? 128).toString()]);
  return out;
}

/** packPlainFeed()'s verdict, with the addon's IPv4 loop (native) or in JavaScript alone. */
function fast(text: string | Buffer, native = true): [number, string][] | string {
  try {
    return entriesOf(packPlainFeed(Buffer.from(text), { native }));
  } catch (err) {
    if (!(err instanceof FeedError)) throw err;
    return err.message;
  }
}

const FEEDS: (string | Buffer)[] = [
  '',
  '\n',
  '192.0.2.1',
  '192.0.2.1\n',
  '192.0.2.1\n198.51.100.0/24\n',
  '192.0.2.1\r\n198.51.100.0/24\r\n',
  '192.0.2.1\r198.51.100.7\r',
  '192.0.2.1\r\r\n\n198.51.100.7',
  '# header\n; another\n\n   \n192.0.2.1 # note\n 192.0.2.2\n\t192.0.2.3\t\n192.0.2.4;x\n',
  '2001:db8::1\n2001:DB8::/32\n::ffff:192.0.2.9\n::\n',
  '192.0.2.0/24\n10.0.0.0/8\n0.0.0.0/0\n',
  '192.0.2.1\n192.0.2.1\n',
  '\uFEFF192.0.2.1\n192.0.2.2\n',
  Buffer.from([0xef, 0xbb, 0xbf, 0x31, 0x2e, 0x32, 0x2e, 0x33, 0x2e, 0x34, 0x0a]),
  // Lines shorter than packPlainFeed()'s first guess (8 bytes a line): its columns grow.
  Array.from({ length: 600 }, (_, i) => `::${i.toString(16)}\n`).join(''),
  `${Array.from({ length: 300 }, (_, i) => `::${i.toString(16)}\n`).join('')}192.0.2.1\n${Array.from({ length: 300 }, (_, i) => `1::${i.toString(16)}`).join('\n')}`,
  // errors: the first bad line, named
  '192.0.2.1\n192.0.2.1/24\n',
  '192.0.2.1\n01.2.3.4\n',
  '192.0.2.1\n256.0.0.1\n',
  '192.0.2.1\n1.2.3.4 5.6.7.8\n',
  '192.0.2.1\n\n\nnot-an-address\n192.0.2.300\n',
  '1.2.3.4/33\n',
  '1.2.3.4/08\n',
  '2001:db8::1/64\n',
  'fe80::1%eth0\n',
  '192.0.2.1\r\n192.0.2.2/31\r\n',
  'é\n',
];

test('packPlainFeed agrees with readFeed: entries, line numbers, the first error', async (t) => {
  for (const text of FEEDS) {
    const want = await slow(text);
    t.deepEqual(fast(text), want, `feed ${JSON.stringify(text.toString())}`);
    t.deepEqual(fast(text, false), want, `feed ${JSON.stringify(text.toString())}, JavaScript alone`);
  }
});

test("the addon's IPv4 line parser is built and takes what the JavaScript takes, byte for byte", (t) => {
  t.is(typeof tryLoadBinding()?.packV4Lines, 'function', 'the addon is built on the test machine, so the native path is the one tested');
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const alphabet = '0123456789../\r\n x';
  const near = ['0.0.0.0/0', '1.2.3.4/0', '128.0.0.0/1', '1.2.3.4/', '1.2.3', '1.2.3.4.5', '00.1.2.3', '1.2.3.04', '255.255.255.256', '1.2.3.4/24', '10.0.0.0/08', '10.0.0.0/8', '9.9.9.9/32', '1.2.3.4/33', '1.2.3.4/3x'];
  let lines = 0;
  for (let k = 0; k < 4000; k++) {
    let text = near[rnd(near.length)] as string;
    // Mutate one to three bytes of a near-IPv4 line (or build one at random).
    if (rnd(4) === 0) text = Array.from({ length: 1 + rnd(18) }, () => alphabet[rnd(alphabet.length)]).join('');
    else for (let m = rnd(3); m > 0; m--) {
      const at = rnd(text.length + 1);
      text = text.slice(0, at) + (alphabet[rnd(alphabet.length)] as string) + text.slice(at + rnd(2));
    }
    const feed = `192.0.2.1\n${text}\n10.0.0.0/8`;
    t.deepEqual(fast(feed), fast(feed, false), JSON.stringify(feed));
    // The same line with room after it: the addon's one-pass path (21 bytes
    // or more left) rather than its careful one near the end.
    const roomy = `192.0.2.1\n${text}\r\n10.0.0.0/8\n198.51.100.255\n203.0.113.0/24\n`;
    t.deepEqual(fast(roomy), fast(roomy, false), JSON.stringify(roomy));
    lines++;
  }
  // Short IPv6 lines, then a long run of IPv4 ones during which the columns (sized for
  // 8 bytes a line) fill: the addon's loop stops at the room it has, the columns grow, it goes on.
  const v6 = Array.from({ length: 5000 }, (_, i) => `::${i.toString(16)}`).join('\n');
  const v4 = Array.from({ length: 5000 }, (_, i) => `9.9.9.${i % 10}`).join('\n');
  const text = Buffer.from(`${v6}\n${v4}\n::4\n`);
  t.true(10_001 > (text.length >>> 3) + 16);
  const p = packPlainFeed(text);
  const q = packPlainFeed(text, { native: false });
  t.deepEqual([p.count, p.lines, [...p.prefixLen], [...p.lineOf], Buffer.from(p.addrs).toString('hex')], [q.count, q.lines, [...q.prefixLen], [...q.lineOf], Buffer.from(q.addrs).toString('hex')]);
  t.is(p.count, 10_001);
  t.is(p.prefixLen[5000], 128);
  t.is(new IpPrefix(p.addrs.subarray(5003 * 16, 5004 * 16), 128).toString(), '9.9.9.3');
  t.is(lines, 4000);
});

test("the addon's parser takes IPv4 lines to the buffer's end itself, terminated or not", (t) => {
  const pack = tryLoadBinding()?.packV4Lines;
  if (pack === undefined) return t.fail('the addon is built on the test machine');
  for (const text of ['1.2.3.4\n5.6.7.8', '1.2.3.4\n5.6.7.8\r', '1.2.3.4\r\n5.6.7.0/24\n', `${'9.9.9.9\n'.repeat(5)}255.255.255.255/32`]) {
    const buf = Buffer.from(text);
    const state = new Float64Array(3);
    pack(buf, new Uint8Array(16 * 8), new Uint8Array(8), new Uint32Array(8), state);
    t.true((state[0] ?? 0) >= buf.length, `${JSON.stringify(text)}: stopped at ${state[0]}`);
    t.is(state[1], text.split(/\r\n|\r|\n/).filter((l) => l !== '').length, JSON.stringify(text));
  }
});

test('packPlainFeed agrees with readFeed on random feeds', async (t) => {
  let seed = 99;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const pieces = ['192.0.2.1', '10.0.0.0/8', '10.0.0.1/8', '1.2.3.4/32', '2001:db8::/48', '#c', ';c', ' ', '\t', '\n', '\r\n', '\r', '', '01.1.1.1', '0.0.0.0', '255.255.255.255', ' # x'];
  for (let k = 0; k < 300; k++) {
    let text = '';
    const n = 1 + rnd(12);
    for (let i = 0; i < n; i++) text += pieces[rnd(pieces.length)];
    const want = await slow(text);
    t.deepEqual(fast(text), want, `feed ${JSON.stringify(text)}`);
    t.deepEqual(fast(text, false), want, `feed ${JSON.stringify(text)}, JavaScript alone`);
  }
});

test('blockFeed: the kernel alone, a file or bytes; a bad line changes nothing', async (t) => {
  const kernel = new FakeKernel({});
  const fw = await openFfwall({ kernel, database: false });
  const file = path.join(dir, 'feed.txt');
  writeFileSync(file, '# test feed\n192.0.2.1\n198.51.100.0/24 ; note\n2001:db8::/32\n\n');
  t.deepEqual(await fw.blockFeed(file, { ttl: '1h' }), { total: 3, applied: 3, changed: 3 });
  const seen: string[] = [];
  for await (const b of kernel.dump()) for (const e of b) seen.push(`${e.prefix.toString()} ${e.ttl}`);
  t.deepEqual(seen.sort(), ['192.0.2.1 3600', '198.51.100.0/24 3600', '2001:db8::/32 3600']);
  const err = await t.throwsAsync(fw.blockFeed(Buffer.from('203.0.113.1\n203.0.113.2/30\n')));
  t.true(err instanceof FeedError);
  t.is(err?.message, 'line 2: "203.0.113.2/30": host bits are set beyond the prefix length (did you mean 203.0.113.0/30?)');
  const st = await kernel.stats();
  t.is(st.entries + st.prefixes, 3);
  t.deepEqual(await fw.blockFeed(Buffer.from('# nothing\n')), { total: 0, applied: 0, changed: 0 });
  await t.throwsAsync(fw.blockFeed(42 as unknown as string), { instanceOf: TypeError });
  await fw.close();
});

test('blockFeed: with a database, records with the options', async (t) => {
  const kernel = new FakeKernel({});
  const fw = await openFfwall({ kernel, database: path.join(dir, 'db'), databaseOptions: { noSync: true } });
  const res = await fw.blockFeed(Buffer.from('192.0.2.1\n198.51.100.0/24\n'), { source: 'feed', sourceTag: 'packed', reason: 'feed packed', ttl: '2h' });
  t.deepEqual(res, { total: 2, applied: 2, changed: 2 });
  const rec = (await fw.show('198.51.100.0/24')).record;
  t.is(rec?.source, 'feed');
  t.is(rec?.sourceTag, 'packed');
  t.is(rec?.reason, 'feed packed');
  const st = await kernel.stats();
  t.deepEqual([st.entries, st.prefixes], [1, 1]);
  await fw.close();
});

/** The order the ban database keeps @p's records in: family, then the 16 address bytes, then the length. */
function keyOrdered(p: PackedFeed): boolean {
  const rank = (i: number): string => {
    const b = p.addrs.subarray(i * 16, i * 16 + 16);
    const v4 = b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff && (p.prefixLen[i] ?? 0) >= 96;
    return `${v4 ? 1 : 0}${Buffer.from(b).toString('hex')}${String(p.prefixLen[i] ?? 0).padStart(3, '0')}`;
  };
  for (let i = 1; i < p.count; i++) if (rank(i - 1) > rank(i)) return false;
  return true;
}

test('inKeyOrder: the same entries in key order, duplicates in feed order; a sorted feed is returned as is', (t) => {
  // Seeded: the same shuffle every run.
  let seed = 7;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const lines: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const k = rnd(6);
    if (k === 0) lines.push(`2001:db8:${rnd(4).toString(16)}::${rnd(65536).toString(16)}`);
    else if (k === 1) lines.push(`10.${rnd(4)}.${rnd(256)}.0/24`);
    else lines.push(`${1 + rnd(223)}.${rnd(256)}.${rnd(4)}.${rnd(256)}`);
  }
  // Duplicates far apart, and an address with a prefix of the same address.
  lines.splice(10, 0, '198.51.100.7', '10.1.2.0/24', '10.1.2.0');
  lines.push('198.51.100.7', '10.1.2.0/24');
  const packed = packPlainFeed(Buffer.from(`${lines.join('\n')}\n`));
  t.false(keyOrdered(packed), 'the test feed must start out of order');
  const sorted = inKeyOrder(packed);
  t.true(keyOrdered(sorted));
  t.is(sorted.count, packed.count);
  t.is(sorted.lines, packed.lines);
  const before = entriesOf(packed);
  const after = entriesOf(sorted);
  // A permutation of [line, target] pairs: each entry keeps its own line number.
  t.deepEqual([...after].sort(), [...before].sort());
  // Entries with the same target stay in feed order (their line numbers rise).
  const lastLine = new Map<string, number>();
  for (const [line, target] of after) {
    t.true((lastLine.get(target) ?? 0) < line, `${target} at line ${line} after line ${lastLine.get(target) ?? 0}`);
    lastLine.set(target, line);
  }
  t.is(inKeyOrder(sorted), sorted);
  const one = packPlainFeed(Buffer.from('192.0.2.1\n'));
  t.is(inKeyOrder(one), one);
});

test('inKeyOrder: entries that tie in their leading bits but not in their whole address are sorted, not returned as is', (t) => {
  // Six entries leave IPv6 its leading 49 bits in the sort key: these five tie there.
  const lines = ['2001:db8::9', '2001:db8::1', '2001:db8:0:1::', '2001:db8::/48', '2001:db8::/33', '192.0.2.1'];
  const packed = packPlainFeed(Buffer.from(`${lines.join('\n')}\n`));
  const sorted = inKeyOrder(packed);
  t.not(sorted, packed);
  t.deepEqual(
    entriesOf(sorted).map(([, target]) => target),
    ['2001:db8::/33', '2001:db8::/48', '2001:db8::1', '2001:db8::9', '2001:db8:0:1::', '192.0.2.1'],
  );
  t.true(keyOrdered(sorted));
  t.is(inKeyOrder(sorted), sorted);
});

test('IpPrefix.compareKeyOrder: IPv6 before IPv4, then the bytes, then the length', (t) => {
  const order = ['::', '::1', '2001:db8::/32', '2001:db8::', '2001:db8::1', 'ff02::1', '0.0.0.0/0', '10.0.0.0/8', '10.0.0.0', '10.0.0.1', '255.255.255.255'];
  const ps = order.map((s) => parsePrefix(s));
  for (let i = 0; i < ps.length; i++) {
    for (let j = 0; j < ps.length; j++) {
      const c = (ps[i] as IpPrefix).compareKeyOrder(ps[j] as IpPrefix);
      t.is(Math.sign(c), Math.sign(i - j), `${order[i]} against ${order[j]}`);
    }
  }
});

test('keyOrderOf: undefined for input in key order (every family and length), else the stable permutation inKeyOrder() gives', (t) => {
  const inOrder = ['2001:db8::/32', '2001:db8::1', '2001:db8::1', '10.0.0.0/8', '10.0.0.1', '192.0.2.1'].map((s) => parsePrefix(s));
  t.is(keyOrderOf(inOrder), undefined);
  t.is(keyOrderOf([]), undefined);
  const mixed = ['192.0.2.1', '2001:db8::1', '10.0.0.1', '10.0.0.0/8', '192.0.2.1', '2001:db8::/32'];
  const order = keyOrderOf(mixed.map((s) => parsePrefix(s)));
  t.deepEqual([...(order ?? [])], [5, 1, 3, 2, 0, 4]);
  // The same as inKeyOrder() of the packed feed (whose lineOf is the line, 1-based).
  const packed = inKeyOrder(packPlainFeed(Buffer.from(`${mixed.join('\n')}\n`)));
  t.deepEqual([...packed.lineOf].map((l) => l - 1), [...(order ?? [])]);
});

test('blockFeed: with a database, a feed out of order, duplicates refreshed', async (t) => {
  const kernel = new FakeKernel({});
  const fw = await openFfwall({ kernel, database: path.join(dir, 'db-order'), databaseOptions: { noSync: true } });
  const feed = ['203.0.113.9', '2001:db8::1', '192.0.2.1', '198.51.100.0/24', '192.0.2.1', '10.0.0.1'];
  const res = await fw.blockFeed(Buffer.from(`${feed.join('\n')}\n`), { ttl: '2h' });
  t.deepEqual(res, { total: 6, applied: 6, changed: 5 });
  t.is((await fw.show('192.0.2.1')).record?.banCount, 2);
  const listed: string[] = [];
  for await (const r of fw.list({})) listed.push(r.target);
  t.deepEqual(listed.sort(), ['10.0.0.1', '192.0.2.1', '198.51.100.0/24', '2001:db8::1', '203.0.113.9']);
  const st = await kernel.stats();
  t.is(st.entries + st.prefixes, 5);
  await fw.close();
});

/** @n addresses of 10.0.0.0/8 in key order: 10.0.0.0, 10.0.0.1, ... */
function tenNet(n: number): string[] {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(`10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`);
  return lines;
}

test('blockFeed: with a database, a feed of several chunks is recorded whole, with progress over the whole feed; an allowlisted entry in its last chunk changes nothing', async (t) => {
  const kernel = new FakeKernel({});
  const fw = await openFfwall({ kernel, database: path.join(dir, 'db-chunks'), databaseOptions: { noSync: true } });
  const n = 25_000;
  const lines = tenNet(n);
  await fw.allow('198.51.100.0/24', { reason: 'ours' });
  // The allowlisted entry sorts last: the chunks before it would be written by a chunk-by-chunk check.
  const bad = await t.throwsAsync(fw.blockFeed(Buffer.from(`${lines.join('\n')}\n198.51.100.7\n`), { ttl: '2h' }));
  t.like(bad, { code: 'EALLOWLISTED', badIndex: n, applied: 0 });
  t.regex(bad?.message ?? '', /198\.51\.100\.7 \(item 25000\) is on the allowlist \(by 198\.51\.100\.0\/24\)/);
  t.is((await fw.databaseCounts())?.total, 0, 'nothing was written');
  t.is((await kernel.stats()).entries, 0);
  const progress: number[] = [];
  const res = await fw.blockFeed(Buffer.from(`${lines.join('\n')}\n`), {
    ttl: '2h',
    onProgress: (p) => {
      t.is(p.total, n);
      progress.push(p.done);
    },
  });
  t.deepEqual(res, { total: n, applied: n, changed: n });
  t.is(progress.at(-1), n);
  t.true(progress.every((d, i) => i === 0 || d >= (progress[i - 1] ?? 0)), 'progress never goes back');
  t.true(progress.some((d) => d > 10_000 && d < n), 'progress within the later chunks counts the chunks before');
  t.is((await fw.databaseCounts())?.total, n);
  t.is((await kernel.stats()).entries, n);
  t.is((await fw.show('10.0.97.167')).record?.state, 'kernel');
  await fw.close();
});

test('blockFeed with a database: the kernel drops the whole feed before the first chunk is written; each chunk then loads its records\' own rules', async (t) => {
  const kernel = new FakeKernel({});
  const fw = await openFfwall({ kernel, database: path.join(dir, 'db-kernel-first'), databaseOptions: { noSync: true } });
  const n = 25_000;
  const lines = tenNet(n);
  // A permanent ban the feed refreshes: the feed's own rule (no --ttl: the default) must not end it.
  await fw.block('10.0.0.5', { permanent: true, reason: 'by hand' });
  const atProgress: Promise<number>[] = [];
  const res = await fw.blockFeed(Buffer.from(`${lines.join('\n')}\n`), {
    onProgress: () => {
      atProgress.push(kernel.stats().then((s) => s.entries));
    },
  });
  t.deepEqual(res, { total: n, applied: n, changed: n - 1 });
  const seen = await Promise.all(atProgress);
  t.true(seen.length >= 3, `${seen.length} progress reports`);
  t.is(seen[0], n, 'every entry was in the kernel when the first chunk had been written');
  t.is((await fw.databaseCounts())?.kernel, n);
  const kept = await kernel.lookup(parsePrefix('10.0.0.5'));
  t.like(kept.entry, { ttl: 0, expires: 0 }, 'the permanent ban is permanent in the kernel again');
  t.is((await fw.show('10.0.0.5')).record?.permanent, true);
  const other = await kernel.lookup(parsePrefix('10.0.97.167'));
  t.true((other.entry?.ttl ?? 0) > 0, 'a feed entry has the default duration');
  await fw.close();
});

test('blockFeed with a database: an entry only the kernel\'s allowlist holds refuses the feed before anything is written', async (t) => {
  const kernel = new FakeKernel({});
  const fw = await openFfwall({ kernel, database: path.join(dir, 'db-kernel-allow'), databaseOptions: { noSync: true } });
  // The kernel's allowlist out of step with the database's (as a crash could leave it).
  await kernel.allowAdd([parsePrefix('192.0.2.0/24')]);
  const err = await t.throwsAsync(fw.blockFeed(Buffer.from('10.0.0.1\n192.0.2.9\n10.0.0.2\n')));
  t.like(err, { code: 'EALLOWLISTED' });
  t.regex(err?.message ?? '', /192\.0\.2\.9/);
  t.is((await fw.databaseCounts())?.total, 0, 'no record was written');
  await fw.close();
});

/** packPlainFile()'s verdict over @text in pieces of @pieceSize, in the shape of fast(). */
async function piecewise(text: string | Buffer, pieceSize: number, native = true): Promise<{ out: [number, string][] | string; lines?: number }> {
  const file = path.join(dir, `p${fileNo++}`);
  writeFileSync(file, text);
  try {
    const p = await packPlainFile(file, { pieceSize, native });
    return { out: entriesOf(p), lines: p.lines };
  } catch (err) {
    if (!(err instanceof FeedError)) throw err;
    return { out: err.message };
  }
}

test('packPlainFile in pieces of every size gives packPlainFeed of the whole: entries, lines, the first error', async (t) => {
  // Each feed cut at every position (pieces of 1 to 13 bytes, and one piece),
  // so that every line, \r\n and bare \r is split somewhere.
  for (const text of FEEDS) {
    const whole = packPlainFeedVerdict(text);
    for (const size of [1, 2, 3, 5, 7, 8, 13, 1 << 20]) {
      const got = await piecewise(text, size);
      t.deepEqual(got, whole, `feed ${JSON.stringify(text.toString())}, pieces of ${size}`);
    }
    t.deepEqual(await piecewise(text, 3, false), whole, `feed ${JSON.stringify(text.toString())}, pieces of 3, JavaScript alone`);
  }
  // A line longer than many pieces (a long comment), then more lines.
  const long = `192.0.2.1\n# ${'x'.repeat(5000)}\n198.51.100.0/24\n2001:db8::1`;
  t.deepEqual(await piecewise(long, 64), packPlainFeedVerdict(long));
  t.deepEqual((await piecewise(long, 64)).out, [
    [1, '192.0.2.1'],
    [3, '198.51.100.0/24'],
    [4, '2001:db8::1'],
  ]);
});

test('packPlainFile of a missing file fails with ENOENT', async (t) => {
  await t.throwsAsync(packPlainFile(path.join(dir, 'no-such-feed')), { code: 'ENOENT' });
  await t.throwsAsync(packPlainFile(path.join(dir, 'no-such-feed'), { pieceSize: 0 }), { instanceOf: RangeError });
});

/** packPlainFeed() of the whole text, in piecewise()'s shape. */
function packPlainFeedVerdict(text: string | Buffer): { out: [number, string][] | string; lines?: number } {
  try {
    const p = packPlainFeed(Buffer.from(text));
    return { out: entriesOf(p), lines: p.lines };
  } catch (err) {
    if (!(err instanceof FeedError)) throw err;
    return { out: err.message };
  }
}

test('blockFeed takes a feed from packPlainFeed() or packPlainFile(), with a database or without; a look-alike object is refused and nothing changes', async (t) => {
  const file = path.join(dir, 'packed-arg.txt');
  writeFileSync(file, '192.0.2.1\n198.51.100.0/24\n2001:db8::1\n');
  for (const database of [false, path.join(dir, 'db-packed-arg')] as const) {
    const kernel = new FakeKernel({});
    const fw = await openFfwall({ kernel, database, databaseOptions: { noSync: true } });
    const packed = await packPlainFile(file);
    t.true(isPackedFeed(packed));
    const fake = { count: 1, addrs: new Uint8Array(16), prefixLen: Uint8Array.of(128), lines: 1, lineOf: Uint32Array.of(1) };
    t.false(isPackedFeed(fake));
    await t.throwsAsync(fw.blockFeed(fake as PackedFeed), { instanceOf: TypeError, message: /packPlainFeed\(\) or packPlainFile\(\)/ });
    t.is((await kernel.stats()).entries, 0, 'the look-alike changed nothing');
    t.deepEqual(await fw.blockFeed(packed, { ttl: '1h' }), { total: 3, applied: 3, changed: 3 });
    t.deepEqual(await fw.blockFeed(packPlainFeed(Buffer.from('192.0.2.1\n192.0.2.2\n')), { ttl: '1h' }), { total: 2, applied: 2, changed: 1 });
    const st = await kernel.stats();
    t.deepEqual([st.entries, st.prefixes], [3, 1], String(database));
    if (database !== false) t.is((await fw.databaseCounts())?.total, 4);
    await fw.close();
  }
});

test('blockFeed with a database: an allowlisted entry is named with its index in the feed, not in key order, and nothing is written', async (t) => {
  const kernel = new FakeKernel({});
  const fw = await openFfwall({ kernel, database: path.join(dir, 'db-allow-named'), databaseOptions: { noSync: true } });
  await fw.allow('203.0.113.0/24');
  // Key order: 10.0.0.1, 192.0.2.1, 203.0.113.5 (item 2 there).
  const err = await t.throwsAsync(fw.blockFeed(Buffer.from('192.0.2.1\n203.0.113.5\n10.0.0.1\n')));
  t.like(err, { code: 'EALLOWLISTED', badIndex: 1, applied: 0 });
  t.regex(err?.message ?? '', /^ffwall: 203\.0\.113\.5 \(item 1\) is on the allowlist \(by 203\.0\.113\.0\/24\)/);
  t.is((await fw.databaseCounts())?.total, 0);
  t.is((await kernel.stats()).entries, 0);
  await fw.close();
});

test('firstAllowlistOverlap: the first entry inside an allowlist entry or covering one, -1 for none', (t) => {
  const packed = packPlainFeed(Buffer.from('192.0.2.1\n10.0.0.0/8\n10.9.8.7\n2001:db8::1\n'));
  t.is(firstAllowlistOverlap(packed, []), -1);
  t.is(firstAllowlistOverlap(packed, ['172.16.0.0/12', '2001:db9::/32']), -1);
  t.is(firstAllowlistOverlap(packed, ['10.9.0.0/16']), 1, '10.0.0.0/8 covers the allowlisted /16');
  t.is(firstAllowlistOverlap(packed, ['10.9.8.7', '2001:db8::/32']), 1);
  t.is(firstAllowlistOverlap(packed, ['2001:db8::/32']), 3);
  t.is(firstAllowlistOverlap(packed, ['192.0.2.1']), 0);
});
