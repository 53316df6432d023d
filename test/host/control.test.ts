// SPDX-License-Identifier: MIT
//
// The control socket: the client transport gives the same answers as the
// direct one; the server survives malformed and oversized requests; the
// protocol version is checked; the CommonJS entry reaches the daemon.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import test from 'ava';

import { CONTROL_PROTOCOL, ControlServer, FfwallError, openFfwall, type Ffwall, type FfwallEvent } from '../../src/lib/index.js';
import { CONTROL_MAX_LINE } from '../../src/lib/control.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

interface Ctx {
  dir: string;
  sock: string;
  kernel: FakeKernel;
  daemonFw: Ffwall;
  server: ControlServer;
  protocolErrors: string[];
}

async function serve(options: { maxEntries?: number } = {}): Promise<Ctx> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-ctl-'));
  const sock = path.join(dir, 'ffwall.sock');
  const kernel = new FakeKernel(options);
  const daemonFw = await openFfwall({ kernel });
  const server = new ControlServer(daemonFw, { path: sock, serverVersion: 'test' });
  const protocolErrors: string[] = [];
  server.onProtocolError = (r) => protocolErrors.push(r);
  await server.start();
  return { dir, sock, kernel, daemonFw, server, protocolErrors };
}

async function teardown(c: Ctx): Promise<void> {
  await c.server.stop();
  await c.daemonFw.close();
  rmSync(c.dir, { recursive: true, force: true });
}

/** A raw connection: send lines, read lines. */
async function raw(sock: string): Promise<{ send(s: string | Buffer): void; next(): Promise<unknown>; closed: Promise<void>; end(): void }> {
  const s = net.createConnection(sock);
  const lines: string[] = [];
  const waiters: Array<(l: string) => void> = [];
  let buf = '';
  // Decoded across reads: a character split between two reads stays whole.
  s.setEncoding('utf8');
  s.on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const l = buf.slice(0, i);
      buf = buf.slice(i + 1);
      const w = waiters.shift();
      if (w) w(l);
      else lines.push(l);
    }
  });
  const closed = new Promise<void>((resolve) => s.on('close', () => resolve()));
  await new Promise<void>((resolve) => s.once('connect', () => resolve()));
  return {
    send: (x) => s.write(x),
    next: () =>
      new Promise((resolve) => {
        const l = lines.shift();
        if (l !== undefined) resolve(JSON.parse(l));
        else waiters.push((x) => resolve(JSON.parse(x)));
      }),
    closed,
    end: () => s.end(),
  };
}

test('the socket is created 0660 and the client gets the same answers as a direct caller', async (t) => {
  const c = await serve();
  t.is(statSync(c.sock).mode & 0o777, 0o660);
  const fw = await openFfwall({ socket: c.sock });
  t.is(fw.transport, 'client', "'auto' picks the socket when the daemon answers");
  const b = await fw.block('192.0.2.7', { ports: [25], ttl: '7d', reason: 'spam' });
  t.true(b.created);
  const viaClient = await fw.check('192.0.2.7', { port: 25 });
  const direct = await c.daemonFw.check('192.0.2.7', { port: 25 });
  t.deepEqual(viaClient, direct);
  t.is(viaClient.verdict, 'drop');
  t.is((await fw.status()).transport, 'client');
  t.is((await fw.status()).entries, 1);
  t.deepEqual(await fw.unblock('192.0.2.7'), { target: '192.0.2.7', removed: true });
  t.is((await c.kernel.stats()).entries, 0);
  await fw.close();
  await teardown(c);
});

test('errors cross the socket with their class and code', async (t) => {
  const c = await serve();
  const fw = await openFfwall({ transport: 'client', socket: c.sock });
  await fw.allow('192.0.2.0/24');
  const e1 = await t.throwsAsync(fw.block('192.0.2.1'), { instanceOf: FfwallError });
  t.is(e1.code, 'EALLOWLISTED');
  // Bad input is refused by the client before sending; the server refuses it too.
  await t.throwsAsync(fw.block('1.2.3'), { instanceOf: TypeError });
  const r = await raw(c.sock);
  await r.next(); // greeting
  r.send(`${JSON.stringify({ id: 1, op: 'block', args: { request: { target: '010.1.1.1', ports: [], ttl: 60 } } })}\n`);
  const ans = (await r.next()) as { id: number; ok: boolean; error: { kind: string; code: string; message: string } };
  t.is(ans.id, 1);
  t.false(ans.ok);
  t.is(ans.error.kind, 'TypeError');
  t.regex(ans.error.message, /leading zero/);
  r.send(`${JSON.stringify({ id: 2, op: 'block', args: { request: { target: '192.0.3.1', ports: [99999], ttl: 60 } } })}\n`);
  const ans2 = (await r.next()) as { ok: boolean; error: { kind: string } };
  t.is(ans2.error.kind, 'RangeError');
  t.is((await c.kernel.stats()).entries, 0, 'nothing bad got through');
  r.end();
  await fw.close();
  await teardown(c);
});

