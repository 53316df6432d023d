// SPDX-License-Identifier: MIT
//
// The logger (JSON lines, level from the configuration) and the rate limiter
// that every per-packet, per-event and per-connection log line goes through:
// bursts, refill, per-key buckets, bounded memory, and suppressed counts
// reported.
import { Writable } from 'node:stream';

import test from 'ava';

import { createLogger, LogLimiter, OTHER_KEY, RateLimiter, setLogLevel } from '../../src/daemon/log.js';

function sink(): { stream: Writable; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { stream, lines };
}

test('the logger writes JSON lines with the level name, an ISO time and the service', async (t) => {
  const { stream, lines } = sink();
  const log = createLogger({ level: 'info', destination: stream });
  log.info({ devices: ['eth0'] }, 'ready');
  log.debug('hidden');
  log.child({ component: 'control' }).warn('slow client');
  setLogLevel(log, 'debug');
  log.debug('now shown');
  await new Promise((r) => setImmediate(r));
  t.is(lines.length, 3);
  t.like(lines[0], { level: 'info', msg: 'ready', service: 'ffwall', devices: ['eth0'] });
  t.regex(String(lines[0]?.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  t.like(lines[1], { level: 'warn', component: 'control', msg: 'slow client' });
  t.like(lines[2], { level: 'debug', msg: 'now shown' });
});

test('the token bucket: a burst, then the sustained rate, per key', (t) => {
  let now = 0;
  const r = new RateLimiter({ burst: 3, perSecond: 2, now: () => now });
  t.deepEqual([r.take('a'), r.take('a'), r.take('a'), r.take('a'), r.take('a')], [true, true, true, false, false]);
  t.true(r.take('b'), 'another key has its own bucket');
  now += 500; // one token back
  t.true(r.take('a'));
  t.false(r.take('a'));
  now += 10_000; // refilled to the burst, never beyond
  t.deepEqual([r.take('a'), r.take('a'), r.take('a'), r.take('a')], [true, true, true, false]);
  t.is(r.takeSuppressed('a'), 4);
  t.is(r.takeSuppressed('a'), 0, 'reset once read');
});

test('memory is bounded: the oldest key is dropped, its count kept under (other)', (t) => {
  const r = new RateLimiter({ burst: 1, perSecond: 1, maxKeys: 100, now: () => 0 });
  for (let i = 0; i < 1000; i++) {
    r.take(`peer-${i}`);
    r.take(`peer-${i}`);
  }
  t.is(r.keys, 100);
  const drained = r.drainSuppressed();
  const other = drained.find((d) => d.key === OTHER_KEY);
  t.is(other?.suppressed, 900);
  t.is(drained.reduce((s, d) => s + d.suppressed, 0), 1000, 'no suppressed line goes uncounted');
});

test('LogLimiter: a flood logs the burst, then reports what it suppressed', async (t) => {
  let now = 0;
  const { stream, lines } = sink();
  const log = createLogger({ level: 'info', destination: stream });
  const ll = new LogLimiter(log, { burst: 2, perSecond: 1, now: () => now });
  let logged = 0;
  for (let i = 0; i < 50; i++) if (ll.log('warn', 'control:peer-1', { peer: 'peer-1' }, 'malformed request')) logged++;
  t.is(logged, 2);
  now += 1000;
  t.true(ll.log('warn', 'control:peer-1', { peer: 'peer-1' }, 'malformed request'));
  for (let i = 0; i < 7; i++) ll.log('warn', 'control:peer-1', { peer: 'peer-1' }, 'malformed request');
  for (let i = 0; i < 5; i++) ll.log('info', 'event:miss', {}, 'miss');
  t.is(ll.reportSuppressed(), 7 + 3, 'the 7 after the refill, and the 3 misses past the burst');
  t.is(ll.reportSuppressed(), 0);
  await new Promise((r) => setImmediate(r));
  const msgs = lines.map((l) => [l.msg, l.suppressed, l.rateKey]);
  t.deepEqual(msgs, [
    ['malformed request', undefined, undefined],
    ['malformed request', undefined, undefined],
    ['malformed request', 48, 'control:peer-1'],
    ['miss', undefined, undefined],
    ['miss', undefined, undefined],
    ['log lines suppressed by the rate limit', 7, 'control:peer-1'],
    ['log lines suppressed by the rate limit', 3, 'event:miss'],
  ]);
});

test('a line below the log level takes no token', (t) => {
  const { stream } = sink();
  const ll = new LogLimiter(createLogger({ level: 'warn', destination: stream }), { burst: 1, perSecond: 1, now: () => 0 });
  t.false(ll.log('debug', 'k', {}, 'x'));
  t.true(ll.log('warn', 'k', {}, 'x'), 'the token was still there');
});

test('bad limits are refused', (t) => {
  t.throws(() => new RateLimiter({ burst: 0, perSecond: 1 }), { instanceOf: RangeError });
  t.throws(() => new RateLimiter({ burst: 1, perSecond: 0 }), { instanceOf: RangeError });
});
