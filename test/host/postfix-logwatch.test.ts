// SPDX-License-Identifier: MIT
//
// PostfixLogWatcher: a file or the journal in, offences out (the daemon's
// OffenceSource interface).
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { parseConfig } from '../../src/daemon/config.js';
import { DaemonService, offenceSourcesOf } from '../../src/daemon/daemon.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';
import type { OffenceSource } from '../../src/lib/offences.js';
import { PostfixLogWatcher, type PostfixOffence } from '../../src/lib/postfix/logwatch.js';
import { PatternError } from '../../src/lib/postfix/parse.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/host/fixtures/postfix');
const expected = (JSON.parse(readFileSync(path.join(fixtures, 'expected.json'), 'utf8')) as ({ kind: string; address: string } | null)[]).filter((e) => e !== null);

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'ffwall-logwatch-'));
  dirs.push(d);
  return d;
}
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test('it is an OffenceSource, and its constructor does no work', (t) => {
  const w: OffenceSource = new PostfixLogWatcher({ source: 'file', file: '/nonexistent/dir/mail.log', patterns: '/nonexistent/patterns.json' });
  t.truthy(w);
});

test('file source: appended lines become offences (origin postfix, stamped on arrival)', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'mail.log');
  writeFileSync(file, readFileSync(path.join(fixtures, 'syslog.log')));
  const w = new PostfixLogWatcher({ source: 'file', file, follow: { interval: 3_600_000, watch: false } });
  const got: PostfixOffence[] = [];
  w.on('offence', (o) => got.push(o));
  await w.start();
  await w.follower!.poke();
  t.is(got.length, 0, 'lines already in the file are not read');
  const before = Date.now();
  appendFileSync(file, readFileSync(path.join(fixtures, 'rfc3339.log')));
  await w.follower!.poke();
  const after = Date.now();
  await w.stop();
  t.deepEqual(
    got.map((o) => ({ kind: o.kind, address: o.address })),
    expected,
  );
  for (const o of got) {
    t.is(o.origin, 'postfix');
    t.true(o.at >= before && o.at <= after);
    t.true(typeof o.detail === 'string' && o.detail.length > 0);
  }
  t.deepEqual(w.counts, { lines: readFileSync(path.join(fixtures, 'rfc3339.log'), 'utf8').split('\n').length - 1, offences: expected.length });
});

test('file source from the start: offences carry the lines\' own timestamps', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'mail.log');
  writeFileSync(file, readFileSync(path.join(fixtures, 'rfc3339.log')));
  const w = new PostfixLogWatcher({ source: 'file', file, fromStart: true, follow: { interval: 3_600_000, watch: false } });
  const got: PostfixOffence[] = [];
  w.on('offence', (o) => got.push(o));
  await w.start();
  await w.follower!.poke();
  await w.stop();
  t.is(got.length, expected.length);
  t.is(got[0]?.at, Date.parse('2026-11-29T14:00:00.123456Z'));
});

test('journal source: records become offences with the journal\'s timestamps', async (t) => {
  const dir = tmp();
  const bin = path.join(dir, 'journalctl');
  writeFileSync(bin, `#!/bin/sh\necho "$@" > "${dir}/args"\ncat "${path.join(fixtures, 'journal.json')}"\nexec sleep 600\n`);
  chmodSync(bin, 0o755);
  const w = new PostfixLogWatcher({ source: 'journal', unit: 'postfix@-.service', journalctl: bin });
  const got: PostfixOffence[] = [];
  const all = new Promise<void>((resolve) =>
    w.on('offence', (o) => {
      got.push(o);
      if (got.length === expected.length) resolve();
    }),
  );
  await w.start();
  await all;
  await w.stop();
  t.deepEqual(
    got.map((o) => ({ kind: o.kind, address: o.address })),
    expected,
  );
  t.is(got[0]?.at, 1795960800000);
  t.regex(readFileSync(path.join(dir, 'args'), 'utf8'), /--since now -u postfix@-\.service/);
});

