// SPDX-License-Identifier: MIT
//
// Following a log file like `tail -F` (append, partial lines, rotation by
// rename and by truncation, a file that appears later, big bursts, overlong
// lines) and journalctl's JSON output (through a stand-in journalctl).
// The followers poll; the tests call poke() instead of waiting for a poll.
import { appendFileSync, chmodSync, mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { FileFollower, JournalFollower, type JournalRecord } from '../../src/lib/postfix/follow.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(path.join(os.tmpdir(), 'ffwall-follow-'));
  dirs.push(d);
  return d;
}
test.after.always(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A follower that only reads when poked, and the lines it emitted. */
async function follower(file: string, opts: { fromStart?: boolean; chunkSize?: number; maxLineBytes?: number } = {}): Promise<{ f: FileFollower; got: string[]; opens: string[] }> {
  const f = new FileFollower(file, { ...opts, interval: 3_600_000, watch: false });
  const got: string[] = [];
  const opens: string[] = [];
  f.on('line', (l) => got.push(l));
  f.on('open', (o) => opens.push(o.reason));
  f.on('error', (e) => {
    throw e;
  });
  await f.start();
  return { f, got, opens };
}

test('starts at the end: old lines are skipped, appended lines come in order', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'mail.log');
  writeFileSync(file, 'old 1\nold 2\n');
  const { f, got } = await follower(file);
  await f.poke();
  t.deepEqual(got, []);
  appendFileSync(file, 'new 1\nnew 2\n');
  await f.poke();
  appendFileSync(file, 'new 3\r\n');
  await f.poke();
  t.deepEqual(got, ['new 1', 'new 2', 'new 3']);
  await f.stop();
  rmSync(dir, { recursive: true });
});

test('fromStart reads the whole file', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'mail.log');
  writeFileSync(file, 'a\nb\n');
  const { f, got } = await follower(file, { fromStart: true });
  await f.poke();
  t.deepEqual(got, ['a', 'b']);
  await f.stop();
});

test('a partial last line waits for its newline; a start inside a line skips its rest', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'mail.log');
  writeFileSync(file, 'whole\nhalf of a li');
  const { f, got } = await follower(file);
  appendFileSync(file, 'ne\nnext: ab');
  await f.poke();
  t.deepEqual(got, [], 'the rest of the line we started in is dropped; "next" is not finished');
  appendFileSync(file, 'cd');
  await f.poke();
  t.deepEqual(got, []);
  appendFileSync(file, 'ef\n');
  await f.poke();
  t.deepEqual(got, ['next: abcdef']);
  await f.stop();
});

test('rotation by rename: the old file is read to its end, then the new one from its start', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'mail.log');
  writeFileSync(file, '');
  const { f, got, opens } = await follower(file);
  appendFileSync(file, 'one\n');
  await f.poke();
  renameSync(file, `${file}.1`);
  // Postfix (or syslog) still writes to the renamed file until it reopens.
  appendFileSync(`${file}.1`, 'two\nthree (no newline)');
  await f.poke();
  t.deepEqual(got, ['one', 'two'], 'no new file yet: the old one is still followed');
  writeFileSync(file, 'four\n');
  appendFileSync(`${file}.1`, '!');
  await f.poke();
  t.deepEqual(got, ['one', 'two', 'three (no newline)!', 'four']);
  appendFileSync(file, 'five\n');
  await f.poke();
  t.deepEqual(got.slice(4), ['five']);
  t.deepEqual(opens, ['start', 'rotated']);
  await f.stop();
});

test('rotation by truncation (copytruncate): reading restarts at the beginning', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'mail.log');
  writeFileSync(file, 'x'.repeat(100) + '\n');
  const { f, got, opens } = await follower(file);
  appendFileSync(file, 'before\n');
  await f.poke();
  truncateSync(file, 0);
  appendFileSync(file, 'after\n');
  await f.poke();
  t.deepEqual(got, ['before', 'after']);
  t.deepEqual(opens, ['start', 'truncated']);
  await f.stop();
});

test('a file that does not exist yet is waited for and read from its start', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'later.log');
  const { f, got, opens } = await follower(file);
  await f.poke();
  t.deepEqual(got, []);
  writeFileSync(file, 'first\nsecond\n');
  await f.poke();
  t.deepEqual(got, ['first', 'second']);
  t.deepEqual(opens, ['created']);
  await f.stop();
});

