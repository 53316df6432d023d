// SPDX-License-Identifier: MIT
//
// The Haraka plugin's decisions without Haraka: the plugin file is run in a
// sandbox as Haraka runs it (its constants as globals, `exports` the plugin),
// with a stub library, to check the kind mapping and what is reported.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

import test from 'ava';

import { root } from './cli-helpers.js';

const require = createRequire(import.meta.url);
const constants = require('haraka-constants') as Record<string, unknown> & { import(o: object): void };

interface Plugin {
  name: string;
  settings: { module: string; kinds: Record<string, string>; report: boolean; reportSoft: boolean; timeout: number; logInterval: number; check: boolean; port: number | 'local' };
  fw: unknown;
  lastErrorLog: number;
  ffwall_kind(plugin: string, hook: string, msg?: string): string;
  ffwall_deny(next: (rc?: unknown, msg?: string) => void, connection: unknown, params: unknown[]): void;
  ffwall_check(next: (rc?: unknown, msg?: string) => void, connection: unknown): void;
  ffwall_rcpt_unclaimed(next: (rc?: unknown) => void, connection: unknown, params: unknown[]): void;
  logerror(msg: string): void;
}

interface Stub {
  plugin: Plugin;
  reports: Record<string, unknown>[];
  checks: unknown[][];
  errors: string[];
}

function load(fw: { check?: (...a: unknown[]) => Promise<unknown>; report?: (o: Record<string, unknown>) => Promise<unknown> } | 'down'): Stub {
  const reports: Record<string, unknown>[] = [];
  const checks: unknown[][] = [];
  const errors: string[] = [];
  const library = {
    openFfwall: async () => {
      if (fw === 'down') throw Object.assign(new Error('cannot connect to the daemon'), { code: 'ENODAEMON' });
      return {
        check: async (...a: unknown[]) => (checks.push(a), fw.check ? fw.check(...a) : { blocked: false }),
        report: async (o: Record<string, unknown>) => (reports.push(o), fw.report ? fw.report(o) : { banned: false, count: 1, threshold: 3 }),
        close: async () => undefined,
      };
    },
  };
  const plugin = { name: 'ffwall', logerror: (m: string) => errors.push(m) } as unknown as Plugin;
  const sandbox: Record<string, unknown> = { require: (m: string) => (m === 'ffwall' ? library : require(m)), exports: plugin, process, setTimeout, clearTimeout, Promise };
  constants.import(sandbox);
  vm.runInNewContext(`"use strict";${readFileSync(path.join(root, 'packaging', 'haraka', 'plugins', 'ffwall.js'), 'utf8')}`, sandbox);
  plugin.settings = { module: '', kinds: {}, report: true, reportSoft: false, timeout: 1000, logInterval: 60_000, check: true, port: 25 };
  plugin.fw = null;
  plugin.lastErrorLog = 0;
  return { plugin, reports, checks, errors };
}

/** Lets the plugin's promise chains (stub library: microtasks only) run out. */
const settled = (): Promise<void> => new Promise((r) => setImmediate(r));

const conn = (ip: string): Record<string, unknown> => ({
  remote: { ip },
  local: { port: 2525 },
  relaying: false,
  results: { add: () => undefined },
  loginfo: () => undefined,
  logdebug: () => undefined,
});

test('denials map to offence kinds; [kinds] overrides', (t) => {
  const { plugin } = load({});
  const cases: Array<[string, string, string]> = [
    ['dns-list', 'connect', 'rbl'],
    ['dnsbl', 'connect', 'rbl'],
    ['helo.checks', 'helo', 'bad-helo'],
    ['some_plugin', 'ehlo', 'bad-helo'],
    ['auth/flat_file', 'unrecognized_command', 'sasl-failed'],
    ['relay', 'rcpt', 'relay-denied'],
    ['early_talker', 'data', 'pregreet'],
    ['rcpt_to.in_host_list', 'rcpt', 'unknown-user'],
    ['qmail-deliverable', 'rcpt', 'unknown-user'],
    ['my_users', 'rcpt', 'unknown-user'],
    ['spf', 'mail', 'other'],
  ];
  for (const [p, h, kind] of cases) t.is(plugin.ffwall_kind(p, h, ''), kind, `${p}/${h}`);
  plugin.settings.kinds = { spf: 'rbl', bogus: 'not-a-kind' };
  t.is(plugin.ffwall_kind('spf', 'mail'), 'rbl');
  t.is(plugin.ffwall_kind('bogus', 'mail'), 'other', 'an unknown kind in [kinds] is ignored');
});

