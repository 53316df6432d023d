// SPDX-License-Identifier: MIT
//
// Ingestion benchmark (issue 11, item 7): sustained bans per second into the
// ban database and the kernel together.
//
//   node dist/bench/ingest.js [--quick] [--n BANS] [--batches 100,10000] [--kernel fake|real] [--out FILE]
//
// Two paths, each given --n new IPv4 host bans (default 200,000; --quick
// 5,000) in blockMany() calls of each batch size (default 100 and 10,000),
// every batch written durably (the database's default: fsync at commit):
//   - library: openFfwall() direct transport over the kernel and a fresh
//     LMDB database in this process (what `ffwall import` does without a daemon);
//   - daemon:  a Daemon over the same kind of kernel and database, and a
//     client Ffwall speaking the control protocol over its unix socket
//     (what `ffwall import` and the API do while the daemon runs).
// The kernel is FakeKernel on the host (--kernel fake, default) or the
// module through /dev/ffwall in a guest (--kernel real, with ffwall.ko
// loaded and room for the bans).  Every ban ends in both the database and
// the kernel; the kernel's count is checked after each run.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os, { cpus, loadavg, totalmem } from 'node:os';
import path from 'node:path';

import { Daemon } from '../src/daemon/daemon.js';
import { BanStore } from '../src/lib/db/index.js';
import { openFfwall, type Ffwall } from '../src/lib/ffwall.js';
import { FakeKernel } from '../src/lib/kernel-fake.js';
import type { Kernel } from '../src/lib/kernel.js';
import { NativeKernel } from '../src/lib/kernel-native.js';

interface Args {
  quick: boolean;
  n: number;
  batches: number[];
  kernel: 'fake' | 'real';
  out: string | undefined;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, n: 200_000, batches: [100, 10_000], kernel: 'fake', out: undefined };
  let nSet = false;
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === '--quick') a.quick = true;
    else if (argv[i] === '--n' && v !== undefined && /^\d+$/.test(v)) (a.n = Number(v)), (nSet = true), i++;
    else if (argv[i] === '--batches' && v !== undefined && /^\d+(,\d+)*$/.test(v)) (a.batches = v.split(',').map(Number)), i++;
    else if (argv[i] === '--kernel' && (v === 'fake' || v === 'real')) (a.kernel = v), i++;
    else if (argv[i] === '--out' && v !== undefined) (a.out = v), i++;
    else throw new Error(`bench/ingest: unknown argument '${argv[i]}'`);
  }
  if (a.quick && !nSet) a.n = 5000;
  return a;
}

/** The i-th ban of run @run: distinct hosts of 10.0.0.0/8 per run (never routed: FakeKernel, or a guest). */
const addr = (run: number, i: number): string => {
  const x = run * 4_000_000 + i;
  return `10.${(x >> 16) & 255}.${(x >> 8) & 255}.${x & 255}`;
};

export interface IngestRow {
  path: 'library' | 'daemon';
  kernel: string;
  batch: number;
  bans: number;
  seconds: number;
  bans_per_s: number;
  /** Seconds of each batch (raw samples). */
  batch_seconds: number[];
  kernel_entries_after: number;
  load_average: number[];
}

async function newKernel(kind: 'fake' | 'real', n: number): Promise<Kernel> {
  if (kind === 'fake') return new FakeKernel({ maxEntries: Math.max(1024, n + 1024) });
  const k = NativeKernel.open();
  await k.flush();
  return k;
}

async function runOne(args: Args, run: number, where: 'library' | 'daemon', batch: number): Promise<IngestRow> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-bench-ingest-'));
  const kernel = await newKernel(args.kernel, args.n);
  let fw: Ffwall;
  let daemon: Daemon | undefined;
  let store: BanStore | undefined;
  if (where === 'library') {
    fw = await openFfwall({ transport: 'direct', kernel, database: path.join(dir, 'db') });
  } else {
    store = BanStore.open({ path: path.join(dir, 'db') });
    const sock = path.join(dir, 'ffwall.sock');
    daemon = new Daemon({ kernel, store, window: { filterBuilder: 'ts' }, intervals: { sync: 0, sweep: 0, prune: 0, safety: 0 }, control: { path: sock } });
    await daemon.start();
    fw = await openFfwall({ transport: 'client', socket: sock });
  }
  const samples: number[] = [];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < args.n; i += batch) {
    const items: string[] = [];
    for (let j = i; j < Math.min(args.n, i + batch); j++) items.push(addr(run, j));
    const b0 = process.hrtime.bigint();
    await fw.blockMany(items, { source: 'api', ttl: '30d' });
    samples.push(Number(process.hrtime.bigint() - b0) / 1e9);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const entries = (await kernel.stats()).entries;
  await fw.close();
  if (daemon !== undefined) await daemon.stop();
  if (store !== undefined) await store.close();
  if (args.kernel === 'real') await kernel.flush();
  await kernel.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    path: where,
    kernel: args.kernel === 'fake' ? 'FakeKernel' : 'ffwall.ko',
    batch,
    bans: args.n,
    seconds: Number(seconds.toFixed(3)),
    bans_per_s: Math.round(args.n / seconds),
    batch_seconds: samples.map((s) => Number(s.toFixed(4))),
    kernel_entries_after: entries,
    load_average: loadavg().map((x) => Number(x.toFixed(2))),
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const rows: IngestRow[] = [];
  let run = 0;
  for (const batch of args.batches) {
    for (const where of ['library', 'daemon'] as const) {
      const row = await runOne(args, run++, where, batch);
      rows.push(row);
      const { batch_seconds: _s, ...brief } = row;
      console.log(JSON.stringify(brief));
    }
  }
  const doc = {
    bench: 'ingest',
    kernel: os.release(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryBytes: totalmem(), node: process.version, emulation: args.kernel === 'fake' ? 'none (host, FakeKernel)' : 'see the run' },
    date: new Date(started).toISOString(),
    method:
      'N new IPv4 host bans (source api, ttl 30d) in blockMany() calls of each batch size, into a fresh LMDB database (durable: fsync at each commit) and the kernel together; ' +
      'library = direct transport in-process; daemon = a client Ffwall over the control socket of a Daemon in the same process. bans_per_s = N / wall time.',
    n: args.n,
    quick: args.quick,
    results: rows,
  };
  if (args.out !== undefined) writeFileSync(args.out, `${JSON.stringify(doc, null, 2)}\n`);
}

await main();
