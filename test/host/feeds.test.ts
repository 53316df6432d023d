// SPDX-License-Identifier: MIT
//
// Feed parsers and exporters (src/lib/feeds.ts), without the CLI.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';

import test from 'ava';

import { FeedError, parseFeedLine, readFeed, spool, validateFeed, writeExport, type BanRecordInfo } from '../../src/lib/index.js';
import { allowlistCheck } from '../../src/lib/feeds.js';

test('plain lines: comments, blank lines, strict addresses with the normalized CIDR as the fix', (t) => {
  t.is(parseFeedLine('plain', '', 1), null);
  t.is(parseFeedLine('plain', '   # a comment', 2), null);
  t.is(parseFeedLine('plain', '; another', 3), null);
  t.deepEqual(parseFeedLine('plain', ' 192.0.2.7  # bot', 4), { line: 4, target: '192.0.2.7', note: '' });
  t.deepEqual(parseFeedLine('plain', '2001:DB8::/32', 5), { line: 5, target: '2001:db8::/32', note: '' });
  const e = t.throws(() => parseFeedLine('plain', '192.0.2.7/24', 6), { instanceOf: FeedError });
  t.is(e.line, 6);
  t.is(e.suggestion, '192.0.2.0/24');
  t.is(e.message, 'line 6: "192.0.2.7/24": host bits are set beyond the prefix length (did you mean 192.0.2.0/24?)');
  t.throws(() => parseFeedLine('plain', '010.1.1.1', 7), { message: /line 7: .*leading zero/ });
  t.throws(() => parseFeedLine('plain', '192.0.2.1 192.0.2.2', 8), { message: /one address or CIDR per line/ });
});

test('Spamhaus DROP lines', (t) => {
  t.is(parseFeedLine('drop', '; Spamhaus DROP List 2026/11/29', 1), null);
  t.deepEqual(parseFeedLine('drop', '1.10.16.0/20 ; SBL256894', 2), { line: 2, target: '1.10.16.0/20', note: 'SBL256894' });
  t.deepEqual(parseFeedLine('drop', '2001:db8::/32;SBL1', 3), { line: 3, target: '2001:db8::/32', note: 'SBL1' });
  t.throws(() => parseFeedLine('drop', '1.10.16.1/20 ; SBL256894', 4), { message: /did you mean 1\.10\.16\.0\/20/ });
});

test('ipset save lines', (t) => {
  t.is(parseFeedLine('ipset', 'create bl hash:net family inet hashsize 1024 maxelem 65536 timeout 0', 1), null);
  t.deepEqual(parseFeedLine('ipset', 'add bl 192.0.2.0/24', 2), { line: 2, target: '192.0.2.0/24', note: '' });
  t.deepEqual(parseFeedLine('ipset', 'add bl 192.0.2.9 timeout 3600 comment "ssh brute force"', 3), { line: 3, target: '192.0.2.9', ttl: 3600, note: 'ssh brute force' });
  t.deepEqual(parseFeedLine('ipset', 'add bl 192.0.2.10 timeout 0', 4), { line: 4, target: '192.0.2.10', ttl: 0, note: '' });
  t.throws(() => parseFeedLine('ipset', 'add bl 192.0.2.1,tcp:25', 5), { message: /hash:ip, hash:net/ });
  t.throws(() => parseFeedLine('ipset', 'del bl 192.0.2.1', 6), { message: /line 6: .*expected "add SET ENTRY/ });
  t.throws(() => parseFeedLine('ipset', 'add bl 192.0.2.1 timeout soon', 7), { message: /timeout "soon"/ });
});

test('validation streams the whole file and names the bad line; the allowlist refuses entries', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-feed-'));
  try {
    const f = path.join(dir, 'f.txt');
    const lines = Array.from({ length: 100_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    lines[70_000] = '10.1.17.0/16';
    writeFileSync(f, `${lines.join('\n')}\n`);
    const v = await validateFeed(f, 'plain');
    t.is(v.lines, 100_000);
    t.is(v.errors.length, 1);
    t.is(v.errors[0]?.line, 70_001);
    t.is(v.errors[0]?.suggestion, '10.1.0.0/16');
    await t.throwsAsync(async () => {
      for await (const _ of readFeed(f, 'plain'));
    }, { message: /^line 70001: / });
    const a = await validateFeed(f, 'plain', { check: allowlistCheck(['10.0.1.0/24']), maxErrors: 3 });
    t.is(a.errors.length, 3);
    t.regex(a.errors[0]?.message ?? '', /line 257: "10\.0\.1\.0": 10\.0\.1\.0 is on the allowlist \(by 10\.0\.1\.0\/24\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('standard input is spooled to a file', async (t) => {
  const s = await spool(Readable.from(['192.0.2.1\n', '192.0.2.2\n']));
  const got: string[] = [];
  for await (const e of readFeed(s.path, 'plain')) got.push(e.target);
  await s.cleanup();
  t.deepEqual(got, ['192.0.2.1', '192.0.2.2']);
});

function rec(target: string, extra: Partial<BanRecordInfo> = {}): BanRecordInfo {
  return {
    target,
    state: 'kernel',
    ports: [],
    reason: '',
    source: 'feed',
    sourceTag: 'x',
    firstSeenAt: '2026-01-01T00:00:00.000Z',
    lastSeenAt: '2026-01-01T00:00:00.000Z',
    lastHitAt: null,
    hitCount: 0,
    banCount: 1,
    expiresAt: null,
    permanent: true,
    pinned: false,
    monitor: false,
    ...extra,
  };
}

test('exporters: plain, drop, ipset and the rbldnsd combined zone', async (t) => {
  const now = new Date('2026-11-29T12:00:00.000Z');
  const records = [rec('192.0.2.7', { reason: 'SBL1; x' }), rec('2001:db8::/48'), rec('198.51.100.0/24', { expiresAt: '2026-11-29T13:00:00.000Z', permanent: false })];
  const out = async (format: 'plain' | 'drop' | 'ipset' | 'rbldnsd'): Promise<string> => {
    let s = '';
    async function* gen(): AsyncGenerator<BanRecordInfo> {
      yield* records;
    }
    await writeExport(format, gen, (c) => void (s += c), { now });
    return s;
  };
  t.is(await out('plain'), '# ffwall export, 2026-11-29T12:00:00.000Z\n192.0.2.7\n2001:db8::/48\n198.51.100.0/24\n');
  t.is(await out('drop'), '; ffwall export, 2026-11-29T12:00:00.000Z\n192.0.2.7 ; SBL1  x\n2001:db8::/48 ; feed:x\n198.51.100.0/24 ; feed:x\n');
  t.is(
    await out('ipset'),
    'create ffwall-v4 hash:net family inet hashsize 1024 maxelem 16777216 timeout 0\ncreate ffwall-v6 hash:net family inet6 hashsize 1024 maxelem 16777216 timeout 0\n' +
      'add ffwall-v4 192.0.2.7\nadd ffwall-v6 2001:db8::/48\nadd ffwall-v4 198.51.100.0/24 timeout 3600\n',
  );
  t.is(
    await out('rbldnsd'),
    '# ffwall export (rbldnsd combined dataset), 2026-11-29T12:00:00.000Z\n# serve with: rbldnsd -b 127.0.0.1/5353 bl.example.org:combined:FILE\n' +
      '$DATASET ip4set:ffwall-v4 @\n:127.0.0.2:Listed by ffwall: $\n192.0.2.7\n198.51.100.0/24\n$DATASET ip6trie:ffwall-v6 @\n:127.0.0.2:Listed by ffwall: $\n2001:db8::/48\n',
  );
});
