// SPDX-License-Identifier: MIT
//
// The commands of issue 9 through the daemon's socket (a ControlServer over a
// FakeKernel and a temporary database): exact human output, --json shapes
// (checked against the schemas of docs/cli-json/), exit codes, bad input that
// changes nothing, and round trips through every feed format.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { parseAddress } from '../../src/lib/index.js';
import { daemon, ffwall, shapeErrors, stop, type Spec } from './cli-helpers.js';
import { KERNEL_ENTRY, RECORD, SCHEMAS } from './cli-schemas.js';

/** Dates and relative times vary: replaced by placeholders before comparing. */
function norm(s: string): string {
  return s
    .replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/g, '<date>')
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, '<iso>')
    .replace(/\/tmp\/ffwall-cli-[A-Za-z0-9]+/g, '<dir>');
}

// The schemas the tests check are the ones documented.
test('docs/cli-json/schemas.json is the schema the tests check', (t) => {
  const doc = JSON.parse(readFileSync(new URL('../../../docs/cli-json/schemas.json', import.meta.url), 'utf8')) as { version: number; record: Spec; kernelEntry: Spec; commands: Record<string, Spec> };
  t.is(doc.version, 1);
  t.deepEqual(doc.record, RECORD);
  t.deepEqual(doc.kernelEntry, KERNEL_ENTRY);
  t.deepEqual(doc.commands, SCHEMAS);
});

async function json(args: string[], schema: string): Promise<Record<string, unknown>> {
  const r = await ffwall([...args, '--json']);
  if (r.code !== 0) throw new Error(`${args.join(' ')}: exit ${r.code}: ${r.stderr}${r.stdout}`);
  const v = JSON.parse(r.stdout) as Record<string, unknown>;
  const errs = shapeErrors(v, SCHEMAS[schema] as Spec);
  if (errs.length > 0) throw new Error(`${args[0]} --json does not match its schema: ${errs.join('; ')}`);
  return v;
}

