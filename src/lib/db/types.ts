// SPDX-License-Identifier: MIT
//
// Public types of the ban database (docs/DESIGN-db.md explains the choices).
// Times are wall-clock milliseconds since the epoch (Date.now()); TTLs are
// seconds, as everywhere in ffwall.
import type { IpPrefix } from '../addr.js';
import type { PackedPrefixBytes } from '../prefix-ranges.js';

export const BAN_SOURCES = ['cli', 'policy', 'logwatch', 'feed', 'api', 'haraka', 'fail2ban'] as const;
export type BanSource = (typeof BAN_SOURCES)[number];

/** kernel: active and in the kernel table; cold: active, database only; expired: remembered. */
export type BanState = 'kernel' | 'cold' | 'expired';
export const BAN_STATES: readonly BanState[] = ['kernel', 'cold', 'expired'];

export interface BanRecord {
  prefix: IpPrefix;
  /** Sorted; empty: the whole address. */
  ports: number[];
  reason: string;
  source: BanSource;
  /** Free-form sub-source, e.g. a fail2ban jail or a feed's name; '' when none. */
  tag: string;
  /** First ban ever. */
  firstSeen: number;
  /** Last (accepted) ban. */
  lastSeen: number;
  /** Last packet the kernel counted; 0: never. */
  lastHit: number;
  hitCount: number;
  /** Every accepted ban call, refreshes of an active ban included. */
  banCount: number;
  /** Ban episodes (a ban that created or revived the record); drives escalation. */
  episodes: number;
  /** Current expiry; null: permanent. For an expired record, when it expired. */
  expires: number | null;
  /** The database never expires it (expires is null). */
  permanent: boolean;
  /** The kernel never evicts it. */
  pinned: boolean;
  /** Counted, not dropped. */
  monitor: boolean;
  state: BanState;
  /** The kernel's hit counter when last synced (absolute hit sync); 0 after the entry is (re)loaded. */
  kernelHits: number;
}

export interface BanInput {
  /** Address or prefix (IpPrefix or text). */
  prefix: IpPrefix | string;
  ports?: readonly number[];
  reason?: string;
  source: BanSource;
  tag?: string;
  /**
   * Seconds.  Absent: the escalated duration.  0: permanent (as the kernel's
   * TTL 0).  A number wins over escalation (never lengthened or capped).
   */
  ttl?: number;
  permanent?: boolean;
  pinned?: boolean;
  monitor?: boolean;
  /** IPv6 aggregation: default on for the sources in config.aggregation.sources, off otherwise. */
  aggregate?: boolean;
  /** State of a newly active record; default 'cold' (the kernel window marks it 'kernel' once loaded). */
  state?: 'kernel' | 'cold';
}

export type BanAction = 'created' | 'revived' | 'refreshed';

export interface AggregationDecision {
  /** What the caller asked to ban. */
  requested: IpPrefix;
  /** What was banned instead (the /64), or requested when aggregation was skipped. */
  banned: IpPrefix;
  /** Why the /128 was kept: an allowlisted prefix lies inside the /64. */
  skipped?: string;
  /** Set when the /48 threshold was reached. */
  escalated?: {
    prefix: IpPrefix;
    /** Distinct /64s with an active ban inside the /48. */
    distinct64: number;
    threshold: number;
    /** The ban of the /48, or why it was not made. */
    result: BanResult | { skipped: string };
  };
}

export interface BanResult {
  record: BanRecord;
  action: BanAction;
  /** Seconds of the ban's duration as computed (null: permanent). */
  duration: number | null;
  /** 'explicit' (caller's ttl/permanent), 'escalated' (level > 1), 'base'. */
  durationFrom: 'explicit' | 'escalated' | 'base';
  /** Present when IPv6 aggregation applied (or was considered and skipped). */
  aggregation?: AggregationDecision;
}

export type HistoryEventType = 'ban' | 'unban' | 'expire' | 'evict' | 'load' | 'allow' | 'disallow';

export interface HistoryEvent {
  time: number;
  type: HistoryEventType;
  prefix: IpPrefix;
  /** Event details (source, reason, ttl, level, action...). */
  details: Record<string, unknown>;
}

export interface AllowEntry {
  prefix: IpPrefix;
  reason: string;
  addedAt: number;
}

