// SPDX-License-Identifier: MIT
//
// A child process of the crash test: bulk-bans argv[3] addresses into the
// database at argv[2] with durable commits, printing "committed N" after
// each batch, until it is killed.
import { BanStore } from '../../src/lib/db/index.js';

const [path, countText] = process.argv.slice(2);
const count = Number(countText);
const store = BanStore.open({ path: path ?? '' });
function* inputs(): Generator<{ prefix: string; source: 'feed'; tag: string }> {
  for (let i = 0; i < count; i++) yield { prefix: `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`, source: 'feed', tag: 'crash' };
}
await store.bulkBan(inputs(), { batchSize: 10_000, onProgress: (n) => process.stdout.write(`committed ${n}\n`) });
process.stdout.write('done\n');
await store.close();
