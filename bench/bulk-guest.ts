// SPDX-License-Identifier: MIT
//
// Guest side of the bulk benchmark, the library path: loads every address of
// a plain file (one per line) into ffwall.ko and a fresh ban database through
// openFfwall() (direct transport) in blockMany() batches of 10,000 (what
// `ffwall import` does after its checking pass), and prints one JSON line:
// {seconds, entries (kernel), bans_per_s}.
//
//   node dist/bench/bulk-guest.js --file ADDRS --db DIR
import { readFileSync } from 'node:fs';

import { openFfwall } from '../src/lib/ffwall.js';

const argv = process.argv.slice(2);
const opt = (name: string): string => {
  const i = argv.indexOf(name);
  const v = i >= 0 ? argv[i + 1] : undefined;
  if (v === undefined) throw new Error(`bench/bulk-guest: ${name} is required`);
  return v;
};
const addrs = readFileSync(opt('--file'), 'utf8').split('\n').filter((l) => l !== '');
const t0 = process.hrtime.bigint();
const fw = await openFfwall({ transport: 'direct', database: opt('--db') });
for (let i = 0; i < addrs.length; i += 10_000) await fw.blockMany(addrs.slice(i, i + 10_000), { source: 'api', ttl: '30d' });
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const st = await fw.stats();
await fw.close();
console.log(JSON.stringify({ seconds: Number(seconds.toFixed(2)), entries: st.kernel.entries, bans_per_s: Math.round(addrs.length / seconds) }));
