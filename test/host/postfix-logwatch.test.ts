// SPDX-License-Identifier: MIT
//
// PostfixLogWatcher: a file or the journal in, offences out (the daemon's
// OffenceSource interface).
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import type { OffenceSource } from '../../src/lib/offences.js';
import { PostfixLogWatcher, type PostfixOffence } from '../../src/lib/postfix/logwatch.js';
import { PatternError } from '../../src/lib/postfix/parse.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/host/fixtures/postfix');
const expected = (JSON.parse(readFileSync(path.join(fixtures, 'expected.json'), 'utf8')) as ({ kind: string; address: string } | null)[]).filter((e) => e !== null);

function tmp(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'ffwall-logwatch-'));
}

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
