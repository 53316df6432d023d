// SPDX-License-Identifier: MIT
//
// Real Postfix log lines of every kind the log watcher counts (issue 10:
// "tested against real Postfix log lines").  A real Postfix (Debian's
// package; test/guest/lib-postfix.sh's instance, configured by
// lib-capture.sh next to this file) with a private rbldnsd as its DNS
// blocklist, Dovecot's auth service as its SASL backend and postscreen on a
// second port; peers in their own network namespaces provoke each kind with
// swaks or a scripted raw client (talk.mjs):
//   smtpd (port 25): rbl, unknown-user, relay-denied, bad-helo (twice: a
//   non-FQDN and an invalid HELO), sasl-failed (LOGIN and PLAIN), and lines
//   that must not count (reject_warning, SASL aborted, smtpd's improper
//   pipelining, lost connection);
//   postscreen (port 2525): pregreet, dnsbl (and its dummy engine's NOQUEUE
//   reject, which must not count), pipelining, hangup (before and after the
//   SMTP handshake).
// ffwall's log watcher (PostfixLogWatcher, as the daemon runs it: source
// "file", following the live log from its end) must report exactly the
// offences of test/host/fixtures/postfix/captured.expected.json, and the
// parser must skip its "not counted" lines, so the capture cannot rot.
// The log is always copied to $FFWALL_OUT/postfix-capture/captured-<Postfix
// version>.log: test/host/fixtures/postfix/README.md says how it becomes the
// committed fixture.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import test from 'ava';

import { builtinPatterns, parsePostfixLine } from '../../../src/lib/postfix/parse.js';
import { PostfixLogWatcher, type PostfixOffence } from '../../../src/lib/postfix/logwatch.js';

const root = process.env.FFWALL_ROOT ?? process.cwd();
const outDir = process.env.FFWALL_OUT ?? '/tmp';
const MAIL_DIR = '/tmp/ffwall-capture';
const MAIL_LOG = '/var/log/ffwall-capture/mail.log';
const HOST = '10.88.0.1';
const SCREEN_PORT = 2525;
const DOMAIN = 'mail.example.test';
const talk = path.join(root, 'test', 'guest', 'postfix-capture', 'talk.mjs');
const PEERS = 13;
const SUBMISSION_PORT = 587;
/** Peer 12 also has an IPv6 address; smtpd listens on HOST6 too. */
const HOST6 = 'fd88::1';
const PEER6 = 'fd88::12';
const addr = (i: number): string => `10.88.0.${10 + i}`;
const ns = (i: number): string => `ffwp${i}`;
/** Listed by the blocklist zone: peer 1 (smtpd's reject_rbl_client) and peer 8 (postscreen's DNSBL). */
const LISTED = [addr(1), addr(8)];

interface Expected {
  offences: { kind: string; address: string; count: number; how: string }[];
  notCounted: { contains: string; and?: string; why: string }[];
}
const expected = JSON.parse(readFileSync(path.join(root, 'test', 'host', 'fixtures', 'postfix', 'captured.expected.json'), 'utf8')) as Expected;

const libEnv = [
  `export MAIL_DIR=${MAIL_DIR} MAIL_LOG=${MAIL_LOG} MAIL_LISTEN=${HOST} MAIL_DOMAIN=${DOMAIN}`,
  `CAPTURE_SCREEN_PORT=${SCREEN_PORT} CAPTURE_SUBMISSION_PORT=${SUBMISSION_PORT} CAPTURE_LISTEN6=${HOST6} CAPTURE_LISTED='${LISTED.join(' ')}'`,
].join(' ');

/** Runs a function of lib.sh / lib-postfix.sh / lib-capture.sh. */
function sh(fn: string): string {
  return execFileSync(
    'bash',
    ['-c', `${libEnv}; source test/guest/lib.sh && source test/guest/lib-postfix.sh && source test/guest/postfix-capture/lib-capture.sh && ${fn}`],
    { cwd: root, encoding: 'utf8' },
  );
}