test('human output of the main commands', async (t) => {
  const d = await daemon();
  try {
    const c = d.conn;
    t.is((await ffwall(['block', '192.0.2.7', '--port', '25,587', '--permanent', '--reason', 'spam bot', ...c])).code, 0);
    t.is((await ffwall(['block', '198.51.100.0/24', '--permanent', '--source', 'logwatch', '--tag', 'sasl', ...c])).code, 0);
    t.is((await ffwall(['allow', 'add', '10.0.0.0/8', '--reason', 'office', ...c])).stdout, `allowed 10.0.0.0/8 [client]\n`);
    t.is((await ffwall(['attach', 'eth0', ...c])).stdout, 'attached eth0 [client]\n');
    d.kernel.packet({ src: parseAddress('192.0.2.7'), proto: 'tcp', dport: 25 });
    d.kernel.packet({ src: parseAddress('198.51.100.9'), proto: 'tcp', dport: 25 });
    d.kernel.packet({ src: parseAddress('198.51.100.9'), proto: 'tcp', dport: 25 });

    t.is(
      (await ffwall(['list', ...c])).stdout,
      [
        'TARGET           STATE   PORTS   EXPIRES  HITS  SOURCE         REASON',
        '192.0.2.7        kernel  25,587  never       0  cli            spam bot',
        '198.51.100.0/24  kernel  all     never       0  logwatch/sasl',
        '2 bans [client]',
        '',
      ].join('\n'),
    );
    t.is(
      norm((await ffwall(['show', '192.0.2.7', ...c])).stdout),
      [
        'target:      192.0.2.7',
        'state:       kernel',
        'ports:       25,587',
        'source:      cli',
        'reason:      spam bot',
        'first seen:  <date>',
        'last seen:   <date>',
        'expires:     never (permanent)',
        'hits:        0',
        'bans:        1',
        'flags:       permanent',
        '',
        'TIME                  EVENT  DETAILS',
        '<date>  ban    action=created source=cli reason=spam bot ports=[25,587] level=1 duration=null durationFrom=explicit expires=null',
        '',
      ].join('\n'),
    );
    t.is(
      (await ffwall(['stats', ...c])).stdout,
      [
        'ffwall.ko 0.1.0 (ABI 1), mode enforce [client]',
        '',
        'entries:         1 of 1,048,576 (0.0%), 0 pinned',
        'prefixes:        1',
        'allowlist:       1',
        'memory:          536.2 KiB (exact 24.2 KiB, prefixes 256.0 KiB, allowlist 256.0 KiB, filter 0 B)',
        'packets seen:    3',
        'dropped:         3 (exact 0, ports 1, prefix 2)',
        'passed (allow):  0',
        'monitor hits:    0',
        'inserted:        1',
        'deleted:         0',
        'evicted:         0',
        'expired:         0',
        'events lost:     0',
        '',
        'DEVICE  IFINDEX  ATTACHED  HOOKED',
        'eth0    2        yes       yes',
        '',
        'database: 2 records: 2 in the kernel, 0 cold, 0 expired',
        '',
      ].join('\n'),
    );
    t.is(norm((await ffwall(['allow', 'list', ...c])).stdout), 'TARGET      ADDED                 KERNEL  AUTO  REASON\n10.0.0.0/8  <date>  yes           office\n');
    t.is((await ffwall(['devices', ...c])).stdout, 'DEVICE  IFINDEX  ATTACHED  HOOKED\neth0    2        yes       yes\n');
    t.is((await ffwall(['config', 'get', 'mode', ...c])).stdout, 'enforce\n');
    t.is(
      (await ffwall(['config', 'set', 'mode=monitor', 'gcInterval=30', ...c])).stdout,
      'maxEntries:      1048576\nmode:            monitor\ngcInterval:      30\nhookPriority:    -300\nmaxPrefixes:     65536\nmaxAllow:        65536\nfilterMaxBytes:  33554432\n',
    );
    t.is(
      norm((await ffwall(['status', ...c])).stdout),
      'daemon:    running (<dir>/ffwall.sock)\nmodule:    ffwall.ko 0.1.0, ABI 1, mode monitor [client]\ndatabase:  2 records (2 in the kernel, 0 cold)\nDEVICE  IFINDEX  ATTACHED  HOOKED\neth0    2        yes       yes\n',
    );
    t.is((await ffwall(['detach', 'eth0', ...c])).stdout, 'detached eth0 [client]\n');
    t.is((await ffwall(['flush', '--yes', ...c])).stdout, 'flushed exact, prefix: 2 kernel entries removed, 2 bans kept cold in the database [client]\n');
    t.is((await ffwall(['unblock', '--source', 'logwatch', '--tag', 'sasl', ...c])).stdout, 'removed 1 ban of logwatch/sasl (0 from the kernel) [client]\n');
  } finally {
    await stop(d);
  }
});

test('--json shapes match their schemas; list streams NDJSON', async (t) => {
  const d = await daemon();
  try {
    const c = d.conn;
    await d.fw.block('192.0.2.7', { ports: [25], reason: 'x', source: 'cli' });
    await d.fw.allow('10.0.0.0/8');
    await json(['attach', 'eth0', ...c], 'attach');
    const s = await json(['stats', ...c], 'stats');
    t.is((s.kernel as { entries: number }).entries, 1);
    await json(['show', '192.0.2.7', ...c], 'show');
    await json(['allow', 'list', ...c], 'allowList');
    await json(['devices', ...c], 'devices');
    await json(['config', 'get', ...c], 'config');
    await json(['status', ...c], 'status');
    const l = await ffwall(['list', '--json', ...c]);
    const lines = l.stdout.trimEnd().split('\n');
    t.is(lines.length, 1);
    t.deepEqual(shapeErrors(JSON.parse(lines[0] ?? ''), RECORD), []);
    const k = await ffwall(['list', '--kernel', '--json', ...c]);
    const klines = k.stdout.trimEnd().split('\n');
    t.is(klines.length, 1);
    t.deepEqual(shapeErrors(JSON.parse(klines[0] ?? ''), KERNEL_ENTRY), []);
    await json(['flush', '--yes', '--scope', 'exact', ...c], 'flush');
    await json(['unblock', '--source', 'cli', ...c], 'unblockSource');
    const e = await ffwall(['detach', 'eth9', '--json', ...c]);
    t.is(e.code, 1);
    t.deepEqual(shapeErrors(JSON.parse(e.stdout), SCHEMAS.error as Spec), []);
  } finally {
    await stop(d);
  }
});

