// SPDX-License-Identifier: MIT
//
// The shipped Haraka plugin (packaging/haraka/plugins/ffwall.js) in a real
// Haraka (the devDependency) on loopback, against a "daemon" in this test: a
// ControlServer over an Ffwall with a FakeKernel, a temporary database and
// the default offence rules (report() thresholds: unknown-user 3,
// relay-denied 2 within 10 minutes).
//
// Every client here is on loopback, which the real daemon's safety rules
// never ban.  The daemon's safety layer is not part of this Ffwall (it sits
// in src/daemon), so the test can ban 127.0.0.x: the clients connect from
// different loopback addresses (127.0.0.0/8 is all local) to be told apart.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { ControlServer, defaultOffenceConfig, openFfwall, type BanRecordInfo, type Ffwall } from '../../src/lib/index.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';
import { root } from './cli-helpers.js';

const harakaBin = path.join(root, 'node_modules', 'Haraka', 'bin', 'haraka');

// A rcpt plugin for the test: at the local domain only "postmaster" exists;
// any other local user is denied (as a user database would).
const TEST_USERS = `'use strict';
exports.hook_rcpt = function (next, connection, params) {
  const rcpt = params[0];
  if (!rcpt.host || rcpt.host.toLowerCase() !== 'example.test') return next();
  if (rcpt.user.toLowerCase() === 'postmaster') return next();
  next(DENY, 'no such user here');
};
`;

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

interface Session {
  /** The greeting line(s). */
  greeting: string;
  /** Replies to the commands sent, in order (multi-line replies joined). */
  replies: string[];
  /** True when the server closed the connection. */
  closed: boolean;
}

/** One SMTP session from @from: the greeting, then each command and its reply, then QUIT. */
function smtp(port: number, from: string, commands: string[]): Promise<Session> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection({ host: '127.0.0.1', port, localAddress: from });
    let buf = '';
    let current = '';
    const replies: string[] = [];
    let greeting: string | null = null;
    let i = 0;
    let quitSent = false;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`SMTP session from ${from} did not finish: ${JSON.stringify({ greeting, replies, buf })}`));
    }, 30_000);
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      resolve({ greeting: greeting ?? '', replies, closed });
    };
    const send = (): void => {
      if (i < commands.length) sock.write(`${commands[i++]}\r\n`);
      else if (!quitSent) {
        quitSent = true;
        sock.write('QUIT\r\n');
      }
    };
    sock.on('data', (d: Buffer) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        current += (current === '' ? '' : '\n') + line;
        if (/^\d{3}-/.test(line)) continue; // more lines of this reply
        const reply = current;
        current = '';
        if (greeting === null) greeting = reply;
        else if (!quitSent) replies.push(reply);
        if (/^5/.test(reply) && greeting === reply) continue; // refused at the greeting: the server closes
        send();
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => finish(!quitSent));
  });
}

interface Fixture {
  dir: string;
  port: number;
  fw: Ffwall;
  server: ControlServer;
  haraka: ChildProcess;
  log: () => string;
}

