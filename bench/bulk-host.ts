// SPDX-License-Identifier: MIT
//
// Host harness of the bulk benchmark's library path (bench/bulk-guest.ts
// --no-db), for profiling (node --cpu-prof) where there is no ffwall.ko: the
// same code down to the addon, whose batch ioctl is replaced by a stub that
// accepts every record.  Not a benchmark of its own (no kernel work).
//
//   node dist/bench/bulk-host.js --file ADDRS [--api feed|many] [--batch 100000] [--db DIR]
//
// --db: a fresh durable ban database as well (bulk-guest.ts --db).
import { readFileSync } from 'node:fs';

import { Ffwall, openFfwall } from '../src/lib/ffwall.js';
import { DirectTransport } from '../src/lib/transport-direct.js';

import { stubKernel } from './lib/stub-kernel.js';

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const file = opt('--file');
if (file === undefined) throw new Error('bench/bulk-host: --file is required');
const batch = Number(opt('--batch') ?? (opt('--db') === undefined ? 100_000 : 10_000));
const stub = await stubKernel();
const kernel = stub.kernel;
const api = opt('--api') ?? 'feed';
const t0 = process.hrtime.bigint();
const db = opt('--db');
const fw = db === undefined ? new Ffwall(new DirectTransport(kernel, { defaultTtl: 86400 })) : await openFfwall({ kernel, database: db });
let bans = 0;
if (api === 'feed') {
  bans = (await fw.blockFeed(file, { source: 'api', ttl: '30d' })).total;
} else {
  const addrs = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
  for (let i = 0; i < addrs.length; i += batch) bans += (await fw.blockMany(addrs.slice(i, i + batch), { source: 'api', ttl: '30d' })).total;
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
await fw.close();
stub.close();
// entries: the records the stub kernel took (with a database, blockFeed() loads each twice);
// kernel_all_s: when it had taken as many as there are bans (all of them, in the feed's first load).
console.log(JSON.stringify({ api, database: db !== undefined, seconds: Number(seconds.toFixed(3)), bans, entries: stub.entries(), bans_per_s: Math.round(bans / seconds), kernel_all_s: stub.reached(bans) }));
