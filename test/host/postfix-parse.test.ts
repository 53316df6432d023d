// SPDX-License-Identifier: MIT
//
// The Postfix patterns against real-format log lines: the three line formats
// (syslog, RFC 3339, Postfix's maillog_file), journald records, IPv4/IPv6,
// look-alike lines that are no offence, and bad user pattern files.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { OFFENCE_KINDS } from '../../src/lib/offences.js';
import { parseJournalLine } from '../../src/lib/postfix/follow.js';
import {
  PatternError,
  builtinPatterns,
  loadPatterns,
  matchPostfixMessage,
  normalizeAddress,
  parsePostfixLine,
  programOf,
  splitSyslogLine,
} from '../../src/lib/postfix/parse.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const fixtures = path.join(root, 'test', 'host', 'fixtures', 'postfix');
const lines = (name: string): string[] => readFileSync(path.join(fixtures, name), 'utf8').split('\n').filter((l) => l !== '');
const expected = JSON.parse(readFileSync(path.join(fixtures, 'expected.json'), 'utf8')) as ({ kind: string; address: string } | null)[];

test('every built-in pattern has a fixed kind, and every kind but "other" has a pattern', (t) => {
  const ps = builtinPatterns();
  for (const p of ps) t.true((OFFENCE_KINDS as readonly string[]).includes(p.kind), p.name);
  const kinds = new Set(ps.map((p) => p.kind));
  for (const k of OFFENCE_KINDS) if (k !== 'other') t.true(kinds.has(k), `a pattern for ${k}`);
  t.false(kinds.has('other'));
});

for (const file of ['syslog.log', 'rfc3339.log', 'maillog.log']) {
  test(`${file}: every line gives the expected offence or none`, (t) => {
    const ls = lines(file);
    t.is(ls.length, expected.length);
    const ps = builtinPatterns();
    ls.forEach((line, i) => {
      const m = parsePostfixLine(line, ps, Date.parse('2026-11-30T00:00:00Z'));
      const want = expected[i];
      if (want === null || want === undefined) t.is(m, null, `line ${i + 1} is no offence: ${line}`);
      else t.like(m, { kind: want.kind, address: want.address }, `line ${i + 1}: ${line}`);
    });
  });
}

test('each pattern matches at least one fixture line, and the fixtures cover IPv4 and IPv6 for the smtpd kinds', (t) => {
  const ps = builtinPatterns();
  const hits = new Map<string, Set<number>>();
  for (const line of lines('syslog.log')) {
    const m = parsePostfixLine(line, ps);
    if (m === null) continue;
    const s = hits.get(m.pattern) ?? new Set<number>();
    s.add(m.address.includes(':') ? 6 : 4);
    hits.set(m.pattern, s);
  }
  for (const p of ps) t.true(hits.has(p.name), `${p.name} matched`);
  for (const name of ['smtpd-unknown-user', 'smtpd-rbl', 'smtpd-relay-denied', 'smtpd-sasl-failed']) t.deepEqual([...hits.get(name)!].sort(), [4, 6], name);
});

test('details: the RBL, the table, the HELO reason, the SASL mechanism, the postscreen facts', (t) => {
  const ps = builtinPatterns();
  const byLine = lines('syslog.log').map((l) => parsePostfixLine(l, ps));
  t.is(byLine[0]?.detail, 'User unknown in local recipient table');
  t.is(byLine[5]?.detail, 'zen.spamhaus.org');
  t.is(byLine[10]?.detail, 'need fully-qualified hostname');
  t.is(byLine[13]?.detail, 'LOGIN');
  t.is(byLine[17]?.detail, '3');
  t.is(byLine[19]?.detail, 'tests after SMTP handshake');
  t.is(byLine[2]?.program, 'smtpd');
  t.is(byLine[16]?.program, 'postscreen');
});

test('the three timestamp formats give the same instant (local time for the stamps without a zone)', (t) => {
  const now = new Date(2026, 10, 30).getTime();
  const bsd = splitSyslogLine('Nov 29 14:00:01 mx postfix/smtpd[12]: connect from x[192.0.2.1]', now);
  const bsdPadded = splitSyslogLine('Nov  9 14:00:01 mx postfix/smtpd[12]: connect from x[192.0.2.1]', now);
  const postlog = splitSyslogLine('Nov 09 14:00:01 mx postfix/smtpd[12]: connect from x[192.0.2.1]', now);
  const iso = splitSyslogLine('2026-11-29T14:00:01.250000+00:00 mx postfix/smtpd[12]: connect from x[192.0.2.1]', now);
  t.is(bsd?.at, new Date(2026, 10, 29, 14, 0, 1).getTime());
  t.is(bsdPadded?.at, new Date(2026, 10, 9, 14, 0, 1).getTime());
  t.is(postlog?.at, bsdPadded?.at);
  t.is(iso?.at, Date.UTC(2026, 10, 29, 14, 0, 1, 250));
  t.like(iso, { host: 'mx', tag: 'postfix/smtpd', pid: 12, message: 'connect from x[192.0.2.1]' });
  // December's lines read in January belong to the previous year.
  const jan = splitSyslogLine('Dec 31 23:59:59 mx postfix/smtpd[1]: x', new Date(2027, 0, 1, 0, 5).getTime());
  t.is(new Date(jan!.at!).getFullYear(), 2026);
  t.is(splitSyslogLine('not a syslog line'), null);
});