async function start(): Promise<Fixture> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-haraka-'));
  const sock = path.join(dir, 'ffwall.sock');
  const fw = await openFfwall({ kernel: new FakeKernel(), database: path.join(dir, 'db'), databaseOptions: { noSync: true }, offences: defaultOffenceConfig() });
  const server = new ControlServer(fw, { path: sock });
  await server.start();

  const h = path.join(dir, 'haraka');
  // Haraka's own default configuration, then the test's files over it.
  cpSync(path.join(root, 'node_modules', 'Haraka', 'config'), path.join(h, 'config'), { recursive: true });
  mkdirSync(path.join(h, 'plugins'), { recursive: true });
  copyFileSync(path.join(root, 'packaging', 'haraka', 'plugins', 'ffwall.js'), path.join(h, 'plugins', 'ffwall.js'));
  writeFileSync(path.join(h, 'plugins', 'test_users.js'), TEST_USERS);
  const port = await freePort();
  writeFileSync(path.join(h, 'config', 'smtp.ini'), `[main]\nlisten=127.0.0.1:${port}\n`);
  writeFileSync(path.join(h, 'config', 'plugins'), 'ffwall\ntest_users\nrcpt_to.in_host_list\n');
  writeFileSync(path.join(h, 'config', 'host_list'), 'example.test\n');
  writeFileSync(path.join(h, 'config', 'me'), 'mx.example.test\n');
  writeFileSync(path.join(h, 'config', 'log.ini'), '[main]\nlevel=info\n');
  writeFileSync(path.join(h, 'config', 'ffwall.ini'), `[main]\nsocket=${sock}\nmodule=${root}\nport=25\ntimeout=2000\nlog_interval=600\n`);

  const haraka = spawn(process.execPath, [harakaBin, '-c', h], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  haraka.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  haraka.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  // Up when it greets (bounded wait for its start).
  const end = Date.now() + 60_000;
  for (;;) {
    const ok = await smtp(port, '127.0.0.1', []).then(
      (s) => s.greeting.startsWith('220'),
      () => false,
    );
    if (ok) break;
    if (Date.now() > end || haraka.exitCode !== null) throw new Error(`Haraka did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 300));
  }
  return { dir, port, fw, server, haraka, log: () => out };
}

async function stopAll(f: Fixture): Promise<void> {
  f.haraka.kill('SIGTERM');
  await new Promise((r) => (f.haraka.exitCode !== null ? r(null) : f.haraka.once('exit', r)));
  await f.server.stop().catch(() => undefined);
  await f.fw.close();
  rmSync(f.dir, { recursive: true, force: true });
}

async function until(cond: () => Promise<boolean>, ms = 20_000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function record(fw: Ffwall, target: string): Promise<BanRecordInfo | null> {
  return (await fw.show(target)).record;
}

const envelope = (rcpts: string[]): string[] => ['EHLO client.example.net', 'MAIL FROM:<sender@example.net>', ...rcpts.map((r) => `RCPT TO:<${r}>`)];

test.serial('Haraka with the ffwall plugin: denials are reported, thresholds ban, banned clients are disconnected; fail-open without the daemon', async (t) => {
  const f = await start();
  try {
    // A good client is served.
    const good = await smtp(f.port, '127.0.0.1', envelope(['postmaster@example.test']));
    t.regex(good.greeting, /^220 /);
    t.regex(good.replies[2] ?? '', /^250 /, 'a known recipient is accepted');

    // A client banned beforehand (here by the CLI's source) is disconnected at once.
    await f.fw.block('127.0.0.2', { ports: [25], ttl: '1h', source: 'cli', reason: 'known bot' });
    const pre = await smtp(f.port, '127.0.0.2', envelope(['postmaster@example.test']));
    t.regex(pre.greeting, /^554 /, `refused: ${pre.greeting}`);
    t.deepEqual(pre.replies, []);
    t.true(pre.closed, 'and disconnected');
    // A ban on another port only does not refuse mail.
    await f.fw.block('127.0.0.6', { ports: [22], ttl: '1h', source: 'cli' });
    t.regex((await smtp(f.port, '127.0.0.6', [])).greeting, /^220 /);

    // Unknown users: 550 each; the third (threshold 3) bans 127.0.0.3.
    const bot = await smtp(f.port, '127.0.0.3', envelope(['a@example.test', 'b@example.test']));
    t.regex(bot.replies[2] ?? '', /^550 .*no such user/);
    t.regex(bot.replies[3] ?? '', /^550 /);
    // Both reports counted (the plugin logs the daemon's answer), and no ban yet.
    t.true(await until(async () => /127\.0\.0\.3: unknown-user offence 2\/3/.test(f.log())), `two reports answered; Haraka log:\n${f.log()}`);
    t.is(await record(f.fw, '127.0.0.3'), null, 'two unknown users: no ban yet');
    await smtp(f.port, '127.0.0.3', envelope(['c@example.test']));
    t.true(await until(async () => (await record(f.fw, '127.0.0.3')) !== null), `banned after the third; Haraka log:\n${f.log()}`);
    const rec = await record(f.fw, '127.0.0.3');
    t.is(rec?.source, 'haraka');
    t.deepEqual(rec?.ports, [25, 465, 587]);
    t.regex(rec?.reason ?? '', /unknown-user/);
    const next = await smtp(f.port, '127.0.0.3', envelope(['postmaster@example.test']));
    t.regex(next.greeting, /^554 /, 'its next connection is refused');
    t.true(next.closed);

    // Relaying to a foreign domain: refused by Haraka (no rcpt plugin vouches), reported as relay-denied (threshold 2).
    const relay = await smtp(f.port, '127.0.0.4', envelope(['x@elsewhere.example', 'y@elsewhere.example']));
    t.regex(relay.replies[2] ?? '', /^550 .*cannot deliver/);
    t.regex(relay.replies[3] ?? '', /^550 .*cannot deliver/);
    t.true(await until(async () => (await record(f.fw, '127.0.0.4')) !== null), `relay-denied ban; Haraka log:\n${f.log()}`);
    t.regex((await record(f.fw, '127.0.0.4'))?.reason ?? '', /relay-denied/);
    t.regex((await smtp(f.port, '127.0.0.4', [])).greeting, /^554 /);

    // The good client still is served, and was never reported.
    t.regex((await smtp(f.port, '127.0.0.1', envelope(['postmaster@example.test']))).replies[2] ?? '', /^250 /);
    t.is(await record(f.fw, '127.0.0.1'), null);

    // The daemon goes away: connections go on (fail-open), one log line for several failures.
    await f.server.stop();
    const a = await smtp(f.port, '127.0.0.5', envelope(['postmaster@example.test']));
    const b = await smtp(f.port, '127.0.0.5', envelope(['postmaster@example.test']));
    t.regex(a.greeting, /^220 /);
    t.regex(b.replies[2] ?? '', /^250 /);
    // 127.0.0.2 is banned, but without the daemon the plugin cannot know: served too.
    t.regex((await smtp(f.port, '127.0.0.2', [])).greeting, /^220 /);
    const lines = f.log().split('\n').filter((l) => /letting the connection through/.test(l));
    t.is(lines.length, 1, `one log line about the daemon: ${lines.join('\n')}`);
  } finally {
    await stopAll(f);
  }
});