test('exit codes: 2 for bad usage or input (nothing changes), 1 for refusals, 3 when unavailable', async (t) => {
  const d = await daemon();
  try {
    const c = d.conn;
    await d.fw.block('192.0.2.1');
    const before = await d.fw.stats();
    const cases: Array<[string[], number, RegExp]> = [
      [['flush', ...c], 2, /add --yes/],
      [['flush', '--yes', '--scope', 'tables', ...c], 2, /tables/],
      [['config', 'set', 'mode=loud', ...c], 2, /not enforce or monitor/],
      [['config', 'set', 'hookPriority=1', ...c], 2, /read only/],
      [['config', 'set', 'maxEntries=0', ...c], 2, /maxEntries must be/],
      [['list', '--port', '0', ...c], 2, /greater than or equal to 1|port/],
      [['list', '--state', 'gone', ...c], 2, /gone/],
      [['show', '192.0.2.1/24', ...c], 2, /did you mean 192\.0\.2\.0\/24/],
      [['unblock', ...c], 2, /--source NAME/],
      [['unblock', '192.0.2.1', '--source', 'x', ...c], 2, /not both/],
      [['attach', 'a/b', ...c], 2, /network device name/],
      [['allow', 'add', '300.1.1.1', ...c], 2, /invalid address/],
      [['import', '/nonexistent/feed.txt', ...c], 1, /ENOENT|no such file/],
      [['detach', 'eth7', ...c], 1, /not in the attach list/],
      [['allow', 'add', '192.0.2.0/24', '--reason', 'x'.repeat(300), ...c], 2, /longer than 256/],
    ];
    for (const [args, code, re] of cases) {
      const r = await ffwall(args);
      t.is(r.code, code, `${args.join(' ')}: ${r.stderr}`);
      t.regex(r.stderr, re, args.join(' '));
    }
    const after = await d.fw.stats();
    t.is(after.kernel.entries, before.kernel.entries);
    t.is(after.config.mode, 'enforce');
    t.deepEqual(after.devices, []);
    t.is((await d.fw.allowList()).length, 0);
  } finally {
    await stop(d);
  }
  for (const cmd of [['stats'], ['list'], ['top', '--iterations', '1'], ['devices']]) {
    const r = await ffwall([...cmd, '--transport', 'client', '--socket', '/nonexistent/s']);
    t.is(r.code, 3, cmd.join(' '));
  }
  const st = await ffwall(['status', '--socket', '/nonexistent/s', '--device', '/nonexistent/dev', '--json']);
  t.is(st.code, 3);
  t.deepEqual(shapeErrors(JSON.parse(st.stdout), SCHEMAS.status as Spec), []);
  t.regex((await ffwall(['status', '--socket', '/nonexistent/s', '--device', '/nonexistent/dev'])).stdout, /daemon: +not running[\s\S]*module: +not loaded/);
});