test('a big burst is read in bounded chunks, every line once and in order; overlong lines are cut', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'mail.log');
  writeFileSync(file, '');
  const { f, got } = await follower(file, { chunkSize: 4096, maxLineBytes: 1000 });
  const n = 20_000;
  let text = '';
  for (let i = 0; i < n; i++) text += `line ${i} ${'.'.repeat(i % 90)}\n`;
  appendFileSync(file, text);
  appendFileSync(file, `${'L'.repeat(100_000)}\nafter the long line\n`);
  await f.poke();
  t.is(got.length, n + 2);
  t.true(got.slice(0, n).every((l, i) => l.startsWith(`line ${i} `)));
  t.is(got[n], 'L'.repeat(1000), 'cut at maxLineBytes');
  t.is(got[n + 1], 'after the long line');
  await f.stop();
});

test('the poll finds new lines without poke() (real timer)', async (t) => {
  const dir = tmp();
  const file = path.join(dir, 'mail.log');
  writeFileSync(file, '');
  const f = new FileFollower(file, { interval: 20, watch: true });
  await f.start();
  const line = new Promise<string>((resolve) => f.once('line', resolve));
  appendFileSync(file, 'polled\n');
  t.is(await line, 'polled');
  await f.stop();
});

/** A stand-in journalctl: logs its arguments, prints a fixture, then waits (or exits). */
function fakeJournalctl(dir: string, body: string): string {
  const bin = path.join(dir, 'journalctl');
  writeFileSync(bin, `#!/bin/sh\necho "$@" >> "${dir}/args"\n${body}\n`);
  chmodSync(bin, 0o755);
  return bin;
}

test('journalctl: JSON lines become records; the arguments follow the units from now', async (t) => {
  const dir = tmp();
  const fixture = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../test/host/fixtures/postfix/journal.json');
  const bin = fakeJournalctl(dir, `cat "${fixture}"\nexec sleep 600`);
  const j = new JournalFollower({ journalctl: bin, units: ['postfix@-.service'] });
  const want = readFileSync(fixture, 'utf8').split('\n').filter((l) => l !== '').length;
  const recs: JournalRecord[] = [];
  const all = new Promise<void>((resolve) =>
    j.on('record', (r) => {
      recs.push(r);
      if (recs.length === want) resolve();
    }),
  );
  await j.start();
  await all;
  await j.stop();
  t.is(recs.length, want);
  t.is(recs[3]?.identifier, 'postfix/smtpd');
  t.true(recs[3]!.message.startsWith('E1A2B3C4D5: reject: RCPT from unknown[192.0.2.95]'), 'a byte-array MESSAGE decoded');
  t.is(readFileSync(path.join(dir, 'args'), 'utf8').trim(), '-f -o json --no-pager -q --since now -u postfix@-.service');
});

test('journalctl that ends is restarted after the last cursor', async (t) => {
  const dir = tmp();
  const rec = (i: number): string => JSON.stringify({ __CURSOR: `c${i}`, SYSLOG_IDENTIFIER: 'postfix/smtpd', MESSAGE: `m${i}` });
  // First run: one record, then exit 1; second run: another record, then wait.
  const bin = fakeJournalctl(dir, `if [ -e "${dir}/ran" ]; then echo '${rec(2)}'; exec sleep 600; fi\ntouch "${dir}/ran"\necho '${rec(1)}'\necho 'boom' >&2\nexit 1`);
  const j = new JournalFollower({ journalctl: bin, restartDelay: 10 });
  const errors: string[] = [];
  j.on('error', (e) => errors.push(e.message));
  const msgs: string[] = [];
  const two = new Promise<void>((resolve) =>
    j.on('record', (r) => {
      msgs.push(r.message);
      if (msgs.length === 2) resolve();
    }),
  );
  await j.start();
  await two;
  await j.stop();
  t.deepEqual(msgs, ['m1', 'm2']);
  t.regex(errors[0] ?? '', /journalctl ended \(exit 1\): boom; restarting/);
  const args = readFileSync(path.join(dir, 'args'), 'utf8').trim().split('\n');
  t.is(args[1], '-f -o json --no-pager -q --after-cursor c1 -u postfix.service -u postfix@*.service');
});

test('a missing journalctl is a clear error', async (t) => {
  const j = new JournalFollower({ journalctl: '/nonexistent/bin/journalctl' });
  const e = await t.throwsAsync(j.start());
  t.regex(e!.message, /journalctl not found \(\/nonexistent\/bin\/journalctl\).*postfix\.log\.source to "file"/);
  t.is((e as Error & { code?: string }).code, 'ENOJOURNALCTL');
});
