// SPDX-License-Identifier: MIT
//
// BanStore: the LMDB database of every ban ffwall ever made (issue 7).
// docs/DESIGN-db.md describes the layout and the rules; keys.ts the byte
// layouts.  Every change is one synchronous LMDB write transaction that
// updates the record, its indexes, the per-state counters and the history
// together, so an index never disagrees with its record and two processes
// never lose each other's updates.  Reads are lazy iterators: nothing here
// loads the whole database into memory.
import { Readable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';

import { IpPrefix, toPrefix } from '../addr.js';
import { PrefixRanges } from '../prefix-ranges.js';
import { normalizePorts } from '../validate.js';
import { HistoryWriter, ValueMemo } from './encode.js';
import { afterPrefix, supernetKey, expiryBound, expiryKey, historyByRecordKey, historyKey, hotKey, keyRangeInside, KEY_BYTES, prefixOfKey, readU64, recordKey, sourceKey, sourcePrefix } from './keys.js';
import { openEnv, type Env, type Table, type ValueTable } from './lmdb.js';
import { decodeRecord, scratchRecord } from './raw-record.js';
import { Chunker, filterStates, recordMatcher, slowLine, walkLines } from './scan.js';
import { defaultThreads, parallelLines, scanWorkerFile } from './scan-parallel.js';
import { isV2Record, recordV1toV2, SCHEMA_VERSION, SchemaError, type StoredRecord, type StoredRecordV1 } from './schema.js';
import {
  BAN_SOURCES,
  BAN_STATES,
  type AggregationConfig,
  type AggregationDecision,
  type AllowEntry,
  type AllowQuery,
  type BanInput,
  type BanRecord,
  type BanResult,
  type BanSource,
  type BanState,
  type BulkOptions,
  type BulkResult,
  type EscalationConfig,
  type HistoryEvent,
  type HistoryEventType,
  type HistoryRetention,
  type HitSyncResult,
  type HitUpdate,
  type ListChunkOptions,
  type ListFilter,
  type StoreOptions,
  type SweepResult,
} from './types.js';

const DAY = 86400;
/** The value of every index entry (never written to: LMDB copies it). */
const EMPTY = Buffer.alloc(0);

export const DEFAULT_ESCALATION: EscalationConfig = { enabled: true, baseTtl: DAY, factor: 2, maxTtl: 180 * DAY };
export const DEFAULT_AGGREGATION: AggregationConfig = { enabled: true, sources: ['policy', 'logwatch', 'haraka'], hostPrefix: 64, parentPrefix: 48, threshold: 3 };
export const DEFAULT_RETENTION: HistoryRetention = { maxAge: 365 * DAY * 1000, maxCount: 10_000_000 };

/** A ban refused because an allowlisted prefix covers it. */
export class AllowlistedError extends Error {
  readonly code = 'EFFWALLALLOWED';
  constructor(
    readonly prefix: IpPrefix,
    readonly allowed: AllowEntry,
  ) {
    super(`refusing to ban ${prefix.toString()}: it is inside the allowlisted ${allowed.prefix.toString()}${allowed.reason === '' ? '' : ` (${allowed.reason})`}; remove the allowlist entry first`);
    this.name = 'AllowlistedError';
  }
}

interface StoredAllow {
  reason: string;
  addedAt: number;
}

interface StoredHistory {
  type: HistoryEventType;
  key: Uint8Array;
  details: Record<string, unknown>;
}

const META = {
  schema: Buffer.from('schema'),
  createdAt: Buffer.from('createdAt'),
  historySeq: Buffer.from('history.seq'),
  historyCount: Buffer.from('history.count'),
  allowLengths: Buffer.from('allow.lengths'),
  /** Schema 4: the records per key length (the key's byte 16), as flat [length, count, ...] pairs in increasing length, counts > 0 only. */
  banLengths: Buffer.from('ban.lengths'),
  count: (s: BanState) => Buffer.from(`count.${s}`),
} as const;

const isActive = (r: StoredRecord | undefined): r is StoredRecord => r !== undefined && r.state !== 'expired';

/** Allowlist covers asked in one transaction before it screens them by ranges (TxState.allowScreen()). */
const ALLOW_SCREEN_AFTER = 64;
/** Longest allowlist that a transaction reads into ranges. */
const ALLOW_SCREEN_MAX = 65_536;

/** What one write transaction accumulates before it writes the meta counters once. */
class TxState {
  readonly counts: Record<BanState, number> = { kernel: 0, cold: 0, expired: 0 };
  historyDelta = 0;
  #seq: number | undefined;
  #allowLengths: number[] | undefined;
  /** allowScreen(): the ranges, null when the allowlist is too long for them, undefined until built. */
  #allowScreen: PrefixRanges | null | undefined;
  #allowChecks = 0;
  /** Records added (+) and removed (-) per key length in this transaction; undefined while none. */
  #lengthDelta: Int32Array | undefined;
  constructor(private readonly meta: Table<unknown>) {}
  /** A record of key length @len (0..128) was created (+1) or deleted (-1). */
  lengthChanged(len: number, d: number): void {
    this.#lengthDelta ??= new Int32Array(129);
    this.#lengthDelta[len] = (this.#lengthDelta[len] as number) + d;
  }
  nextSeq(): number {
    this.#seq = (this.#seq ?? ((this.meta.get(META.historySeq) as number | undefined) ?? 0)) + 1;
    return this.#seq;
  }
  allowLengths(): number[] {
    this.#allowLengths ??= (this.meta.get(META.allowLengths) as number[] | undefined) ?? [];
    return this.#allowLengths;
  }
  setAllowLengths(l: number[]): void {
    this.#allowLengths = l;
    this.meta.put(META.allowLengths, l);
  }
  /**
   * The allowlist as ranges (PrefixRanges), once this transaction has asked
   * for its cover ALLOW_SCREEN_AFTER times and while it holds at most
   * ALLOW_SCREEN_MAX entries (@size, @prefixes read it): a batch of 10,000
   * bans then screens each against it instead of one read per length in use.
   */
  allowScreen(size: () => number, prefixes: () => Iterable<IpPrefix>): PrefixRanges | undefined {
    if (this.#allowScreen !== undefined) return this.#allowScreen ?? undefined;
    if (++this.#allowChecks < ALLOW_SCREEN_AFTER) return undefined;
    this.#allowScreen = size() <= ALLOW_SCREEN_MAX ? new PrefixRanges(prefixes()) : null;
    return this.#allowScreen ?? undefined;
  }
  /** The allowlist changed in this transaction: the screen is built again if asked for. */
  allowChanged(): void {
    this.#allowScreen = undefined;
    this.#allowChecks = 0;
  }
  flush(): void {
    if (this.#lengthDelta !== undefined) {
      const counts = lengthCounts(this.meta.get(META.banLengths));
      for (let len = 0; len <= 128; len++) counts[len] = (counts[len] as number) + (this.#lengthDelta[len] as number);
      this.meta.put(META.banLengths, packLengths(counts));
    }
    if (this.#seq !== undefined) this.meta.put(META.historySeq, this.#seq);
    if (this.historyDelta !== 0) this.meta.put(META.historyCount, ((this.meta.get(META.historyCount) as number | undefined) ?? 0) + this.historyDelta);
    for (const s of BAN_STATES) {
      if (this.counts[s] !== 0) this.meta.put(META.count(s), ((this.meta.get(META.count(s)) as number | undefined) ?? 0) + this.counts[s]);
    }
  }
}

/** The record counts per key length (129 slots) of a stored ban.lengths value (all zero when absent). */
function lengthCounts(stored: unknown): Float64Array {
  const counts = new Float64Array(129);
  if (Array.isArray(stored)) {
    for (let i = 0; i + 1 < stored.length; i += 2) {
      const len = stored[i] as unknown;
      const n = stored[i + 1] as unknown;
      if (typeof len === 'number' && Number.isInteger(len) && len >= 0 && len <= 128 && typeof n === 'number') counts[len] = n;
    }
  }
  return counts;
}

/** Which key lengths hold records (129 slots), from a stored ban.lengths value; undefined (probe every length) when absent. */
function lengthsInUse(stored: unknown): Uint8Array | undefined {
  if (!Array.isArray(stored)) return undefined;
  const inUse = new Uint8Array(129);
  for (let i = 0; i + 1 < stored.length; i += 2) {
    const len = stored[i] as unknown;
    if (typeof len === 'number' && len >= 0 && len <= 128 && (stored[i + 1] as number) > 0) inUse[len] = 1;
  }
  return inUse;
}

/** The stored form of per-length counts: [length, count, ...] for the lengths in use. */
function packLengths(counts: Float64Array): number[] {
  const out: number[] = [];
  for (let len = 0; len <= 128; len++) {
    const n = counts[len] as number;
    if (n > 0) out.push(len, n);
  }
  return out;
}

function toRecord(key: Uint8Array, r: StoredRecord, prefix?: IpPrefix): BanRecord {
  return { prefix: prefix ?? prefixOfKey(key), ...r, ports: [...r.ports] };
}

function checkSource(s: unknown): BanSource {
  if (typeof s !== 'string' || !(BAN_SOURCES as readonly string[]).includes(s)) throw new TypeError(`source must be one of ${BAN_SOURCES.join(', ')}, got ${String(s)}`);
  return s as BanSource;
}

function checkTtl(ttl: unknown): number | undefined {
  if (ttl === undefined) return undefined;
  if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 0 || ttl > 0x7fffffff) throw new RangeError(`ttl must be an integer number of seconds 0..${0x7fffffff}, got ${String(ttl)}`);
  return ttl;
}

/** Refuses a bad configuration before anything touches the disk. */
function checkConfig(options: StoreOptions): void {
  if (typeof options !== 'object' || options === null || typeof options.path !== 'string' || options.path === '') throw new TypeError('BanStore.open: options.path must be a directory path');
  const e = { ...DEFAULT_ESCALATION, ...options.escalation };
  if (!(e.baseTtl > 0 && e.factor >= 1 && e.maxTtl >= e.baseTtl)) throw new RangeError('escalation: need baseTtl > 0, factor >= 1, maxTtl >= baseTtl');
  const a = { ...DEFAULT_AGGREGATION, ...options.aggregation };
  if (!(Number.isInteger(a.hostPrefix) && Number.isInteger(a.parentPrefix) && a.hostPrefix <= 128 && a.parentPrefix > 0 && a.parentPrefix < a.hostPrefix && Number.isInteger(a.threshold) && a.threshold >= 1)) {
    throw new RangeError('aggregation: need integers 0 < parentPrefix < hostPrefix <= 128 and a threshold >= 1');
  }
  const h = options.history;
  if (h !== undefined && ((h.maxAge !== undefined && !(h.maxAge >= 0)) || (h.maxCount !== undefined && !(Number.isInteger(h.maxCount) && h.maxCount >= 0)))) {
    throw new RangeError('history: maxAge (ms) and maxCount must be non-negative');
  }
}

export class BanStore {
  /** Replaced as a whole by reconfigure() (the daemon's SIGHUP). */
  escalation: EscalationConfig;
  aggregation: AggregationConfig;
  retention: HistoryRetention;
  readonly path: string;
  readonly #env: Env;
  readonly #now: () => number;
  readonly #meta: Table<unknown>;
  readonly #bans: ValueTable<StoredRecord>;
  /** Puts of records: the bans of one import share one encoding (encode.ts). */
  readonly #records: ValueMemo<StoredRecord>;
  /** The records table as raw bytes, for whole-table scans (raw-record.ts decodes them). */
  readonly #bansRaw: Pick<Table<Buffer>, 'range'>;
  readonly #expiry: Table<Uint8Array>;
  readonly #hot: Table<Uint8Array>;
  readonly #source: Table<Uint8Array>;
  /** Keys of the records in state 'kernel' (schema 3). */
  readonly #inKernel: Table<Uint8Array>;
  /** Keys of the active pinned records (schema 3). */
  readonly #pinned: Table<Uint8Array>;
  readonly #history: ValueTable<StoredHistory>;
  /** Puts of history events, composed of their parts (encode.ts). */
  readonly #events: HistoryWriter;
  readonly #historyByRecord: Table<Uint8Array>;
  readonly #allow: Table<StoredAllow>;
  /** Keys that go straight to a put (LMDB copies them): one buffer each, not one per put. */
  readonly #scratch = {
    expiry: Buffer.alloc(8 + KEY_BYTES),
    history: Buffer.alloc(16),
    historyByRecord: Buffer.alloc(KEY_BYTES + 16),
  };
  #closed = false;

  private constructor(env: Env, options: StoreOptions) {
    this.#env = env;
    this.path = options.path;
    this.#now = options.now ?? Date.now;
    this.escalation = { ...DEFAULT_ESCALATION, ...options.escalation };
    this.aggregation = { ...DEFAULT_AGGREGATION, ...options.aggregation };
    this.retention = options.history ?? DEFAULT_RETENTION;
    this.#meta = env.table('meta');
    this.#bans = env.table('bans');
    this.#records = new ValueMemo(this.#bans);
    this.#bansRaw = env.raw('bans');
    this.#expiry = env.index('expiry');
    this.#hot = env.index('hot');
    this.#source = env.index('source');
    this.#inKernel = env.index('inKernel');
    this.#pinned = env.index('pinned');
    this.#history = env.table('history');
    this.#events = new HistoryWriter(this.#history);
    this.#historyByRecord = env.index('historyByRecord');
    this.#allow = env.table('allow');
  }

  /**
   * Opens (creating when missing) the database in the directory options.path,
   * migrating an older schema forward.  A newer schema throws SchemaError.
   */
  /** Changes the escalation, aggregation and history retention of an open store (checked as at open; all or nothing). */
  reconfigure(options: Pick<StoreOptions, 'escalation' | 'aggregation' | 'history'>): void {
    checkConfig({ ...options, path: this.path });
    this.escalation = { ...DEFAULT_ESCALATION, ...options.escalation };
    this.aggregation = { ...DEFAULT_AGGREGATION, ...options.aggregation };
    this.retention = options.history ?? DEFAULT_RETENTION;
  }

  static open(options: StoreOptions): BanStore {
    checkConfig(options);
    const env = openEnv({ path: options.path, noSync: options.noSync === true, ...(options.mapSize === undefined ? {} : { mapSize: options.mapSize }) });
    let store: BanStore;
    try {
      store = new BanStore(env, options);
      store.#prepareSchema();
    } catch (err) {
      void env.close();
      throw err;
    }
    return store;
  }

  /** The schema version the database is at (SCHEMA_VERSION once open). */
  get schemaVersion(): number {
    return (this.#meta.get(META.schema) as number | undefined) ?? 0;
  }

  #prepareSchema(): void {
    const found = this.#env.write(() => {
      const v = this.#meta.get(META.schema) as number | undefined;
      if (v === undefined) {
        if (this.#bans.entries() !== 0) return 1; // schema 1 always wrote its version; be safe anyway
        this.#meta.put(META.schema, SCHEMA_VERSION);
        this.#meta.put(META.createdAt, this.#now());
        this.#meta.put(META.banLengths, []);
        return SCHEMA_VERSION;
      }
      return v;
    });
    if (!Number.isInteger(found) || found < 1) throw new SchemaError(this.path, found, SCHEMA_VERSION);
    if (found > SCHEMA_VERSION) throw new SchemaError(this.path, found, SCHEMA_VERSION);
    if (found === 1) this.#migrateV1toV2();
    if (found <= 2) this.#migrateV2toV3();
    if (found <= 3) this.#migrateV3toV4();
  }

  /**
   * Schema 3 -> 4: the record counts per key length ('ban.lengths' in meta),
   * counted over the keys in one write transaction with the new version, so
   * that the counts and the writers that keep them (#save) start together;
   * a migration cut short left nothing and runs again.
   */
  #migrateV3toV4(): void {
    this.#env.write(() => {
      if (((this.#meta.get(META.schema) as number | undefined) ?? 0) >= 4) return; // another process did it
      const counts = new Float64Array(129);
      for (const key of this.#bans.keys({})) counts[key[16] as number] = (counts[key[16] as number] as number) + 1;
      this.#meta.put(META.banLengths, packLengths(counts));
      this.#meta.put(META.schema, 4);
    });
  }

  /**
   * Runs @each over every record in batches of 10k, one write transaction
   * per batch, then raises the schema to @to.  A migration cut short resumes
   * by running again: @each must leave a record already converted alone.
   */
  #migrate(to: number, each: (key: Buffer, value: StoredRecord, tx: TxState) => void): void {
    let cursor: Buffer | undefined;
    for (;;) {
      const done = this.#env.write(() => {
        const tx = new TxState(this.#meta);
        let n = 0;
        let last: Buffer | undefined;
        const batch = [...this.#bans.range({ ...(cursor === undefined ? {} : { start: cursor }), limit: 10_000 })];
        for (const { key, value } of batch) {
          last = Buffer.from(key);
          if (cursor !== undefined && key.equals(cursor)) continue;
          n++;
          each(key, value, tx);
        }
        tx.flush();
        cursor = last;
        if (n === 0) {
          this.#meta.put(META.schema, to);
          return true;
        }
        return false;
      });
      if (done) return;
    }
  }

  /** Schema 2 -> 3: the 'inKernel' and 'pinned' key indexes. */
  #migrateV2toV3(): void {
    this.#migrate(3, (key, value) => {
      if (value.state === 'kernel') this.#inKernel.put(key, Buffer.alloc(0));
      if (value.pinned && isActive(value)) this.#pinned.put(key, Buffer.alloc(0));
    });
  }

  /** Schema 1 -> 2 (see schema.ts). */
  #migrateV1toV2(): void {
    this.#migrate(2, (key, value, tx) => {
      if (isV2Record(value)) return;
      const r = recordV1toV2(value as unknown as StoredRecordV1);
      this.#bans.put(key, r);
      // The expiry index kept its layout; the new indexes and counters are built.
      if (isActive(r)) this.#hot.put(hotKey(r.lastHit, r.lastSeen, key), Buffer.alloc(0));
      this.#source.put(sourceKey(r.source, r.tag, key), Buffer.alloc(0));
      tx.counts[r.state]++;
    });
  }

  /** One write transaction with its accumulated meta updates. */
  #tx<T>(fn: (tx: TxState) => T): T {
    if (this.#closed) throw new Error('BanStore is closed');
    return this.#env.write(() => {
      const tx = new TxState(this.#meta);
      const r = fn(tx);
      tx.flush();
      return r;
    });
  }

  /** Writes @next over @old (either may be undefined), keeping every index and counter in step. */
  #save(tx: TxState, key: Buffer, old: StoredRecord | undefined, next: StoredRecord | undefined): void {
    const empty = EMPTY;
    const oldExp = isActive(old) && old.expires !== null ? old.expires : undefined;
    const newExp = isActive(next) && next.expires !== null ? next.expires : undefined;
    if (oldExp !== newExp) {
      if (oldExp !== undefined) this.#expiry.remove(expiryKey(oldExp, key));
      if (newExp !== undefined) this.#expiry.put(expiryKey(newExp, key, this.#scratch.expiry), empty);
    }
    const oldHot = isActive(old) ? hotKey(old.lastHit, old.lastSeen, key) : undefined;
    const newHot = isActive(next) ? hotKey(next.lastHit, next.lastSeen, key) : undefined;
    if (oldHot === undefined || newHot === undefined || !oldHot.equals(newHot)) {
      if (oldHot !== undefined) this.#hot.remove(oldHot);
      if (newHot !== undefined) this.#hot.put(newHot, empty);
    }
    if (old === undefined || next === undefined || old.source !== next.source || old.tag !== next.tag) {
      if (old !== undefined) this.#source.remove(sourceKey(old.source, old.tag, key));
      if (next !== undefined) this.#source.put(sourceKey(next.source, next.tag, key), empty);
    }
    if ((old?.state === 'kernel') !== (next?.state === 'kernel')) {
      if (next?.state === 'kernel') this.#inKernel.put(key, empty);
      else this.#inKernel.remove(key);
    }
    const oldPinned = isActive(old) && old.pinned;
    const newPinned = isActive(next) && next.pinned;
    if (oldPinned !== newPinned) {
      if (newPinned) this.#pinned.put(key, empty);
      else this.#pinned.remove(key);
    }
    if (old !== undefined) tx.counts[old.state]--;
    if ((old === undefined) !== (next === undefined)) tx.lengthChanged(key[16] as number, next === undefined ? -1 : 1);
    if (next !== undefined) {
      tx.counts[next.state]++;
      this.#records.put(key, next);
    } else {
      this.#bans.remove(key);
    }
  }

  #log(tx: TxState, time: number, type: HistoryEventType, key: Buffer, details: Record<string, unknown>): void {
    const seq = tx.nextSeq();
    this.#events.put(historyKey(time, seq, this.#scratch.history), { type, key, details });
    this.#historyByRecord.put(historyByRecordKey(key, time, seq, this.#scratch.historyByRecord), EMPTY);
    tx.historyDelta++;
  }

  // ---- the allowlist ----

  /** The allowlist entry covering @p (p itself or a shorter prefix), if any. */
  #allowCovering(tx: TxState | undefined, p: IpPrefix): AllowEntry | undefined {
    const lengths = tx?.allowLengths() ?? ((this.#meta.get(META.allowLengths) as number[] | undefined) ?? []);
    if (lengths.length === 0) return undefined;
    // In a batch: a prefix that shares no address with the allowlist is not inside it.
    const screen = tx?.allowScreen(() => this.#allow.entries(), () => this.allowPrefixes());
    if (screen !== undefined && !screen.overlaps(p)) return undefined;
    return this.#allowCoveringIn(lengths, p);
  }

  #allowCoveringIn(lengths: readonly number[], p: IpPrefix): AllowEntry | undefined {
    for (const len of lengths) {
      if (len > p.length) break;
      const key = supernetKey(p, len);
      const v = this.#allow.get(key);
      if (v !== undefined) return { prefix: prefixOfKey(key), reason: v.reason, addedAt: v.addedAt };
    }
    return undefined;
  }

  /** An allowlist entry lying inside @p, if any (one range probe). */
  #allowInside(p: IpPrefix): AllowEntry | undefined {
    const { start, end } = keyRangeInside(p);
    for (const { key, value } of this.#allow.range({ start, end, inclusiveEnd: true, limit: 1 })) {
      return { prefix: prefixOfKey(key), reason: value.reason, addedAt: value.addedAt };
    }
    return undefined;
  }

  /**
   * The first of @prefixes that an allowlist entry would refuse (its index
   * and the entry), if any: allowedBy() of each, the allowlist's prefix
   * lengths read once.  @prefixes may also be their number and a function
   * giving each (a packed feed, without an object per entry up front).
   * Given the packed bytes too, and more entries than the allowlist holds,
   * the allowlist is read once into ranges (PrefixRanges), and only an entry
   * that shares an address with one of them is looked up: a feed of a
   * million against the daemon's automatic safety entries made a million
   * IpPrefix objects and one to three reads each before.
   */
  firstAllowed(prefixes: readonly IpPrefix[] | AllowQuery): { index: number; entry: AllowEntry } | undefined {
    const lengths = (this.#meta.get(META.allowLengths) as number[] | undefined) ?? [];
    if (lengths.length === 0) return undefined;
    const { count, at, packed } = 'count' in prefixes ? prefixes : { count: prefixes.length, at: (i: number) => prefixes[i] as IpPrefix, packed: undefined };
    const screen = packed !== undefined && this.#allow.entries() < count ? { ranges: new PrefixRanges(this.allowPrefixes()), packed } : undefined;
    for (let i = 0; i < count; i++) {
      if (screen !== undefined && !screen.ranges.overlapsPacked(screen.packed, i)) continue;
      const entry = this.#allowCoveringIn(lengths, at(i));
      if (entry !== undefined) return { index: i, entry };
    }
    return undefined;
  }

  /** The prefixes of the allowlist (keys only). */
  *allowPrefixes(): Generator<IpPrefix> {
    for (const key of this.#allow.keys({})) yield prefixOfKey(key);
  }

  /** The allowlist entry that would refuse a ban of @prefix, if any. */
  allowedBy(prefix: IpPrefix | string): AllowEntry | undefined {
    return this.#allowCovering(undefined, toPrefix(prefix));
  }

  /**
   * Adds (or updates) an allowlist prefix.  Existing active bans inside it
   * are not removed (the kernel's allowlist has precedence anyway); their
   * number is returned so the caller can decide.
   */
  allowAdd(prefix: IpPrefix | string, reason = ''): { entry: AllowEntry; activeBansInside: number } {
    const p = toPrefix(prefix);
    if (typeof reason !== 'string') throw new TypeError('reason must be a string');
    const now = this.#now();
    return this.#tx((tx) => {
      const key = recordKey(p);
      this.#allow.put(key, { reason, addedAt: now });
      tx.allowChanged();
      const lengths = tx.allowLengths();
      if (!lengths.includes(p.length)) tx.setAllowLengths([...lengths, p.length].sort((a, b) => a - b));
      this.#log(tx, now, 'allow', key, { reason });
      let inside = 0;
      const { start, end } = keyRangeInside(p);
      for (const { value } of this.#bans.range({ start, end, inclusiveEnd: true })) if (isActive(value)) inside++;
      return { entry: { prefix: p, reason, addedAt: now }, activeBansInside: inside };
    });
  }

  allowRemove(prefix: IpPrefix | string): boolean {
    const p = toPrefix(prefix);
    const now = this.#now();
    return this.#tx((tx) => {
      const key = recordKey(p);
      if (!this.#allow.remove(key)) return false;
      tx.allowChanged();
      const { start, end } = keyRangeInside(new IpPrefix(new Uint8Array(16), 0));
      let stillUsed = false;
      for (const k of this.#allow.keys({ start, end, inclusiveEnd: true })) {
        if (k[16] === p.length) {
          stillUsed = true;
          break;
        }
      }
      if (!stillUsed) tx.setAllowLengths(tx.allowLengths().filter((l) => l !== p.length));
      this.#log(tx, now, 'disallow', key, {});
      return true;
    });
  }

  *allowlist(): Generator<AllowEntry> {
    for (const { key, value } of this.#allow.range({})) yield { prefix: prefixOfKey(key), reason: value.reason, addedAt: value.addedAt };
  }

  // ---- bans ----

  /** Seconds of a ban at escalation @level (1 = a first ban); null when escalation is off and... never. */
  durationFor(level: number): number {
    const e = this.escalation;
    if (!e.enabled) return e.baseTtl;
    return Math.min(e.maxTtl, Math.round(e.baseTtl * e.factor ** Math.max(0, level - 1)));
  }

  /**
   * Bans an address or prefix: creates the record, revives a remembered
   * one (escalated), or refreshes an active one.  IPv6 aggregation applies
   * per config (see BanResult.aggregation).  Throws AllowlistedError when an
   * allowlisted prefix covers it.
   */
  ban(input: BanInput): BanResult {
    const now = this.#now();
    return this.#tx((tx) => this.#banOne(tx, input, now));
  }

  #banOne(tx: TxState, input: BanInput, now: number): BanResult {
    if (typeof input !== 'object' || input === null) throw new TypeError('ban: input must be an object');
    const requested = toPrefix(input.prefix);
    const source = checkSource(input.source);
    const ttl = checkTtl(input.ttl);
    if (input.reason !== undefined && typeof input.reason !== 'string') throw new TypeError('reason must be a string');
    if (input.tag !== undefined && (typeof input.tag !== 'string' || input.tag.includes('\0'))) throw new TypeError('tag must be a string without NUL');
    const ports = input.ports === undefined ? undefined : normalizePorts(input.ports, 'ban');
    if (input.state !== undefined && input.state !== 'kernel' && input.state !== 'cold') throw new TypeError("state must be 'kernel' or 'cold'");
    const a = this.aggregation;
    const aggregate = input.aggregate ?? (a.enabled && a.sources.includes(source));
    let target = requested;
    let decision: AggregationDecision | undefined;
    if (aggregate && requested.family === 6 && requested.length > a.hostPrefix) {
      const wide = requested.supernet(a.hostPrefix);
      const inside = this.#allowInside(wide);
      if (inside !== undefined) {
        decision = { requested, banned: requested, skipped: `the allowlisted ${inside.prefix.toString()} lies inside ${wide.toString()}` };
      } else {
        target = wide;
        decision = { requested, banned: wide };
      }
    }
    const allowed = this.#allowCovering(tx, target);
    if (allowed !== undefined) throw new AllowlistedError(target, allowed);
    const result = this.#banExact(tx, target, { ...input, source, ttl, ports }, now, 0);
    if (decision !== undefined) result.aggregation = decision;
    if (decision !== undefined && target.length === a.hostPrefix && requested.length > a.hostPrefix) {
      const parent = target.supernet(a.parentPrefix);
      const { distinct, maxEpisodes } = this.#countInside(parent, a.hostPrefix);
      if (distinct >= a.threshold) {
        const parentRec = this.#bans.get(recordKey(parent));
        let res: BanResult | { skipped: string };
        if (isActive(parentRec)) res = { skipped: `${parent.toString()} is already banned` };
        else {
          const cover = this.#allowCovering(tx, parent) ?? this.#allowInside(parent);
          if (cover !== undefined) res = { skipped: `the allowlisted ${cover.prefix.toString()} overlaps ${parent.toString()}` };
          else {
            const reason = `${distinct} /${a.hostPrefix}s banned inside ${parent.toString()}${input.reason === undefined || input.reason === '' ? '' : `; last: ${input.reason}`}`;
            res = this.#banExact(tx, parent, { ...input, source, ttl: undefined, ports, reason }, now, maxEpisodes);
          }
        }
        decision.escalated = { prefix: parent, distinct64: distinct, threshold: a.threshold, result: res };
      }
    }
    return result;
  }

  /** Distinct active /@len networks inside @parent, and the highest episode count among their records. */
  #countInside(parent: IpPrefix, len: number): { distinct: number; maxEpisodes: number } {
    const { start, end } = keyRangeInside(parent);
    const seen = new Set<string>();
    let maxEpisodes = 0;
    // Only records of length >= len count; the range is bounded by the parent.
    for (const { key, value } of this.#bans.range({ start, end, inclusiveEnd: true })) {
      const l = key[16] ?? 0;
      if (l < len || !isActive(value)) continue;
      seen.add(prefixOfKey(key).supernet(len).key());
      maxEpisodes = Math.max(maxEpisodes, value.episodes);
    }
    return { distinct: seen.size, maxEpisodes };
  }

  #banExact(
    tx: TxState,
    p: IpPrefix,
    input: Omit<BanInput, 'ttl' | 'ports' | 'prefix' | 'source'> & { source: BanSource; ttl: number | undefined; ports: number[] | undefined },
    now: number,
    levelFloor: number,
  ): BanResult {
    const key = recordKey(p);
    const old = this.#bans.get(key);
    // A ban past its expiry counts as expired even before a sweep marks it.
    const active = isActive(old) && (old.expires === null || old.expires > now);
    const action = old === undefined ? 'created' : active ? 'refreshed' : 'revived';
    const prevEpisodes = old?.episodes ?? 0;
    const level = Math.max(active ? prevEpisodes : prevEpisodes + 1, levelFloor + 1);
    const explicit = input.permanent === true || input.ttl !== undefined;
    const permanentAsked = input.permanent === true || input.ttl === 0;
    let duration: number | null;
    let durationFrom: BanResult['durationFrom'];
    if (permanentAsked) {
      duration = null;
      durationFrom = 'explicit';
    } else if (input.ttl !== undefined) {
      duration = input.ttl;
      durationFrom = 'explicit';
    } else {
      duration = this.durationFor(level);
      durationFrom = level > 1 && this.escalation.enabled ? 'escalated' : 'base';
    }
    let expires: number | null = duration === null ? null : now + duration * 1000;
    if (active && !explicit) {
      // An implicit refresh never shortens an active ban, nor ends a permanent one.
      expires = old.expires === null ? null : Math.max(old.expires, expires ?? 0);
    }
    const next: StoredRecord = {
      ports: input.ports ?? (active ? old.ports : []),
      reason: input.reason ?? (active ? old.reason : ''),
      source: input.source,
      tag: input.tag ?? '',
      firstSeen: old?.firstSeen ?? now,
      lastSeen: now,
      lastHit: old?.lastHit ?? 0,
      hitCount: old?.hitCount ?? 0,
      banCount: (old?.banCount ?? 0) + 1,
      episodes: level,
      expires,
      permanent: expires === null,
      pinned: input.pinned ?? (active ? old.pinned : false),
      monitor: input.monitor ?? (active ? old.monitor : false),
      state: input.state ?? (active ? old.state : 'cold'),
      kernelHits: active ? old.kernelHits : 0,
    };
    this.#save(tx, key, old, next);
    this.#log(tx, now, 'ban', key, {
      action,
      source: next.source,
      ...(next.tag === '' ? {} : { tag: next.tag }),
      reason: next.reason,
      ports: next.ports,
      level,
      duration,
      durationFrom,
      expires,
      ...(next.pinned ? { pinned: true } : {}),
      ...(next.monitor ? { monitor: true } : {}),
    });
    return { record: toRecord(key, next, p), action, duration, durationFrom };
  }

  /**
   * Bans many in batches, one write transaction each (default 10k); a
   * committed batch survives a crash of this process, a batch in flight is
   * wholly absent.  Inputs that are refused (allowlisted, invalid) are
   * counted in `refused`, not thrown.  Yields to the event loop between batches.
   */
  async bulkBan(inputs: Iterable<BanInput> | AsyncIterable<BanInput>, options: BulkOptions = {}): Promise<BulkResult> {
    const batchSize = options.batchSize ?? 10_000;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError('batchSize must be a positive integer');
    const result: BulkResult = { committed: 0, batches: 0, created: 0, revived: 0, refreshed: 0, refused: [] };
    let index = 0;
    let batch: BanInput[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      options.signal?.throwIfAborted();
      const items = batch;
      const base = index - items.length;
      batch = [];
      const now = this.#now();
      const done: Array<[number, BanResult]> = [];
      const counts = this.#tx((tx) => {
        const c = { created: 0, revived: 0, refreshed: 0, refused: [] as { index: number; error: string }[] };
        for (let i = 0; i < items.length; i++) {
          try {
            const r = this.#banOne(tx, items[i] as BanInput, now);
            c[r.action]++;
            if (options.onResult !== undefined) done.push([base + i, r]);
          } catch (err) {
            if (!(err instanceof TypeError || err instanceof RangeError || err instanceof AllowlistedError)) throw err;
            c.refused.push({ index: base + i, error: err.message });
          }
        }
        return c;
      });
      result.committed += items.length - counts.refused.length;
      result.created += counts.created;
      result.revived += counts.revived;
      result.refreshed += counts.refreshed;
      result.refused.push(...counts.refused);
      result.batches++;
      // Only once the batch is committed.
      for (const [i, r] of done) options.onResult?.(i, r);
      options.onProgress?.(result.committed);
      await tick();
    };
    for await (const input of inputs) {
      batch.push(input);
      index++;
      if (batch.length >= batchSize) await flush();
    }
    await flush();
    return result;
  }

  /** Removes the record (the history keeps the unban with a snapshot). */
  unban(prefix: IpPrefix | string, details: Record<string, unknown> = {}): BanRecord | undefined {
    const p = toPrefix(prefix);
    const now = this.#now();
    return this.#tx((tx) => {
      const key = recordKey(p);
      const old = this.#bans.get(key);
      if (old === undefined) return undefined;
      this.#save(tx, key, old, undefined);
      this.#log(tx, now, 'unban', key, { ...details, state: old.state, source: old.source, tag: old.tag, banCount: old.banCount, hitCount: old.hitCount });
      return toRecord(key, old);
    });
  }

  /**
   * The ban covering @address: the longest active record among the
   * address itself and its enclosing prefixes; with @remembered, failing an
   * active one, the longest expired one.  At most 33 (IPv4) or 129 (IPv6)
   * point reads.
   */
  covering(address: IpPrefix | string, remembered = false): BanRecord | undefined {
    let old: BanRecord | undefined;
    for (const r of this.coveringRecords(address)) {
      if (r.state !== 'expired') return r;
      if (remembered) old ??= r;
    }
    return old;
  }

  /**
   * Every record (whatever its state) among @address and its enclosing
   * prefixes, longest first, lazily (stop when one decides); usually none or
   * one.  The hot path of the policy service and of the kernel's MISS
   * events: one read of the lengths in use ('ban.lengths'), then one point
   * read per length in use (at most 33 for IPv4, 129 for IPv6) through one
   * scratch key, each shorter prefix made by clearing one bit, and a record
   * built only for a hit.
   */
  *coveringRecords(address: IpPrefix | string): Generator<BanRecord, void, undefined> {
    const a = toPrefix(address);
    const key = recordKey(a);
    const shortest = a.family === 4 ? 96 : 0;
    const inUse = lengthsInUse(this.#meta.get(META.banLengths));
    for (let len = a.length; len >= shortest; len--) {
      if (len < a.length) {
        // From /len+1 to /len: clear bit number len (counted from the most significant).
        key[len >> 3] = (key[len >> 3] as number) & ~(0x80 >> (len & 7)) & 0xff;
        key[16] = len;
      }
      if (inUse !== undefined && !inUse[len]) continue;
      const r = this.#bans.get(key);
      if (r !== undefined) yield toRecord(Buffer.from(key), r);
    }
  }

  /** Unbans every record of one source (and tag, e.g. one fail2ban jail), in batches; returns how many. */
  unbanBySource(source: BanSource, tag?: string): number {
    checkSource(source);
    const start = sourcePrefix(source, tag);
    const end = afterPrefix(start);
    let total = 0;
    for (;;) {
      const keys = [...this.#source.keys({ start, end, limit: 10_000 })].map((k) => Buffer.from(k.subarray(k.length - KEY_BYTES)));
      if (keys.length === 0) return total;
      this.#tx((tx) => {
        const now = this.#now();
        for (const key of keys) {
          const old = this.#bans.get(key);
          if (old === undefined || old.source !== source || (tag !== undefined && old.tag !== tag)) continue;
          this.#save(tx, key, old, undefined);
          this.#log(tx, now, 'unban', key, { bySource: source, ...(tag === undefined ? {} : { tag }), state: old.state });
          total++;
        }
      });
    }
  }

  /**
   * The prefix lengths that hold records (any state), with how many: what a
   * covering lookup probes.  Lengths are IpPrefix.length, in the 128-bit
   * space (an IPv4 /24 is 120): the counts are per key length, for both
   * families together.  Undefined when the database has no counts (edited by
   * hand): lookups then probe every length.
   */
  prefixLengths(): Array<{ length: number; records: number }> | undefined {
    const stored = this.#meta.get(META.banLengths);
    if (!Array.isArray(stored)) return undefined;
    const counts = lengthCounts(stored);
    const out: Array<{ length: number; records: number }> = [];
    for (let len = 0; len <= 128; len++) if ((counts[len] as number) > 0) out.push({ length: len, records: counts[len] as number });
    return out;
  }

  get(prefix: IpPrefix | string): BanRecord | undefined {
    const key = recordKey(toPrefix(prefix));
    const r = this.#bans.get(key);
    return r === undefined ? undefined : toRecord(key, r);
  }

  /**
   * Expires active bans whose expiry is <= @now, at most @limit per call
   * (one transaction): state 'expired', out of the expiry and hot indexes,
   * an 'expire' history event.  The record stays (remembered).
   */
  sweep(now = this.#now(), limit = 10_000): SweepResult {
    return this.#tx((tx) => {
      const keys = [...this.#expiry.keys({ end: expiryBound(now), limit: limit + 1 })];
      const more = keys.length > limit;
      const expired: SweepResult['expired'] = [];
      for (const ik of keys.slice(0, limit)) {
        const key = Buffer.from(ik.subarray(8));
        const old = this.#bans.get(key);
        if (!isActive(old) || old.expires === null || old.expires > now) {
          this.#expiry.remove(ik); // a stale entry (cannot happen unless edited by hand)
          continue;
        }
        this.#save(tx, key, old, { ...old, state: 'expired' });
        this.#log(tx, now, 'expire', key, { expires: old.expires, state: old.state });
        expired.push({ prefix: prefixOfKey(key), wasInKernel: old.state === 'kernel' });
      }
      return { expired, more };
    });
  }

  /** Marks active records as loaded in the kernel (its hit counter starts again at 0). */
  markLoaded(prefixes: Iterable<IpPrefix | string>, perTxn = 10_000): number {
    return this.#setState(prefixes, 'kernel', 'load', perTxn);
  }

  /** Marks active records as evicted from the kernel (cold), with an 'evict' history event. */
  markEvicted(prefixes: Iterable<IpPrefix | string>): number {
    return this.#setState(prefixes, 'cold', 'evict');
  }

  #setState(prefixes: Iterable<IpPrefix | string>, state: 'kernel' | 'cold', event: 'load' | 'evict', perTxn = 10_000): number {
    const now = this.#now();
    let n = 0;
    for (const chunk of chunks(prefixes, perTxn)) {
      n += this.#tx((tx) => {
        let c = 0;
        for (const p of chunk) {
          const key = recordKey(toPrefix(p));
          const old = this.#bans.get(key);
          if (!isActive(old)) continue;
          // Already loaded with a fresh kernel counter: the same record, nothing to write.
          if (event === 'load' && old.state === 'kernel' && old.kernelHits === 0) {
            c++;
            continue;
          }
          this.#save(tx, key, old, { ...old, state, kernelHits: state === 'kernel' ? 0 : old.kernelHits });
          if (event === 'evict') this.#log(tx, now, 'evict', key, { hitCount: old.hitCount });
          c++;
        }
        return c;
      });
    }
    return n;
  }

  /** Applies hit counts from the kernel (DUMP hit_since), 10k per transaction. */
  applyHits(updates: Iterable<HitUpdate>): HitSyncResult {
    const result: HitSyncResult = { applied: 0, missing: [] };
    for (const chunk of chunks(updates, 10_000)) {
      this.#tx((tx) => {
        for (const u of chunk) {
          const p = toPrefix(u.prefix);
          if ((u.delta === undefined) === (u.kernelHits === undefined)) throw new TypeError('a hit update has exactly one of delta and kernelHits');
          const n = u.delta ?? u.kernelHits ?? 0;
          if (!Number.isInteger(n) || n < 0) throw new RangeError(`hit count must be a non-negative integer, got ${String(n)}`);
          const key = recordKey(p);
          const old = this.#bans.get(key);
          if (old === undefined) {
            result.missing.push(p);
            continue;
          }
          let add: number;
          let kernelHits = old.kernelHits;
          if (u.delta !== undefined) add = u.delta;
          else {
            // A counter below the last one seen: the entry was reloaded (or wrapped); it counts from 0.
            add = n >= old.kernelHits ? n - old.kernelHits : n;
            kernelHits = n;
          }
          const lastHit = Math.max(old.lastHit, u.lastHit ?? 0);
          this.#save(tx, key, old, { ...old, hitCount: old.hitCount + add, kernelHits, lastHit });
          result.applied++;
        }
      });
    }
    return result;
  }

  // ---- queries ----

  /** Active bans, hottest first (most recent hit, then most recent ban); lazily, up to @limit. */
  *hottest(limit?: number): Generator<BanRecord> {
    for (const ik of this.#hot.keys(limit === undefined ? {} : { limit })) {
      const key = ik.subarray(16);
      const r = this.#bans.get(key);
      if (r !== undefined) yield toRecord(key, r);
    }
  }

  /** The prefixes of every active ban (hottest first), without decoding records: for the membership filter. */
  *activePrefixes(): Generator<IpPrefix> {
    for (const ik of this.#hot.keys({})) yield prefixOfKey(ik, 16);
  }

  /**
   * The record keys (17 bytes: address, length) of every active ban, hottest
   * first, read in place from the hot index: the view yielded is overwritten
   * by the next step (and by any other cursor of this store), so copy what
   * is kept before the next step or an await.
   */
  *activeKeys(): Generator<Uint8Array> {
    const c = this.#env.cursor('hot', {});
    try {
      while (c.next()) yield c.key.subarray(16, 16 + KEY_BYTES);
    } finally {
      c.close();
    }
  }

  /** Every record the database believes is in the kernel (state 'kernel'), keys only. */
  *inKernelPrefixes(): Generator<IpPrefix> {
    for (const k of this.#inKernel.keys({})) yield prefixOfKey(k, 0);
  }

  /** Every active pinned record. */
  *pinnedActive(): Generator<BanRecord> {
    for (const k of this.#pinned.keys({})) {
      const r = this.#bans.get(k);
      if (r !== undefined) yield toRecord(k, r);
    }
  }

  /** Records by state, from counters kept in every write transaction (O(1)). */
  counts(): Record<BanState, number> & { total: number } {
    const c = { kernel: 0, cold: 0, expired: 0, total: 0 };
    for (const s of BAN_STATES) {
      c[s] = (this.#meta.get(META.count(s)) as number | undefined) ?? 0;
      c.total += c[s];
    }
    return c;
  }

  /** The history of one record, oldest first (reverse: newest first). */
  *history(prefix: IpPrefix | string, options: { limit?: number; reverse?: boolean } = {}): Generator<HistoryEvent> {
    const key = recordKey(toPrefix(prefix));
    const start = Buffer.concat([key, Buffer.alloc(16)]);
    const end = Buffer.concat([key, Buffer.alloc(16, 0xff)]);
    const q = options.reverse === true ? { start: end, end: start, reverse: true, inclusiveEnd: true } : { start, end, inclusiveEnd: true };
    for (const hk of this.#historyByRecord.keys(options.limit === undefined ? q : { ...q, limit: options.limit })) {
      const time = readU64(hk, KEY_BYTES);
      const seq = readU64(hk, KEY_BYTES + 8);
      const ev = this.#history.get(historyKey(time, seq));
      if (ev !== undefined) yield { time, type: ev.type, prefix: prefixOfKey(key), details: ev.details };
    }
  }

  /** Every history event from @since (ms), oldest first. */
  *historyAll(options: { since?: number; limit?: number } = {}): Generator<HistoryEvent> {
    const q = { ...(options.since === undefined ? {} : { start: historyKey(options.since, 0) }), ...(options.limit === undefined ? {} : { limit: options.limit }) };
    for (const { key, value } of this.#history.range(q)) {
      yield { time: readU64(key, 0), type: value.type, prefix: prefixOfKey(value.key), details: value.details };
    }
  }

  historyCount(): number {
    return (this.#meta.get(META.historyCount) as number | undefined) ?? 0;
  }

  /**
   * Prunes history per the retention (max age and/or count), oldest first,
   * by range deletes of at most 10k events per transaction; returns how many.
   * At most @max events (a caller that lets its event loop run between
   * steps: fewer than @max returned means nothing is left to prune).
   */
  pruneHistory(now = this.#now(), max = Infinity): number {
    if (!(max >= 0)) throw new RangeError('pruneHistory: max must be a number >= 0');
    const { maxAge, maxCount } = this.retention;
    let pruned = 0;
    while (pruned < max) {
      const step = Math.min(10_000, max - pruned);
      const n = this.#tx((tx) => {
        const count = (this.#meta.get(META.historyCount) as number | undefined) ?? 0;
        const overCount = maxCount === undefined ? 0 : Math.max(0, count - maxCount);
        const ageEnd = maxAge === undefined ? undefined : historyKey(now - maxAge, 0);
        let c = 0;
        const doomed: { key: Buffer; value: StoredHistory }[] = [];
        for (const e of this.#history.range({ limit: step })) {
          if (c >= overCount && (ageEnd === undefined || Buffer.compare(e.key, ageEnd) >= 0)) break;
          doomed.push({ key: Buffer.from(e.key), value: e.value });
          c++;
        }
        for (const { key, value } of doomed) {
          this.#history.remove(key);
          this.#historyByRecord.remove(historyByRecordKey(value.key, readU64(key, 0), readU64(key, 8)));
        }
        tx.historyDelta -= doomed.length;
        return doomed.length;
      });
      pruned += n;
      if (n < step) return pruned;
    }
    return pruned;
  }

  /**
   * Records matching @filter, lazily.  A source filter reads the source
   * index; a filter on active states only reads the hot index (hottest
   * first) when most records are expired, and otherwise, like anything
   * else, walks the records in key order.
   */
  *list(filter: ListFilter = {}): Generator<BanRecord> {
    for (const { key, value } of this.listRaw(filter)) yield toRecord(key, value);
  }

  /** How list() finds the records of @filter: an index's keys, or the whole table in key order (undefined). */
  #listKeys(filter: ListFilter, states: Set<BanState> | undefined): Iterable<Uint8Array> | undefined {
    if (filter.source !== undefined) {
      const start = sourcePrefix(filter.source, filter.tag);
      return mapIter(this.#source.keys({ start, end: afterPrefix(start) }), (k) => k.subarray(k.length - KEY_BYTES));
    }
    if (states !== undefined && !states.has('expired')) {
      // Only active records: the hot index (a B-tree lookup per record) pays
      // when it skips many expired ones; a walk in key order reads pages in
      // sequence, so it is the faster way while at most half are expired.
      const c = this.counts();
      if (c.expired > c.kernel + c.cold) return mapIter(this.#hot.keys({}), (k) => k.subarray(16));
    }
    return undefined;
  }

  /** The records at @keys (an index's answer from #listKeys()) that @matches. */
  *#rawOf(keys: Iterable<Uint8Array>, matches: (r: Readonly<StoredRecord>) => boolean): Generator<{ key: Uint8Array; value: Readonly<StoredRecord> }> {
    for (const key of keys) {
      const r = this.#bans.get(key);
      if (r !== undefined && matches(r)) yield { key, value: r };
    }
  }

  /**
   * list() as the stored form: the record key (KEY_BYTES: 16 address bytes
   * and the prefix length) and the decoded value, neither copied nor to be
   * kept or changed by the caller.  For serializers of a million rows
   * (`ffwall list --json`), which need no BanRecord objects.
   */
  *listRaw(filter: ListFilter = {}): Generator<{ key: Uint8Array; value: Readonly<StoredRecord> }> {
    const states = filterStates(filter);
    const matches = recordMatcher(filter, states);
    let n = 0;
    const limit = filter.limit ?? Infinity;
    if (limit <= 0) return;
    const keys = this.#listKeys(filter, states);
    if (keys !== undefined) {
      for (const raw of this.#rawOf(keys, matches)) {
        yield raw;
        if (++n >= limit) return;
      }
      return;
    }
    // The whole table: each value decoded into one reused object (no allocation per record);
    // a record the fast decoder does not take is read the ordinary way.
    const scratch = scratchRecord();
    for (const { key, value } of this.#bansRaw.range({})) {
      let r: StoredRecord | undefined = scratch;
      if (!decodeRecord(value, scratch)) r = this.#bans.get(key);
      if (r === undefined || !matches(r)) continue;
      yield { key, value: r };
      if (++n >= limit) return;
    }
  }

  /**
   * list() as NDJSON (what `ffwall list --json` prints: one
   * JSON.stringify(BanRecordInfo) per line), or with @targets only each
   * record's target per line ("192.0.2.1\n", the plain export), in chunks
   * of whole lines of about @chunkBytes each.  A walk of the whole table
   * (no source filter, no limit, not through the hot index) writes each
   * record from LMDB's bytes straight into the chunk (raw-json.ts), and
   * runs on several threads when the table is large (scan-parallel.ts):
   * the same lines in the same order.  The index paths, and records of a
   * form raw-json.ts does not know, go through recordJson().
   * @threads: the threads in all, default 1 below PARALLEL_MIN_RECORDS
   * records and otherwise the cores, at most MAX_THREADS; more than one
   * asks for the threads whatever the size.  Each chunk is a fresh buffer,
   * the caller's to keep, unless @reuse: then the chunks that go straight
   * out take turns in two buffers (lines walked ahead by a thread and held
   * are fresh buffers).
   */
  async *listChunks(filter: ListFilter, options: ListChunkOptions): AsyncGenerator<Buffer> {
    const chunkBytes = options.chunkBytes ?? 1 << 20;
    const reuse = options.reuse === true;
    const states = filterStates(filter);
    const keys = this.#listKeys(filter, states);
    if (keys === undefined && filter.limit === undefined) {
      const threads = options.threads ?? defaultThreads(this.#bans.entries());
      const workerFile = threads > 1 ? scanWorkerFile() : undefined;
      if (workerFile !== undefined) {
        yield* parallelLines({ env: this.#env, bans: this.#bans, path: this.path, filter, targets: options.targets, chunkBytes, threads, workerFile, reuse });
        return;
      }
    }
    const limit = filter.limit ?? Infinity;
    if (limit <= 0) return;
    const chunker = new Chunker(chunkBytes, reuse);
    if (keys !== undefined) {
      let n = 0;
      for (const { key, value } of this.#rawOf(keys, recordMatcher(filter, states))) {
        const full = chunker.line(slowLine(key, value, options.targets));
        if (full !== undefined) yield full;
        if (++n >= limit) break;
      }
    } else {
      // The whole table in key order, each record from LMDB's bytes into the chunk.
      yield* walkLines(this.#env, this.#bans, filter, options.targets, {}, chunker, limit);
    }
    const last = chunker.drain();
    if (last !== undefined) yield last;
  }

  /** list() as an object-mode Readable stream (back-pressure respected). */
  listStream(filter: ListFilter = {}): Readable {
    return Readable.from(this.list(filter), { objectMode: true, highWaterMark: 256 });
  }

  /** Sees commits of other processes in the reads that follow. */
  refresh(): void {
    this.#env.refresh();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#env.close();
  }
}

function* chunks<T>(items: Iterable<T>, size: number): Generator<T[]> {
  let c: T[] = [];
  for (const x of items) {
    c.push(x);
    if (c.length >= size) {
      yield c;
      c = [];
    }
  }
  if (c.length > 0) yield c;
}

function* mapIter<T, U>(it: Iterable<T>, f: (x: T) => U): Generator<U> {
  for (const x of it) yield f(x);
}
