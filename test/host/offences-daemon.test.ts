// SPDX-License-Identifier: MIT
//
// Offences and the policy service in the daemon as `ffwall daemon` runs it
// (DaemonService over FakeKernel): the configuration sections and their
// errors, an offence source's offences banning, an allowlisted (safety)
// offender counted but never banned and logged once per tripped threshold,
// a failing source logged while the daemon goes on, report() over the
// control socket, the metrics, and a SIGHUP-style reload that changes the
// policy action.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';

import test from 'ava';

import { CONFIG_KEYS, defaultConfig, parseConfig, parsePolicyListen } from '../../src/daemon/config.js';
import { DaemonService } from '../../src/daemon/daemon.js';
import { parseAddress } from '../../src/lib/addr.js';
import { openFfwall } from '../../src/lib/ffwall.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';
import type { Offence, OffenceSource } from '../../src/lib/offences.js';

const groups = (name: string): number | undefined => (name === 'postfix' ? 115 : undefined);

function errors(input: unknown): string[] {
  const r = parseConfig(JSON.stringify(input), { groupId: groups });
  return r.ok ? [] : r.errors.map((e) => `${e.key}: ${e.message}`);
}

test('config: the offences and postfix sections, defaults and values', (t) => {
  const d = defaultConfig();
  t.is(d.postfix.policy.listen, null, 'the policy service is off by default');
  t.false(d.postfix.log.enabled);
  t.deepEqual(d.offences.ports, [25, 465, 587]);
  t.is(d.offences.kinds['unknown-user'].threshold, 3);
  t.is(d.offences.kinds.rbl.threshold, 1);
  const r = parseConfig(
    JSON.stringify({
      offences: { window: '5m', ports: [587, 25], ttl: '2h', maxTracked: 500, kinds: { 'unknown-user': { threshold: 4, window: '1h' }, rbl: { enabled: false } } },
      postfix: {
        policy: { listen: 'unix:/var/spool/postfix/private/ffwall-policy', mode: '0660', group: 'postfix', action: 521, text: 'Blocked' },
        log: { enabled: true, source: 'file', file: '/var/log/maillog' },
      },
    }),
    { groupId: groups },
  );
  if (!r.ok) return t.fail(JSON.stringify(r.errors));
  const c = r.config;
  t.is(c.offences.window, 300);
  t.deepEqual(c.offences.ports, [25, 587]);
  t.is(c.offences.ttl, 7200);
  t.is(c.offences.maxTracked, 500);
  t.deepEqual(c.offences.kinds['unknown-user'], { enabled: true, threshold: 4, window: 3600 });
  t.false(c.offences.kinds.rbl.enabled);
  t.is(c.offences.kinds.hangup.window, 300, 'the other kinds take offences.window');
  t.deepEqual(c.postfix.policy.listen, { type: 'unix', path: '/var/spool/postfix/private/ffwall-policy' });
  t.is(c.postfix.policy.gid, 115);
  t.is(c.postfix.policy.action, '521');
  t.deepEqual(c.postfix.log, { enabled: true, source: 'file', file: '/var/log/maillog', unit: 'postfix@-' });
  t.true(CONFIG_KEYS.includes('postfix.policy.listen'));
  t.deepEqual(parsePolicyListen('inet:[::1]:10031'), { type: 'inet', host: '::1', port: 10031 });
});