/** Many prefixes for BanStore.firstAllowed(): their number, each by index, and their packed bytes if the caller has them. */
export interface AllowQuery {
  count: number;
  at(i: number): IpPrefix;
  /** The same prefixes packed (16 bytes and a length each): lets a long query screen them without an IpPrefix each. */
  packed?: PackedPrefixBytes | undefined;
}

export interface EscalationConfig {
  /** Default true. */
  enabled: boolean;
  /** Seconds of a first ban without an explicit ttl. Default 24 h. */
  baseTtl: number;
  /** Each previous episode multiplies it. Default 2. */
  factor: number;
  /** Cap, seconds. Default 180 days. */
  maxTtl: number;
}

export interface AggregationConfig {
  enabled: boolean;
  /** Sources whose /128 bans are widened by default. Default policy, logwatch, feed. */
  sources: readonly BanSource[];
  /** Length a /128 is widened to. Default 64. */
  hostPrefix: number;
  /** Length of the enclosing prefix that is banned when the threshold is reached. Default 48. */
  parentPrefix: number;
  /** Distinct active /hostPrefix networks inside one /parentPrefix that ban it. Default 3. */
  threshold: number;
}

export interface HistoryRetention {
  /** Events older than this many ms are pruned; absent: no age limit. Default 365 days. */
  maxAge?: number;
  /** At most this many events are kept; absent: no count limit. Default 10M. */
  maxCount?: number;
}

export interface StoreOptions {
  path: string;
  escalation?: Partial<EscalationConfig>;
  aggregation?: Partial<AggregationConfig>;
  history?: HistoryRetention;
  /** The clock (tests). Default Date.now. */
  now?: () => number;
  /**
   * Skip fsync at commit (tests only, and only with one writing process).
   * With noSync, lmdb-js 3.5.6 was measured to lose a whole committed write
   * transaction now and then when two processes write the same database
   * (8 in about 400 runs of 2 x 4,000 transactions; none in 224 runs
   * without noSync): see docs/DESIGN-db.md, "Several processes".
   */
  noSync?: boolean;
  mapSize?: number;
}

export interface HitUpdate {
  prefix: IpPrefix | string;
  /** Packets since the last sync. */
  delta?: number;
  /** The kernel entry's absolute counter (DUMP 'hits'); the store keeps the difference. */
  kernelHits?: number;
  /** Wall-clock ms of the last hit (converted from the kernel's clock by the caller). */
  lastHit?: number;
}

export interface HitSyncResult {
  applied: number;
  /** Updates for prefixes the database does not know. */
  missing: IpPrefix[];
}

export interface BulkOptions {
  /** Bans per write transaction. Default 10000. */
  batchSize?: number;
  /** After each committed batch: bans committed so far. */
  onProgress?: (committed: number) => void;
  /** Checked between batches. */
  signal?: AbortSignal;
  /** Write one history event per ban (default true). */
  history?: boolean;
  /** After each committed batch, each of its bans: the input's index and what was written. */
  onResult?: (index: number, result: BanResult) => void;
}

export interface BulkResult {
  committed: number;
  batches: number;
  created: number;
  revived: number;
  refreshed: number;
  /** Inputs refused (allowlisted, bad input), with the index and the message. */
  refused: { index: number; error: string }[];
}

export interface ListFilter {
  state?: BanState | readonly BanState[];
  source?: BanSource;
  tag?: string;
  /** Records whose port set includes this port (a whole-address ban matches every port). */
  port?: number;
  /** Substring of the reason, or a RegExp. */
  reason?: string | RegExp;
  limit?: number;
}

/** BanStore.listChunks(): what each line holds and how the walk runs. */
export interface ListChunkOptions {
  /** Each record's target alone ("192.0.2.1"), else its BanRecordInfo as JSON. */
  targets: boolean;
  /** Bytes per chunk (about; whole lines). Default 1 MiB. */
  chunkBytes?: number;
  /** The caller is done with a chunk when it asks for the next: chunks may share buffers. */
  reuse?: boolean;
  /** Threads walking the table, this one included (default: by the table's size and the cores). */
  threads?: number;
}

export interface SweepResult {
  /** Bans that expired, with their state before (the window deletes the 'kernel' ones). */
  expired: { prefix: IpPrefix; wasInKernel: boolean }[];
  /** True when more remain (the limit was reached). */
  more: boolean;
}
