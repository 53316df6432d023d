// SPDX-License-Identifier: MIT
//
// The only file that imports lmdb.  It opens one LMDB environment with the
// named sub-databases the store needs and hands them out behind a small,
// typed interface (Table), so the rest of src/lib/db never sees lmdb-js and
// the binding could be swapped without touching the store.
//
// Every write the store makes goes through Env.write(), which is one
// synchronous LMDB write transaction (lmdb-js transactionSync): LMDB's
// writer lock is held across processes for its duration, so a
// read-modify-write inside it cannot lose an update to another process, and
// the commit is flushed to disk before write() returns.
import { mkdirSync } from 'node:fs';

import { open, type Database, type RootDatabase } from 'lmdb';

/** Binary keys (Buffer/Uint8Array), values of type V. */
export interface Table<V> {
  get(key: Uint8Array): V | undefined;
  /** Inside Env.write() only. */
  put(key: Uint8Array, value: V): void;
  /** Inside Env.write() only; true when the key existed. */
  remove(key: Uint8Array): boolean;
  /**
   * Entries with start <= key < end (end inclusive when @inclusiveEnd),
   * lazily, in key order (reverse when asked); at most @limit.
   */
  range(options: RangeQuery): Iterable<{ key: Buffer; value: V }>;
  /** Keys only (cheaper: values are not decoded). */
  keys(options: RangeQuery): Iterable<Buffer>;
  /** Entries in the table (O(1), from LMDB's own statistics). */
  entries(): number;
}

export interface RangeQuery {
  start?: Uint8Array;
  end?: Uint8Array;
  inclusiveEnd?: boolean;
  reverse?: boolean;
  limit?: number;
}

export interface EnvOptions {
  /** Directory of the environment (created when missing). */
  path: string;
  /** Upper bound of the map; the file grows up to it.  Default 64 GiB (address space only). */
  mapSize?: number;
  /**
   * Skip the fsync at commit (tests and throwaway databases only: a crash may
   * lose commits; and with two writing processes lmdb-js was seen to lose a
   * committed transaction now and then, see StoreOptions.noSync).
   */
  noSync?: boolean;
  readOnly?: boolean;
}

/** Named sub-databases: record values are msgpack, index values are empty. */
export interface Env {
  /** A msgpack table (records, the meta table, the allowlist, history). */
  table<V>(name: string): Table<V>;
  /** A table whose values are raw bytes (indexes: the key is the whole datum). */
  index(name: string): Table<Uint8Array>;
  /** A msgpack table read as raw bytes (for decoders of whole-table scans); read it only. */
  raw(name: string): Pick<Table<Buffer>, 'range'>;
  /** One synchronous write transaction across every table; what @fn returns is returned. */
  write<T>(fn: () => T): T;
  /** A fresh read snapshot for the reads that follow (after another process committed). */
  refresh(): void;
  close(): Promise<void>;
  readonly path: string;
}

const EMPTY = Buffer.alloc(0);

function wrap<V>(db: Database<V, Uint8Array>): Table<V> {
  const q = (o: RangeQuery): Record<string, unknown> => {
    const r: Record<string, unknown> = {};
    if (o.start !== undefined) r.start = Buffer.from(o.start.buffer, o.start.byteOffset, o.start.byteLength);
    if (o.end !== undefined) r.end = Buffer.from(o.end.buffer, o.end.byteOffset, o.end.byteLength);
    if (o.inclusiveEnd === true) r.inclusiveEnd = true;
    if (o.reverse === true) r.reverse = true;
    if (o.limit !== undefined) r.limit = o.limit;
    return r;
  };
  return {
    get: (key) => db.get(key),
    put: (key, value) => {
      db.putSync(key, value);
    },
    remove: (key) => db.removeSync(key),
    range: (o) => db.getRange(q(o)) as unknown as Iterable<{ key: Buffer; value: V }>,
    keys: (o) => db.getKeys(q(o)) as unknown as Iterable<Buffer>,
    entries: () => (db.getStats() as { entryCount?: number }).entryCount ?? 0,
  };
}

export function openEnv(options: EnvOptions): Env {
  if (options.readOnly !== true) mkdirSync(options.path, { recursive: true });
  const root: RootDatabase = open({
    path: options.path,
    // Always a directory, whatever its name: lmdb-js would treat a name
    // with an extension ("bans.lmdb") as a single file.
    noSubdir: false,
    maxDbs: 32,
    mapSize: options.mapSize ?? 64 * 1024 ** 3,
    noSync: options.noSync === true,
    readOnly: options.readOnly === true,
  });
  const tables = new Map<string, Table<unknown>>();
  return {
    path: options.path,
    table<V>(name: string): Table<V> {
      let t = tables.get(name);
      if (t === undefined) {
        // useRecords false: plain msgpack maps, readable by any msgpack decoder
        // and independent of lmdb-js's shared-structure bookkeeping.
        t = wrap(root.openDB<unknown, Uint8Array>(name, { keyEncoding: 'binary', encoding: 'msgpack', useRecords: false } as never));
        tables.set(name, t);
      }
      return t as Table<V>;
    },
    index(name: string): Table<Uint8Array> {
      let t = tables.get(name);
      if (t === undefined) {
        const db = root.openDB<Uint8Array, Uint8Array>(name, { keyEncoding: 'binary', encoding: 'binary' });
        const w = wrap(db);
        t = { ...w, put: (key: Uint8Array, value: Uint8Array) => w.put(key, value.length === 0 ? EMPTY : value) } as Table<unknown>;
        tables.set(name, t);
      }
      return t as Table<Uint8Array>;
    },
    raw(name: string): Pick<Table<Buffer>, 'range'> {
      const db = root.openDB<Buffer, Uint8Array>(name, { keyEncoding: 'binary', encoding: 'binary' });
      return { range: wrap(db).range };
    },
    write<T>(fn: () => T): T {
      return root.transactionSync(fn);
    },
    refresh(): void {
      root.resetReadTxn();
    },
    close: () => root.close(),
  };
}