test('programs: the last part of a postfix tag; other tags are not Postfix', (t) => {
  t.is(programOf('postfix/smtpd'), 'smtpd');
  t.is(programOf('postfix/submission/smtpd'), 'smtpd');
  t.is(programOf('postfix-out/smtpd'), 'smtpd');
  t.is(programOf('postfix/postscreen'), 'postscreen');
  t.is(programOf('smtpd'), null);
  t.is(programOf('sshd'), null);
  const ps = builtinPatterns();
  const msg = 'DNSBL rank 3 for [192.0.2.91]:51515';
  t.like(matchPostfixMessage('postfix/postscreen', msg, ps), { kind: 'dnsbl', address: '192.0.2.91' });
  // The pattern is postscreen's: the same text under smtpd is not it.
  t.is(matchPostfixMessage('postfix/smtpd', msg, ps), null);
});

test('addresses: IPv6 lower-cased, "IPv6:" prefixes and IPv4-mapped addresses normalized, non-addresses refused', (t) => {
  t.is(normalizeAddress('2001:DB8::1'), '2001:db8::1');
  t.is(normalizeAddress('IPv6:2001:db8::1'), '2001:db8::1');
  t.is(normalizeAddress('::ffff:192.0.2.7'), '192.0.2.7');
  t.is(normalizeAddress('192.0.2.7'), '192.0.2.7');
  t.is(normalizeAddress('unknown'), null);
  t.is(normalizeAddress('999.1.1.1'), null);
  const ps = builtinPatterns();
  const line = 'Nov 29 14:00:00 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[IPv6:2001:db8::77]: 554 5.7.1 <v@elsewhere.example>: Relay access denied; from=<a@b> to=<v@elsewhere.example> proto=ESMTP helo=<h>';
  t.like(parsePostfixLine(line, ps), { kind: 'relay-denied', address: '2001:db8::77' });
});

test('journald records: MESSAGE as a string or as bytes; the fixture gives the same offences as the log files', (t) => {
  const ps = builtinPatterns();
  const recs = lines('journal.json').map((l) => parseJournalLine(l));
  t.is(recs.length, expected.length);
  let bytes = 0;
  lines('journal.json').forEach((l) => {
    if (Array.isArray((JSON.parse(l) as { MESSAGE: unknown }).MESSAGE)) bytes++;
  });
  t.true(bytes >= 5, 'the fixture has byte-array messages');
  recs.forEach((r, i) => {
    t.truthy(r);
    const m = matchPostfixMessage(r!.identifier, r!.message, ps);
    const want = expected[i];
    if (want === null || want === undefined) t.is(m, null, `record ${i + 1}`);
    else t.like(m, { kind: want.kind, address: want.address }, `record ${i + 1}`);
  });
  t.like(recs[0], { identifier: 'postfix/smtpd', pid: 1000, cursor: 's=abc;i=1', at: 1795960800000 });
  t.is(parseJournalLine('{"MESSAGE":"x"}'), null, 'no identifier');
  t.is(parseJournalLine('not json'), null);
  t.like(parseJournalLine('{"SYSLOG_IDENTIFIER":"postfix/smtpd","MESSAGE":[104,105,255]}'), { message: 'hi\ufffd' });
});

const dirs: string[] = [];
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tmpFile(name: string, text: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-patterns-'));
  dirs.push(dir);
  const f = path.join(dir, name);
  writeFileSync(f, text);
  return f;
}

test('a user patterns file adds patterns, overrides built-ins by name and turns them off', async (t) => {
  const f = tmpFile(
    'p.json',
    JSON.stringify({
      patterns: [
        { name: 'postscreen-hangup', disabled: true },
        {
          name: 'smtpd-relay-denied',
          kind: 'other',
          programs: ['smtpd'],
          contains: 'Relay access denied',
          regex: 'from [^\\[]*\\[(?<address>[0-9a-f:.]+)\\].*Relay access denied',
          description: 'relay, counted as other',
        },
        {
          name: 'smtpd-too-many-errors',
          kind: 'other',
          programs: ['smtpd'],
          contains: 'too many errors after ',
          regex: '^too many errors after (?<detail>\\S+) from [^\\[]*\\[(?<address>[0-9A-Fa-f:.]+)\\]',
          description: 'a client that keeps sending bad commands',
        },
      ],
    }),
  );
  const ps = await loadPatterns(f);
  t.false(ps.some((p) => p.name === 'postscreen-hangup'));
  t.is(ps.find((p) => p.name === 'smtpd-relay-denied')?.kind, 'other');
  t.is(ps.at(-1)?.name, 'smtpd-too-many-errors');
  t.like(matchPostfixMessage('postfix/smtpd', 'too many errors after RCPT from unknown[192.0.2.5]', ps), { kind: 'other', address: '192.0.2.5', detail: 'RCPT' });
  t.is(matchPostfixMessage('postfix/postscreen', 'HANGUP after 0.52 from [192.0.2.9]:40444 in tests after SMTP handshake', ps), null);
});

