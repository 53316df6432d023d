// SPDX-License-Identifier: MIT
//
// The database alone (openFfwall's kernel: false; kernel-none.ts): what reads
// the ban database works without /dev/ffwall, every kernel call fails with
// ENOKERNEL and changes nothing; `ffwall list` and `ffwall export` use it, so
// they work with the module unloaded.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { FfwallError, openFfwall } from '../../src/lib/index.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';
import { ffwall } from './cli-helpers.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-dbonly-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));
const db = path.join(dir, 'db');
/** No such device and no such socket: only the database is there. */
const missing = ['--device', path.join(dir, 'no-ffwall'), '--socket', path.join(dir, 'no.sock'), '--db', db];

test.before(async () => {
  const fw = await openFfwall({ kernel: new FakeKernel(), database: db, databaseOptions: { noSync: true } });
  await fw.block('192.0.2.7', { ttl: '2h', reason: 'test one', source: 'cli' });
  await fw.block('2001:db8::/64', { ttl: '2h', ports: [25], reason: 'test two', source: 'cli' });
  await fw.close();
});

test('kernel: false reads the database; kernel calls fail with ENOKERNEL and change nothing', async (t) => {
  const fw = await openFfwall({ transport: 'direct', kernel: false, database: db, device: path.join(dir, 'no-ffwall') });
  try {
    t.is(fw.transport, 'direct');
    const rows = [];
    for await (const r of fw.list({ state: ['kernel', 'cold'] })) rows.push(r.target);
    t.deepEqual(rows.sort(), ['192.0.2.7', '2001:db8::/64']);
    let text = '';
    for await (const c of fw.listTargets({ state: ['kernel', 'cold'] })) text += Buffer.from(c).toString('utf8');
    t.deepEqual(text.trim().split('\n').sort(), ['192.0.2.7', '2001:db8::/64']);
    t.is((await fw.show('192.0.2.7')).record?.reason, 'test one');
    const counts = await fw.databaseCounts();
    t.is(counts?.total, 2);
    t.is(counts?.kernel, 2);
    const calls = [
      () => fw.block('203.0.113.5', { ttl: '1h' }),
      () => fw.blockMany(['203.0.113.6', '203.0.113.7']),
      () => fw.blockFeed(Buffer.from('203.0.113.8\n')),
      () => fw.unblock('192.0.2.7'),
      () => fw.unblockMany(['192.0.2.7', '2001:db8::/64']),
      () => fw.allow(['203.0.113.0/24']),
      () => fw.flush({ scope: ['exact', 'prefix'], database: true }),
      () => fw.stats(),
      () => fw.status(),
      () => fw.devices(),
      () => fw.check('192.0.2.7'),
    ];
    for (const call of calls) {
      const err = await t.throwsAsync(call);
      t.true(err instanceof FfwallError);
      t.is((err as FfwallError).code, 'ENOKERNEL', err?.message);
      t.regex(err?.message ?? '', /database alone/);
    }
    t.is((await fw.databaseCounts())?.total, 2, 'nothing was added');
    t.is((await fw.show('192.0.2.7')).record?.state, 'kernel', 'nor removed');
    t.is((await fw.show('2001:db8::/64')).record?.state, 'kernel');
    t.is((await fw.show('203.0.113.5')).record, null);
  } finally {
    await fw.close();
  }
});

test('kernel: false with database: false is a TypeError', async (t) => {
  await t.throwsAsync(() => openFfwall({ kernel: false, database: false }), { instanceOf: TypeError, message: /nothing to open/ });
});

test('ffwall list and export work without the module; a command that needs it still says the module is not loaded (exit 3)', async (t) => {
  const list = await ffwall(['list', '--json', '--state', 'active', ...missing]);
  t.is(list.code, 0, list.stderr);
  t.deepEqual(
    list.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { target: string }).target)
      .sort(),
    ['192.0.2.7', '2001:db8::/64'],
  );
  const table = await ffwall(['list', ...missing]);
  t.is(table.code, 0, table.stderr);
  t.regex(table.stdout, /2 bans \[direct\]/);
  const exp = await ffwall(['export', ...missing]);
  t.is(exp.code, 0, exp.stderr);
  t.deepEqual(exp.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('#')).sort(), ['192.0.2.7', '2001:db8::/64']);
  const out = path.join(dir, 'export.txt');
  const toFile = await ffwall(['export', '--format', 'drop', '--output', out, ...missing]);
  t.is(toFile.code, 0, toFile.stderr);
  t.regex(toFile.stdout, /exported 2 bans/);
  const block = await ffwall(['block', '203.0.113.5', ...missing]);
  t.is(block.code, 3);
  t.regex(block.stderr, /module is not loaded/);
});
