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
import { NativeKernel } from '../src/lib/kernel-native.js';
import { loadBinding, type NativeBatchArgs } from '../src/lib/native.js';
import { DirectTransport } from '../src/lib/transport-direct.js';

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const file = opt('--file');
if (file === undefined) throw new Error('bench/bulk-host: --file is required');
const batch = Number(opt('--batch') ?? (opt('--db') === undefined ? 100_000 : 10_000));
let entries = 0;
/** [records the stub kernel had taken, seconds since t0] after each batch. */
const marks: [number, number][] = [];
const mark = (): void => {
  marks.push([entries, Number(process.hrtime.bigint() - t0) / 1e9]);
};
// The addon's own conversion of each chunk into kernel records (a Device on
// /dev/null prepares batches like the real one); only the ioctl is a stub.
const converter = loadBinding();
const nullDevice = new converter.Device('/dev/null');
const stubDevice = {
  batch: async (_op: number, count: number) => {
    entries += count;
    mark();
    return { applied: count, changed: count };
  },
  prepareBatch: (...args: NativeBatchArgs) => ({ prepared: nullDevice.prepareBatch(...args), count: args[1] }),
  submitBatch: async (b: { count: number }) => {
    entries += b.count;
    mark();
    return { applied: b.count, changed: b.count };
  },
  reserve: async () => 1 << 20,
  releaseBatchBuffers: () => nullDevice.releaseBatchBuffers(),
  // An empty table and allowlist (blockFeed() with a database reads the allowlist first).
  dump: async () => ({ count: 0, cursor: converter.constants.DUMP_END }),
  stats: () => ({ now: 1000, entries }),
  close: () => undefined,
};
type Ctor = new (b: unknown, d: unknown, path: string, cap: number, slice: number) => NativeKernel;
const kernel = new (NativeKernel as unknown as Ctor)(loadBinding(), stubDevice, '/dev/null', 4096, 4);
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
nullDevice.close();
// entries: the records the stub kernel took (with a database, blockFeed() loads each twice);
// kernel_all_s: when it had taken as many as there are bans (all of them, in the feed's first load).
const all = marks.find(([e]) => e >= bans)?.[1];
console.log(JSON.stringify({ api, database: db !== undefined, seconds: Number(seconds.toFixed(3)), bans, entries, bans_per_s: Math.round(bans / seconds), kernel_all_s: all === undefined ? null : Number(all.toFixed(3)) }));
