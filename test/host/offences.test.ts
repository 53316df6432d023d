// SPDX-License-Identifier: MIT
//
// The offence tracker (src/lib/offences.ts): thresholds per kind over a
// sliding window, disabled kinds, the cap on tracked addresses, and
// Ffwall.report() over the direct transport and over the control socket.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { ControlServer, defaultOffenceConfig, FfwallError, OffenceTracker, openFfwall, parseAddress, type BlockRequest, type BlockResult, type OffenceConfig, type ReportRequest } from '../../src/lib/index.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';

function fakeResult(r: BlockRequest): BlockResult {
  return { target: r.target, created: true, action: 'created', durationFrom: 'escalated', inKernel: true, record: null, also: [], ports: r.ports, expiresAt: null, pinned: false, monitor: false };
}

function tracker(cfg: OffenceConfig = defaultOffenceConfig()): { t: OffenceTracker; bans: BlockRequest[]; clock: { now: number } } {
  const bans: BlockRequest[] = [];
  const clock = { now: 1_000_000_000_000 };
  const t = new OffenceTracker(cfg, {
    ban: async (r) => {
      bans.push(r);
      return fakeResult(r);
    },
    now: () => clock.now,
  });
  return { t, bans, clock };
}

const off = (address: string, kind: ReportRequest['kind'], at: number | null = null, origin = 'postfix'): ReportRequest => ({ address, kind, origin, at, detail: '' });

test('unknown-user bans at the third offence within the window, on the SMTP ports, with a reason', async (t) => {
  const { t: tr, bans, clock } = tracker();
  const a = await tr.report(off('192.0.2.7', 'unknown-user'));
  t.is(a.count, 1);
  t.is(a.threshold, 3);
  t.false(a.banned);
  clock.now += 60_000;
  t.false((await tr.report(off('192.0.2.7', 'unknown-user'))).banned);
  clock.now += 60_000;
  const c = await tr.report(off('192.0.2.7', 'unknown-user'));
  t.true(c.banned);
  t.is(c.count, 3);
  t.is(bans.length, 1);
  t.deepEqual(bans[0], {
    target: '192.0.2.7',
    ports: [25, 465, 587],
    ttl: null,
    permanent: false,
    pin: false,
    monitor: false,
    reason: 'postfix: 3x unknown-user in 10m',
    source: 'logwatch',
    sourceTag: 'unknown-user',
  });
  // Counting starts afresh after a ban.
  t.is(tr.count('192.0.2.7', 'unknown-user'), 0);
  t.false((await tr.report(off('192.0.2.7', 'unknown-user'))).banned);
});

test('the window slides: offences older than the window do not count', async (t) => {
  const { t: tr, bans, clock } = tracker();
  await tr.report(off('192.0.2.8', 'unknown-user'));
  clock.now += 5 * 60_000;
  await tr.report(off('192.0.2.8', 'unknown-user'));
  clock.now += 6 * 60_000; // the first is now 11 minutes old
  const r = await tr.report(off('192.0.2.8', 'unknown-user'));
  t.is(r.count, 2);
  t.false(r.banned);
  clock.now += 1000;
  const r2 = await tr.report(off('192.0.2.8', 'unknown-user'));
  t.true(r2.banned);
  t.is(bans.length, 1);
});

test('explicit offence times are used, also out of order', async (t) => {
  const { t: tr } = tracker();
  const base = 2_000_000_000_000;
  await tr.report(off('192.0.2.9', 'relay-denied', base + 20 * 60_000));
  // 20 minutes earlier: outside the window of the newest.
  const r = await tr.report(off('192.0.2.9', 'relay-denied', base));
  t.is(r.count, 1);
  t.false(r.banned);
  const r2 = await tr.report(off('192.0.2.9', 'relay-denied', base + 19 * 60_000));
  t.true(r2.banned);
});

