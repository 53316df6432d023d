// SPDX-License-Identifier: MIT
//
// The library calls the CLI needs (list, show, stats, allowList, attach,
// detach, devices, config, flush, unblockSource, hits): the same call gives
// the same answer over the direct transport and through the control socket.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { ControlServer, openFfwall, parseAddress, type Ffwall } from '../../src/lib/index.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';

interface Pair {
  dir: string;
  kernel: FakeKernel;
  direct: Ffwall;
  client: Ffwall;
  server: ControlServer;
}

async function pair(): Promise<Pair> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-apicli-'));
  const kernel = new FakeKernel();
  const direct = await openFfwall({ kernel, database: path.join(dir, 'db'), databaseOptions: { noSync: true } });
  const server = new ControlServer(direct, { path: path.join(dir, 's') });
  await server.start();
  const client = await openFfwall({ transport: 'client', socket: path.join(dir, 's') });
  return { dir, kernel, direct, client, server };
}

async function done(p: Pair): Promise<void> {
  await p.client.close();
  await p.server.stop();
  await p.direct.close();
  rmSync(p.dir, { recursive: true, force: true });
}

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

test('list, show, stats and the allowlist give the same answers over both transports', async (t) => {
  const p = await pair();
  try {
    await p.direct.block('192.0.2.7', { ports: [25], reason: 'spam', source: 'cli' });
    await p.direct.blockMany(['198.51.100.0/24', '203.0.113.9'], { source: 'feed', sourceTag: 'drop', ttl: '7d' });
    await p.direct.allow('10.0.0.0/8', { reason: 'office' });
    for (const fw of [p.direct, p.client]) {
      t.is((await all(fw.list())).length, 3);
      t.deepEqual((await all(fw.list({ source: 'feed', tag: 'drop' }))).map((r) => r.target).sort(), ['198.51.100.0/24', '203.0.113.9']);
      t.deepEqual((await all(fw.list({ port: 25, source: 'cli' }))).map((r) => r.target), ['192.0.2.7']);
      t.deepEqual((await all(fw.list({ reason: 'spa' }))).map((r) => r.target), ['192.0.2.7']);
      t.is((await all(fw.list({ limit: 2 }))).length, 2);
      t.is((await all(fw.list({ state: ['expired'] }))).length, 0);
      const s = await fw.show('192.0.2.7');
      t.is(s.record?.reason, 'spam');
      t.is(s.history[0]?.type, 'ban');
      t.is(s.allowedBy, null);
      const st = await fw.stats();
      t.is(st.transport, fw.transport);
      t.is(st.kernel.entries, 2);
      t.is(st.kernel.prefixes, 1);
      t.deepEqual(st.database, { kernel: 3, cold: 0, expired: 0, total: 3 });
      t.deepEqual((await fw.allowList()).map((a) => [a.target, a.reason, a.inKernel]), [['10.0.0.0/8', 'office', true]]);
    }
    await t.throwsAsync(async () => all(p.client.list({ port: 0 })), { instanceOf: RangeError });
  } finally {
    await done(p);
  }
});

test('a streamed list of 30,000 records over the socket', async (t) => {
  const p = await pair();
  try {
    const items = Array.from({ length: 30_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    await p.direct.blockMany(items, { source: 'feed', sourceTag: 'big' });
    let n = 0;
    for await (const r of p.client.list()) {
      if (n % 5000 === 0) await new Promise((resolve) => setTimeout(resolve, 20)); // a slow consumer
      if (r.source === 'feed') n++;
    }
    t.is(n, 30_000);
    const u = await p.client.unblockSource('feed', 'big');
    t.deepEqual(u, { source: 'feed', tag: 'big', removed: 30_000, kernel: 30_000 });
    t.is((await p.kernel.stats()).entries, 0);
  } finally {
    await done(p);
  }
});

test('devices, config, flush and hits', async (t) => {
  const p = await pair();
  try {
    for (const fw of [p.client, p.direct]) {
      t.deepEqual(await fw.attach('eth0'), [{ name: 'eth0', ifindex: 2, named: true, hooked: true }]);
      t.deepEqual(await fw.detach('eth0'), []);
      await t.throwsAsync(fw.detach('eth0'), { message: /not in the attach list/ });
      await t.throwsAsync(fw.attach('bad name'), { instanceOf: TypeError });
      const c = await fw.setConfig({ mode: 'monitor', gcInterval: 7 });
      t.is(c.mode, 'monitor');
      t.is((await fw.getConfig()).gcInterval, 7);
      await t.throwsAsync(fw.setConfig({ maxEntries: 0 }), { instanceOf: RangeError });
      await fw.setConfig({ mode: 'enforce' });
    }
    await p.client.attach('eth0');
    await p.client.block('192.0.2.7');
    await p.client.block('192.0.2.8');
    p.kernel.advance(5);
    p.kernel.packet({ src: parseAddress('192.0.2.7'), proto: 'tcp', dport: 25 });
    const all1 = await p.client.hits(0);
    t.is(all1.entries.length, 2);
    const h = await p.client.hits(all1.kernelNow);
    t.deepEqual(h.entries.map((e) => [e.target, e.hits]), [['192.0.2.7', 1]]);
    const f = await p.client.flush();
    t.deepEqual(f, { kernel: 2, database: 0, cold: 2 });
    t.is((await p.client.stats()).database?.cold, 2);
    const f2 = await p.client.flush({ scope: ['exact'], database: true });
    t.deepEqual(f2, { kernel: 0, database: 2, cold: 0 });
    t.is((await p.client.stats()).database?.total, 0);
  } finally {
    await done(p);
  }
});