test('config errors name the key', (t) => {
  t.deepEqual(errors({ postfix: { policy: { listen: 'inet:192.0.2.1:10031' } } }), ['postfix.policy.listen: inet:192.0.2.1:10031 is not a loopback address; set postfix.policy.allowRemote: true to allow it']);
  t.deepEqual(errors({ postfix: { policy: { listen: 'inet:192.0.2.1:10031', allowRemote: true } } }), []);
  t.deepEqual(errors({ postfix: { policy: { listen: 'tcp:127.0.0.1:1' } } }), ['postfix.policy.listen: "tcp:127.0.0.1:1" must be unix:/path or inet:host:port']);
  t.deepEqual(errors({ postfix: { policy: { listen: 'unix:policy.sock' } } }), ['postfix.policy.listen: "policy.sock" is not an absolute path (give unix:/absolute/path)']);
  t.deepEqual(errors({ postfix: { policy: { action: 'discard' } } }), ['postfix.policy.action: must be one of reject, defer, 521, got "discard"']);
  t.deepEqual(errors({ postfix: { policy: { text: 'two\nlines' } } }), ['postfix.policy.text: must be 1..200 printable ASCII characters (it goes into an SMTP reply)']);
  t.deepEqual(errors({ postfix: { policy: { mode: '0666' } } }), ['postfix.policy.mode: 0666 gives other users access; anyone who can connect can query and promote bans (use 0660 and postfix.policy.group)']);
  t.deepEqual(errors({ postfix: { policy: { group: 'nosuch' } } }), ['postfix.policy.group: no group named "nosuch" (create it with: groupadd --system nosuch)']);
  t.deepEqual(errors({ postfix: { policy: { lisen: 'x' } } }), ['postfix.policy.lisen: unknown key; did you mean "postfix.policy.listen"?']);
  t.deepEqual(errors({ postfix: { log: { source: 'syslog' } } }), ['postfix.log.source: must be one of journal, file, got "syslog"']);
  t.deepEqual(errors({ offences: { kinds: { 'unknown-users': { threshold: 2 } } } }), ['offences.kinds.unknown-users: unknown key; did you mean "offences.kinds.unknown-user"?']);
  t.deepEqual(errors({ offences: { kinds: { rbl: { threshold: 0 } } } }), ['offences.kinds.rbl.threshold: 0 is out of range 1..10000']);
  t.deepEqual(errors({ offences: { kinds: { rbl: { enable: false } } } }), ['offences.kinds.rbl.enable: unknown key; did you mean "offences.kinds.rbl.enabled"?']);
  t.deepEqual(errors({ offences: { kinds: { rbl: true } } }), ['offences.kinds.rbl: must be {"enabled": ..., "threshold": ..., "window": ...}, got true']);
  t.deepEqual(errors({ offences: { ports: [25, 70000] } }), ['offences.ports[1]: must be a port number 1..65535, got 70000']);
  t.deepEqual(errors({ offences: { window: '30d' } }), ['offences.window: 2592000 s is longer than the maximum of 7d']);
  t.deepEqual(errors({ offences: { ttl: 'soon' } }).length, 1);
  t.deepEqual(errors({ offences: { maxTracked: 0 } }), ['offences.maxTracked: 0 is out of range 1..10000000']);
});

/** A fake offence source (what the Postfix log watcher is to the daemon). */
class FakeSource extends EventEmitter implements OffenceSource {
  started = 0;
  stopped = 0;
  failStart = false;
  async start(): Promise<void> {
    this.started++;
    if (this.failStart) throw new Error('cannot open the journal');
  }
  async stop(): Promise<void> {
    this.stopped++;
  }
  offence(o: Offence): void {
    this.emit('offence', o);
  }
}

interface Svc {
  svc: DaemonService;
  kernel: FakeKernel;
  lines: Record<string, unknown>[];
  dir: string;
  file: string;
  sources: FakeSource[];
  write(extra: Record<string, unknown>): void;
  done(): Promise<void>;
}

