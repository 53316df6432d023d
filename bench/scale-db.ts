// SPDX-License-Identifier: MIT
//
// Builds a ban database of N records on the host and packs it into an ext4
// image that a guest mounts (guest memory cannot hold a 10M-record database
// in its tmpfs, and building it under emulation would take an hour).
//
//   node dist/bench/scale-db.js --records 10000000 --out build/scale/db-10M.img
//   node dist/bench/scale-db.js --plain --records 1000000 --out build/scale/bulk-1M.img
//
// The records are deterministic (the same N gives the same database):
//   - 90% IPv4 hosts from 1.0.0.0 up, 10% IPv6 /64s of 2001:db8::/32, in key order;
//   - 1 in 8 port-scoped (25, 465, 587);
//   - 1 in 20 already expired (remembered), 1 in 50 permanent;
//   - every record hit at a time that grows with its index, so the hottest
//     are the last ones written: index N-1 is the hottest.
// A JSON manifest beside the image says what is in it.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { IpPrefix } from '../src/lib/addr.js';
import { BanStore, SCHEMA_VERSION, type BanInput, type HitUpdate } from '../src/lib/db/index.js';

/** Bumped whenever the generated content changes. */
export const SCALE_DB_FORMAT = 2;

export interface ScaleManifest {
  format: number;
  schema: number;
  records: number;
  active: number;
  expired: number;
  /** Wall-clock ms the records were stamped relative to. */
  baseTime: number;
  /** Bytes of the database directory. */
  dbBytes: number;
  buildSeconds: number;
  /** --plain: the bulk benchmark's IPv4 addresses (buildPlainDb). */
  plain?: boolean;
  /** --plain: the N asked for (records: the distinct addresses among them). */
  requested?: number;
}

/**
 * The i-th address of the set: IPv4 for 9 in 10, else an IPv6 /64.  Both
 * grow with i, so the database is written in key order (LMDB appends
 * instead of splitting pages at random: 10M records build in minutes).
 */
export function scaleAddress(i: number): IpPrefix {
  if (i % 10 === 9) {
    // 2001:db8:XXXX:XXXX::/64, X the index among the IPv6 ones
    const b = new Uint8Array(16);
    const x = Math.floor(i / 10);
    b[0] = 0x20;
    b[1] = 0x01;
    b[2] = 0x0d;
    b[3] = 0xb8;
    b[4] = (x >>> 24) & 255;
    b[5] = (x >>> 16) & 255;
    b[6] = (x >>> 8) & 255;
    b[7] = x & 255;
    return new IpPrefix(b, 64);
  }
  // 1.0.0.0 onwards, one address per IPv4 index.
  return v4Prefix((0x01000000 + i - Math.floor(i / 10)) >>> 0);
}

export function isExpiredIndex(i: number): boolean {
  return i % 20 === 7;
}

function* inputs(n: number): Generator<BanInput> {
  for (let i = 0; i < n; i++) {
    const input: BanInput = { prefix: scaleAddress(i), source: i % 3 === 0 ? 'feed' : 'policy', reason: 'scale', aggregate: false };
    if (i % 8 === 1) input.ports = [25, 465, 587];
    if (i % 50 === 3) input.permanent = true;
    else input.ttl = isExpiredIndex(i) ? 1 : 30 * 86400;
    yield input;
  }
}

/**
 * The bulk benchmark's N IPv4 addresses (bench/guest/bulk.sh generates the
 * same set with awk: i * 2654435761 mod 2^32, moved above 1.0.0.0),
 * distinct, in ascending order (the database is then written in key order).
 */
export function bulkAddresses(n: number): number[] {
  const set = new Set<number>();
  for (let i = 0; i < n; i++) {
    let x = (i * 2654435761) % 4294967296;
    if (x < 16777216) x += 16777216;
    set.add(x);
  }
  return [...set].sort((a, b) => a - b);
}

function v4Prefix(x: number): IpPrefix {
  const b = new Uint8Array(16);
  b[10] = 0xff;
  b[11] = 0xff;
  b[12] = x >>> 24;
  b[13] = (x >>> 16) & 255;
  b[14] = (x >>> 8) & 255;
  b[15] = x & 255;
  return new IpPrefix(b, 128);
}

/**
 * --plain: what `ffwall import ADDRS --name bulk --ttl 30d` of the bulk
 * benchmark's addresses leaves (IPv4 hosts, source feed, tag bulk, reason
 * "feed bulk", 30 days, marked in the kernel), without history: the bulk
 * benchmark lists it (bench/guest/bulk.sh) without waiting for the import.
 */
