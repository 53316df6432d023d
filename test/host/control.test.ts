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

import { ClientTransport, CONTROL_PROTOCOL, ControlServer, Ffwall, FfwallError, openFfwall, type FfwallEvent } from '../../src/lib/index.js';
import { CONTROL_FEED_BUDGET, CONTROL_FEED_CHUNK, CONTROL_MAX_LINE } from '../../src/lib/control.js';
import { packedToWire, packPlainFeed, PACKED_WIRE_ENTRY } from '../../src/lib/feeds.js';
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
  t.deepEqual(hello, { ffwall: 'control', protocol: CONTROL_PROTOCOL, server: 'test', features: ['blockFeed'] });
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

/** Records the feeds and the blockMany() calls the server's Ffwall gets. */
function spy(fw: Ffwall): { feeds: number[]; many: number } {
  const seen = { feeds: [] as number[], many: 0 };
  const feed = fw.blockFeed.bind(fw);
  const many = fw.blockMany.bind(fw);
  fw.blockFeed = async (f, o) => (seen.feeds.push(typeof f === 'object' && 'count' in f ? f.count : -1), feed(f, o));
  fw.blockMany = async (i, o) => (seen.many++, many(i, o));
  return seen;
}

test('blockFeed through the socket: the feed crosses packed (op blockFeed), with progress and the options', async (t) => {
  const c = await serve({ maxEntries: 100_000 });
  const calls = spy(c.daemonFw);
  const fw = await openFfwall({ transport: 'client', socket: c.sock });
  const lines: string[] = [];
  for (let i = 0; i < 12_000; i++) lines.push(`10.1.${i >> 8}.${i & 255}`);
  lines.push('2001:db8::/48');
  const seen: number[] = [];
  const res = await fw.blockFeed(Buffer.from(`# feed\n${lines.join('\n')}\n`), { ttl: '1h', onProgress: (p) => seen.push(p.done) });
  t.deepEqual(res, { total: 12_001, applied: 12_001, changed: 12_001 });
  t.deepEqual(calls, { feeds: [12_001], many: 0 }, 'one packed message, no request per entry');
  t.deepEqual(seen, [12_001]);
  t.is(c.server.feedBytes, 0, 'the payload was let go');
  const st = await c.kernel.stats();
  t.deepEqual([st.entries, st.prefixes], [12_000, 1]);
  const ttls = new Set<number>();
  for await (const b of c.kernel.dump()) for (const e of b) ttls.add(e.ttl);
  t.deepEqual([...ttls], [3600], 'the shared ttl reached every entry');
  await fw.close();
  await teardown(c);
});

test('blockFeed through the socket in parts: progress over the whole feed, and an error names its index in the whole feed; nothing of that part is blocked', async (t) => {
  const c = await serve({ maxEntries: 100_000 });
  const calls = spy(c.daemonFw);
  const fw = new Ffwall(await ClientTransport.connect(c.sock, 5000, { feedChunk: 1000 }));
  const lines: string[] = [];
  for (let i = 0; i < 2500; i++) lines.push(`10.2.${i >> 8}.${i & 255}`);
  const seen: number[] = [];
  const res = await fw.blockFeed(Buffer.from(lines.join('\n')), { onProgress: (p) => seen.push(p.done) });
  t.deepEqual(res, { total: 2500, applied: 2500, changed: 2500 });
  t.deepEqual(calls.feeds, [1000, 1000, 500]);
  t.deepEqual(seen, [1000, 2000, 2500]);
  await c.daemonFw.allow('172.16.0.0/12');
  const bad = [...lines.map((l) => l.replace('10.2.', '10.3.')), '172.16.0.9'];
  const err = await t.throwsAsync(fw.blockFeed(Buffer.from(bad.join('\n'))), { code: 'EALLOWLISTED' });
  t.is((err as Error & { badIndex?: number }).badIndex, 2500, 'the index is the whole feed\'s');
  t.is((err as Error & { applied?: number }).applied, 2000, 'the parts before were applied');
  t.false((await c.daemonFw.check('10.3.9.200')).blocked, 'nothing of the refused part');
  t.true((await c.daemonFw.check('10.3.7.207')).blocked);
  await fw.close();
  await teardown(c);
});

