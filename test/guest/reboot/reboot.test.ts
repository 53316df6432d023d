// SPDX-License-Identifier: MIT
//
// Issue 7's reboot simulation against the real module:
//   1. with the module at a small capacity, bans go into the database and the
//      kernel through BanStore + KernelWindow (some with a 2 s TTL, three
//      times more than the capacity, and cold bans of the peer's addresses);
//   2. rmmod + insmod: the kernel table is empty;
//   3. `ffwall daemon` starts (a child process) and restores the window;
//   4. the hottest bans are back, the short ones stay expired, the bans over
//      the cap are in the filter;
//   5. a SYN from a cold banned peer address raises MISS, the daemon
//      promotes the ban, and a following SYN is dropped.
// Then kill -9 of a bulk ban into database and kernel, and a daemon restart
// that reconciles the kernel with what the database committed.
// Prints the restore time and the bulk rate (database + kernel).
import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { ko, PEER, PEER_B, reaches as reachesPort, root, sh as shLib } from '../fixture.js';

import { IpPrefix, parseAddress } from '../../../src/lib/addr.js';
import { BanStore } from '../../../src/lib/db/store.js';
import type { KernelEntry } from '../../../src/lib/kernel.js';
import { NativeKernel } from '../../../src/lib/kernel-native.js';
import { KernelWindow } from '../../../src/lib/window.js';

const EXTRA = ['10.99.0.10', '10.99.0.11', '10.99.0.12', '10.99.0.13'];
const CAP = 1000;
const MANY = 3000;

const sh = (cmd: string): void => shLib(cmd, 'inherit');
/** netprobe from the peer to port 80: true when the SYN got an answer. */
const reaches = (src: string, timeoutMs = 700): boolean => reachesPort(src, 80, timeoutMs);

function load(params: string[]): void {
  execFileSync('insmod', [ko, ...params, 'devices=ffw0']);
}

function unload(): void {
  spawnSync('rmmod', ['ffwall']);
}

function ip(i: number): string {
  return `10.${20 + ((i >>> 16) & 255)}.${(i >>> 8) & 255}.${i & 255}`;
}

async function dumpAll(k: NativeKernel): Promise<Map<string, KernelEntry>> {
  const m = new Map<string, KernelEntry>();
  for await (const b of k.dump()) for (const e of b) if (e.kind !== 'allow') m.set(e.prefix.toString(), e);
  return m;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Running {
  child: ChildProcessWithoutNullStreams;
  lines: string[];
  waitFor(re: RegExp, ms: number): Promise<string>;
}

/** `ffwall daemon --db DIR` as a child; its stdout lines are collected. */
function startDaemon(db: string): Running {
  const child = spawn(process.execPath, [path.join(root, 'bin', 'run.js'), 'daemon', '--db', db], { cwd: root });
  const lines: string[] = [];
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const raw of parts) {
      // The daemon logs pino JSON lines: keep their message.
      let l = raw;
      try {
        const j = JSON.parse(raw) as { msg?: unknown };
        if (typeof j.msg === 'string') l = j.msg;
      } catch {
        // not JSON: as it is
      }
      lines.push(l);
      console.log(`daemon: ${l}`);
    }
  });
  child.stderr.on('data', (d: Buffer) => process.stderr.write(`daemon stderr: ${d.toString()}`));
  return {
    child,
    lines,
    async waitFor(re, ms) {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const l = lines.find((x) => re.test(x));
        if (l !== undefined) return l;
        if (child.exitCode !== null) throw new Error(`the daemon exited (${child.exitCode}) before printing ${String(re)}`);
        await sleep(50);
      }
      throw new Error(`no ${String(re)} from the daemon within ${ms} ms; got: ${lines.join(' | ')}`);
    },
  };
}

async function stopDaemon(d: Running): Promise<number | null> {
  if (d.child.exitCode !== null) return d.child.exitCode;
  const exited = new Promise<number | null>((r) => d.child.once('exit', (code) => r(code)));
  d.child.kill('SIGTERM');
  return exited;
}

test.before(() => {
  sh('peer_setup');
  for (const a of EXTRA) execFileSync('ip', ['-n', 'peer', 'addr', 'add', `${a}/24`, 'dev', 'eth0']);
});

test.after.always(() => {
  unload();
  sh('peer_teardown');
});

