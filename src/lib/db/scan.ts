// SPDX-License-Identifier: MIT
//
// The walk of the records table in key order behind BanStore.listChunks()
// (NDJSON or targets): each record's line written from LMDB's bytes into a
// chunk (raw-json.ts), records of a form raw-json.ts does not know decoded
// and written through record-json.ts.  One range of keys at a time, so that
// several threads can each walk a part of one table (scan-parallel.ts).
import { keyTarget, recordJson } from '../record-json.js';
import type { Env, Table } from './lmdb.js';
import { LineWriter, lineRoom, rawFilter } from './raw-json.js';
import type { StoredRecord } from './schema.js';
import type { BanState, ListFilter } from './types.js';

/** Record keys with start <= key < end; a bound left out is the table's end. */
export interface KeyRange {
  start?: Uint8Array;
  end?: Uint8Array;
}

/**
 * Whole lines into buffers of about @chunkBytes, handed out full.  With
 * @reuse the caller is done with a chunk when it asks for the next one, so
 * the chunk handed out before the last is written into again (two buffers
 * take turns); without it each chunk is a fresh buffer, the caller's to keep.
 */
export class Chunker {
  out: Buffer;
  at = 0;
  readonly #chunkBytes: number;
  readonly #reuse: boolean;
  #spare: Buffer | undefined;

  constructor(chunkBytes: number, reuse: boolean) {
    this.#chunkBytes = chunkBytes;
    this.#reuse = reuse;
    this.out = Buffer.allocUnsafe(chunkBytes + 4096);
  }

  /** Room for @need more bytes at `at`: when the chunk has not, it is handed out (returned) and a fresh one begun. */
  room(need: number): Buffer | undefined {
    if (this.at + need <= this.out.length) return undefined;
    const full = this.at > 0 ? this.out.subarray(0, this.at) : undefined;
    const size = Math.max(this.#chunkBytes, need) + 4096;
    const old = this.out;
    this.out = this.#spare !== undefined && this.#spare.length >= size ? this.#spare : Buffer.allocUnsafe(size);
    // A short chunk may sit in a stream's queue without back-pressure: its buffer is not taken again.
    this.#spare = this.#reuse && this.at >= Math.min(256 * 1024, this.#chunkBytes / 2) ? old : undefined;
    this.at = 0;
    return full;
  }

  /** A line made as a string (the slow path): written at `at`; the chunk handed out when it had no room. */
  line(text: string): Buffer | undefined {
    const full = this.room(Buffer.byteLength(text, 'utf8'));
    this.at += this.out.write(text, this.at, 'utf8');
    return full;
  }

  /**
   * The lines not yet handed out (the last, partly filled chunk), or
   * undefined; the chunker starts empty again in the same buffer, so the
   * lines are valid only until the next write: a caller that keeps them
   * copies them (usually far fewer bytes than the buffer).
   */
  drain(): Buffer | undefined {
    if (this.at === 0) return undefined;
    const last = this.out.subarray(0, this.at);
    this.at = 0;
    return last;
  }
}

/** The states a filter allows, or undefined for any; a bad port is a RangeError. */
export function filterStates(filter: ListFilter): Set<BanState> | undefined {
  if (filter.port !== undefined && (!Number.isInteger(filter.port) || filter.port < 1 || filter.port > 65535)) throw new RangeError('port must be 1..65535');
  return filter.state === undefined ? undefined : new Set<BanState>(typeof filter.state === 'string' ? [filter.state] : filter.state);
}

/** The test of a decoded record against @filter. */
export function recordMatcher(filter: ListFilter, states: Set<BanState> | undefined): (r: StoredRecord) => boolean {
  return (r) =>
    (states === undefined || states.has(r.state)) &&
    (filter.source === undefined || r.source === filter.source) &&
    (filter.tag === undefined || r.tag === filter.tag) &&
    (filter.port === undefined || r.ports.length === 0 || r.ports.includes(filter.port)) &&
    (filter.reason === undefined || (typeof filter.reason === 'string' ? r.reason.includes(filter.reason) : filter.reason.test(r.reason)));
}

/** The line of a decoded record: its target alone (@targets) or its BanRecordInfo as JSON. */
export function slowLine(key: Uint8Array, r: Readonly<StoredRecord>, targets: boolean): string {
  return targets ? `${keyTarget(key)}\n` : `${recordJson(key, r)}\n`;
}

/**
 * The lines of the records of @range that pass @filter, in key order, into
 * @chunker: yields each chunk it fills (the lines of its last, partly filled
 * chunk stay in the chunker: drain()).  At most @limit records.  @bans is the
 * records table (msgpack), for records raw-json.ts does not know.
 */
export function* walkLines(env: Env, bans: Table<StoredRecord>, filter: ListFilter, targets: boolean, range: KeyRange, chunker: Chunker, limit = Infinity): Generator<Buffer> {
  if (limit <= 0) return;
  const matches = recordMatcher(filter, filterStates(filter));
  const writer = new LineWriter(rawFilter(filter), targets);
  const c = env.cursor('bans', range);
  let n = 0;
  try {
    while (c.next()) {
      const full = chunker.room(lineRoom(c.valueLength));
      const next = writer.write(c.key, c.keyLength, c.value, c.valueLength, chunker.out, chunker.at);
      if (full !== undefined) yield full;
      if (next === -1) continue;
      if (next >= 0) chunker.at = next;
      else {
        const key = Buffer.from(c.key.subarray(0, c.keyLength));
        const r = bans.get(key);
        if (r === undefined || !matches(r)) continue;
        const more = chunker.line(slowLine(key, r, targets));
        if (more !== undefined) yield more;
      }
      if (++n >= limit) break;
    }
  } finally {
    c.close();
  }
}
