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

import { asBinary, open, type Database, type RootDatabase } from 'lmdb';

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

/** A msgpack table (Env.table()): also takes values it encoded before, as bytes. */
export interface ValueTable<V> extends Table<V> {
  /** The bytes put() stores for @value (a buffer of their own). */
  encode(value: unknown): Buffer;
  /**
   * Inside Env.write() only: stores @bytes as the value, as they are (bytes
   * from encode(), or a map composed of its parts).  LMDB copies them before
   * this returns, so the caller may reuse the buffer.
   */
  putEncoded(key: Uint8Array, bytes: Uint8Array): void;
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
  table<V>(name: string): ValueTable<V>;
  /** A table whose values are raw bytes (indexes: the key is the whole datum). */
  index(name: string): Table<Uint8Array>;
  /** A msgpack table read as raw bytes (for decoders of whole-table scans); read it only. */
  raw(name: string): Pick<Table<Buffer>, 'range'>;
  /**
   * A table read in key order without a copy of its keys or values: each
   * next() moves to the following entry and exposes its bytes, which stay
   * valid only until the next read of any table.
   */
  cursor(name: string, options: RangeQuery): RawCursor;
  /** One synchronous write transaction across every table; what @fn returns is returned. */
  write<T>(fn: () => T): T;
  /** A fresh read snapshot for the reads that follow (after another process committed). */
  refresh(): void;
  close(): Promise<void>;
  readonly path: string;
}

/** Env.cursor(): the current entry, overwritten by each next(). */
export interface RawCursor {
  /** Moves to the next entry; false at the end. */
  next(): boolean;
  /** The key is key[0, keyLength) (a buffer shared by the cursors of the Env). */
  readonly key: Buffer;
  keyLength: number;
  /** The value is value[0, valueLength) (a buffer lmdb-js reuses). */
  value: Uint8Array;
  valueLength: number;
  /** Ends the walk early (its read transaction is released); next() is then false. */
  close(): void;
}

const EMPTY = Buffer.alloc(0);

/** The most keys lmdb-js hands out (its maxKeySize). */
const MAX_KEY = 1978;

/** lmdb-js's range options of a RangeQuery. */
function q(o: RangeQuery): Record<string, unknown> {
  const r: Record<string, unknown> = {};
  if (o.start !== undefined) r.start = Buffer.from(o.start.buffer, o.start.byteOffset, o.start.byteLength);
  if (o.end !== undefined) r.end = Buffer.from(o.end.buffer, o.end.byteOffset, o.end.byteLength);
  if (o.inclusiveEnd === true) r.inclusiveEnd = true;
  if (o.reverse === true) r.reverse = true;
  if (o.limit !== undefined) r.limit = o.limit;
  return r;
}

function wrap<V>(db: Database<V, Uint8Array>): Table<V> {
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
  // cursor(): one database handle per table whose decoder only records where
  // the value is (lmdb-js hands a decoder its reused read buffer, uncopied:
  // decoderCopies), and whose readKey copies the key into one scratch
  // buffer instead of allocating one per entry.  Both run inside the
  // iterator's next(), which the cursor calls synchronously.
  const scanKey = Buffer.alloc(MAX_KEY + 32);
  let scanKeyLength = 0;
  let scanValue: Uint8Array = EMPTY;
  let scanValueLength = 0;
  const scanned = new Map<string, Database<unknown, Uint8Array>>();
  const scanDb = (name: string): Database<unknown, Uint8Array> => {
    let db = scanned.get(name);
    if (db === undefined) {
      const decoder = {
        decode(bytes: Uint8Array, size?: number): boolean {
          scanValue = bytes;
          scanValueLength = size ?? bytes.length;
          return true;
        },
        encode(): never {
          throw new Error('ffwall: a scan handle is read-only');
        },
      };
      db = root.openDB<unknown, Uint8Array>(name, { keyEncoding: 'binary', encoder: decoder } as never);
      (db as unknown as { readKey: (b: Uint8Array, start: number, end: number) => Buffer }).readKey = (b, start, end) => {
        const n = end - start;
        for (let i = 0; i < n; i++) scanKey[i] = b[start + i] as number;
        scanKeyLength = n;
        return scanKey;
      };
      scanned.set(name, db);
    }
    return db;
  };
  return {
    path: options.path,
    table<V>(name: string): ValueTable<V> {
      let t = tables.get(name);
      if (t === undefined) {
        // useRecords false: plain msgpack maps, readable by any msgpack decoder
        // and independent of lmdb-js's shared-structure bookkeeping.
        const db = root.openDB<unknown, Uint8Array>(name, { keyEncoding: 'binary', encoding: 'msgpack', useRecords: false } as never);
        const encoder = (db as unknown as { encoder: { encode(v: unknown): Uint8Array } }).encoder;
        const vt: ValueTable<unknown> = {
          ...wrap(db),
          // A copy: the encoder hands out a view of a buffer it writes again.
          encode: (value) => Buffer.from(encoder.encode(value)),
          putEncoded: (key, bytes) => {
            db.putSync(key, asBinary(bytes) as never);
          },
        };
        t = vt;
        tables.set(name, t);
      }
      return t as ValueTable<V>;
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
    cursor(name: string, options: RangeQuery): RawCursor {
      const it = (scanDb(name).getRange(q(options)) as unknown as Iterable<unknown>)[Symbol.iterator]();
      let open = true;
      const c: RawCursor = {
        key: scanKey,
        keyLength: 0,
        value: EMPTY,
        valueLength: 0,
        next(): boolean {
          if (!open) return false;
          if (it.next().done === true) {
            open = false;
            return false;
          }
          c.keyLength = scanKeyLength;
          c.value = scanValue;
          c.valueLength = scanValueLength;
          return true;
        },
        close(): void {
          if (!open) return;
          open = false;
          it.return?.();
        },
      };
      return c;
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
