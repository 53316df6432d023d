// SPDX-License-Identifier: MIT
//
// A child process of the multi-process test: opens the database given in
// argv and hammers the same keys with bans and hit deltas, each one its own
// write transaction, then prints what it did.  It opens the database as the
// daemon and the CLI do, with fsync at commit: with noSync, lmdb-js 3.5.6
// loses a committed transaction now and then across processes (StoreOptions.noSync).
import { BanStore } from '../../src/lib/db/index.js';

const [path, roundsText, keysText] = process.argv.slice(2);
const rounds = Number(roundsText);
const keys = Number(keysText);
const store = BanStore.open({ path: path ?? '' });
let bans = 0;
let hits = 0;
for (let r = 0; r < rounds; r++) {
  for (let k = 0; k < keys; k++) {
    const prefix = `192.0.2.${k + 1}`;
    store.ban({ prefix, source: 'api', reason: `pid ${process.pid}` });
    bans++;
    store.applyHits([{ prefix, delta: 3, lastHit: Date.now() }]);
    hits += 3;
  }
}
await store.close();
process.stdout.write(JSON.stringify({ bans, hits }));