test('malformed requests are answered with EPROTO and the connection goes on', async (t) => {
  const c = await serve();
  const r = await raw(c.sock);
  const hello = (await r.next()) as { ffwall: string; protocol: number };
  t.deepEqual(hello, { ffwall: 'control', protocol: CONTROL_PROTOCOL, server: 'test' });
  for (const bad of ['{nope', '42', '{"op":"check"}', '{"id":3,"op":"reboot"}', '{"id":"x","op":"status"}']) {
    r.send(`${bad}\n`);
    const a = (await r.next()) as { ok: boolean; error: { code: string } };
    t.false(a.ok, bad);
    t.is(a.error.code, 'EPROTO', bad);
  }
  r.send(`${JSON.stringify({ id: 9, op: 'status', args: {} })}\n`);
  const s = (await r.next()) as { id: number; ok: boolean; result: { entries: number } };
  t.deepEqual([s.id, s.ok, s.result.entries], [9, true, 0]);
  t.is(c.protocolErrors.length, 5);
  r.end();
  await teardown(c);
});

test('an oversized request is refused, that connection closed, and the server keeps serving', async (t) => {
  const c = await serve();
  const r = await raw(c.sock);
  await r.next();
  r.send(Buffer.alloc(CONTROL_MAX_LINE + 10, 0x61));
  const a = (await r.next()) as { ok: boolean; error: { code: string; message: string } };
  t.false(a.ok);
  t.is(a.error.code, 'EPROTO');
  t.regex(a.error.message, /longer than/);
  await r.closed;
  const fw = await openFfwall({ transport: 'client', socket: c.sock });
  t.is((await fw.status()).entries, 0, 'a new client is served');
  await fw.close();
  await teardown(c);
});

