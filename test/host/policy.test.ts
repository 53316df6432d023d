// SPDX-License-Identifier: MIT
//
// The Postfix policy delegation service (src/daemon/policy.ts) served by a
// running daemon over FakeKernel and a temporary database: several requests
// on one connection, every attribute order and protocol state, cold and
// lost bans refused and promoted back into the kernel, port-only, monitor
// and allowlisted bans answered DUNNO, malformed input answered with
// nothing and a closed connection (the service goes on serving), the 521
// and DEFER actions, and reload.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { Daemon, type DaemonOptions, type PolicyOptions } from '../../src/daemon/daemon.js';
import { actionText, PolicyParser, type PolicyListen } from '../../src/daemon/policy.js';
import { parseAddress } from '../../src/lib/addr.js';
import type { BanStore } from '../../src/lib/db/index.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';
import { clock, freshStore, type Clock } from './db-helpers.js';

interface Rig {
  c: Clock;
  k: FakeKernel;
  store: BanStore;
  d: Daemon;
  dir: string;
  policySock: string;
  protocolErrors: string[];
  done(): Promise<void>;
}

async function rig(o: { policy?: Partial<PolicyOptions>; daemon?: Partial<DaemonOptions> } = {}): Promise<Rig> {
  const c = clock(Date.now());
  const { store, close } = freshStore({ now: c.now });
  const k = new FakeKernel({ maxEntries: 100, clock: () => Math.floor(c.t / 1000) });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-policy-'));
  const policySock = path.join(dir, 'policy.sock');
  const d = new Daemon({
    kernel: k,
    store,
    window: { now: c.now, filterBuilder: 'ts' },
    intervals: { sync: 0, sweep: 0, prune: 0, safety: 0 },
    policy: { listen: { type: 'unix', path: policySock }, action: 'reject', text: 'Banned by ffwall', ...o.policy },
    ...o.daemon,
  });
  const protocolErrors: string[] = [];
  d.on('policyProtocolError', (r) => protocolErrors.push(r));
  await d.start();
  return {
    c,
    k,
    store,
    d,
    dir,
    policySock,
    protocolErrors,
    async done() {
      await d.stop();
      await k.close();
      await close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A Postfix-like client: sends requests, reads "action=..." answers, sees the close. */
async function client(where: string | { host: string; port: number }): Promise<{
  send(b: string | Buffer): void;
  ask(attrs: Record<string, string>): Promise<string>;
  next(): Promise<string | null>;
  closed: Promise<void>;
  isClosed(): boolean;
  end(): void;
}> {
  const s = typeof where === 'string' ? net.createConnection(where) : net.createConnection(where.port, where.host);
  await new Promise<void>((resolve, reject) => {
    s.once('connect', () => resolve());
    s.once('error', reject);
  });
  let buf = '';
  let ended = false;
  const answers: string[] = [];
  const waiters: Array<(a: string | null) => void> = [];
  const closed = new Promise<void>((resolve) => s.on('close', () => {
    ended = true;
    for (const w of waiters.splice(0)) w(null);
    resolve();
  }));
  s.on('error', () => undefined);
  s.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const a = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const w = waiters.shift();
      if (w !== undefined) w(a);
      else answers.push(a);
    }
  });
  const next = (): Promise<string | null> => {
    const a = answers.shift();
    if (a !== undefined) return Promise.resolve(a);
    if (ended) return Promise.resolve(null);
    return new Promise((resolve) => waiters.push(resolve));
  };
  return {
    send: (b) => s.write(b),
    ask: async (attrs) => {
      s.write(Object.entries(attrs).map(([k, v]) => `${k}=${v}\n`).join('') + '\n');
      const a = await next();
      if (a === null) throw new Error('the server closed the connection');
      return a;
    },
    next,
    closed,
    isClosed: () => ended,
    end: () => s.end(),
  };
}

/** A request as Postfix 3.x sends it (attribute order as in SMTPD_POLICY_README). */
function request(address: string, state = 'RCPT', extra: Record<string, string> = {}): Record<string, string> {
  return {
    request: 'smtpd_access_policy',
    protocol_state: state,
    protocol_name: 'ESMTP',
    helo_name: 'bot.example',
    queue_id: '',
    sender: 'spam@example.com',
    recipient: state === 'RCPT' ? 'nobody@example.org' : '',
    recipient_count: '0',
    client_address: address,
    client_name: 'unknown',
    reverse_client_name: 'unknown',
    instance: '123.456.7',
    sasl_method: '',
    sasl_username: '',
    sasl_sender: '',
    size: '0',
    ccert_subject: '',
    encryption_protocol: '',
    etrn_domain: '',
    stress: '',
    server_address: '192.0.2.1',
    server_port: '25',
    policy_context: '',
    compatibility_level: '3.6',
    mail_version: '3.7.11',
    ...extra,
  };
}