test('start() fails cleanly: a bad patterns file, a missing journalctl', async (t) => {
  const dir = tmp();
  const pf = path.join(dir, 'p.json');
  writeFileSync(pf, JSON.stringify({ patterns: [{ name: 'mine', kind: 'other', programs: ['smtpd'], contains: 'x', regex: 'no group' }] }));
  const w = new PostfixLogWatcher({ source: 'file', file: path.join(dir, 'mail.log'), patterns: pf });
  const e = await t.throwsAsync(w.start(), { instanceOf: PatternError });
  t.regex(e!.message, /patterns\[0\] \("mine"\): "regex" has no named group/);
  t.is(w.follower, undefined, 'nothing started');
  const j = new PostfixLogWatcher({ source: 'journal', journalctl: path.join(dir, 'no-journalctl') });
  await t.throwsAsync(j.start(), { message: /journalctl not found/ });
  await j.stop();
  await t.throwsAsync(new PostfixLogWatcher({ source: 'syslog' as 'file' }).start(), { instanceOf: TypeError });
});

// ---- in the daemon ----

test('the daemon runs the watcher of postfix.log, bans what it reports, and follows a new file after a reload', async (t) => {
  const dir = tmp();
  const log1 = path.join(dir, 'mail.log');
  const log2 = path.join(dir, 'mail2.log');
  writeFileSync(log1, '');
  const conf = (file: string): string =>
    JSON.stringify({
      database: { path: path.join(dir, 'db') },
      socket: { path: path.join(dir, 'ffwall.sock') },
      safety: { resolvConf: path.join(dir, 'resolv.conf') },
      postfix: { log: { enabled: true, source: 'file', file } },
    });
  const cfgFile = path.join(dir, 'ffwall.jsonc');
  writeFileSync(cfgFile, conf(log1));
  const kernel = new FakeKernel();
  const svc = new DaemonService({ configPath: cfgFile, kernel, logDestination: new Writable({ write: (_c, _e, cb) => cb() }), env: {}, signals: false });
  await svc.start();
  const rbl = (ip: string): string =>
    `Nov 29 14:00:00 mx postfix/smtpd[7]: NOQUEUE: reject: RCPT from unknown[${ip}]: 554 5.7.1 Service unavailable; Client host [${ip}] blocked using zen.spamhaus.org; from=<a@b.example> to=<c@example.org> proto=ESMTP helo=<x>\n`;
  const banned = async (ip: string): Promise<boolean> => (await svc.daemon.ffwall.check(ip, { port: 25 })).blocked;
  const until = async (ip: string): Promise<void> => {
    while (!(await banned(ip))) await new Promise((r) => setTimeout(r, 20));
  };
  try {
    appendFileSync(log1, rbl('198.51.100.7'));
    await until('198.51.100.7');
    t.true(await banned('198.51.100.7'));
    t.false(await banned('198.51.100.8'));
    writeFileSync(cfgFile, conf(log2));
    t.true(await svc.reload());
    appendFileSync(log2, rbl('198.51.100.8'));
    await until('198.51.100.8');
    t.true(await banned('198.51.100.8'));
    const rec = await svc.daemon.ffwall.show('198.51.100.8');
    t.is(rec.record?.source, 'logwatch');
  } finally {
    await svc.stop();
    await svc.done;
    await kernel.close();
  }
});

test('postfix.log in the configuration: the watcher it makes (patterns file included), none when disabled, bad values named', (t) => {
  const cfg = (log: unknown) => parseConfig(JSON.stringify({ postfix: { log } }));
  const ok = cfg({ enabled: true, source: 'file', file: '/var/log/maillog', patterns: '/etc/ffwall/postfix-patterns.json' });
  if (!ok.ok) return t.fail(JSON.stringify(ok.errors));
  const [w, ...rest] = offenceSourcesOf(ok.config);
  t.is(rest.length, 0);
  t.true(w instanceof PostfixLogWatcher);
  t.deepEqual((w as PostfixLogWatcher).options, { source: 'file', file: '/var/log/maillog', patterns: '/etc/ffwall/postfix-patterns.json' });
  const j = cfg({ enabled: true });
  if (!j.ok) return t.fail();
  t.deepEqual((offenceSourcesOf(j.config)[0] as PostfixLogWatcher).options, { source: 'journal', unit: 'postfix@-' });
  const off = cfg({ enabled: false, source: 'file' });
  if (!off.ok) return t.fail();
  t.deepEqual(offenceSourcesOf(off.config), []);
  const bad = cfg({ patterns: 'relative.json' });
  t.false(bad.ok);
  if (!bad.ok) t.is(bad.errors[0]?.key, 'postfix.log.patterns');
  const bad2 = cfg({ patterns: 5 });
  t.false(bad2.ok);
});
