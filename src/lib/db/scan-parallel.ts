// SPDX-License-Identifier: MIT
//
// A walk of the whole records table by several threads (docs/DESIGN-db.md,
// "Listing with several threads"): the key space is cut into buckets (key
// ranges, splitKeys()), which this thread and its workers (scan-worker.ts)
// claim one at a time from a shared counter, so a late or slow thread takes
// fewer.  Each writes the lines of its bucket (scan.ts); this thread hands
// the buckets out in key order, so the output is the single-thread walk's.
//
// Threads share one LMDB environment (lmdb-js finds the open one by the lock
// file's inode): each bucket is read in its thread's own read transaction,
// so a listing made while another process writes sees each bucket as of the
// moment its walk began (the single-thread walk sees one snapshot).
//
// Memory: the lines of the buckets walked ahead of the one being handed out
// are held here; past HELD_MAX bytes the workers wait and this thread stops
// claiming, so a slow reader of the output holds the walk back.
import { statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import { KEY_BYTES } from './keys.js';
import type { Env, Table } from './lmdb.js';
import { Chunker, walkLines, type KeyRange } from './scan.js';
import type { StoredRecord } from './schema.js';
import type { ListFilter } from './types.js';

/** Below this many records one thread walks the table: a worker's start costs more than it saves. */
export const PARALLEL_MIN_RECORDS = 200_000;
/** The most threads one walk uses (this one included). */
export const MAX_THREADS = 4;
/** Buckets per region of the key space that holds records. */
const BUCKETS_PER_REGION = 256;
/** Bytes of lines held ahead of the output before the threads wait. */
const HELD_MAX = 64 * 1024 * 1024;

/** The control words shared with the workers (an Int32Array over a SharedArrayBuffer). */
export const CTL_NEXT = 0; // the next bucket to claim
export const CTL_STOP = 1; // non-zero: claim no more
export const CTL_HELD_KB = 2; // KiB of lines held, not yet handed out
const CTL_WORDS = 3;
export const HELD_MAX_KB = HELD_MAX / 1024;

/** What a worker is given (workerData; structured-clone safe). */
export interface ScanJob {
  path: string;
  filter: ListFilter;
  targets: boolean;
  chunkBytes: number;
  /** Bucket i is [bounds[i-1], bounds[i]), the first and last open-ended. */
  bounds: Uint8Array[];
  control: SharedArrayBuffer;
}

/** A worker's messages: a chunk of bucket b's lines, the end of bucket b, or the error that stopped it. */
export type ScanMessage = { b: number; chunk: Uint8Array } | { b: number; done: true } | { error: string; stack?: string };

/** The key range of bucket @b. */
export function bucketRange(bounds: readonly Uint8Array[], b: number): KeyRange {
  const r: KeyRange = {};
  const start = bounds[b - 1];
  const end = bounds[b];
  if (start !== undefined) r.start = start;
  if (end !== undefined) r.end = end;
  return r;
}

/** The worker's file (next to this module, in every build), or undefined when it is missing. */
export function scanWorkerFile(): string | undefined {
  const file = fileURLToPath(new URL('./scan-worker.js', import.meta.url));
  return statSync(file, { throwIfNoEntry: false })?.isFile() === true ? file : undefined;
}

/** The threads a walk of @records records would use by default (1: the single-thread walk). */
export function defaultThreads(records: number): number {
  return records < PARALLEL_MIN_RECORDS ? 1 : Math.min(MAX_THREADS, availableParallelism());
}

// Where IPv4 lives among the record keys: ::ffff:0:0/96, up to ::1:0:0:0 (exclusive).
const V4_START = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0]);
const V4_END = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);

/**
 * Bucket bounds for the keys of @table: the key space cut where IPv4 begins
 * and ends, and each of those regions that holds keys cut into @perRegion
 * buckets, evenly between its first and last key (on the six bytes after
 * the ones they share).  Sorted and distinct; a bucket may be empty.
 */