test.serial('reboot: the hot window comes back, short bans stay expired, cold bans are promoted on MISS and dropped', async (t) => {
  load([`max_entries=${CAP}`, 'gc_interval=1']);
  const db = mkdtempSync('/tmp/ffwall-reboot-');
  const store = BanStore.open({ path: db });
  // Cold bans: the peer's addresses, banned first and never hit, so they sort after everything else.
  const cold = [PEER, ...EXTRA];
  for (const a of cold) store.ban({ prefix: a, source: 'cli', ttl: 3600, reason: 'cold peer' });
  await sleep(20);
  const t0 = performance.now();
  const bulk = await store.bulkBan(
    (function* () {
      for (let i = 0; i < MANY; i++) yield { prefix: ip(i), source: 'feed' as const, ttl: 3600 };
    })(),
  );
  t.is(bulk.committed, MANY);
  // 20 short bans, hit recently: the hottest of all until they expire.
  const short: string[] = [];
  for (let i = 0; i < 20; i++) short.push(`10.30.0.${i + 1}`);
  // 6 s: long enough to outlive the window's start under a loaded emulator (2 s did not once), short enough to end during the down time below.
  for (const a of short) store.ban({ prefix: a, source: 'cli', ttl: 6 });
  const now = Date.now();
  store.applyHits([...short.map((a) => ({ prefix: a, delta: 5, lastHit: now })), ...Array.from({ length: 200 }, (_, i) => ({ prefix: ip(i * 7), delta: 1, lastHit: now - 1000 - i }))]);
  const k1 = NativeKernel.open();
  const before = await new KernelWindow(k1, store).start();
  const loadMs = performance.now() - t0;
  t.is(before.mode, 'restore');
  t.is(before.inKernel, CAP);
  const k1entries = await dumpAll(k1);
  t.true(short.every((a) => k1entries.has(a)), 'the short bans were in the kernel before the reboot');
  t.false(cold.some((a) => k1entries.has(a)), 'the cold peer bans are beyond the window');
  t.log(`before the reboot: ${MANY + 25} bans into the database and the ${CAP}-entry window in ${loadMs.toFixed(0)} ms`);
  await k1.close();
  await store.close();

  // The short bans expire while "the machine is down" (longer than their TTL after the dump, which came after the bans).
  await sleep(7000);
  unload();
  load([`max_entries=${CAP}`, 'gc_interval=1']);
  const k = NativeKernel.open();
  t.is((await k.stats()).entries, 0, 'the reloaded module starts empty');

  const d = startDaemon(db);
  try {
    const line = await d.waitFor(/^restore: /, 120_000);
    await d.waitFor(/^ready$/, 30_000);
    const ms = Number(/; (\d+) ms \(load/.exec(line)?.[1] ?? NaN);
    const msg = `restore after the reboot: ${CAP}-entry window from ${MANY + 25} bans (${MANY + 5} active) in ${ms} ms`;
    t.log(msg);
    console.log(`MEASURE ${process.env.FFWALL_KVER ?? ''} ${msg}`);
    t.regex(line, new RegExp(`filter ${MANY + 5} members`), 'the filter holds every active ban');

    const s = BanStore.open({ path: db });
    try {
      const entries = await dumpAll(k);
      t.is(entries.size, CAP, 'the window is full again');
      const hottest = [...s.hottest(CAP)].map((r) => r.prefix.toString());
      t.deepEqual([...entries.keys()].sort(), hottest.sort(), 'the kernel holds the hottest active bans');
      for (const a of short) {
        t.false(entries.has(a), `${a} is not back`);
        t.is(s.get(a)?.state, 'expired', `${a} stays expired in the database`);
      }
      t.is(s.counts().kernel, CAP);
      t.is(s.counts().cold, MANY + 5 - CAP);
      for (const a of cold) t.is(s.get(a)?.state, 'cold');

      // Cold bans over the cap are in the filter: each first SYN is a filter hit (a MISS), the daemon
      // promotes the ban, and a later SYN is dropped.
      t.true(reaches(PEER_B), 'an address that is not banned passes');
      for (const a of cold) {
        const hits0 = (await k.stats()).filterHits;
        const first = reaches(a);
        const hits1 = (await k.stats()).filterHits;
        t.true(hits1 > hits0, `${a}: the first SYN hit the filter (filter_hits ${hits0} -> ${hits1})`);
        t.true(first, `${a}: the first SYN passes (a MISS never drops)`);
        let dropped = false;
        const end = Date.now() + 8000;
        while (!dropped && Date.now() < end) {
          if ((await k.lookup(parseAddress(a))).verdict === 'drop') dropped = !reaches(a);
          else await sleep(50);
        }
        t.true(dropped, `${a}: promoted by the daemon, the next SYN is dropped`);
        s.refresh();
        t.is(s.get(a)?.state, 'kernel');
      }
      t.true(reaches(PEER_B), 'the other peer address still passes');
    } finally {
      await s.close();
    }
  } finally {
    const code = await stopDaemon(d);
    t.is(code, 0, 'SIGTERM: the daemon exits 0');
  }
  t.is((await k.stats()).entries, CAP, 'the kernel table stays after the daemon stops');
  await k.close();
  unload();
});

test.serial('kill -9 in the middle of a bulk ban into database and kernel: the restarted daemon reconciles', async (t) => {
  const cap = 50_000;
  const total = 200_000;
  load([`max_entries=${cap}`, 'gc_interval=1']);
  const db = mkdtempSync('/tmp/ffwall-crash-');
  const worker = fileURLToPath(new URL('./bulk-worker.js', import.meta.url));
  const child = spawn(process.execPath, [worker, db, String(total)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let reported = 0;
  let reportedMs = 0;
  let buf = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const m of buf.matchAll(/committed (\d+) (\d+)\n/g)) {
        if (Number(m[1]) > reported) {
          reported = Number(m[1]);
          reportedMs = Number(m[2]);
        }
      }
      if (reported >= 100_000 && child.exitCode === null && !child.killed) {
        child.kill('SIGKILL');
        resolve();
      }
    });
    child.on('exit', () => resolve());
    child.on('error', reject);
  });
  await new Promise((r) => (child.exitCode === null && child.signalCode === null ? child.on('exit', r) : r(null)));
  t.is(child.signalCode, 'SIGKILL');
  t.false(buf.includes('done'), 'killed before the end');
  const rate = Math.round(reported / (reportedMs / 1000));
  const msg = `bulk ban into database + kernel: ${reported} bans in ${reportedMs} ms = ${rate} bans/s (10k per durable transaction, then ADD)`;
  t.log(msg);
  console.log(`MEASURE ${process.env.FFWALL_KVER ?? ''} ${msg}`);

  const k = NativeKernel.open();
  t.true((await k.stats()).entries > 0, 'the kernel kept what was added');
  const d = startDaemon(db);
  let line = '';
  try {
    line = await d.waitFor(/^reconcile: /, 300_000);
    await d.waitFor(/^ready$/, 30_000);
  } finally {
    t.is(await stopDaemon(d), 0);
  }
  t.log(`after the crash: ${line}`);
  console.log(`MEASURE ${process.env.FFWALL_KVER ?? ''} reconcile after kill -9: ${line}`);

  const s = BanStore.open({ path: db });
  try {
    const c = s.counts();
    t.true(c.total >= reported, `every reported batch is there (${c.total} >= ${reported})`);
    t.is(c.total % 10_000, 0, 'whole batches only');
    t.is([...s.activePrefixes()].length, c.total, 'the hot index agrees with the records');
    const entries = await dumpAll(k);
    t.is(entries.size, Math.min(cap, c.total));
    let notActive = 0;
    for (const key of entries.keys()) {
      const r = s.get(key);
      if (r === undefined || r.state === 'expired') notActive++;
    }
    t.is(notActive, 0, 'every kernel entry is an active ban in the database');
    const hottest = [...s.hottest(Math.min(cap, c.total))].map((r) => r.prefix.toString());
    t.is(hottest.filter((a) => !entries.has(a)).length, 0, 'the hottest active bans are in the kernel');
    t.is(c.kernel, entries.size, "the database's 'kernel' state matches the table");
    t.is(c.cold, c.total - entries.size);
    const probe = IpPrefix.masked(parseAddress(hottest[0] ?? '10.100.0.1').bytes, 128);
    t.is((await k.lookup(probe)).verdict, 'drop');
  } finally {
    await s.close();
    await k.close();
  }
  unload();
});