async function service(extra: Record<string, unknown>, sourceCount = 1, prep?: (sources: FakeSource[]) => void): Promise<Svc> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-offd-'));
  const file = path.join(dir, 'ffwall.jsonc');
  writeFileSync(path.join(dir, 'resolv.conf'), '');
  const write = (x: Record<string, unknown>): void =>
    writeFileSync(
      file,
      JSON.stringify({
        database: { path: path.join(dir, 'db') },
        socket: { path: path.join(dir, 'ffwall.sock') },
        sync: { interval: 3600, sweepInterval: 3600 },
        safety: { resolvConf: path.join(dir, 'resolv.conf'), gateways: false, hostAddresses: false, sshSessions: false },
        ...x,
      }),
    );
  write(extra);
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const kernel = new FakeKernel();
  const sources = Array.from({ length: sourceCount }, () => new FakeSource());
  prep?.(sources);
  const svc = new DaemonService({ configPath: file, kernel, logDestination: dest, env: {}, signals: false, offenceSources: () => sources });
  await svc.start();
  return {
    svc,
    kernel,
    lines,
    dir,
    file,
    sources,
    write,
    async done() {
      await svc.stop();
      await kernel.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function until(fn: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
}

test('an offence source: its offences ban at the threshold; a loopback (safety) offender is counted, never banned, logged once per trip', async (t) => {
  const s = await service({ offences: { kinds: { 'unknown-user': { threshold: 2 } } } });
  const src = s.sources[0] as FakeSource;
  t.is(src.started, 1);
  const results: boolean[] = [];
  s.svc.daemon.on('offence', (e) => results.push(e.result.banned));
  src.offence({ address: '192.0.2.77', kind: 'unknown-user', origin: 'postfix', detail: 'RCPT from unknown[192.0.2.77]: 550 5.1.1 User unknown' });
  src.offence({ address: '192.0.2.77', kind: 'unknown-user', origin: 'postfix' });
  await until(() => results.length === 2);
  t.deepEqual(results, [false, true]);
  t.is(s.kernel.packet({ src: parseAddress('192.0.2.77'), proto: 'tcp', dport: 25 }), 'drop');
  t.is(s.kernel.packet({ src: parseAddress('192.0.2.77'), proto: 'tcp', dport: 80 }), 'pass');
  const rec = s.svc.daemon.store.get('192.0.2.77');
  t.is(rec?.source, 'logwatch');
  t.is(rec?.tag, 'unknown-user');
  t.is(rec?.reason, 'postfix: 2x unknown-user in 10m');
  t.truthy(s.lines.find((l) => l.msg === 'offence threshold reached: banned' && l.address === '192.0.2.77'));

  // 127.0.0.1 is on the automatic safety list: 10 offences, 5 trips, no ban.
  results.length = 0;
  for (let i = 0; i < 10; i++) src.offence({ address: '127.0.0.1', kind: 'unknown-user', origin: 'postfix' });
  await until(() => results.length === 10);
  t.deepEqual(results, new Array(10).fill(false));
  t.is(s.svc.daemon.store.get('127.0.0.1'), undefined, 'never banned');
  const refusedLines = s.lines.filter((l) => l.msg === 'offence threshold reached: ban refused');
  t.is(refusedLines.length, 5, 'one line per tripped threshold, none per offence');
  t.regex(String(refusedLines[0]?.refused), /^EALLOWLISTED/);

  await s.done();
  t.is(src.stopped, 1);
});

test('a failing offence source is logged and the daemon runs on; report() over the control socket; metrics', async (t) => {
  const s = await service({}, 2, (src) => {
    (src[0] as FakeSource).failStart = true;
  });
  const [a, b] = s.sources as [FakeSource, FakeSource];
  t.is(s.svc.daemon.state, 'running', 'a source that cannot start does not stop the daemon');
  t.is(b.started, 1, 'the next source still starts');
  t.truthy(s.lines.find((l) => l.msg === 'offence source error' && l.err === 'cannot open the journal'));
  a.emit('error', new Error('journal went away'));
  await until(() => s.lines.some((l) => l.err === 'journal went away'));
  t.truthy(s.lines.find((l) => l.msg === 'offence source error' && l.err === 'journal went away'));
  t.is(s.svc.daemon.state, 'running');
  // A bad offence from a source is an error too, not a crash.
  b.offence({ address: 'not an address', kind: 'rbl', origin: 'postfix' });
  await until(() => s.lines.filter((l) => l.msg === 'offence source error').length === 3);
  t.is(s.lines.filter((l) => l.msg === 'offence source error').length, 3);
  t.is(s.svc.daemon.state, 'running');

  const fw = await openFfwall({ transport: 'client', socket: path.join(s.dir, 'ffwall.sock') });
  const r = await fw.report({ address: '198.51.100.200', kind: 'rbl', origin: 'haraka' });
  t.true(r.banned);
  t.is(r.ban?.record?.source, 'haraka');
  t.is(s.kernel.packet({ src: parseAddress('198.51.100.200'), proto: 'tcp', dport: 465 }), 'drop');
  await fw.close();
  const m = s.svc.daemon;
  t.is(m.state, 'running');
  await s.done();
});

test('the metrics count offences, offence bans and policy requests', async (t) => {
  const { DaemonMetrics } = await import('../../src/daemon/metrics.js');
  const metrics = new DaemonMetrics({ defaultMetrics: false });
  metrics.offence('unknown-user', 'postfix', { banned: false, refused: false });
  metrics.offence('unknown-user', 'postfix', { banned: true, refused: false });
  metrics.offence('rbl', 'exim', { banned: false, refused: true });
  metrics.policyRequest('reject');
  metrics.policyRequest('dunno');
  metrics.policyRequest('dunno');
  metrics.policyProtocolError();
  metrics.controlRequest('report', 'ok');
  const text = await metrics.scrape();
  t.regex(text, /ffwall_offences_total\{kind="unknown-user",origin="postfix"\} 2/);
  t.regex(text, /ffwall_offences_total\{kind="rbl",origin="other"\} 1/);
  t.regex(text, /ffwall_offence_bans_total\{kind="unknown-user"\} 1/);
  t.regex(text, /ffwall_offence_refused_total\{kind="rbl"\} 1/);
  t.regex(text, /ffwall_policy_requests_total\{result="dunno"\} 2/);
  t.regex(text, /ffwall_policy_requests_total\{result="reject"\} 1/);
  t.regex(text, /ffwall_policy_protocol_errors_total 1/);
  t.regex(text, /ffwall_control_requests_total\{op="report",result="ok"\} 1/);
});

async function ask(sock: string, address: string): Promise<string> {
  const s = net.createConnection(sock);
  return new Promise((resolve, reject) => {
    let buf = '';
    s.on('error', reject);
    s.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.endsWith('\n\n')) {
        s.end();
        resolve(buf.trimEnd());
      }
    });
    s.write(`request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=${address}\n\n`);
  });
}

test('the service: the policy socket from the configuration, and a reload that changes its action', async (t) => {
  const dir0 = mkdtempSync(path.join(os.tmpdir(), 'ffwall-pol-'));
  const sock = path.join(dir0, 'policy.sock');
  const s = await service({ postfix: { policy: { listen: `unix:${sock}`, text: 'No' } } });
  s.svc.daemon.store.ban({ prefix: '192.0.2.99', source: 'cli', ttl: 3600 });
  t.is(await ask(sock, '192.0.2.99'), 'action=REJECT No');
  t.is(await ask(sock, '192.0.2.98'), 'action=DUNNO');
  s.write({ postfix: { policy: { listen: `unix:${sock}`, action: 'defer', text: 'Later' } } });
  t.true(await s.svc.reload());
  t.is(await ask(sock, '192.0.2.99'), 'action=DEFER Later');
  // A bad file keeps the running policy.
  writeFileSync(s.file, JSON.stringify({ postfix: { policy: { action: 'bounce' } } }));
  t.false(await s.svc.reload());
  t.is(await ask(sock, '192.0.2.99'), 'action=DEFER Later');
  await s.done();
  rmSync(dir0, { recursive: true, force: true });
});