test('feeds: round trips through plain, drop and ipset; the feed name is the source tag', async (t) => {
  const d = await daemon();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-feeds-'));
  try {
    const c = d.conn;
    const targets = ['192.0.2.7', '198.51.100.0/24', '203.0.113.0/25', '2001:db8:1::/48', '2001:db8:2::/64'];
    const inputs: Record<'plain' | 'drop' | 'ipset', string> = {
      plain: `# a feed\n\n${targets.map((x, i) => (i === 1 ? `${x}   ; with a comment` : x)).join('\n')}\n`,
      drop: `; Spamhaus DROP\n${targets.map((x, i) => `${x} ; SBL${i}`).join('\n')}\n`,
      ipset: `create bl hash:net family inet hashsize 1024 maxelem 65536 timeout 0\n${targets.map((x) => `add bl ${x} timeout 86400`).join('\n')}\n`,
    };
    for (const format of ['plain', 'drop', 'ipset'] as const) {
      const f = path.join(dir, `${format}.txt`);
      writeFileSync(f, inputs[format]);
      const r = await json(['import', f, '--format', format, '--name', `feed-${format}`, ...c], 'import');
      t.is(r.applied, targets.length);
      const e = await ffwall(['export', '--format', format, '--source', 'feed', '--tag', `feed-${format}`, ...c]);
      t.is(e.code, 0, e.stderr);
      // The export reads back as the same set of bans.
      const back = path.join(dir, `${format}.back`);
      writeFileSync(back, e.stdout);
      const listed = (await ffwall(['list', '--source', 'feed', '--tag', `feed-${format}`, '--json', ...c])).stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l) as { target: string; reason: string });
      t.deepEqual(listed.map((x) => x.target).sort(), [...targets].sort(), format);
      if (format === 'drop') t.deepEqual(listed.map((x) => x.reason).sort(), ['SBL0', 'SBL1', 'SBL2', 'SBL3', 'SBL4']);
      const u = await ffwall(['unblock', '--source', `feed-${format}`, ...c]);
      t.is(u.stdout, `removed 5 bans of feed/feed-${format} (5 from the kernel) [client]\n`);
      t.is((await d.fw.stats()).kernel.entries + (await d.fw.stats()).kernel.prefixes, 0);
      const r2 = await json(['import', back, '--format', format, '--name', `again-${format}`, ...c], 'import');
      t.is(r2.applied, targets.length, `${format} export re-imports`);
      const again = (await ffwall(['export', '--format', format, '--source', 'feed', '--tag', `again-${format}`, ...c])).stdout;
      const body = (s: string): string[] => s.split('\n').filter((l) => !/^[#;]/.test(l)).map((l) => l.replace(/ timeout \d+$/, '')).sort();
      t.deepEqual(body(again), body(e.stdout), `${format} round trip`);
      await ffwall(['unblock', '--source', `again-${format}`, ...c]);
    }
    // Standard input, spooled.
    const s = await ffwall(['import', '-', '--name', 'stdin-feed', ...c], { input: '192.0.2.99\n' });
    t.is(s.code, 0, s.stderr);
    t.is(s.stdout, 'imported 1 entry of stdin-feed (1 new) from 1 lines [client]\n');
    t.is((await ffwall(['import', '-', ...c], { input: '192.0.2.98\n' })).code, 2, 'stdin needs --name');
  } finally {
    await stop(d);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a feed with one bad line at line 70,001 changes nothing and names that line', async (t) => {
  const d = await daemon();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-feeds-'));
  try {
    const lines = Array.from({ length: 100_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    lines[70_000] = '10.1.17.0/16';
    const f = path.join(dir, 'big.txt');
    writeFileSync(f, `${lines.join('\n')}\n`);
    const r = await ffwall(['import', f, '--name', 'big', ...d.conn]);
    t.is(r.code, 2);
    t.is(r.stderr, `ffwall: ${f}: line 70001: "10.1.17.0/16": host bits are set beyond the prefix length (did you mean 10.1.0.0/16?); nothing was imported\n`);
    const s = await d.fw.stats();
    t.is(s.kernel.entries + s.kernel.prefixes, 0);
    t.is(s.database?.total, 0);
    // An allowlisted entry is refused the same way.
    await d.fw.allow('10.0.200.0/24');
    lines[70_000] = '10.1.17.0';
    writeFileSync(f, `${lines.join('\n')}\n`);
    const a = await ffwall(['import', f, '--name', 'big', '--json', ...d.conn]);
    t.is(a.code, 2);
    t.regex((JSON.parse(a.stdout) as { error: { message: string } }).error.message, /line 51201: "10\.0\.200\.0": 10\.0\.200\.0 is on the allowlist/);
    t.is((await d.fw.stats()).database?.total, 0);
    // The good file applies in batches.
    await d.fw.disallow('10.0.200.0/24');
    const ok = await ffwall(['import', f, '--name', 'big', '--permanent', ...d.conn]);
    t.is(ok.code, 0, ok.stderr);
    // Line 70,001 now repeats line 69,889 (10.1.17.0): one refresh.
    t.is(ok.stdout, 'imported 100,000 entries of big (99,999 new) from 100,000 lines [client]\n');
    t.is((await d.fw.stats()).database?.total, 99_999);
  } finally {
    await stop(d);
    rmSync(dir, { recursive: true, force: true });
  }
});
