// SPDX-License-Identifier: MIT
//
// Guest side of the bulk benchmark, the library path: loads every address of
// a plain file (one per line) into ffwall.ko through openFfwall() (direct
// transport) in blockMany() batches, and prints one JSON line:
// {seconds, entries (kernel), bans_per_s}.
//
//   node dist/bench/bulk-guest.js --file ADDRS --db DIR [--batch 10000] [--progress FILE]
//   node dist/bench/bulk-guest.js --file ADDRS --no-db [--api feed|many] [--batch 100000]
//
// --db: every ban also a durable record of a fresh ban database (what
// `ffwall import` does after its checking pass).  --no-db: the kernel alone
// (openFfwall({database: false})), the like-for-like comparison with ipset
// restore and nft -f: by default through Ffwall.blockFeed() (the file
// parsed in one pass straight into the kernel's ADD buffers; --api feed),
// or with --api many the file read as strings and given to blockMany() in
// batches of --batch (each batch a packed ADD).  --progress: after each batch, {"done", "seconds"} is
// written to FILE, so a run stopped at its time cap still says how far it got.
import { readFileSync, writeFileSync } from 'node:fs';

// The library as an application imports it: the package's entry (the
// bundle in dist/lib, scripts/build-lib.mjs), not the files tsc writes.
import { openFfwall } from 'ffwall';

const argv = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const file = opt('--file');
const db = opt('--db');
const noDb = argv.includes('--no-db');
if (file === undefined || (db === undefined) === !noDb) throw new Error('bench/bulk-guest: --file and one of --db DIR or --no-db are required');
const batch = Number(opt('--batch') ?? (noDb ? 100_000 : 10_000));
const progress = opt('--progress');
const api = opt('--api') ?? (noDb ? 'feed' : 'many');
if (api !== 'feed' && api !== 'many') throw new Error('bench/bulk-guest: --api is feed or many');
// Timed from here: the file read and the parsing are part of the load.
const t0 = process.hrtime.bigint();
const elapsed = (): number => Number(process.hrtime.bigint() - t0) / 1e9;
const fw = await openFfwall({ transport: 'direct', database: noDb ? false : (db as string) });
let total: number;
if (api === 'feed') {
  total = (await fw.blockFeed(file, { source: 'api', ttl: '30d' })).total;
} else {
  const addrs = readFileSync(file, 'utf8').split('\n').filter((l) => l !== '');
  total = addrs.length;
  for (let i = 0; i < addrs.length; i += batch) {
    await fw.blockMany(addrs.slice(i, i + batch), { source: 'api', ttl: '30d' });
    if (progress !== undefined) writeFileSync(progress, JSON.stringify({ done: Math.min(addrs.length, i + batch), seconds: Number(elapsed().toFixed(2)) }));
  }
}
const seconds = elapsed();
const st = await fw.stats();
await fw.close();
console.log(JSON.stringify({ seconds: Number(seconds.toFixed(2)), entries: st.kernel.entries, bans_per_s: Math.round(total / seconds), api, batch: api === 'feed' ? null : batch, database: !noDb }));