function shuffled<T>(a: T[], seed: number): T[] {
  const out = [...a];
  let x = seed;
  for (let i = out.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

const REJECT = 'action=REJECT Banned by ffwall';
const DUNNO = 'action=DUNNO';
const packet = (k: FakeKernel, a: string, dport: number): string => k.packet({ src: parseAddress(a), proto: 'tcp', dport });

test('actionText: REJECT, DEFER, and 521 with an enhanced status code', (t) => {
  t.is(actionText('reject', 'go away'), 'REJECT go away');
  t.is(actionText('defer', 'later'), 'DEFER later');
  t.is(actionText('521', 'go away'), '521 5.7.1 go away');
  t.is(actionText('521', '5.7.0 go away'), '521 5.7.0 go away');
});

test('the parser: a whole ASCII chunk (the fast path) and the same bytes one at a time (the byte path) give the same requests and the same errors', (t) => {
  const parse = (b: Buffer, step: number): { reqs: [string, string][][]; error?: string } => {
    const p = new PolicyParser();
    const reqs: [string, string][][] = [];
    try {
      for (let i = 0; i < b.length; i += step) reqs.push(...p.push(b.subarray(i, i + step)).map((m) => [...m]));
    } catch (err) {
      // The requests completed by the failing chunk itself come with the error.
      for (const m of (err as { completed?: Map<string, string>[] }).completed ?? []) reqs.push([...m]);
      return { reqs, error: (err as Error).message };
    }
    return { reqs };
  };
  const cases = [
    'request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.1\nsender=\nx=a=b\n\nclient_address=192.0.2.2\n\n',
    'a=1\nb=2\nbad name=3\n\n',
    'a=1\n\nno equals\n',
    'a=1\n\n=v\n',
    'a=1\n\n\n',
    'a=1\nsender=\u00e9t\u00e9@example\n\n',
    '\ufeffa=1\n\n',
    'a=1\nb=\u0000\n\n',
  ];
  for (const c of cases) {
    const b = Buffer.from(c);
    const whole = parse(b, b.length);
    t.deepEqual(parse(b, 1), whole, JSON.stringify(c));
  }
  t.deepEqual(parse(Buffer.from(cases[0] as string), 1e6).reqs.length, 2);
  t.regex(parse(Buffer.from(cases[1] as string), 1e6).error ?? '', /attribute name/);
});

test('the parser: requests split anywhere, in any chunks; attributes kept as given', (t) => {
  const p = new PolicyParser();
  const text = 'request=smtpd_access_policy\nclient_address=192.0.2.1\nsender=a=b@example\n\nclient_address=2001:db8::1\nprotocol_state=RCPT\n\n';
  const bytes = Buffer.from(text);
  const out: Map<string, string>[] = [];
  for (let i = 0; i < bytes.length; i += 3) out.push(...p.push(bytes.subarray(i, i + 3)));
  t.is(out.length, 2);
  t.is(out[0]?.get('sender'), 'a=b@example', 'only the first "=" splits');
  t.is(out[1]?.get('client_address'), '2001:db8::1');
  t.false(p.midRequest);
  p.push(Buffer.from('client_address=1'));
  t.true(p.midRequest);
  // Malformed input throws.
  for (const bad of ['no equals sign\n', '=value\n', '\n', 'a=\u0000\n', `a=${'x'.repeat(5000)}\n`]) {
    t.throws(() => new PolicyParser().push(Buffer.from(bad)), undefined, JSON.stringify(bad.slice(0, 20)));
  }
  t.throws(() => new PolicyParser().push(Buffer.from([0x61, 0x3d, 0xff, 0xfe, 0x0a])), { message: /UTF-8/ });
  const many = Array.from({ length: 300 }, (_, i) => `a${i}=1\n`).join('');
  t.throws(() => new PolicyParser().push(Buffer.from(many)), { message: /more than 256 attributes/ });
  const big = Array.from({ length: 40 }, (_, i) => `a${i}=${'y'.repeat(2000)}\n`).join('');
  t.throws(() => new PolicyParser().push(Buffer.from(big)), { message: /request longer than/ });
});

test('several requests on one connection: unknown -> DUNNO, a cold ban -> REJECT, then promoted into the kernel', async (t) => {
  const r = await rig();
  t.is(statSync(r.policySock).mode & 0o777, 0o660);
  r.store.ban({ prefix: '198.51.100.7', source: 'logwatch', ports: [25, 465, 587], ttl: 3600 });
  t.is(r.store.get('198.51.100.7')?.state, 'cold');
  t.is(packet(r.k, '198.51.100.7', 25), 'pass', 'the kernel does not hold it');
  const promoted = new Promise<{ promoted: boolean; target: string }>((resolve) => r.d.once('policyPromote', resolve));
  const results: string[] = [];
  r.d.on('policy', (ev) => results.push(ev.result));
  const c = await client(r.policySock);
  t.is(await c.ask(request('192.0.2.55')), DUNNO);
  t.is(await c.ask(request('198.51.100.7')), REJECT);
  t.is(await c.ask(request('192.0.2.56', 'CONNECT')), DUNNO);
  const p = await promoted;
  t.true(p.promoted);
  t.is(p.target, '198.51.100.7');
  t.is(packet(r.k, '198.51.100.7', 25), 'drop', 'promoted: the kernel drops it now');
  t.is(packet(r.k, '198.51.100.7', 80), 'pass');
  t.is(r.store.get('198.51.100.7')?.state, 'kernel');
  // Asked again: still REJECT, nothing more to promote.
  const again = new Promise<{ promoted: boolean; reason?: string }>((resolve) => r.d.once('policyPromote', resolve));
  t.is(await c.ask(request('198.51.100.7', 'DATA')), REJECT);
  t.deepEqual(await again, { address: '198.51.100.7', target: '198.51.100.7', promoted: false, reason: 'in-kernel' });
  t.deepEqual(results, ['dunno', 'reject', 'dunno', 'reject']);
  t.false(c.isClosed(), 'the connection stays open');
  c.end();
  await r.done();
});

test('a ban the kernel lost (state kernel in the database, e.g. after a module reload) is refused and put back', async (t) => {
  const r = await rig();
  r.store.ban({ prefix: '203.0.113.0/24', source: 'cli', ttl: 3600, state: 'kernel' });
  t.is(packet(r.k, '203.0.113.9', 25), 'pass');
  const promoted = new Promise<{ promoted: boolean; target: string }>((resolve) => r.d.once('policyPromote', resolve));
  const c = await client(r.policySock);
  t.is(await c.ask(request('203.0.113.9')), REJECT, 'a prefix ban covers the client');
  t.like(await promoted, { promoted: true, target: '203.0.113.0/24' });
  t.is(packet(r.k, '203.0.113.10', 25), 'drop');
  c.end();
  await r.done();
});

test('every attribute order and protocol state gets the same answer', async (t) => {
  const r = await rig();
  r.store.ban({ prefix: '2001:db8::66', source: 'policy', ttl: 3600 });
  const c = await client(r.policySock);
  const states = ['CONNECT', 'EHLO', 'HELO', 'MAIL', 'RCPT', 'DATA', 'END-OF-MESSAGE', 'VRFY', 'ETRN'];
  for (let i = 0; i < states.length; i++) {
    const state = states[i] as string;
    const banned = Object.fromEntries(shuffled(Object.entries(request('2001:db8::66', state)), i + 1));
    // Another /64: a policy ban of an IPv6 host is widened to its /64 (aggregation).
    const clean = Object.fromEntries(shuffled(Object.entries(request('2001:db8:1::67', state)), i + 100));
    t.is(await c.ask(banned), REJECT, state);
    t.is(await c.ask(clean), DUNNO, state);
  }
  // Only the client address matters: a minimal request works too; none at all is DUNNO.
  t.is(await c.ask({ client_address: '2001:db8::66' }), REJECT);
  t.is(await c.ask({ request: 'smtpd_access_policy', protocol_state: 'RCPT' }), DUNNO);
  t.is(await c.ask({ client_address: 'unknown' }), DUNNO);
  // Pipelined: two requests in one write, two answers in order.
  c.send('client_address=2001:db8::66\n\nclient_address=192.0.2.1\n\n');
  t.is(await c.next(), REJECT);
  t.is(await c.next(), DUNNO);
  c.end();
  await r.done();
});

test('a port-80-only ban, a monitor ban, an expired ban and an allowlisted address get DUNNO', async (t) => {
  const r = await rig();
  r.store.ban({ prefix: '192.0.2.80', source: 'cli', ports: [80, 443], ttl: 3600 });
  r.store.ban({ prefix: '192.0.2.81', source: 'cli', monitor: true, ttl: 3600 });
  r.store.ban({ prefix: '192.0.2.82', source: 'cli', ttl: 60 });
  r.store.ban({ prefix: '192.0.2.83', source: 'cli', ports: [587], ttl: 3600 });
  r.store.ban({ prefix: '192.0.2.84', source: 'cli', ttl: 3600 });
  r.store.allowAdd('192.0.2.84', 'our relay');
  const results: string[] = [];
  r.d.on('policy', (ev) => results.push(ev.result));
  const c = await client(r.policySock);
  t.is(await c.ask(request('192.0.2.80')), DUNNO);
  t.is(await c.ask(request('192.0.2.81')), DUNNO);
  t.is(await c.ask(request('192.0.2.82')), REJECT, 'still active');
  r.c.advance(61);
  t.is(await c.ask(request('192.0.2.82')), DUNNO, 'expired (not yet swept)');
  t.is(await c.ask(request('192.0.2.83')), REJECT, 'a submission-port ban counts');
  t.is(await c.ask(request('192.0.2.84')), DUNNO, 'the allowlist wins');
  t.deepEqual(results, ['dunno', 'monitor', 'reject', 'dunno', 'reject', 'allowlisted']);
  c.end();
  await r.done();
});

test('a kernel in monitor mode: the policy service refuses no one', async (t) => {
  const r = await rig({ daemon: { kernelSetup: { mode: 'monitor' } } });
  r.store.ban({ prefix: '192.0.2.90', source: 'cli', ttl: 3600 });
  const c = await client(r.policySock);
  t.is(await c.ask(request('192.0.2.90')), DUNNO);
  c.end();
  await r.done();
});

const MALFORMED: Array<[string, Buffer]> = [
  ['a line without "="', Buffer.from('request=smtpd_access_policy\nclient_address 192.0.2.1\n\n')],
  ['a huge line', Buffer.from(`client_address=192.0.2.1\nsender=${'a'.repeat(100_000)}\n\n`)],
  ['a huge request', Buffer.from(Array.from({ length: 100 }, (_, i) => `x${i}=${'b'.repeat(1000)}\n`).join('') + '\n')],
  ['binary garbage', Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919 + 13) & 0xff))],
  ['bad UTF-8', Buffer.concat([Buffer.from('client_address=192.0.2.1\nhelo_name='), Buffer.from([0xc3, 0x28]), Buffer.from('\n\n')])],
  ['an empty request', Buffer.from('\n')],
];