test('deny reports hard denials of other plugins, not its own, not soft ones (unless report_soft)', async (t) => {
  const s = load({});
  const next = (): void => undefined;
  const c = conn('192.0.2.7');
  s.plugin.ffwall_deny(next, c, [constants.DENY, 'no such user', 'rcpt_to.in_host_list', 'hook_rcpt', [], 'rcpt']);
  s.plugin.ffwall_deny(next, c, [constants.DENYDISCONNECT, 'blocked', 'ffwall', 'ffwall_check', [], 'lookup_rdns']);
  s.plugin.ffwall_deny(next, c, [constants.DENYSOFT, 'greylisted', 'greylist', 'hook_rcpt', [], 'rcpt']);
  await settled();
  t.deepEqual(s.reports, [{ address: '192.0.2.7', kind: 'unknown-user', origin: 'haraka', detail: 'rcpt_to.in_host_list/rcpt: no such user' }]);
  s.plugin.settings.reportSoft = true;
  s.plugin.ffwall_deny(next, c, [constants.DENYSOFT, 'greylisted', 'greylist', 'hook_rcpt', [], 'rcpt']);
  await settled();
  t.is(s.reports.length, 2);
  s.plugin.settings.report = false;
  s.plugin.ffwall_deny(next, c, [constants.DENY, 'x', 'spf', 'hook_mail', [], 'mail']);
  await settled();
  t.is(s.reports.length, 2, 'report = false: nothing reported');
});

test('an unclaimed recipient is relay-denied unless the connection may relay', async (t) => {
  const s = load({});
  const rcpt = { format: () => '<x@elsewhere.example>' };
  s.plugin.ffwall_rcpt_unclaimed(() => undefined, conn('192.0.2.8'), [rcpt]);
  s.plugin.ffwall_rcpt_unclaimed(() => undefined, { ...conn('192.0.2.9'), relaying: true }, [rcpt]);
  await settled();
  t.deepEqual(
    s.reports.map((r) => [r.address, r.kind]),
    [['192.0.2.8', 'relay-denied']],
  );
});

test('check: banned -> DENYDISCONNECT on the configured port; daemon down -> next() and one log line', async (t) => {
  const s = load({ check: async (ip: unknown) => ({ blocked: ip === '192.0.2.66', match: 'exact', inKernel: false, record: { reason: 'bot' } }) });
  const answer = (ip: string): Promise<unknown[]> => new Promise((resolve) => s.plugin.ffwall_check((...a) => resolve(a), conn(ip)));
  t.deepEqual(await answer('192.0.2.66'), [constants.DENYDISCONNECT, 'Your address is blocked here']);
  t.deepEqual(await answer('192.0.2.67'), []);
  t.deepEqual(s.checks, [
    ['192.0.2.66', { port: 25 }],
    ['192.0.2.67', { port: 25 }],
  ]);
  s.plugin.settings.port = 'local';
  await answer('192.0.2.67');
  t.deepEqual(s.checks[2], ['192.0.2.67', { port: 2525 }]);

  const down = load('down');
  const a = await new Promise<unknown[]>((resolve) => down.plugin.ffwall_check((...x) => resolve(x), conn('192.0.2.66')));
  const b = await new Promise<unknown[]>((resolve) => down.plugin.ffwall_check((...x) => resolve(x), conn('192.0.2.66')));
  t.deepEqual([a, b], [[], []], 'fail-open');
  t.is(down.errors.length, 1, 'one log line per log_interval');
  t.regex(down.errors[0] ?? '', /letting the connection through: cannot connect to the daemon/);
});
