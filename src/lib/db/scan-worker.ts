// SPDX-License-Identifier: MIT
//
// A worker of a listing walked by several threads (scan-parallel.ts): claims
// buckets from the shared counter until none is left, and posts each
// bucket's lines (copies of their size, transferred) and then its end.  It
// shares the parent's LMDB environment (lmdb-js opens it once per process)
// and closes its handle when done.
import { parentPort, workerData } from 'node:worker_threads';

import { openEnv, type Env } from './lmdb.js';
import { Chunker, walkLines } from './scan.js';
import { bucketRange, CTL_HELD_KB, CTL_NEXT, CTL_STOP, HELD_MAX_KB, type ScanJob, type ScanMessage } from './scan-parallel.js';
import type { StoredRecord } from './schema.js';

const job = workerData as ScanJob;
const port = parentPort;
if (port === null) throw new Error('scan-worker.js runs as a worker thread only');
const ctl = new Int32Array(job.control);
const buckets = job.bounds.length + 1;

function post(m: ScanMessage, transfer: ArrayBuffer[] = []): void {
  (port as NonNullable<typeof port>).postMessage(m, transfer);
}

/** Bucket @b's lines, copied to a buffer of their size and handed over (not copied again). */
function send(b: number, lines: Uint8Array): void {
  const copy = new Uint8Array(lines.length);
  copy.set(lines);
  post({ b, chunk: copy }, [copy.buffer]);
}

let env: Env | undefined;
try {
  env = openEnv({ path: job.path, readOnly: true });
  const bans = env.table<StoredRecord>('bans');
  // Chunks are copied before they are posted, so one buffer serves the whole walk.
  const chunker = new Chunker(job.chunkBytes, true);
  for (;;) {
    // Wait while the parent holds too much (its reader is slower than the walk).
    for (let kb = Atomics.load(ctl, CTL_HELD_KB); kb > HELD_MAX_KB && Atomics.load(ctl, CTL_STOP) === 0; kb = Atomics.load(ctl, CTL_HELD_KB)) {
      Atomics.wait(ctl, CTL_HELD_KB, kb, 100);
    }
    if (Atomics.load(ctl, CTL_STOP) !== 0) break;
    const b = Atomics.add(ctl, CTL_NEXT, 1);
    if (b >= buckets) break;
    for (const full of walkLines(env, bans, job.filter, job.targets, bucketRange(job.bounds, b), chunker)) send(b, full);
    const last = chunker.drain();
    if (last !== undefined) send(b, last);
    post({ b, done: true });
  }
} catch (err) {
  post(err instanceof Error ? { error: err.message, ...(err.stack === undefined ? {} : { stack: err.stack }) } : { error: String(err) });
} finally {
  await env?.close();
}
