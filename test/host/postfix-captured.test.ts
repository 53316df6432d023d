// SPDX-License-Identifier: MIT
//
// The built-in Postfix patterns against log lines captured from a real
// Postfix (test/host/fixtures/postfix/captured-<version>.log, written by the
// postfix-capture guest suite; fixtures/postfix/README.md): every offence
// the capture provoked is recognized, with its kind and client address, and
// nothing else is (captured.expected.json says what was provoked).
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { OFFENCE_KINDS } from '../../src/lib/offences.js';
import { PostfixLogWatcher, type PostfixOffence } from '../../src/lib/postfix/logwatch.js';
import { builtinPatterns, parsePostfixLine, splitSyslogLine } from '../../src/lib/postfix/parse.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const fixtures = path.join(root, 'test', 'host', 'fixtures', 'postfix');

interface Expected {
  offences: { kind: string; address: string; count: number; how: string }[];
  notCounted: { contains: string; and?: string; why: string }[];
}
const expected = JSON.parse(readFileSync(path.join(fixtures, 'captured.expected.json'), 'utf8')) as Expected;
const captures = readdirSync(fixtures)
  .filter((f) => /^captured-.+\.log$/.test(f))
  .sort();
const lines = (f: string): string[] =>
  readFileSync(path.join(fixtures, f), 'utf8')
    .split('\n')
    .filter((l) => l !== '');

/** "kind address" -> count, sorted. */
function tally(items: { kind: string; address: string; count?: number }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of items) out[`${o.kind} ${o.address}`] = (out[`${o.kind} ${o.address}`] ?? 0) + (o.count ?? 1);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
const want = tally(expected.offences);

test('there is a capture, and the expectations name every kind but "other"', (t) => {
  t.true(captures.length > 0, 'a captured-*.log fixture');
  const kinds = new Set(expected.offences.map((o) => o.kind));
  for (const k of OFFENCE_KINDS) if (k !== 'other') t.true(kinds.has(k), `${k} is provoked`);
});

for (const file of captures) {
  test(`${file}: exactly the provoked offences, each of its kind and client`, (t) => {
    const ps = builtinPatterns();
    const found: { kind: string; address: string }[] = [];
    for (const line of lines(file)) {
      t.not(splitSyslogLine(line), null, `a syslog-format line: ${line}`);
      const m = parsePostfixLine(line, ps);
      if (m === null) continue;
      found.push(m);
      // The client is the one the line names (smtpd's host[a], postscreen's [a]:port), never the HELO.
      t.true(line.includes(`[${m.address}]`), `${m.kind} ${m.address}: ${line}`);
      t.not(m.detail, '', line);
    }
    t.deepEqual(tally(found), want);
  });

  test(`${file}: the lines that must not count are there and are not counted`, (t) => {
    const ps = builtinPatterns();
    const ls = lines(file);
    for (const nc of expected.notCounted) {
      const hits = ls.filter((l) => l.includes(nc.contains) && (nc.and === undefined || l.includes(nc.and)));
      t.true(hits.length > 0, `a line with "${nc.contains}" (${nc.why})`);
      for (const l of hits) t.is(parsePostfixLine(l, ps), null, `${nc.why}: ${l}`);
    }
  });

  test(`${file}: the log watcher reading the file from its start reports the same offences, at the lines' own times`, async (t) => {
    const ls = lines(file);
    const w = new PostfixLogWatcher({ source: 'file', file: path.join(fixtures, file), fromStart: true, follow: { interval: 50, watch: false } });
    const seen: PostfixOffence[] = [];
    w.on('offence', (o) => seen.push(o));
    await w.start();
    try {
      // Wait until it has read every line (it reads asynchronously); the assertions do not depend on how long that takes.
      for (let n = 0; n < 400 && w.counts.lines < ls.length; n++) await new Promise((r) => setTimeout(r, 25));
      t.is(w.counts.lines, ls.length);
    } finally {
      await w.stop();
    }
    t.deepEqual(tally(seen), want);
    const stamps = new Set(ls.map((l) => splitSyslogLine(l)?.at));
    for (const o of seen) t.true(stamps.has(o.at), `${o.kind} ${o.address}: the time of its line`);
  });
}
