// SPDX-License-Identifier: MIT
//
// The hand-written sd_notify against a datagram socket bound by the test, as
// systemd binds it: path and abstract sockets, every message the daemon
// sends, the sender's PID (NotifyAccess=main), the watchdog's interval and
// WATCHDOG_PID, and the errors.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { formatNotify, Notifier, NotifyReceiver } from '../../src/daemon/notify.js';

function tmpSocket(): { dir: string; sock: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-notify-'));
  return { dir, sock: path.join(dir, 'notify.sock') };
}

test('READY, STATUS, RELOADING, STOPPING and WATCHDOG reach a path socket from this PID', async (t) => {
  const { dir, sock } = tmpSocket();
  const rx = new NotifyReceiver(sock);
  rx.bind();
  t.teardown(() => {
    rx.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const n = new Notifier({ env: { NOTIFY_SOCKET: sock }, monotonicUsec: () => 123456789n });
  t.true(n.enabled);

  t.true(n.ready('serving 3 devices'));
  let d = await rx.next();
  t.is(d.text, 'READY=1\nSTATUS=serving 3 devices\n');
  t.is(d.pid, process.pid);

  t.true(n.status('synced 10 bans'));
  d = await rx.next();
  t.deepEqual(d.fields, { STATUS: 'synced 10 bans' });

  t.true(n.reloading());
  d = await rx.next();
  t.deepEqual(d.fields, { RELOADING: '1', MONOTONIC_USEC: '123456789' });

  t.true(n.watchdog());
  d = await rx.next();
  t.is(d.text, 'WATCHDOG=1\n');
  t.is(n.watchdogPings, 1);

  t.true(n.stopping('SIGTERM'));
  d = await rx.next();
  t.deepEqual(d.fields, { STOPPING: '1', STATUS: 'SIGTERM' });
  t.is(rx.poll(), undefined, 'nothing else was sent');
});

test('the abstract namespace (@name) works', async (t) => {
  const name = `@ffwall-test-${process.pid}-${Date.now()}`;
  const rx = new NotifyReceiver(name);
  rx.bind();
  t.teardown(() => rx.close());
  const n = new Notifier({ env: { NOTIFY_SOCKET: name } });
  t.true(n.ready());
  const d = await rx.next();
  t.is(d.text, 'READY=1\n');
  t.is(d.pid, process.pid);
});

test('a real MONOTONIC_USEC is CLOCK_MONOTONIC in microseconds', async (t) => {
  const { dir, sock } = tmpSocket();
  const rx = new NotifyReceiver(sock);
  rx.bind();
  t.teardown(() => {
    rx.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const before = process.hrtime.bigint() / 1000n;
  new Notifier({ env: { NOTIFY_SOCKET: sock } }).reloading();
  const after = process.hrtime.bigint() / 1000n;
  const usec = BigInt((await rx.next()).fields.MONOTONIC_USEC ?? '0');
  t.true(usec >= before && usec <= after);
});

test('a STATUS with newlines cannot inject a field', async (t) => {
  t.is(formatNotify({ STATUS: 'a\nREADY=1' }), 'STATUS=a READY=1\n');
  t.throws(() => formatNotify({ 'bad=key': 1 }), { instanceOf: TypeError, message: /field name/ });
});

test('without NOTIFY_SOCKET every call is a no-op returning false', (t) => {
  const sent: string[] = [];
  const n = new Notifier({ env: {}, send: (_p, d) => sent.push(d.toString()) });
  t.false(n.enabled);
  t.false(n.ready());
  t.false(n.status('x'));
  t.false(n.watchdog());
  t.false(n.stopping());
  t.false(n.startWatchdog());
  t.is(n.watchdogIntervalMs, undefined);
  t.deepEqual(sent, []);
});

test('a relative NOTIFY_SOCKET is refused with a reason, not sent to', (t) => {
  const n = new Notifier({ env: { NOTIFY_SOCKET: 'run/notify' }, send: () => t.fail('sent') });
  t.false(n.enabled);
  t.regex(n.problem ?? '', /NOTIFY_SOCKET=run\/notify is neither an absolute path nor an @abstract name/);
  t.false(n.ready());
});

test('the watchdog interval is half of WATCHDOG_USEC, and WATCHDOG_PID decides whom it is for', (t) => {
  const base = { NOTIFY_SOCKET: '/run/systemd/notify' };
  t.is(new Notifier({ env: { ...base, WATCHDOG_USEC: '30000000' } }).watchdogIntervalMs, 15000);
  t.is(new Notifier({ env: { ...base, WATCHDOG_USEC: '30000000', WATCHDOG_PID: '4242' }, pid: 4242 }).watchdogIntervalMs, 15000);
  t.is(new Notifier({ env: { ...base, WATCHDOG_USEC: '30000000', WATCHDOG_PID: '4242' }, pid: 99 }).watchdogIntervalMs, undefined);
  t.is(new Notifier({ env: { WATCHDOG_USEC: '30000000' } }).watchdogIntervalMs, undefined, 'no socket, no watchdog');
  const bad = new Notifier({ env: { ...base, WATCHDOG_USEC: '30s' } });
  t.is(bad.watchdogIntervalMs, undefined);
  t.regex(bad.problem ?? '', /WATCHDOG_USEC=30s is not a positive integer/);
});

test('the watchdog timer pings at its interval, skips when unhealthy, and stops', async (t) => {
  const { dir, sock } = tmpSocket();
  const rx = new NotifyReceiver(sock);
  rx.bind();
  let healthy = true;
  const n = new Notifier({ env: { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '40000', WATCHDOG_PID: String(process.pid) }, healthy: () => healthy });
  t.teardown(() => {
    n.stopWatchdog();
    rx.close();
    rmSync(dir, { recursive: true, force: true });
  });
  t.is(n.watchdogIntervalMs, 20);
  t.true(n.startWatchdog());
  const start = Date.now();
  t.is((await rx.next()).text, 'WATCHDOG=1\n');
  t.is((await rx.next()).text, 'WATCHDOG=1\n');
  t.true(Date.now() - start >= 35, 'two pings take about two intervals');
  healthy = false;
  await new Promise((r) => setTimeout(r, 30));
  while (rx.poll() !== undefined);
  const pings = n.watchdogPings;
  await new Promise((r) => setTimeout(r, 80));
  t.is(n.watchdogPings, pings, 'no ping while unhealthy');
  t.is(rx.poll(), undefined);
  healthy = true;
  t.is((await rx.next()).text, 'WATCHDOG=1\n');
  n.stopping();
  while (rx.poll()?.fields.WATCHDOG !== undefined);
  const after = n.watchdogPings;
  await new Promise((r) => setTimeout(r, 60));
  t.is(n.watchdogPings, after, 'STOPPING stops the watchdog');
});

test('a send to a missing socket throws a Node-shaped error; the timer reports it to onError', async (t) => {
  const { dir, sock } = tmpSocket();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const n = new Notifier({ env: { NOTIFY_SOCKET: sock } });
  const err = t.throws(() => n.ready()) as NodeJS.ErrnoException;
  t.is(err.code, 'ENOENT');
  t.is(err.syscall, 'sendto');
  t.is(err.path, sock);

  const errors: Error[] = [];
  const w = new Notifier({ env: { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '20000' }, onError: (e) => errors.push(e) });
  w.startWatchdog();
  await new Promise((r) => setTimeout(r, 60));
  w.stopWatchdog();
  t.true(errors.length >= 1);
  t.is((errors[0] as NodeJS.ErrnoException).code, 'ENOENT');
});

test('a socket name too long for sun_path is ENAMETOOLONG', (t) => {
  const n = new Notifier({ env: { NOTIFY_SOCKET: `/${'x'.repeat(200)}` } });
  t.is((t.throws(() => n.ready()) as NodeJS.ErrnoException).code, 'ENAMETOOLONG');
});
