// SPDX-License-Identifier: MIT
//
// A bulk ban into the database and the kernel together, as a separate
// process that the reboot suite kills with SIGKILL part way:
//   node bulk-worker.js DB_DIR COUNT [DEVICE]
// Per batch of 10k: one durable database transaction (bulkBan), the same
// bans ADDed to the kernel, then marked 'kernel'.  After each batch it prints
// "committed N MS" (bans committed to the database so far, ms since the
// start); at the end "done N MS".
import { IpPrefix } from '../../../src/lib/addr.js';
import { BanStore } from '../../../src/lib/db/store.js';
import type { BanInput } from '../../../src/lib/db/types.js';
import type { KernelRule } from '../../../src/lib/kernel.js';
import { NativeKernel } from '../../../src/lib/kernel-native.js';

const [dir, countArg, device] = process.argv.slice(2);
if (dir === undefined || countArg === undefined) throw new Error('usage: bulk-worker DB_DIR COUNT [DEVICE]');
const count = Number(countArg);
const BATCH = 10_000;
const TTL = 3600;

function addr(i: number): IpPrefix {
  const b = new Uint8Array(16);
  b[10] = 0xff;
  b[11] = 0xff;
  b[12] = 10;
  b[13] = 100 + ((i >> 16) & 63);
  b[14] = (i >> 8) & 255;
  b[15] = i & 255;
  return new IpPrefix(b, 128);
}

const store = BanStore.open({ path: dir });
const kernel = NativeKernel.open(device ?? '/dev/ffwall');
const t0 = performance.now();
let committed = 0;
for (let base = 0; base < count; base += BATCH) {
  const prefixes: IpPrefix[] = [];
  for (let i = base; i < Math.min(count, base + BATCH); i++) prefixes.push(addr(i));
  const inputs: BanInput[] = prefixes.map((p) => ({ prefix: p, source: 'feed', tag: 'bulk', ttl: TTL }));
  const r = await store.bulkBan(inputs, { batchSize: BATCH });
  const rules: KernelRule[] = prefixes.map((p) => ({ prefix: p, ttl: TTL }));
  await kernel.add(rules);
  store.markLoaded(prefixes);
  committed += r.committed;
  process.stdout.write(`committed ${committed} ${Math.round(performance.now() - t0)}\n`);
}
process.stdout.write(`done ${committed} ${Math.round(performance.now() - t0)}\n`);
await kernel.close();
await store.close();