test('blockFeed on the wire: a bad entry is EINVALIDARG naming it and nothing changes; a bad count closes the connection; the server keeps serving', async (t) => {
  const c = await serve();
  const r = await raw(c.sock);
  await r.next();
  const feed = packPlainFeed(Buffer.from('192.0.2.1\n192.0.2.0/24\n'));
  const wire = packedToWire(feed, 0, 2);
  // Entry 1 is 192.0.2.0/24: set a host bit.
  wire[16 + 15] = 7;
  r.send(`${JSON.stringify({ id: 1, op: 'blockFeed', args: { count: 2, request: { target: '::', ports: [], ttl: 60 } } })}\n`);
  r.send(Buffer.from(wire));
  r.send(`${JSON.stringify({ id: 2, op: 'status' })}\n`);
  const a1 = (await r.next()) as { id: number; ok: boolean; error: { code: string; badIndex: number; message: string } };
  t.is(a1.id, 1);
  t.false(a1.ok);
  t.is(a1.error.code, 'EINVALIDARG');
  t.is(a1.error.badIndex, 1);
  t.regex(a1.error.message, /entry 1 .*bits are set beyond/);
  const a2 = (await r.next()) as { id: number; ok: boolean };
  t.deepEqual([a2.id, a2.ok], [2, true], 'the payload was not read as lines');
  t.is((await c.kernel.stats()).entries, 0, 'nothing blocked');
  // A length over 128.
  const long = packedToWire(feed, 0, 1);
  long[16] = 129;
  r.send(`${JSON.stringify({ id: 3, op: 'blockFeed', args: { count: 1, request: { target: '::', ports: [], ttl: 60 } } })}\n`);
  r.send(Buffer.from(long));
  const a3 = (await r.next()) as { error: { code: string; message: string } };
  t.regex(a3.error.message, /length 129 is over 128/);
  // A count the payload cannot be read by: the connection ends.
  r.send(`${JSON.stringify({ id: 4, op: 'blockFeed', args: { count: CONTROL_FEED_CHUNK + 1, request: {} } })}\n`);
  const a4 = (await r.next()) as { ok: boolean; error: { code: string } };
  t.is(a4.error.code, 'EPROTO');
  await r.closed;
  t.true(c.protocolErrors.includes('bad blockFeed count'));
  const fw = await openFfwall({ transport: 'client', socket: c.sock });
  t.deepEqual(await fw.blockFeed(Buffer.from('192.0.2.1\n')), { total: 1, applied: 1, changed: 1 });
  await fw.close();
  await teardown(c);
});

test('blockFeed payloads are capped for all connections together: past the budget EBUSY, nothing blocked; a connection that goes away lets its share go', async (t) => {
  const c = await serve();
  const perFeed = CONTROL_FEED_CHUNK * PACKED_WIRE_ENTRY;
  const header = (id: number, count: number): string => `${JSON.stringify({ id, op: 'blockFeed', args: { count, request: { target: '::', ports: [], ttl: 60 } } })}\n`;
  // Connections that announce a whole feed and send only part of it hold their share.
  const holders: Array<Awaited<ReturnType<typeof raw>>> = [];
  while ((holders.length + 1) * perFeed <= CONTROL_FEED_BUDGET) {
    const h = await raw(c.sock);
    await h.next();
    h.send(header(1, CONTROL_FEED_CHUNK));
    h.send(Buffer.alloc(1000));
    holders.push(h);
  }
  const held = holders.length * perFeed;
  for (let i = 0; i < 200 && c.server.feedBytes < held; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.is(c.server.feedBytes, held);
  const r = await raw(c.sock);
  await r.next();
  const feed = packPlainFeed(Buffer.from('198.51.100.1\n'));
  // One entry more than the budget leaves: refused, its payload read and dropped.
  const count = Math.floor((CONTROL_FEED_BUDGET - held) / PACKED_WIRE_ENTRY) + 1;
  const wire = new Uint8Array(count * PACKED_WIRE_ENTRY);
  for (let i = 0; i < count; i++) wire.set(feed.addrs, i * 16);
  wire.fill(128, count * 16);
  r.send(header(7, count));
  r.send(Buffer.from(wire));
  r.send(`${JSON.stringify({ id: 8, op: 'status' })}\n`);
  const a = (await r.next()) as { id: number; error: { code: string } };
  t.deepEqual([a.id, a.error.code], [7, 'EBUSY']);
  t.is(((await r.next()) as { id: number }).id, 8, 'the refused payload was skipped');
  t.is((await c.kernel.stats()).entries, 0);
  for (const h of holders) {
    h.end();
    await h.closed;
  }
  for (let i = 0; i < 200 && c.server.feedBytes > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.is(c.server.feedBytes, 0, 'the unfinished payloads were let go');
  r.send(header(9, 1));
  r.send(Buffer.from(packedToWire(feed, 0, 1)));
  let ok = (await r.next()) as { id: number; ok?: boolean };
  while (ok.ok === undefined) ok = (await r.next()) as typeof ok; // progress
  t.deepEqual([ok.id, ok.ok], [9, true]);
  t.true((await c.daemonFw.check('198.51.100.1')).blocked);
  r.end();
  await teardown(c);
});

test('a daemon without blockFeed (an older one) gets the feed as blockMany, in key order', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-old-'));
  const sock = path.join(dir, 'old.sock');
  const ops: string[] = [];
  const targets: string[] = [];
  const server = net.createServer((s) => {
    s.write(`${JSON.stringify({ ffwall: 'control', protocol: CONTROL_PROTOCOL, server: 'old' })}\n`);
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const m = JSON.parse(buf.slice(0, i)) as { id: number; op: string; args: { requests: Array<{ target: string }> } };
        buf = buf.slice(i + 1);
        ops.push(m.op);
        targets.push(...m.args.requests.map((x) => x.target));
        const n = m.args.requests.length;
        s.write(`${JSON.stringify({ id: m.id, ok: true, result: { total: n, applied: n, changed: n } })}\n`);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(sock, resolve));
  const transport = await ClientTransport.connect(sock);
  t.is(transport.blockPacked, undefined);
  const fw = new Ffwall(transport);
  t.deepEqual(await fw.blockFeed(Buffer.from('10.0.0.9\n10.0.0.1\n2001:db8::1\n')), { total: 3, applied: 3, changed: 3 });
  t.deepEqual(ops, ['blockMany']);
  t.deepEqual(targets, ['2001:db8::1', '10.0.0.1', '10.0.0.9'], 'the key order is the address bytes (IPv4 is ::ffff:0:0/96)');
  await fw.close();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
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