for (const [name, bytes] of MALFORMED) {
  test(`malformed: ${name} -> no answer, the connection closed, the next client served`, async (t) => {
    const r = await rig();
    r.store.ban({ prefix: '198.51.100.1', source: 'cli', ttl: 3600 });
    const c = await client(r.policySock);
    c.send(bytes);
    t.is(await c.next(), null, 'no answer before the close');
    await c.closed;
    t.is(r.protocolErrors.length, 1);
    const c2 = await client(r.policySock);
    t.is(await c2.ask(request('198.51.100.1')), REJECT);
    c2.end();
    await r.done();
  });
}

test('malformed after good requests: their answers go out, then the close', async (t) => {
  const r = await rig();
  const c = await client(r.policySock);
  c.send('client_address=192.0.2.1\n\nclient_address=192.0.2.2\n\nbroken line\n');
  t.is(await c.next(), DUNNO);
  t.is(await c.next(), DUNNO);
  t.is(await c.next(), null);
  await c.closed;
  t.deepEqual(r.protocolErrors, ['a line without "="']);
  await r.done();
});

test('half a request, then the client closes: reported, and the service goes on', async (t) => {
  const r = await rig();
  const c = await client(r.policySock);
  c.send('request=smtpd_access_policy\nclient_address=192.0.2.1\n');
  c.end();
  await c.closed;
  for (let i = 0; i < 100 && r.protocolErrors.length === 0; i++) await new Promise((res) => setTimeout(res, 10));
  t.deepEqual(r.protocolErrors, ['the client closed the connection in the middle of a request']);
  const c2 = await client(r.policySock);
  t.is(await c2.ask(request('192.0.2.1')), DUNNO);
  c2.end();
  await r.done();
});

