// SPDX-License-Identifier: MIT
//
// Issue 7 at scale, the CI variant: a ban database of 300k records built on
// the host (bench/scale-db.ts) reaches the guest on a disk image; with a
// kernel capacity of 100k, the daemon's window restore brings back the
// hottest 100k host bans and every /64, marks the rest cold and puts them in
// the membership filter.  A second start (userland restarted, the table
// full) reconciles and changes nothing.  `npm run bench` runs the same with
// 10M records and a 1M window.
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

import test from 'ava';

import type { RestoreResult } from '../../../bench/restore-guest.js';

const ko = process.env.FFWALL_KO_NODEBUG ?? '';
const root = process.env.FFWALL_ROOT ?? process.cwd();
const disk = process.env.FFWALL_DATA_DISK ?? '';
const MNT = '/mnt/scale';
const CAP = 100_000;

function restore(): RestoreResult {
  const out = execFileSync(process.execPath, [path.join(root, 'dist', 'bench', 'restore-guest.js'), '--db', MNT, '--check-hot', '1000'], {
    encoding: 'utf8',
    maxBuffer: 16 << 20,
  });
  const lines = out.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? '{}') as RestoreResult;
}

test.before(() => {
  mkdirSync(MNT, { recursive: true });
  execFileSync('mount', ['-t', 'ext4', disk, MNT]);
  execFileSync('insmod', [ko, `max_entries=${CAP}`]);
});

test.after.always(() => {
  execFileSync('bash', ['-c', `rmmod ffwall; umount ${MNT}; true`]);
});

test.serial('a 300k-record database restores its hottest window into an empty 100k table', (t) => {
  const r = restore();
  console.log(`scale: restore of ${r.records} records into a ${CAP} window: ${r.seconds.toFixed(1)} s (load ${r.report.timings.load} ms, filter ${r.report.timings.filter} ms), rss ${(r.rssBytes / 1048576).toFixed(0)} MiB`);
  t.log(JSON.stringify({ seconds: r.seconds, timings: r.report.timings, filter: r.report.filter }));
  t.is(r.report.mode, 'restore');
  t.is(r.records, 300_000);
  t.is(r.kernelEntries, CAP, 'the exact table is filled to its capacity');
  t.true(r.kernelPrefixes > 25_000, `every active /64 is a kernel prefix (${r.kernelPrefixes})`);
  t.is(r.hotInKernel, r.hotChecked, 'the hottest bans are in the kernel');
  t.is(r.hotChecked, 1000);
  t.is(r.coldInKernel, 0, 'the coldest host bans are not');
  t.is(r.dbStates.kernel, r.kernelEntries + r.kernelPrefixes, 'the database knows what the kernel holds');
  t.true(r.dbStates.cold > 100_000, `the rest is cold (${r.dbStates.cold})`);
  t.is(r.dbStates.expired, 15_000, 'remembered bans stay expired');
  t.true(r.report.filter.members >= r.dbStates.cold, 'every cold ban is in the membership filter');
  t.false(r.report.filter.clamped);
});

test.serial('a second start with the table in place reconciles and changes nothing', (t) => {
  const r = restore();
  console.log(`scale: reconcile of ${r.records} records against a full ${CAP} table: ${r.seconds.toFixed(1)} s`);
  t.is(r.report.mode, 'reconcile');
  t.is(r.report.loaded, 0);
  t.is(r.report.deleted, 0);
  t.is(r.kernelEntries, CAP);
  t.is(r.hotInKernel, r.hotChecked);
});