test('an offence older than the window ending now is ignored (a log replayed from its start)', async (t) => {
  const { t: tr, bans, clock } = tracker();
  for (let i = 0; i < 5; i++) {
    const r = await tr.report(off('192.0.2.10', 'unknown-user', clock.now - 3600_000 + i * 1000));
    t.is(r.count, 0);
  }
  t.is(bans.length, 0);
  t.is(tr.size, 0);
  await tr.report(off('192.0.2.10', 'unknown-user', clock.now - 60_000));
  t.is(tr.count('192.0.2.10', 'unknown-user'), 1, 'within the window: counted');
});

test('kinds count apart; rbl bans at once; a disabled kind never counts; per-kind window', async (t) => {
  const cfg = defaultOffenceConfig();
  cfg.kinds.rbl.enabled = false;
  cfg.kinds['sasl-failed'] = { enabled: true, threshold: 2, window: 30 };
  const { t: tr, bans, clock } = tracker(cfg);
  const r = await tr.report(off('198.51.100.1', 'rbl'));
  t.false(r.enabled);
  t.false(r.banned);
  t.is(r.count, 0);
  t.is(tr.size, 0, 'a disabled kind tracks nothing');
  t.true((await tr.report(off('198.51.100.2', 'pregreet'))).banned, 'pregreet: threshold 1');
  await tr.report(off('198.51.100.3', 'unknown-user'));
  await tr.report(off('198.51.100.3', 'unknown-user'));
  t.false((await tr.report(off('198.51.100.3', 'relay-denied'))).banned, 'another kind does not add up');
  await tr.report(off('198.51.100.4', 'sasl-failed'));
  clock.now += 31_000;
  t.false((await tr.report(off('198.51.100.4', 'sasl-failed'))).banned, '30 s window passed');
  t.true((await tr.report(off('198.51.100.4', 'sasl-failed'))).banned);
  t.deepEqual(
    bans.map((b) => [b.target, b.reason]),
    [
      ['198.51.100.2', 'postfix: 1x pregreet in 10m'],
      ['198.51.100.4', 'postfix: 2x sasl-failed in 30s'],
    ],
  );
});

test('origins map to ban sources; ports and ttl come from the configuration', async (t) => {
  const cfg = defaultOffenceConfig();
  cfg.ports = [25];
  cfg.ttl = 3600;
  const { t: tr, bans } = tracker(cfg);
  await tr.report(off('203.0.113.1', 'rbl', null, 'haraka'));
  await tr.report(off('203.0.113.2', 'rbl', null, 'fail2ban'));
  await tr.report(off('203.0.113.3', 'rbl', null, 'exim'));
  t.deepEqual(
    bans.map((b) => [b.source, b.ports, b.ttl]),
    [
      ['haraka', [25], 3600],
      ['fail2ban', [25], 3600],
      ['api', [25], 3600],
    ],
  );
});

test('at most maxTracked addresses are followed; the least recent goes first', async (t) => {
  const cfg = defaultOffenceConfig();
  cfg.maxTracked = 3;
  const { t: tr, bans } = tracker(cfg);
  for (const a of ['10.0.0.1', '10.0.0.2', '10.0.0.3']) await tr.report(off(a, 'unknown-user'));
  await tr.report(off('10.0.0.1', 'unknown-user')); // 10.0.0.1 is now the most recent
  await tr.report(off('10.0.0.4', 'unknown-user')); // drops 10.0.0.2
  t.is(tr.size, 3);
  t.is(tr.dropped, 1);
  t.is(tr.count('10.0.0.2', 'unknown-user'), 0);
  t.is(tr.count('10.0.0.1', 'unknown-user'), 2);
  t.true((await tr.report(off('10.0.0.1', 'unknown-user'))).banned);
  t.is(bans.length, 1);
  for (let i = 0; i < 1000; i++) await tr.report(off(`10.1.${i >> 8}.${i & 255}`, 'hangup'));
  t.is(tr.size, 3, 'the cap holds under a flood of addresses');
  // A lower cap at reload trims at once.
  tr.configure({ ...cfg, maxTracked: 1 });
  t.is(tr.size, 1);
});