test('a server of another protocol version is refused with both versions named', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-ctl-'));
  const sock = path.join(dir, 's');
  const srv = net.createServer((s) => s.write(`${JSON.stringify({ ffwall: 'control', protocol: 99, server: 'future' })}\n`));
  await new Promise<void>((resolve) => srv.listen(sock, resolve));
  const err = await t.throwsAsync(openFfwall({ transport: 'client', socket: sock }), { instanceOf: FfwallError });
  t.is(err.code, 'EPROTO');
  t.regex(err.message, /protocol 99, this library speaks 1/);
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

test('no daemon: the client transport says so, and auto falls back to the device', async (t) => {
  const err = await t.throwsAsync(openFfwall({ transport: 'client', socket: '/nonexistent/ffwall.sock' }), { instanceOf: FfwallError });
  t.is(err.code, 'ENODAEMON');
  t.regex(err.message, /is `ffwall daemon` running/);
  const err2 = await t.throwsAsync(openFfwall({ socket: '/nonexistent/ffwall.sock', device: '/nonexistent/ffwall' }), { instanceOf: FfwallError });
  t.is(err2.code, 'ENOMODULE');
});

test('a second server on a live socket is refused; a stale socket file is replaced', async (t) => {
  const c = await serve();
  const other = new ControlServer(c.daemonFw, { path: c.sock });
  const err = await t.throwsAsync(other.start(), { instanceOf: FfwallError });
  t.is(err.code, 'EADDRINUSE');
  await c.server.stop();
  // Leave a dead socket file behind, as a killed daemon would.
  const dead = net.createServer();
  await new Promise<void>((resolve) => dead.listen(c.sock, resolve));
  (dead as unknown as { _handle: { close(): void } })._handle.close();
  const again = new ControlServer(c.daemonFw, { path: c.sock });
  await again.start();
  const fw = await openFfwall({ transport: 'client', socket: c.sock });
  t.is((await fw.status()).entries, 0);
  await fw.close();
  await again.stop();
  await c.daemonFw.close();
  rmSync(c.dir, { recursive: true, force: true });
});

test('blockMany through the socket is chunked, with progress and global error indexes', async (t) => {
  const c = await serve({ maxEntries: 100_000 });
  const fw = await openFfwall({ transport: 'client', socket: c.sock });
  const items: string[] = [];
  for (let i = 0; i < 25_000; i++) items.push(`10.0.${i >> 8}.${i & 255}`);
  const seen: number[] = [];
  const res = await fw.blockMany(items, { onProgress: (p) => seen.push(p.done) });
  t.deepEqual(res, { total: 25_000, applied: 25_000, changed: 25_000 });
  t.deepEqual(seen, [10_000, 20_000, 25_000]);
  await fw.allow('172.16.0.0/12');
  const bad = [...items.slice(0, 12_000), '172.16.0.1'];
  const err = await t.throwsAsync(fw.blockMany(bad), { instanceOf: FfwallError });
  t.is(err.code, 'EALLOWLISTED');
  t.is((err as FfwallError & { badIndex?: number }).badIndex, 12_000, 'the index is global to the input');
  await fw.close();
  await teardown(c);
});

test('blockFeed through the socket: the packed feed goes as one chunked blockMany, with progress and the options', async (t) => {
  const c = await serve({ maxEntries: 100_000 });
  const fw = await openFfwall({ transport: 'client', socket: c.sock });
  const lines: string[] = [];
  for (let i = 0; i < 12_000; i++) lines.push(`10.1.${i >> 8}.${i & 255}`);
  lines.push('2001:db8::/48');
  const seen: number[] = [];
  const res = await fw.blockFeed(Buffer.from(`# feed\n${lines.join('\n')}\n`), { ttl: '1h', onProgress: (p) => seen.push(p.done) });
  t.deepEqual(res, { total: 12_001, applied: 12_001, changed: 12_001 });
  t.deepEqual(seen, [10_000, 12_001]);
  const st = await c.kernel.stats();
  t.deepEqual([st.entries, st.prefixes], [12_000, 1]);
  const ttls = new Set<number>();
  for await (const b of c.kernel.dump()) for (const e of b) ttls.add(e.ttl);
  t.deepEqual([...ttls], [3600], 'the shared ttl reached every entry');
  await fw.close();
  await teardown(c);
});

test('events reach a client that listens', async (t) => {
  const c = await serve({ maxEntries: 2 });
  const fw = await openFfwall({ transport: 'client', socket: c.sock });
  const got: FfwallEvent[] = [];
  const three = new Promise<void>((resolve) =>
    fw.on('event', (e) => {
      got.push(e);
      if (got.length === 3) resolve();
    }),
  );
  await new Promise((r) => setTimeout(r, 50));
  await fw.blockMany(['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.4', '192.0.2.5']);
  await three;
  t.deepEqual(
    got.map((e) => e.type),
    ['evicted', 'evicted', 'evicted'],
  );
  fw.removeAllListeners('event');
  await fw.close();
  await teardown(c);
});

test('the CommonJS entry (for Haraka) opens the library and reaches the daemon', async (t) => {
  const c = await serve();
  await c.daemonFw.block('192.0.2.55', { ttl: '1h' });
  const script = `
    const ffwall = require('ffwall');
    (async () => {
      const fw = await ffwall.openFfwall({ transport: 'client', socket: ${JSON.stringify(c.sock)} });
      const r = await fw.check('192.0.2.55');
      const lib = await ffwall.load();
      console.log(JSON.stringify({ blocked: r.blocked, parse: lib.parsePrefix('10.0.0.0/8').toString() }));
      await fw.close();
    })().catch((e) => { console.error(e); process.exit(1); });
  `;
  // Resolved by package name through the exports map (a self-reference from the package root).
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { cwd: root });
  t.deepEqual(JSON.parse(stdout), { blocked: true, parse: '10.0.0.0/8' });
  const esm = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', "const m = await import('ffwall'); console.log(typeof m.openFfwall, typeof m.IpPrefix)"], { cwd: root });
  t.is(esm.stdout.trim(), 'function function');
  await teardown(c);
});
