// SPDX-License-Identifier: MIT
//
// IPv6 aggregation by source: a feed import bans exactly what the feed
// lists (its /128s stay /128s); automatic bans (policy, logwatch) are
// widened to the /64; BlockOptions.aggregate overrides either way, directly
// and through the control socket.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { ControlServer, openFfwall } from '../../src/lib/index.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';
import { ffwall } from './cli-helpers.js';

test('feeds keep their /128s, automatic sources widen, aggregate: overrides (direct and through the socket)', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-agg-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fw = await openFfwall({ kernel: new FakeKernel(), database: path.join(dir, 'db'), databaseOptions: { noSync: true } });
  const sock = path.join(dir, 'ffwall.sock');
  const server = new ControlServer(fw, { path: sock });
  await server.start();
  t.teardown(async () => {
    await server.stop();
    await fw.close();
  });
  const client = await openFfwall({ socket: sock, transport: 'client' });
  t.teardown(() => client.close());

  t.is((await fw.block('2001:db8:1::1', { source: 'feed' })).target, '2001:db8:1::1');
  t.is((await fw.block('2001:db8:2::1', { source: 'logwatch' })).target, '2001:db8:2::/64');
  t.is((await fw.block('2001:db8:3::1', { source: 'feed', aggregate: true })).target, '2001:db8:3::/64');
  t.is((await client.block('2001:db8:4::1', { source: 'policy', aggregate: false })).target, '2001:db8:4::1');
  t.is((await client.block('2001:db8:5::1', { source: 'policy' })).target, '2001:db8:5::/64');
  t.is((await client.block('2001:db8:6::1', { source: 'cli' })).target, '2001:db8:6::1');
  await t.throwsAsync(() => fw.block('2001:db8:7::1', { aggregate: 'yes' as unknown as boolean }), { instanceOf: TypeError, message: /aggregate must be a boolean/ });

  // The command: an imported feed lists exactly its lines.
  const conn = ['--transport', 'client', '--socket', sock];
  const imp = await ffwall(['import', '-', '--name', 'six', ...conn], { input: '2001:db8:10::1\n2001:db8:10::2\n2001:db8:11::/64\n198.51.100.7\n' });
  t.is(imp.code, 0, imp.stderr);
  const list = await ffwall(['list', '--tag', 'six', '--json', ...conn]);
  t.is(list.code, 0, list.stderr);
  const targets = list.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { target: string }).target).sort();
  t.deepEqual(targets, ['198.51.100.7', '2001:db8:10::1', '2001:db8:10::2', '2001:db8:11::/64']);
});