test('the 521 and DEFER actions, over a loopback TCP port', async (t) => {
  const r = await rig({ policy: { listen: { type: 'inet', host: '127.0.0.1', port: 0 }, action: '521', text: 'Go away' } });
  r.store.ban({ prefix: '192.0.2.21', source: 'cli', ttl: 3600 });
  const addr = r.d.policy?.address;
  t.truthy(addr);
  const c = await client(addr as { host: string; port: number });
  t.is(await c.ask(request('192.0.2.21')), 'action=521 5.7.1 Go away');
  t.is(await c.ask(request('192.0.2.22')), DUNNO);
  // The policy connection stays open after a 521 (Postfix disconnects the SMTP client, not us).
  t.is(await c.ask(request('192.0.2.21')), 'action=521 5.7.1 Go away');
  c.end();
  await r.d.reload({ policy: { listen: { type: 'inet', host: '127.0.0.1', port: 0 }, action: 'defer', text: 'Try later' } });
  // Same listen address: the listener and its port stay.
  t.deepEqual(r.d.policy?.address, addr);
  const c2 = await client(addr as { host: string; port: number });
  t.is(await c2.ask(request('192.0.2.21')), 'action=DEFER Try later');
  c2.end();
  await r.done();
});

test('reload: a new action applies to open connections; a new socket path moves the listener; null turns it off', async (t) => {
  const r = await rig();
  r.store.ban({ prefix: '192.0.2.30', source: 'cli', ttl: 3600 });
  const c = await client(r.policySock);
  t.is(await c.ask(request('192.0.2.30')), REJECT);
  const base: PolicyOptions = { listen: { type: 'unix', path: r.policySock }, action: 'defer', text: 'Banned by ffwall' };
  await r.d.reload({ policy: base });
  t.is(await c.ask(request('192.0.2.30')), 'action=DEFER Banned by ffwall', 'same connection, new action');
  const moved: PolicyListen = { type: 'unix', path: path.join(r.dir, 'other.sock') };
  await r.d.reload({ policy: { ...base, listen: moved } });
  await c.closed;
  t.throws(() => statSync(r.policySock), { code: 'ENOENT' }, 'the old socket is gone');
  const c2 = await client(moved.path);
  t.is(await c2.ask(request('192.0.2.30')), 'action=DEFER Banned by ffwall');
  await r.d.reload({ policy: null });
  await c2.closed;
  t.is(r.d.policy, undefined);
  await r.done();
});