test('bad patterns files: a clear error naming the file and the entry', async (t) => {
  const bad = async (doc: unknown, re: RegExp): Promise<void> => {
    const f = tmpFile('bad.json', typeof doc === 'string' ? doc : JSON.stringify(doc));
    const e = await t.throwsAsync(loadPatterns(f), { instanceOf: PatternError });
    t.regex(e!.message, re);
    t.true(e!.message.includes(f), 'names the file');
  };
  const ok = { name: 'x', kind: 'other', programs: ['smtpd'], contains: 'y', regex: '(?<address>\\S+) y' };
  await bad('{ not json', /not JSON/);
  await bad({ pattern: [] }, /unknown key "pattern"/);
  await bad({ patterns: [ok, { ...ok, name: 'broken', regex: '(?<address>[' }] }, /patterns\[1\] \("broken"\): "regex": Invalid regular expression/);
  await bad({ patterns: [{ ...ok, kind: 'spam' }] }, /patterns\[0\] \("x"\): "kind": "spam" is not one of/);
  await bad({ patterns: [{ ...ok, regex: '(\\S+) y' }] }, /\("x"\): "regex" has no named group \(\?<address>/);
  await bad({ patterns: [{ ...ok, programs: [] }] }, /\("x"\): "programs" must be/);
  await bad({ patterns: [{ ...ok, contains: '' }] }, /\("x"\): "contains" must be/);
  await bad({ patterns: [ok, ok] }, /patterns\[1\] \("x"\): a second pattern of this name/);
  await bad({ patterns: [{ name: 'no-such', disabled: true }] }, /"no-such" is disabled but there is no built-in/);
  await bad({ patterns: [{ ...ok, typo: 1 }] }, /unknown key "typo"/);
  const e = await t.throwsAsync(loadPatterns('/nonexistent/patterns.json'), { instanceOf: PatternError });
  t.regex(e!.message, /patterns file \/nonexistent\/patterns.json: ENOENT/);
});

test('the built-in patterns file is in the npm package', (t) => {
  const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { files: string[] };
  t.true(pkg.files.some((f) => f === 'src/lib/postfix/patterns.json'), 'package.json "files" lists src/lib/postfix/patterns.json (dist/ holds no JSON)');
});

test('variants: rejections at CONNECT and HELO (smtpd_delay_reject = no), "Recipient address rejected: Relay access denied", a queue id, client port logging', (t) => {
  const ps = builtinPatterns();
  const m = (msg: string) => matchPostfixMessage('postfix/smtpd', msg, ps);
  t.like(m('NOQUEUE: reject: CONNECT from unknown[192.0.2.70]: 554 5.7.1 Service unavailable; Client host [192.0.2.70] blocked using zen.spamhaus.org; proto=SMTP'), { kind: 'rbl', address: '192.0.2.70', detail: 'zen.spamhaus.org' });
  t.like(m('NOQUEUE: reject: EHLO from unknown[192.0.2.71]: 504 5.5.2 <x>: Helo command rejected: need fully-qualified hostname; proto=SMTP helo=<x>'), { kind: 'bad-helo', address: '192.0.2.71' });
  t.like(m('NOQUEUE: reject: RCPT from unknown[192.0.2.72]: 554 5.7.1 <v@elsewhere.example>: Recipient address rejected: Relay access denied; from=<a@b> to=<v@elsewhere.example> proto=ESMTP helo=<h>'), { kind: 'relay-denied', address: '192.0.2.72', detail: 'v@elsewhere.example' });
  t.like(m('4Yk2Zq1Xh7z9sVw: reject: RCPT from mx.example.net[192.0.2.73]:41234: 550 5.1.1 <z@example.org>: Recipient address rejected: User unknown in virtual alias table; from=<a@b> to=<z@example.org> proto=ESMTP helo=<mx.example.net>'), { kind: 'unknown-user', address: '192.0.2.73', detail: 'User unknown in virtual alias table' });
  // Other rejections are not among the kinds.
  t.is(m('NOQUEUE: reject: RCPT from unknown[192.0.2.74]: 450 4.7.1 Client host rejected: cannot find your hostname, [192.0.2.74]; from=<a@b> to=<c@d> proto=ESMTP helo=<h>'), null);
  t.is(m('NOQUEUE: reject: RCPT from unknown[192.0.2.75]: 450 4.1.8 <a@nx.example>: Sender address rejected: Domain not found; from=<a@nx.example> to=<c@d> proto=ESMTP helo=<h>'), null);
});
