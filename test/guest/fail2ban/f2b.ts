// SPDX-License-Identifier: MIT
//
// A private fail2ban instance for the tests (test/guest/fail2ban and
// test/host/fail2ban.test.ts): its own configuration directory with the
// distribution's jail.conf, the shipped action (packaging/fail2ban), a test
// filter ("auth failure from <HOST>") and the jails given; its own socket,
// pid file, log and an in-memory database.  The polling backend reads the
// jails' log files, so a test bans an address by appending lines to them.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface Jail {
  name: string;
  /** The jail's port setting, as fail2ban takes it (e.g. "smtp,submissions,submission"). */
  port?: string;
  /** Seconds; -1 permanent. */
  bantime: number;
  /** The action line, default fail2ban's own (banaction = ffwall). */
  action?: string;
}

export interface F2b {
  dir: string;
  sock: string;
  /**
   * Runs fail2ban-client against this instance.  Asynchronous: fail2ban runs
   * some actions before it answers, and the CLI they run may need this
   * process (a ControlServer in the test) to answer.
   */
  client(...args: string[]): Promise<{ code: number; out: string }>;
  /** Appends failure lines for @address to @jail's log. */
  fail(jail: string, address: string, times: number): void;
  log(): string;
}

const STOCK = '/etc/fail2ban';

export function fail2banAvailable(): boolean {
  return spawnSync('fail2ban-client', ['--version']).status === 0 && existsSync(path.join(STOCK, 'jail.conf'));
}

/**
 * Writes the configuration into @dir.  @ffwall is the command line of the
 * CLI, @ffwallOpts its connection options (action.d/ffwall.local).
 */
export function setupFail2ban(dir: string, root: string, ffwall: string, ffwallOpts: string, jails: Jail[]): F2b {
  mkdirSync(path.join(dir, 'action.d'), { recursive: true });
  mkdirSync(path.join(dir, 'filter.d'), { recursive: true });
  for (const f of ['jail.conf', 'paths-common.conf', 'paths-debian.conf']) copyFileSync(path.join(STOCK, f), path.join(dir, f));
  copyFileSync(path.join(root, 'packaging', 'fail2ban', 'action.d', 'ffwall.conf'), path.join(dir, 'action.d', 'ffwall.conf'));
  writeFileSync(path.join(dir, 'action.d', 'ffwall.local'), `[Init]\nffwall = ${ffwall}\nffwall_opts = ${ffwallOpts}\n`);
  writeFileSync(path.join(dir, 'filter.d', 'ffwall-test.conf'), '[Definition]\nfailregex = ^auth failure from <HOST>$\ndatepattern = {NONE}\n');
  const sock = path.join(dir, 'f2b.sock');
  writeFileSync(
    path.join(dir, 'fail2ban.conf'),
    ['[Definition]', 'loglevel = INFO', `logtarget = ${path.join(dir, 'fail2ban.log')}`, `socket = ${sock}`, `pidfile = ${path.join(dir, 'f2b.pid')}`, 'dbfile = :memory:', ''].join('\n'),
  );
  // ignoreself = false: fail2ban would resolve this host's name for it, which waits for DNS where there is none (the guest).
  const local = ['[DEFAULT]', 'banaction = ffwall', 'banaction_allports = ffwall[type=allports]', 'backend = polling', 'maxretry = 2', 'findtime = 1h', 'ignoreip =', 'ignoreself = false', ''];
  for (const j of jails) {
    const logpath = path.join(dir, `${j.name}.log`);
    writeFileSync(logpath, '');
    local.push(`[${j.name}]`, 'enabled = true', 'filter = ffwall-test', `logpath = ${logpath}`, `bantime = ${j.bantime}`);
    if (j.port !== undefined) local.push(`port = ${j.port}`);
    if (j.action !== undefined) local.push(`action = ${j.action}`);
    local.push('');
  }
  writeFileSync(path.join(dir, 'jail.local'), local.join('\n'));
  const client = (...args: string[]): Promise<{ code: number; out: string }> =>
    new Promise((resolve) => {
      const child = spawn('fail2ban-client', ['-c', dir, '-s', sock, '-p', path.join(dir, 'f2b.pid'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
      let out = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (out += b.toString()));
      child.on('close', (code) => resolve({ code: code ?? -1, out }));
    });
  return {
    dir,
    sock,
    client,
    fail(jail, address, times) {
      for (let i = 0; i < times; i++) appendFileSync(path.join(dir, `${jail}.log`), `auth failure from ${address}\n`);
    },
    log() {
      try {
        return spawnSync('cat', [path.join(dir, 'fail2ban.log')], { encoding: 'utf8' }).stdout;
      } catch {
        return '';
      }
    },
  };
}

/** Polls @cond every 200 ms until it holds or @ms pass (a bound, not a pass/fail timing). */
export async function until(cond: () => boolean | Promise<boolean>, ms = 30_000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await cond()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
}