export function splitKeys(table: Pick<Table<unknown>, 'keys'>, perRegion = BUCKETS_PER_REGION): Uint8Array[] {
  const regions: [Buffer | undefined, Buffer | undefined][] = [
    [undefined, V4_START],
    [V4_START, V4_END],
    [V4_END, undefined],
  ];
  const bounds: Buffer[] = [V4_START, V4_END];
  for (const [lo, hi] of regions) {
    const first = firstKey(table, lo, hi);
    const last = lastKey(table, lo, hi);
    if (first === undefined || last === undefined) continue;
    bounds.push(...interpolate(first, last, perRegion));
  }
  bounds.sort(Buffer.compare);
  return bounds.filter((k, i) => i === 0 || !k.equals(bounds[i - 1] as Buffer));
}

function firstKey(table: Pick<Table<unknown>, 'keys'>, lo: Buffer | undefined, hi: Buffer | undefined): Buffer | undefined {
  for (const k of table.keys({ ...(lo === undefined ? {} : { start: lo }), ...(hi === undefined ? {} : { end: hi }), limit: 1 })) return Buffer.from(k);
  return undefined;
}

function lastKey(table: Pick<Table<unknown>, 'keys'>, lo: Buffer | undefined, hi: Buffer | undefined): Buffer | undefined {
  // In reverse, start is the upper bound (inclusive: a key equal to @hi is skipped) and end the lower.
  for (const k of table.keys({ ...(hi === undefined ? {} : { start: hi }), ...(lo === undefined ? {} : { end: lo }), reverse: true, limit: 2 })) {
    if (hi !== undefined && Buffer.compare(k, hi) >= 0) continue;
    if (lo !== undefined && Buffer.compare(k, lo) < 0) return undefined;
    return Buffer.from(k);
  }
  return undefined;
}

/** @n - 1 keys evenly spaced between @first and @last (on the six bytes after their common prefix); fewer when they are close. */
export function interpolate(first: Buffer, last: Buffer, n: number): Buffer[] {
  let p = 0;
  while (p < KEY_BYTES && first[p] === last[p]) p++;
  if (p === KEY_BYTES) return [];
  const width = Math.min(6, KEY_BYTES - p);
  const f = first.readUIntBE(p, width);
  const l = last.readUIntBE(p, width);
  const out: Buffer[] = [];
  let prev = f;
  for (let i = 1; i < n; i++) {
    const v = f + Math.floor(((l - f) * i) / n);
    if (v <= prev) continue;
    prev = v;
    const k = Buffer.alloc(KEY_BYTES);
    first.copy(k, 0, 0, p);
    k.writeUIntBE(v, p, width);
    out.push(k);
  }
  return out;
}

interface Bucket {
  chunks: Buffer[];
  done: boolean;
}

export interface ParallelWalk {
  env: Env;
  bans: Table<StoredRecord>;
  /** The database directory, for the workers to open (they share this thread's environment). */
  path: string;
  filter: ListFilter;
  targets: boolean;
  chunkBytes: number;
  /** Threads in all, this one included (2 or more). */
  threads: number;
  /** The worker's file (scanWorkerFile()). */
  workerFile: string;
  /** Bucket bounds (default splitKeys() of the records table). */
  bounds?: Uint8Array[];
  /** False: this thread walks no bucket, it only hands the workers' out (tests of the workers alone). */
  walkHere?: boolean;
  /**
   * The caller is done with a chunk when it asks for the next (ChunkOptions.reuse): the lines
   * of a bucket that go straight out then take turns in two buffers.  The lines held for later
   * are fresh buffers either way.
   */
  reuse?: boolean;
}

/**
 * Bucket @b walked here, through @chunker.  The bucket's last lines are
 * copied into a buffer of their size: a short chunk may sit in a stream's
 * queue without back-pressure, so a reused buffer must not be written again
 * (Chunker.room()), and a held one need not keep a chunk-sized buffer alive.
 */
function* bucketChunks(w: ParallelWalk, bounds: readonly Uint8Array[], b: number, chunker: Chunker): Generator<Buffer> {
  yield* walkLines(w.env, w.bans, w.filter, w.targets, bucketRange(bounds, b), chunker);
  const last = chunker.drain();
  if (last !== undefined) yield Buffer.from(last);
}

