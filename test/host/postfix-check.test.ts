// SPDX-License-Identifier: MIT
//
// `ffwall postfix check` against temporary Postfix configuration directories
// (copies of this host's /etc/postfix/main.cf and master.cf, edited with
// `postconf -c <dir> -e/-Me/-Pe/-Fe`), through the real postconf.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { checkPostfix, policyCalls, positionOf, tokenizeRestrictions, type PostfixCheckOptions, type PostfixCheckReport } from '../../src/lib/postfix/check.js';
import { ffwall, shapeErrors } from './cli-helpers.js';
import { SCHEMAS } from './cli-schemas.js';

interface Pf {
  dir: string;
  conf: string;
  spool: string;
  sock: string;
  postconf(...args: string[]): void;
  done(): void;
}

/** A Postfix config dir with its own queue directory (so a unix socket can live in private/). */
function postfixDir(): Pf {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-pfcheck-'));
  const conf = path.join(dir, 'etc');
  const spool = path.join(dir, 'spool');
  mkdirSync(conf);
  mkdirSync(path.join(spool, 'private'), { recursive: true });
  copyFileSync('/etc/postfix/main.cf', path.join(conf, 'main.cf'));
  copyFileSync('/etc/postfix/master.cf', path.join(conf, 'master.cf'));
  const postconf = (...args: string[]): void => {
    execFileSync('postconf', ['-c', conf, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  postconf('-e', `queue_directory = ${spool}`, 'smtpd_policy_service_timeout = 10s', 'smtpd_policy_service_default_action = DUNNO');
  return { dir, conf, spool, sock: path.join(spool, 'private', 'ffwall-policy'), postconf, done: () => rmSync(dir, { recursive: true, force: true }) };
}

async function listenOn(sock: string, mode = 0o666): Promise<net.Server> {
  const s = net.createServer((c) => c.end());
  await new Promise<void>((resolve) => s.listen(sock, resolve));
  chmodSync(sock, mode);
  return s;
}

function opts(pf: Pf, over: Partial<PostfixCheckOptions> = {}): PostfixCheckOptions {
  return {
    configDir: pf.conf,
    policyListen: { type: 'unix', path: pf.sock },
    log: { enabled: true, source: 'journal', file: '/var/log/mail.log', unit: 'postfix@-' },
    ffwallConfig: 'test.jsonc',
    ...over,
  };
}

const byId = (r: PostfixCheckReport, id: string) => r.checks.find((c) => c.id === id);

test('restriction lists: words, commas and { } groups; the policy calls and their attributes', (t) => {
  const tokens = tokenizeRestrictions('permit_mynetworks,  check_client_access hash:/etc/postfix/access,\n { check_policy_service { unix:private/p, timeout=10s, default_action=DUNNO } } reject_unauth_destination');
  t.deepEqual(tokens.slice(0, 3), ['permit_mynetworks', 'check_client_access', 'hash:/etc/postfix/access']);
  const flat = tokenizeRestrictions('check_policy_service { unix:private/p, timeout=10s, default_action=DUNNO }, permit');
  const calls = policyCalls(flat);
  t.is(calls.length, 1);
  t.is(calls[0]?.server, 'unix:private/p');
  t.is(calls[0]?.attrs.get('default_action'), 'DUNNO');
  t.is(calls[0]?.attrs.get('timeout'), '10s');
  t.deepEqual(policyCalls(tokenizeRestrictions('check_policy_service inet:127.0.0.1:10031')).map((c) => c.server), ['inet:127.0.0.1:10031']);
  const pos = (s: string) => {
    const tk = tokenizeRestrictions(s);
    return positionOf(tk, tk.indexOf('check_policy_service'));
  };
  t.deepEqual(pos('permit_mynetworks permit_sasl_authenticated reject_rbl_client zen.spamhaus.org check_policy_service unix:x'), { dead: false, trusted: ['permit_mynetworks', 'permit_sasl_authenticated'], others: [] });
  t.deepEqual(pos('check_client_access hash:/etc/postfix/ok check_policy_service unix:x').others, ['check_client_access']);
  t.true(pos('permit check_policy_service unix:x').dead);
});

test('a configuration after the snippets: every check ok', async (t) => {
  const pf = postfixDir();
  const server = await listenOn(pf.sock);
  try {
    pf.postconf('-e', 'smtpd_client_restrictions = permit_mynetworks, check_policy_service unix:private/ffwall-policy');
    const r = await checkPostfix(opts(pf));
    t.deepEqual(
      r.checks.filter((c) => c.status !== 'ok'),
      [],
    );
    t.true(r.ok);
    t.regex(byId(r, 'policy-service:smtp/inet')!.message, /smtpd_client_restrictions calls unix:private\/ffwall-policy \(after permit_mynetworks: those clients are not checked\)/);
    t.regex(byId(r, 'policy-listen')!.message, /listens on unix:.*private\/ffwall-policy/);
    t.regex(byId(r, 'log-watcher')!.message, /follows the journal \(journalctl -u postfix@-\)/);
    // A socket smtpd (user postfix and its groups) may not write to.
    chmodSync(pf.sock, 0o600);
    const denied = byId(await checkPostfix(opts(pf)), 'policy-listen')!;
    t.is(denied.status, 'fail');
    t.regex(denied.message, /smtpd \(user postfix, groups [\d,]+\) cannot connect to .*mode 0600/);
    t.regex(denied.fix!, /postfix\.policy\.group: "postfix"/);
    t.regex(byId(r, 'postconf')!.message, /^Postfix 3\.\d+/);
  } finally {
    server.close();
    pf.done();
  }
});

test('a chrooted smtpd does not reach an absolute socket path outside its chroot; without chroot it does', async (t) => {
  const pf = postfixDir();
  const sock = path.join(pf.dir, 'run-policy.sock');
  const server = await listenOn(sock);
  try {
    pf.postconf('-e', `smtpd_client_restrictions = check_policy_service unix:${sock}`);
    pf.postconf('-Fe', 'smtp/inet/chroot = y');
    let r = await checkPostfix(opts(pf, { policyListen: { type: 'unix', path: sock } }));
    const c = byId(r, 'policy-service:smtp/inet')!;
    t.is(c.status, 'fail');
    t.regex(c.message, /runs chrooted in .*spool: there "unix:.*run-policy\.sock" means .*spool.*run-policy\.sock, not the daemon's socket/);
    t.regex(c.fix!, /private\/ffwall-policy/);
    t.false(r.ok);
    pf.postconf('-Fe', 'smtp/inet/chroot = n');
    r = await checkPostfix(opts(pf, { policyListen: { type: 'unix', path: sock } }));
    t.is(byId(r, 'policy-service:smtp/inet')?.status, 'ok');
  } finally {
    server.close();
    pf.done();
  }
});

test('the place of the check: after permit it is dead (fail), after access maps it is skipped by some (warn), in the data restrictions late (warn)', async (t) => {
  const pf = postfixDir();
  try {
    const call = 'check_policy_service unix:private/ffwall-policy';
    pf.postconf('-e', `smtpd_client_restrictions = permit, ${call}`);
    let c = byId(await checkPostfix(opts(pf)), 'policy-service:smtp/inet')!;
    t.is(c.status, 'fail');
    t.regex(c.message, /after an unconditional "permit": it is never reached/);
    pf.postconf('-e', `smtpd_client_restrictions = check_client_access hash:/etc/postfix/client_ok, ${call}`);
    c = byId(await checkPostfix(opts(pf)), 'policy-service:smtp/inet')!;
    t.is(c.status, 'warn');
    t.regex(c.message, /after check_client_access: the clients those rules permit skip ffwall's check/);
    pf.postconf('-e', 'smtpd_client_restrictions =', `smtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination, ${call}`);
    c = byId(await checkPostfix(opts(pf)), 'policy-service:smtp/inet')!;
    t.is(c.status, 'ok', c.message);
    pf.postconf('-e', 'smtpd_recipient_restrictions =', `smtpd_data_restrictions = ${call}`);
    c = byId(await checkPostfix(opts(pf)), 'policy-service:smtp/inet')!;
    t.is(c.status, 'warn');
    t.regex(c.message, /only after DATA/);
  } finally {
    pf.done();
  }
});

test('the policy client: Postfix\'s default default_action and timeout are warnings; per-call { } settings count', async (t) => {
  const pf = postfixDir();
  try {
    pf.postconf('-X', 'smtpd_policy_service_timeout', 'smtpd_policy_service_default_action');
    pf.postconf('-e', 'smtpd_client_restrictions = check_policy_service unix:private/ffwall-policy');
    let r = await checkPostfix(opts(pf));
    t.is(byId(r, 'policy-default-action')?.status, 'warn');
    t.regex(byId(r, 'policy-default-action')!.message, /answers "451 4\.3\.5 Server configuration problem" to every recipient/);
    t.is(byId(r, 'policy-timeout')?.status, 'warn');
    t.regex(byId(r, 'policy-timeout')!.message, /timeout 100s/);
    t.true(r.ok, 'warnings only');
    pf.postconf('-e', 'smtpd_client_restrictions = check_policy_service { unix:private/ffwall-policy, timeout=5s, default_action=DUNNO }');
    r = await checkPostfix(opts(pf));
    t.is(byId(r, 'policy-default-action')?.status, 'ok');
    t.is(byId(r, 'policy-timeout')?.status, 'ok');
  } finally {
    pf.done();
  }
});

test('inet listeners: the same port and loopback host is ok, another port fails naming both; a listener that does not accept warns', async (t) => {
  const pf = postfixDir();
  const server = net.createServer((c) => c.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const listen = { type: 'inet' as const, host: '127.0.0.1', port };
    pf.postconf('-e', `smtpd_client_restrictions = check_policy_service inet:127.0.0.1:${port}`);
    let r = await checkPostfix(opts(pf, { policyListen: listen }));
    t.is(byId(r, 'policy-service:smtp/inet')?.status, 'ok');
    t.is(byId(r, 'policy-listen')?.status, 'ok');
    pf.postconf('-e', `smtpd_client_restrictions = check_policy_service inet:127.0.0.1:${port + 1}`);
    const c = byId(await checkPostfix(opts(pf, { policyListen: listen })), 'policy-service:smtp/inet')!;
    t.is(c.status, 'fail');
    t.is(c.message, `smtp/inet calls inet:127.0.0.1:${port + 1} (smtpd_client_restrictions), not ffwall's inet:127.0.0.1:${port}`);
    await new Promise((resolve) => server.close(resolve));
    r = await checkPostfix(opts(pf, { policyListen: listen }));
    t.is(byId(r, 'policy-listen')?.status, 'warn');
    t.regex(byId(r, 'policy-listen')!.message, /connecting fails \(ECONNREFUSED\)/);
  } finally {
    server.close();
    pf.done();
  }
});

test("the log: maillog_file needs the watcher on that file and master.cf's postlog service", async (t) => {
  const pf = postfixDir();
  try {
    const file = path.join(pf.dir, 'postfix.log');
    pf.postconf('-e', `maillog_file = ${file}`);
    let r = await checkPostfix(opts(pf));
    t.is(byId(r, 'log-watcher')?.status, 'fail');
    t.regex(byId(r, 'log-watcher')!.fix!, new RegExp(`postfix.log.file: "${file}"`));
    r = await checkPostfix(opts(pf, { log: { enabled: true, source: 'file', file, unit: 'postfix@-' } }));
    t.is(byId(r, 'log-watcher')?.status, 'ok');
    t.is(byId(r, 'postlog'), undefined, "Debian's master.cf has the postlog service");
    pf.postconf('-MX', 'postlog/unix-dgram');
    r = await checkPostfix(opts(pf, { log: { enabled: true, source: 'file', file, unit: 'postfix@-' } }));
    t.is(byId(r, 'postlog')?.status, 'fail');
    r = await checkPostfix(opts(pf, { log: { enabled: false, source: 'journal', file: '/var/log/mail.log', unit: 'postfix@-' } }));
    t.is(byId(r, 'log-watcher')?.status, 'warn');
    pf.postconf('-Pe', 'submission/inet/syslog_name = mail-submission');
    pf.postconf('-Me', 'submission/inet = submission inet n - y - - smtpd');
    pf.postconf('-Pe', 'submission/inet/syslog_name = mail-submission');
    r = await checkPostfix(opts(pf));
    t.is(byId(r, 'syslog-name')?.status, 'warn');
    t.regex(byId(r, 'syslog-name')!.message, /mail-submission/);
  } finally {
    pf.done();
  }
});

test('postscreen: its verdicts go through the log watcher; the smtpd behind it (pass) is the port-25 service', async (t) => {
  const pf = postfixDir();
  try {
    pf.postconf('-Me', 'smtp/inet = smtp inet n - y - 1 postscreen', 'smtpd/pass = smtpd pass - - y - - smtpd', 'dnsblog/unix = dnsblog unix - - y - 0 dnsblog');
    let r = await checkPostfix(opts(pf));
    const ps = byId(r, 'postscreen')!;
    t.is(ps.status, 'ok');
    t.regex(ps.message, /postscreen on smtp\/inet: it never calls a policy service; its PREGREET\/DNSBL\/PIPELINING\/HANGUP verdicts reach ffwall through the log watcher/);
    t.is(byId(r, 'policy-service:smtpd/pass')?.status, 'fail', 'the smtpd behind postscreen must call the policy service');
    t.is(byId(r, 'policy-service:smtp/inet'), undefined, 'postscreen itself is not an smtpd');
    pf.postconf('-e', 'smtpd_client_restrictions = check_policy_service unix:private/ffwall-policy');
    r = await checkPostfix(opts(pf, { log: { enabled: false, source: 'journal', file: '/var/log/mail.log', unit: 'postfix@-' } }));
    t.is(byId(r, 'policy-service:smtpd/pass')?.status, 'ok');
    t.is(byId(r, 'postscreen')?.status, 'warn');
  } finally {
    pf.done();
  }
});

// ---- the command ----

const REPORT = SCHEMAS.postfixCheck!;

test('ffwall postfix check: human lines, --json, exit 0 with warnings and 1 with a failure', async (t) => {
  const pf = postfixDir();
  const server = await listenOn(pf.sock);
  try {
    const cfg = path.join(pf.dir, 'ffwall.jsonc');
    writeFileSync(cfg, JSON.stringify({ postfix: { policy: { listen: `unix:${pf.sock}` }, log: { enabled: true, source: 'journal' } } }));
    pf.postconf('-X', 'smtpd_policy_service_default_action');
    pf.postconf('-e', 'smtpd_client_restrictions = check_policy_service unix:private/ffwall-policy');
    let r = await ffwall(['postfix', 'check', '--config-dir', pf.conf, '--config', cfg]);
    t.is(r.code, 0, r.stdout + r.stderr);
    t.regex(r.stdout, /^ok {4}postconf +Postfix 3\./m);
    t.regex(r.stdout, /^warn {2}policy-default-action +when ffwall's daemon is down/m);
    t.regex(r.stdout, /^ +fix: fail open: \{ check_policy_service \.\.\., default_action=DUNNO \}/m);
    t.regex(r.stdout, /^\d+ ok, 1 warn, 0 fail$/m);
    r = await ffwall(['postfix', 'check', '--config-dir', pf.conf, '--config', cfg, '--json']);
    t.is(r.code, 0);
    const doc = JSON.parse(r.stdout) as PostfixCheckReport;
    t.deepEqual(shapeErrors(doc, REPORT), []);
    t.is(doc.policyListen, `unix:${pf.sock}`);
    t.deepEqual(
      doc.checks.filter((c) => c.status !== 'ok').map((c) => c.id),
      ['policy-default-action'],
    );
    pf.postconf('-e', 'smtpd_client_restrictions = permit, check_policy_service unix:private/ffwall-policy');
    r = await ffwall(['postfix', 'check', '--config-dir', pf.conf, '--config', cfg, '--json']);
    t.is(r.code, 1);
    const failed = JSON.parse(r.stdout) as PostfixCheckReport;
    t.false(failed.ok);
    t.is(failed.counts.fail, 1);
    r = await ffwall(['postfix', 'check', '--config-dir', pf.conf, '--config', cfg]);
    t.is(r.code, 1);
    t.regex(r.stdout, /^fail {2}policy-service:smtp\/inet/m);
  } finally {
    server.close();
    pf.done();
  }
});

test('ffwall postfix check: bad usage exits 2, a missing postconf exits 1 with a clear error', async (t) => {
  const pf = postfixDir();
  try {
    const cfg = path.join(pf.dir, 'ffwall.jsonc');
    writeFileSync(cfg, '{}');
    let r = await ffwall(['postfix', 'check', '--config-dir', path.join(pf.dir, 'nowhere'), '--config', cfg]);
    t.is(r.code, 2);
    t.regex(r.stderr, /--config-dir: .*nowhere\/main\.cf does not exist/);
    r = await ffwall(['postfix', 'check', '--config-dir', pf.conf, '--config', cfg, '--listen', 'tcp:1']);
    t.is(r.code, 2);
    t.regex(r.stderr, /--listen: "tcp:1" must be unix:\/path or inet:host:port/);
    writeFileSync(cfg, '{ "postfix": { "policy": { "listen": 7 } } }');
    r = await ffwall(['postfix', 'check', '--config-dir', pf.conf, '--config', cfg, '--json']);
    t.is(r.code, 2);
    t.like(JSON.parse(r.stdout), { error: { exit: 2 } });
    writeFileSync(cfg, '{}');
    r = await ffwall(['postfix', 'check', '--config-dir', pf.conf, '--config', cfg], { env: { PATH: path.join(pf.dir, 'empty-path') } });
    t.is(r.code, 1);
    t.regex(r.stderr, /postconf not found \(postconf\): is Postfix installed\?/);
    r = await ffwall(['postfix', 'check', '--bogus']);
    t.is(r.code, 2);
  } finally {
    pf.done();
  }
});
