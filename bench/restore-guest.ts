// SPDX-License-Identifier: MIT
//
// Guest side of the restore measurement: with ffwall.ko freshly loaded
// (empty table) and a ban database built on the host by bench/scale-db.ts
// mounted at --db, restores the kernel window and reports what it did and
// how long it took, as one JSON line on stdout.  Used by the `scale` guest
// suite (asserts) and by `npm run bench` (records).
//
//   node dist/bench/restore-guest.js --db /mnt/scale [--check-hot 1000]
import { IpPrefix } from '../src/lib/addr.js';
import { BanStore } from '../src/lib/db/index.js';
import { NativeKernel } from '../src/lib/kernel-native.js';
import { KernelWindow, type WindowReport } from '../src/lib/window.js';
import { isExpiredIndex, scaleAddress } from './scale-db.js';

export interface RestoreResult {
  records: number;
  report: WindowReport;
  /** Seconds from opening the database to the window restored (filter loaded). */
  seconds: number;
  /** Of the hottest checked (the last indexes of the scale set), how many the kernel holds. */
  hotChecked: number;
  hotInKernel: number;
  /** Of as many of the coldest host bans, how many the kernel holds (none when the window is smaller than the set). */
  coldInKernel: number;
  dbStates: { kernel: number; cold: number; expired: number; total: number };
  kernelEntries: number;
  kernelPrefixes: number;
  rssBytes: number;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let db = '/mnt/scale';
  let checkHot = 1000;
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === '--db' && v !== undefined) (db = v), i++;
    else if (argv[i] === '--check-hot' && v !== undefined) (checkHot = Number(v)), i++;
    else throw new Error(`restore-guest: unknown argument ${argv[i] ?? ''}`);
  }
  const kernel = NativeKernel.open('/dev/ffwall');
  const t0 = process.hrtime.bigint();
  const store = BanStore.open({ path: db });
  const window = new KernelWindow(kernel, store);
  const report = await window.start();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const counts = store.counts();
  const n = counts.total;
  // The hottest are the highest indexes (scale-db stamps hits by index).
  let hotChecked = 0;
  let hotInKernel = 0;
  for (let i = n - 1; i >= 0 && hotChecked < checkHot; i--) {
    if (isExpiredIndex(i)) continue;
    const p = scaleAddress(i);
    hotChecked++;
    if (await inKernel(kernel, p)) hotInKernel++;
  }
  let coldInKernel = 0;
  let coldChecked = 0;
  for (let i = 0; i < n && coldChecked < checkHot; i++) {
    // Host bans only: every /64 fits the prefix set, cold or not.
    if (isExpiredIndex(i) || !scaleAddress(i).isHost) continue;
    coldChecked++;
    if (await inKernel(kernel, scaleAddress(i))) coldInKernel++;
  }
  const stats = await kernel.stats();
  const result: RestoreResult = {
    records: n,
    report,
    seconds,
    hotChecked,
    hotInKernel,
    coldInKernel,
    dbStates: counts,
    kernelEntries: stats.entries,
    kernelPrefixes: stats.prefixes,
    rssBytes: process.memoryUsage().rss,
  };
  console.log(JSON.stringify(result));
  await store.close();
  await kernel.close();
}

async function inKernel(kernel: NativeKernel, p: IpPrefix): Promise<boolean> {
  // A host ban is an exact entry; a /64 is a prefix: look up an address inside it.
  const probe = p.isHost ? p : new IpPrefix(p.bytes, 128);
  const r = await kernel.lookup(probe);
  return r.match === (p.isHost ? 'exact' : 'prefix') && r.entry !== undefined && r.entry.prefix.equals(p);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : err);
  process.exit(1);
});