export async function buildPlainDb(n: number, dir: string): Promise<ScaleManifest> {
  const started = Date.now();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const baseTime = Date.now();
  const store = BanStore.open({ path: dir, noSync: true, now: () => baseTime, mapSize: 64 * 1024 ** 3 });
  try {
    const addrs = bulkAddresses(n);
    await store.bulkBan(
      (function* (): Generator<BanInput> {
        for (const x of addrs) yield { prefix: v4Prefix(x), source: 'feed', tag: 'bulk', reason: 'feed bulk', ttl: 30 * 86400, aggregate: false, state: 'kernel' };
      })(),
      { batchSize: 50_000, history: false },
    );
    const counts = store.counts();
    await store.close();
    return { format: SCALE_DB_FORMAT, schema: SCHEMA_VERSION, records: addrs.length, active: counts.kernel + counts.cold, expired: counts.expired, baseTime, dbBytes: dirBytes(dir), buildSeconds: (Date.now() - started) / 1000, plain: true, requested: n };
  } catch (err) {
    await store.close();
    throw err;
  }
}

export async function buildScaleDb(n: number, dir: string, log: (s: string) => void = () => undefined): Promise<ScaleManifest> {
  const started = Date.now();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // Stamp everything an hour ago so that the 1 s bans are long expired.
  const baseTime = Date.now() - 3600_000;
  let clock = baseTime;
  const store = BanStore.open({ path: dir, noSync: true, now: () => clock, mapSize: 64 * 1024 ** 3 });
  try {
    await store.bulkBan(inputs(n), {
      batchSize: 50_000,
      history: false,
      onProgress: (c) => {
        if (c % 1_000_000 === 0) log(`scale-db: ${c} records`);
      },
    });
    // Hits: later indexes are hotter.
    clock = baseTime + 1000;
    const hits = function* (): Generator<HitUpdate> {
      for (let i = 0; i < n; i++) if (!isExpiredIndex(i)) yield { prefix: scaleAddress(i), delta: 1 + (i % 7), lastHit: baseTime + 1000 + Math.floor((i / n) * 3000_000) };
    };
    store.applyHits(hits());
    // Mark the 1 s bans expired, as a running daemon's sweep would have.
    clock = Date.now();
    for (;;) {
      const r = store.sweep(clock, 100_000);
      if (!r.more) break;
    }
    const counts = store.counts();
    await store.close();
    const dbBytes = dirBytes(dir);
    return { format: SCALE_DB_FORMAT, schema: SCHEMA_VERSION, records: n, active: counts.kernel + counts.cold, expired: counts.expired, baseTime, dbBytes, buildSeconds: (Date.now() - started) / 1000 };
  } catch (err) {
    await store.close();
    throw err;
  }
}

function dirBytes(dir: string): number {
  const r = spawnSync('du', ['-sb', dir], { encoding: 'utf8' });
  return Number((r.stdout ?? '0').split('\t')[0]);
}

/** Packs @dir into an ext4 image of ~1.3x its size (mke2fs -d: no loop mount, no root needed). */
export function packImage(dir: string, image: string, dbBytes: number): void {
  const mib = Math.max(64, Math.ceil((dbBytes * 1.3) / 1048576) + 32);
  rmSync(image, { force: true });
  const r = spawnSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-L', 'ffwalldb', '-E', 'root_owner=0:0', '-d', dir, image, `${mib}M`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`scale-db: mke2fs failed: ${r.stderr}`);
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let n = 1_000_000;
  let out = 'build/scale/db.img';
  let plain = false;
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === '--plain') plain = true;
    else if (argv[i] === '--records' && v !== undefined && /^\d+$/.test(v)) (n = Number(v)), i++;
    else if (argv[i] === '--out' && v !== undefined) (out = v), i++;
    else throw new Error(`scale-db: unknown argument ${argv[i] ?? ''}`);
  }
  const manifestPath = `${out}.json`;
  if (existsSync(out) && existsSync(manifestPath)) {
    const m = JSON.parse(readFileSync(manifestPath, 'utf8')) as Partial<ScaleManifest>;
    if (m.format === SCALE_DB_FORMAT && m.schema === SCHEMA_VERSION && (m.plain === true) === plain && (plain ? m.requested === n : m.records === n)) {
      console.log(`scale-db: ${out} is up to date`);
      return;
    }
  }
  mkdirSync(path.dirname(out), { recursive: true });
  const dir = `${out}.d`;
  console.log(`scale-db: building ${n} records in ${dir}`);
  const m = plain ? await buildPlainDb(n, dir) : await buildScaleDb(n, dir, (s) => console.log(s));
  packImage(dir, out, m.dbBytes);
  rmSync(dir, { recursive: true, force: true });
  writeFileSync(manifestPath, `${JSON.stringify(m, null, 2)}\n`);
  console.log(`scale-db: ${out}: ${m.records} records (${m.active} active, ${m.expired} expired), ${(m.dbBytes / 1048576).toFixed(0)} MiB, built in ${m.buildSeconds.toFixed(0)} s`);
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(path.basename(process.argv[1]))) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