test('a refused ban is reported, counted, and the counter starts afresh', async (t) => {
  let calls = 0;
  const tr = new OffenceTracker(defaultOffenceConfig(), {
    ban: async () => {
      calls++;
      throw new FfwallError('EALLOWLISTED', 'ffwall: 192.0.2.1 is on the allowlist');
    },
  });
  for (let i = 0; i < 2; i++) t.false((await tr.report(off('192.0.2.1', 'unknown-user'))).banned);
  const r = await tr.report(off('192.0.2.1', 'unknown-user'));
  t.false(r.banned);
  t.regex(r.refused ?? '', /^EALLOWLISTED: /);
  // The next offences count again from one: no ban attempt per offence.
  for (let i = 0; i < 2; i++) t.is((await tr.report(off('192.0.2.1', 'unknown-user'))).refused, undefined);
  t.is(calls, 1);
});

test('Ffwall.report over the direct transport bans in the kernel, and checks its input', async (t) => {
  const kernel = new FakeKernel();
  const fw = await openFfwall({ kernel });
  for (let i = 0; i < 2; i++) await fw.report({ address: '192.0.2.50', kind: 'relay-denied', origin: 'haraka' });
  t.is(kernel.packet({ src: parseAddress('192.0.2.50'), proto: 'tcp', dport: 25 }), 'drop');
  t.is(kernel.packet({ src: parseAddress('192.0.2.50'), proto: 'tcp', dport: 80 }), 'pass');
  await t.throwsAsync(fw.report({ address: '192.0.2.0/24', kind: 'rbl', origin: 'postfix' }), { instanceOf: TypeError, message: /single address/ });
  await t.throwsAsync(fw.report({ address: '192.0.2.1', kind: 'spam', origin: 'postfix' }), { instanceOf: TypeError, message: /kind must be one of/ });
  await t.throwsAsync(fw.report({ address: '192.0.2.1', kind: 'rbl', origin: 'Post Fix' }), { instanceOf: TypeError, message: /origin/ });
  await t.throwsAsync(fw.report({ address: 'nope', kind: 'rbl', origin: 'postfix' }));
  // An allowlisted offender is counted, never banned.
  await fw.allow('192.0.2.60');
  const r = await fw.report({ address: '192.0.2.60', kind: 'rbl', origin: 'postfix', detail: 'line\nwith control' });
  t.false(r.banned);
  t.regex(r.refused ?? '', /EALLOWLISTED/);
  t.is(kernel.packet({ src: parseAddress('192.0.2.60'), proto: 'tcp', dport: 25 }), 'pass');
  await fw.close();
});

test('Ffwall.report over the control socket uses the server side tracker', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-off-'));
  const sock = path.join(dir, 'ffwall.sock');
  const kernel = new FakeKernel();
  const cfg = defaultOffenceConfig();
  cfg.kinds['unknown-user'].threshold = 2;
  const server = await openFfwall({ kernel, offences: cfg });
  const cs = new ControlServer(server, { path: sock });
  await cs.start();
  const a = await openFfwall({ transport: 'client', socket: sock });
  const b = await openFfwall({ transport: 'client', socket: sock });
  const r1 = await a.report({ address: '2001:db8::5', kind: 'unknown-user', origin: 'haraka' });
  t.is(r1.count, 1);
  t.is(r1.threshold, 2);
  // A second client adds to the same counter.
  const r2 = await b.report({ address: '2001:db8::5', kind: 'unknown-user', origin: 'haraka', at: Date.now() });
  t.true(r2.banned);
  t.is(r2.ban?.target, '2001:db8::5');
  t.is(kernel.packet({ src: parseAddress('2001:db8::5'), proto: 'tcp', dport: 587 }), 'drop');
  await t.throwsAsync(a.report({ address: '2001:db8::5', kind: 'bogus', origin: 'haraka' }), { instanceOf: TypeError });
  await a.close();
  await b.close();
  await cs.stop();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});