test('bounded connections: beyond maxConnections new ones are closed; an idle one times out', async (t) => {
  const r = await rig({ policy: { maxConnections: 2, idleTimeout: 1 } });
  const a = await client(r.policySock);
  const b = await client(r.policySock);
  t.is(await a.ask(request('192.0.2.1')), DUNNO);
  t.is(await b.ask(request('192.0.2.1')), DUNNO);
  const extra = await client(r.policySock);
  await extra.closed;
  t.true(extra.isClosed(), 'the third connection is refused');
  // Idle for the timeout (1 s): closed by the server.
  await a.closed;
  await b.closed;
  for (let i = 0; i < 100 && r.d.policy?.connections !== 0; i++) await new Promise((res) => setTimeout(res, 10));
  t.is(r.d.policy?.connections, 0);
  await r.done();
});

test('reload to an address that cannot be served: the error is reported and the old listener comes back', async (t) => {
  const r = await rig();
  const busy = net.createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', () => resolve()));
  const port = (busy.address() as net.AddressInfo).port;
  await t.throwsAsync(r.d.reload({ policy: { listen: { type: 'inet', host: '127.0.0.1', port }, action: 'reject', text: 'x' } }), { code: 'EADDRINUSE' });
  const c = await client(r.policySock);
  t.is(await c.ask(request('192.0.2.1')), DUNNO, 'the old socket serves again');
  c.end();
  await new Promise<void>((resolve) => busy.close(() => resolve()));
  await r.done();
});

test('a non-loopback inet address is refused unless allowRemote', async (t) => {
  const { PolicyServer } = await import('../../src/daemon/policy.js');
  const judge = async (): Promise<{ banned: false; why: 'none' }> => ({ banned: false, why: 'none' });
  const s = new PolicyServer({ listen: { type: 'inet', host: '192.0.2.1', port: 10031 }, action: 'reject', text: 'x', judge });
  await t.throwsAsync(s.start(), { message: /not a loopback address/ });
  t.is(s.address, undefined, 'nothing listens');
});