/** One SMTP session from peer @i with swaks to port 25; its exit status and transcript. */
function swaks(i: number, args: string[]): { code: number | null; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns(i), 'swaks', '--server', HOST, '--from', `sender@peer${i}.example`, '--timeout', '20s', ...args], { encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** A scripted raw session from peer @i (talk.mjs steps); its exit status and what the server said. */
function raw(i: number, port: number, steps: string[], host = HOST): { code: number | null; out: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns(i), process.execPath, talk, host, String(port), ...steps], { encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function logLines(): string[] {
  return existsSync(MAIL_LOG)
    ? readFileSync(MAIL_LOG, 'utf8')
        .split('\n')
        .filter((l) => l !== '')
    : [];
}

/** "kind address" -> count, in sorted order (comparable with deepEqual and JSON). */
function tally(items: { kind: string; address: string; count?: number }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of items) out[`${o.kind} ${o.address}`] = (out[`${o.kind} ${o.address}`] ?? 0) + (o.count ?? 1);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
const want = tally(expected.offences);

let watcher: PostfixLogWatcher | undefined;
const seen: PostfixOffence[] = [];
const watchErrors: Error[] = [];
let version = 'unknown';

test.before(async () => {
  for (const tool of ['postfix', 'swaks', 'rbldnsd', 'dovecot', 'unshare']) {
    if (spawnSync('bash', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is not installed on the host (scripts/install-deps.sh installs it)`);
  }
  sh(`peers_setup ${PEERS}`);
  // IPv6 on the bridge and peer 12 (nodad: usable at once, before Postfix binds).
  execFileSync('ip', ['addr', 'add', `${HOST6}/64`, 'dev', 'ffwbr0', 'nodad']);
  execFileSync('ip', ['-n', ns(12), 'addr', 'add', `${PEER6}/64`, 'dev', 'eth0', 'nodad']);
  sh('capture_setup && capture_start');
  version = execFileSync('postconf', ['-h', '-d', 'mail_version'], { encoding: 'utf8' }).trim();
  // The watcher as the daemon runs it: the live file, from its end (what is there now is history).
  watcher = new PostfixLogWatcher({ source: 'file', file: MAIL_LOG, follow: { interval: 200 } });
  watcher.on('offence', (o) => seen.push(o));
  watcher.on('error', (e) => watchErrors.push(e));
  await watcher.start();
});

test.after.always(async () => {
  await watcher?.stop();
  const dir = path.join(outDir, 'postfix-capture');
  mkdirSync(dir, { recursive: true });
  if (existsSync(MAIL_LOG)) copyFileSync(MAIL_LOG, path.join(dir, `captured-${version}.log`));
  for (const [from, to] of [
    [path.join(MAIL_DIR, 'conf', 'main.cf'), 'main.cf'],
    [path.join(MAIL_DIR, 'conf', 'master.cf'), 'master.cf'],
    [path.join(MAIL_DIR, 'capture', 'dovecot', 'dovecot.conf'), 'dovecot.conf'],
    [path.join(MAIL_DIR, 'capture', 'dovecot', 'dovecot.log'), 'dovecot.log'],
  ] as const) {
    if (existsSync(from)) copyFileSync(from, path.join(dir, to));
  }
  console.log(`postfix-capture: the log and configuration are in ${dir}`);
  spawnSync('bash', ['-c', `${libEnv}; source test/guest/lib.sh && source test/guest/lib-postfix.sh && source test/guest/postfix-capture/lib-capture.sh && capture_stop; peers_teardown ${PEERS}`], {
    cwd: root,
  });
});

test.serial('smtpd refuses each provocation as configured: rbl, unknown user, relay, bad HELO, failed SASL', (t) => {
  let r = swaks(1, ['--to', `alice@${DOMAIN}`, '--helo', 'peer1.example', '--quit-after', 'RCPT']);
  t.regex(r.out, /<\*\* +554 5\.7\.1 Service unavailable; Client host \[10\.88\.0\.11\] blocked using bl\.ffwall\.test/, r.out);
  r = swaks(2, ['--to', `nobody@${DOMAIN}`, '--helo', 'peer2.example', '--quit-after', 'RCPT']);
  t.regex(r.out, /<\*\* +550 5\.1\.1 <nobody@mail\.example\.test>: Recipient address rejected: User unknown/, r.out);
  r = swaks(3, ['--to', 'someone@elsewhere.example', '--helo', 'peer3.example', '--quit-after', 'RCPT']);
  t.regex(r.out, /<\*\* +554 5\.7\.1 <someone@elsewhere\.example>: Relay access denied/, r.out);
  r = swaks(4, ['--to', `alice@${DOMAIN}`, '--helo', 'localhost', '--quit-after', 'RCPT']);
  t.regex(r.out, /<\*\* +504 5\.5\.2 <localhost>: Helo command rejected: need fully-qualified hostname/, r.out);
  r = swaks(4, ['--to', `alice@${DOMAIN}`, '--helo', 'bad_host!.example', '--quit-after', 'RCPT']);
  t.regex(r.out, /<\*\* +501 5\.5\.2 <bad_host!\.example>: Helo command rejected: Invalid name/, r.out);
  r = swaks(5, ['--to', `alice@${DOMAIN}`, '--helo', 'peer5.example', '--auth', 'LOGIN', '--auth-user', 'alice', '--auth-password', 'wrong', '--quit-after', 'AUTH']);
  t.regex(r.out, /<\*\* +535 5\.7\.8 Error: authentication failed/, r.out);
  // AUTH PLAIN with "\0alice\0wrong".
  r = raw(5, 25, ['wait:^220 ', 'send:EHLO peer5.example\\r\\n', 'wait:^250 ', `send:AUTH PLAIN ${Buffer.from('\0alice\0wrong').toString('base64')}\\r\\n`, 'wait:^535 ', 'send:QUIT\\r\\n', 'wait:^221']);
  t.is(r.code, 0, r.out);
});

test.serial('smtpd lines that must not count: reject_warning, SASL aborted, improper pipelining, lost connection', (t) => {
  // A sender without a domain: warn_if_reject reject_non_fqdn_sender logs, and lets the RCPT pass.
  let r = swaks(6, ['--to', `alice@${DOMAIN}`, '--from', 'sender', '--helo', 'peer6.example', '--quit-after', 'RCPT']);
  t.is(r.code, 0, r.out);
  r = raw(6, 25, ['wait:^220 ', 'send:EHLO peer6.example\\r\\n', 'wait:^250 ', 'send:AUTH LOGIN\\r\\n', 'wait:^334 ', 'send:*\\r\\n', 'wait:^501 ', 'send:QUIT\\r\\n', 'wait:^221']);
  t.is(r.code, 0, r.out);
  // EHLO and QUIT in one write, without waiting for the EHLO reply.
  r = raw(6, 25, ['wait:^220 ', 'send:EHLO peer6.example\\r\\nQUIT\\r\\n', 'wait:^221']);
  t.is(r.code, 0, r.out);
  r = raw(6, 25, ['wait:^220 ', 'send:EHLO peer6.example\\r\\n', 'wait:^250 ', 'close']);
  t.is(r.code, 0, r.out);
});

test.serial('IPv6 and the submission service: unknown user and failed SASL from an IPv6 client, unknown user and relay on port 587 (tag postfix/submission/smtpd, client port logged)', (t) => {
  const plain = Buffer.from('\0alice\0wrong').toString('base64');
  let r = raw(
    12,
    25,
    ['wait:^220 ', 'send:EHLO peer12.example\\r\\n', 'wait:^250 ', `send:AUTH PLAIN ${plain}\\r\\n`, 'wait:^535 ', 'send:MAIL FROM:<s@peer12.example>\\r\\n', 'wait:^250 ', `send:RCPT TO:<nobody@${DOMAIN}>\\r\\n`, 'wait:^550 5\\.1\\.1', 'send:QUIT\\r\\n', 'wait:^221'],
    HOST6,
  );
  t.is(r.code, 0, r.out);
  r = raw(13, SUBMISSION_PORT, [
    'wait:^220 ',
    'send:EHLO peer13.example\\r\\n',
    'wait:^250 ',
    'send:MAIL FROM:<s@peer13.example>\\r\\n',
    'wait:^250 ',
    `send:RCPT TO:<nobody@${DOMAIN}>\\r\\n`,
    'wait:^550 5\\.1\\.1',
    'send:RCPT TO:<x@elsewhere.example>\\r\\n',
    'wait:Relay access denied',
    'send:QUIT\\r\\n',
    'wait:^221',
  ]);
  t.is(r.code, 0, r.out);
});

test.serial('postscreen: pregreet, DNSBL, pipelining, hangups', (t) => {
  const p = SCREEN_PORT;
  // Talks during the greeting's first line (postscreen's "220-" teaser).
  let r = raw(7, p, ['wait:^220-', 'send:EHLO bot7.example\\r\\n', 'wait:^250 ', 'send:QUIT\\r\\n', 'wait:^221']);
  t.is(r.code, 0, r.out);
  const s = spawnSync('ip', ['netns', 'exec', ns(8), 'swaks', '--server', `${HOST}:${p}`, '--to', `alice@${DOMAIN}`, '--from', 'sender@peer8.example', '--helo', 'peer8.example', '--quit-after', 'RCPT', '--timeout', '20s'], {
    encoding: 'utf8',
  });
  t.regex(`${s.stdout}${s.stderr}`, /<\*\* +550 5\.7\.1 Service unavailable; client \[10\.88\.0\.18\] blocked using bl\.ffwall\.test/, `${s.stdout}${s.stderr}`);
  r = raw(9, p, ['wait:^220 ', 'send:EHLO bot9.example\\r\\nMAIL FROM:<a@bot9.example>\\r\\n', 'wait:^250 2\\.1\\.0', 'send:QUIT\\r\\n', 'wait:^221']);
  t.is(r.code, 0, r.out);
  r = raw(10, p, ['wait:^220-', 'sleep:300', 'close']);
  t.is(r.code, 0, r.out);
  r = raw(11, p, ['wait:^220 ', 'send:EHLO bot11.example\\r\\n', 'wait:^250 ', 'close']);
  t.is(r.code, 0, r.out);
});

test.serial("ffwall's log watcher, following the live log, reports exactly the expected offences", async (t) => {
  // postlogd writes asynchronously: wait for the watcher to have them all (or for a while).
  for (let n = 0; n < 150 && JSON.stringify(tally(seen)) !== JSON.stringify(want); n++) await sleep(200);
  t.log(`Postfix ${version}: ${seen.length} offences, ${logLines().length} log lines`);
  t.deepEqual(watchErrors, []);
  t.deepEqual(tally(seen), want, seen.map((o) => `${o.kind} ${o.address} ${o.detail}`).join('\n'));
  for (const o of seen) t.is(o.origin, 'postfix');
});

test.serial('the parser skips each line that must not count, and each is in the log', (t) => {
  const ps = builtinPatterns();
  const lines = logLines();
  for (const nc of expected.notCounted) {
    const hits = lines.filter((l) => l.includes(nc.contains) && (nc.and === undefined || l.includes(nc.and)));
    t.true(hits.length > 0, `a line with "${nc.contains}"${nc.and === undefined ? '' : ` and "${nc.and}"`} (${nc.why})`);
    for (const l of hits) t.is(parsePostfixLine(l, ps), null, l);
  }
  // Every line the parser counts is one of the expected offences.
  t.deepEqual(tally(lines.map((l) => parsePostfixLine(l, ps)).filter((m) => m !== null)), want);
});