/**
 * The lines of the records that pass the filter, in key order, in chunks of
 * whole lines (fresh buffers, unless @reuse), walked by @threads threads.  A worker's
 * error is thrown here; returning early (or an error) stops the workers, and
 * the walk ends when they have.
 */
export async function* parallelLines(w: ParallelWalk): AsyncGenerator<Buffer> {
  const bounds = w.bounds ?? splitKeys(w.bans);
  const buckets = bounds.length + 1;
  const control = new SharedArrayBuffer(CTL_WORDS * 4);
  const ctl = new Int32Array(control);
  const job: ScanJob = { path: w.path, filter: w.filter, targets: w.targets, chunkBytes: w.chunkBytes, bounds, control };
  const pending: (Bucket | undefined)[] = [];
  const bucket = (b: number): Bucket => (pending[b] ??= { chunks: [], done: false });
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const exits: Promise<void>[] = [];
  let running = 0;

  /** Lines held here, in bytes (mirrored in KiB for the workers). */
  let held = 0;
  const hold = (n: number): void => {
    held += n;
    Atomics.store(ctl, CTL_HELD_KB, Math.ceil(held / 1024));
    if (n < 0) Atomics.notify(ctl, CTL_HELD_KB);
  };
  const onMessage = (m: ScanMessage): void => {
    if ('error' in m) {
      const err = new Error(`ffwall: a listing thread failed: ${m.error}`);
      if (m.stack !== undefined) err.stack = `${err.message}\n${m.stack}`;
      failure ??= err;
    } else if ('chunk' in m) {
      bucket(m.b).chunks.push(Buffer.from(m.chunk.buffer, m.chunk.byteOffset, m.chunk.byteLength));
      hold(m.chunk.byteLength);
    } else bucket(m.b).done = true;
    wake?.();
  };
  for (let i = 1; i < w.threads; i++) {
    const worker = new Worker(w.workerFile, { workerData: job });
    running++;
    worker.on('message', onMessage);
    worker.on('error', (err: unknown) => {
      failure ??= err instanceof Error ? err : new Error(`ffwall: a listing thread failed: ${String((err as { message?: unknown } | null)?.message ?? err)}`);
      wake?.();
    });
    exits.push(
      new Promise<void>((resolve) =>
        worker.once('exit', (code) => {
          running--;
          if (code !== 0) failure ??= new Error(`ffwall: a listing thread exited with code ${code}`);
          wake?.();
          resolve();
        }),
      ),
    );
  }

  // Lines that go straight out, and lines held for later (each chunk its own buffer).
  const straight = new Chunker(w.chunkBytes, w.reuse === true);
  const chunker = new Chunker(w.chunkBytes, false);
  let next = 0;
  try {
    for (;;) {
      // Hand out, in key order, what is ready.
      while (next < buckets) {
        const ready = pending[next];
        if (ready === undefined) break;
        for (let c = ready.chunks.shift(); c !== undefined; c = ready.chunks.shift()) {
          hold(-c.length);
          yield c;
        }
        if (!ready.done) break;
        pending[next] = undefined;
        next++;
      }
      if (failure !== undefined) throw failure;
      if (next >= buckets) return;
      if (w.walkHere !== false && held < HELD_MAX && Atomics.load(ctl, CTL_NEXT) < buckets) {
        const b = Atomics.add(ctl, CTL_NEXT, 1);
        if (b >= buckets) continue;
        if (b === next) {
          // Nothing before it is waiting: its lines go straight out.
          yield* bucketChunks(w, bounds, b, straight);
          next++;
        } else {
          const mine = bucket(b);
          for (const c of bucketChunks(w, bounds, b, chunker)) {
            mine.chunks.push(c);
            hold(c.length);
          }
          mine.done = true;
        }
        continue;
      }
      // Waiting for a worker's bucket.
      if (running === 0) throw new Error('ffwall: the listing threads ended before their buckets were done');
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
      wake = undefined;
    }
  } finally {
    Atomics.store(ctl, CTL_STOP, 1);
    Atomics.notify(ctl, CTL_HELD_KB);
    await Promise.all(exits);
  }
}
