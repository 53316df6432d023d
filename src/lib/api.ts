// SPDX-License-Identifier: MIT
//
// The public API's types, and the Transport under it.
//
// Ffwall (ffwall.ts) checks and normalizes what the caller gives it, then
// hands plain, JSON-safe requests to a Transport:
//   - DirectTransport (transport-direct.ts) applies them to a Kernel, for
//     root and the daemon;
//   - ClientTransport (control.ts) sends them over the daemon's control
//     socket, for unprivileged mail servers.
// Both answer with the same JSON-safe results, so an embedder sees the same
// calls and the same answers either way.  The database (issue 7) joins the
// direct transport behind these same types.
import type { IpPrefix } from './addr.js';
import type { KernelConfig, KernelMode, MatchKind, Verdict } from './kernel.js';
import type { PackedPrefixes } from './kernel-native.js';
import type { ReportRequest, ReportResult } from './offences.js';

/** Who asked for a ban: recorded with it, used to remove one source's bans. */
export type BanSource = 'cli' | 'api' | 'policy' | 'logwatch' | 'feed' | 'haraka' | 'fail2ban';

export interface BlockOptions {
  /** Destination ports to block (at most 8); default: every port. */
  ports?: readonly number[];
  /**
   * How long the ban lasts: "7d", "24h", or seconds.  Default: with the ban
   * database, the escalated duration (24h for a first offence, doubling for
   * each earlier ban, up to 180 days); without it, the instance's defaultTtl.
   */
  ttl?: string | number;
  /** Never expires (kernel TTL 0).  Excludes ttl. */
  permanent?: boolean;
  /** The kernel never evicts it to make room. */
  pin?: boolean;
  /** Count matching packets but let them pass. */
  monitor?: boolean;
  /** Free text kept with the ban (at most 256 bytes). */
  reason?: string;
  /** Default 'api'. */
  source?: BanSource;
  /** A finer tag of the source, e.g. a fail2ban jail name (at most 64 bytes). */
  sourceTag?: string;
  /** Through the daemon: ban a prefix shorter than its safety minimum (/16 IPv4, /32 IPv6 by default). */
  force?: boolean;
  /**
   * IPv6 aggregation (docs/DESIGN-db.md): true widens a host ban to its /64
   * (and may ban the /48), false bans exactly the target.  Default: the
   * database's aggregation.sources (policy and logwatch; not feed, cli, api).
   */
  aggregate?: boolean;
}

/** A request as it crosses a transport: normalized, JSON-safe. */
export interface BlockRequest {
  /** Normalized address or CIDR. */
  target: string;
  ports: number[];
  /** Seconds; null: the transport's default (escalation with a database); 0 with permanent. */
  ttl: number | null;
  permanent: boolean;
  pin: boolean;
  monitor: boolean;
  reason: string;
  source: BanSource;
  sourceTag: string;
  /** Present (true) only when the caller forced a short prefix past the daemon's safety rule. */
  force?: boolean;
  /** Present only when the caller chose (BlockOptions.aggregate); absent: the database's default for the source. */
  aggregate?: boolean;
}

/** The ban database's record of a ban, JSON-safe (issue 7; docs/DESIGN-db.md). */
export interface BanRecordInfo {
  target: string;
  /** kernel: active and in the kernel; cold: active, database only; expired: remembered. */
  state: 'kernel' | 'cold' | 'expired';
  ports: number[];
  reason: string;
  source: BanSource;
  sourceTag: string;
  firstSeenAt: string;
  lastSeenAt: string;
  lastHitAt: string | null;
  hitCount: number;
  banCount: number;
  /** ISO time the ban ends (or ended, when expired); null: permanent. */
  expiresAt: string | null;
  permanent: boolean;
  pinned: boolean;
  monitor: boolean;
}

export interface BlockResult {
  /** What was banned: the request, or the /64 it was widened to (IPv6 aggregation). */
  target: string;
  /** False when an existing ban was replaced (its hit count is kept). */
  created: boolean;
  /** With a database: created, revived (a remembered ban, escalated) or refreshed; without: created or refreshed. */
  action: 'created' | 'revived' | 'refreshed';
  /** Where the duration came from: the caller, the escalation rule, or the default. */
  durationFrom: 'explicit' | 'escalated' | 'base';
  /** True when the kernel holds the entry now (false: the database holds it, cold). */
  inKernel: boolean;
  /** The database record, null without a database. */
  record: BanRecordInfo | null;
  /** Extra bans made by the same call: the /48 of IPv6 escalation. */
  also: string[];
  ports: number[];
  /** ISO time the ban ends, null when permanent. */
  expiresAt: string | null;
  pinned: boolean;
  monitor: boolean;
}

export interface UnblockResult {
  target: string;
  /** False when there was no such ban. */
  removed: boolean;
}

/** A ban as the kernel holds it, in wall-clock terms. */
export interface BanInfo {
  target: string;
  kind: 'exact' | 'prefix';
  ports: number[];
  pinned: boolean;
  monitor: boolean;
  /** ISO time, null: no expiry. */
  expiresAt: string | null;
  hits: number;
  /** ISO time of the last matching packet, null: never. */
  lastHitAt: string | null;
}

export interface CheckResult {
  address: string;
  /** The port judged, or null. */
  port: number | null;
  /**
   * True when the address is banned (for the port, if given; without a
   * port, for at least some ports): the kernel drops it, or an active ban
   * of the database covers it (a cold ban: its next flow start is dropped
   * once the daemon promotes it).  False when the allowlist covers it.
   */
  blocked: boolean;
  /** True when the kernel itself decided (verdict drop or ports). */
  inKernel: boolean;
  /** The kernel's verdict: pass, drop, monitor (counted, passes), ports (dropped on some ports only). */
  verdict: Verdict;
  /** What decided it: none, exact, prefix, or allow (the allowlist always wins). */
  match: MatchKind;
  /** The matching kernel entry, or the allowlist entry when match is 'allow'. */
  rule: BanInfo | null;
  /** The database's record that covers the address (exact or the longest prefix), active or remembered; null without one. */
  record: BanRecordInfo | null;
}

export interface AllowResult {
  target: string;
  changed: boolean;
}

export interface StatusResult {
  transport: 'direct' | 'client';
  moduleVersion: string;
  abiVersion: number;
  mode: KernelMode;
  entries: number;
  maxEntries: number;
  prefixes: number;
  allowEntries: number;
  dropped: number;
  /** Records of the ban database by state; null without a database. */
  database: DatabaseCounts | null;
}

/** The ban database's records by state (kept in every write: no walk). */
export interface DatabaseCounts {
  kernel: number;
  cold: number;
  expired: number;
  total: number;
}

/** What fw.on('event') delivers. */
export interface FfwallEvent {
  type: 'evicted' | 'expired' | 'miss' | 'overflow';
  /** The address or prefix, null for 'overflow'. */
  target: string | null;
  /** evicted/expired: hits of the entry; overflow: events lost. */
  value: number;
  /** ISO time. */
  at: string;
}

export interface BatchProgress {
  done: number;
  total: number;
}

/** The outcome of blockMany() and unblockMany(). */
export interface BatchSummary {
  total: number;
  /** Records applied (all of them on success). */
  applied: number;
  /** blockMany: new bans (the others replaced one); unblockMany: bans removed. */
  changed: number;
}

/**
 * What carries the requests.  Every method takes and returns JSON-safe
 * values (they cross the control socket as they are).
 */
/** How listNdjson()/listTargets() hand out their chunks. */
export interface ChunkOptions {
  /**
   * The caller is done with each chunk (written out, drained) before it
   * asks for the next one: the chunks may then share two buffers instead
   * of one fresh buffer each (no new memory per megabyte of output).
   * A transport may ignore it.
   */
  reuse?: boolean;
  /**
   * Threads that walk the database, this one included, when the listing
   * reads the whole table (no source filter, no limit).  Default: one
   * below 200,000 records, otherwise one per core up to 4; the output is
   * the same either way.  Only the direct transport uses it (the daemon
   * picks its own).
   */
  threads?: number;
}

export interface Transport {
  readonly name: 'direct' | 'client';
  block(request: BlockRequest): Promise<BlockResult>;
  /**
   * @prefixes, when given, holds each request's target already parsed
   * (same order); a transport may use it instead of parsing the text again.
   */
  blockMany(requests: BlockRequest[], onProgress?: (p: BatchProgress) => void, prefixes?: readonly IpPrefix[]): Promise<BatchSummary>;
  /**
   * blockMany() of targets packed as the kernel takes them (16 address
   * bytes and a length each), every one with the options of @shared (its
   * target unused), without a request or an object per target: a feed.
   * @targetOf(i) names entry i in an error, and `badIndex` counts in
   * @packed.  Optional: without it, Ffwall.blockFeed() sends blockMany().
   */
  blockPacked?(packed: PackedPrefixes, shared: BlockRequest, targetOf: (i: number) => string, onProgress?: (p: BatchProgress) => void): Promise<BatchSummary>;
  unblock(target: string): Promise<UnblockResult>;
  unblockMany(targets: string[], onProgress?: (p: BatchProgress) => void): Promise<BatchSummary>;
  check(address: string, port: number | null): Promise<CheckResult>;
  allow(targets: string[], reason: string): Promise<AllowResult[]>;
  disallow(targets: string[]): Promise<AllowResult[]>;
  status(): Promise<StatusResult>;
  /** Records of the ban database matching @filter, streamed (flat memory). */
  list(filter: ListRequest): AsyncIterable<BanRecordInfo>;
  /**
   * list() as NDJSON, UTF-8 bytes in chunks of whole lines: each line
   * exactly JSON.stringify of the BanRecordInfo list() gives.  Optional:
   * without it, Ffwall serializes list() itself.
   */
  listNdjson?(filter: ListRequest, options?: ChunkOptions): AsyncIterable<Uint8Array>;
  /**
   * The target of each record list() gives, one per line ("192.0.2.1\n"),
   * UTF-8 bytes in chunks of whole lines: the plain export.  Optional:
   * without it, Ffwall takes the targets from listNdjson().
   */
  listTargets?(filter: ListRequest, options?: ChunkOptions): AsyncIterable<Uint8Array>;
  /** One record of the database and its history. */
  show(target: string): Promise<ShowResult>;
  stats(): Promise<StatsResult>;
  /** The database's counts without the kernel's figures. Optional: without it, Ffwall takes them from stats(). */
  databaseCounts?(): Promise<DatabaseCounts | null>;
  allowList(): Promise<AllowEntryInfo[]>;
  attach(device: string): Promise<DeviceEntry[]>;
  detach(device: string): Promise<DeviceEntry[]>;
  devices(): Promise<DeviceEntry[]>;
  getConfig(): Promise<ConfigInfo>;
  setConfig(patch: ConfigPatch): Promise<ConfigInfo>;
  flush(request: FlushRequest): Promise<FlushResult>;
  /** Removes every ban of one source (and tag), from the database and the kernel. */
  unblockSource(source: BanSource, tag: string | null): Promise<UnblockSourceResult>;
  /** Kernel bans hit since @hitSince (kernel seconds; 0: all), at most @limit. */
  hits(hitSince: number, limit: number): Promise<HitsResult>;
  /**
   * The kernel's ban table itself (exact entries, then prefixes; not the
   * allowlist), at most @limit (Infinity: all), as NDJSON chunks of whole
   * lines, one JSON.stringify(BanInfo) each.
   */
  kernelNdjson(limit: number): AsyncIterable<Uint8Array>;
  /** Counts an offence of a mail client (offences.ts); bans it when its kind's threshold trips. */
  report(offence: ReportRequest): Promise<ReportResult>;
  /** Starts delivering events to @listener until the returned function is called. */
  subscribe(listener: (event: FfwallEvent) => void, onError: (err: Error) => void): Promise<() => void>;
  close(): Promise<void>;
}

// ---- What the CLI needs (issue 9): listing, inspection, kernel settings ----

/** Filters of list(); every field optional.  JSON-safe. */
export interface ListRequest {
  /** Only these states (default: every state). */
  state?: ('kernel' | 'cold' | 'expired')[];
  source?: BanSource;
  /** With or without source: only records of this source tag (a feed's name, a jail). */
  tag?: string;
  /** Records that block this port (a whole-address ban blocks every port). */
  port?: number;
  /** Substring of the reason. */
  reason?: string;
  /** At most this many records. */
  limit?: number;
}

/** One event of a record's history, JSON-safe. */
export interface HistoryEntry {
  /** ISO time. */
  at: string;
  type: 'ban' | 'unban' | 'expire' | 'evict' | 'load' | 'allow' | 'disallow';
  target: string;
  details: Record<string, unknown>;
}

export interface ShowResult {
  target: string;
  /** The database's record of exactly this target; null when there is none. */
  record: BanRecordInfo | null;
  /** Its history, oldest first (at most the last 1000 events). */
  history: HistoryEntry[];
  /** The allowlist entry covering it, if any. */
  allowedBy: string | null;
}

export interface AllowEntryInfo {
  target: string;
  /** From the database; '' without one. */
  reason: string;
  /** ISO time it was added; null when only the kernel knows it. */
  addedAt: string | null;
  /** The kernel's allowlist holds it. */
  inKernel: boolean;
  /**
   * The daemon's automatic safety list put it there (reason "auto: KIND:
   * ..."): its kind (loopback, link-local, host, gateway, resolver, ssh);
   * null for an entry added by hand.  An automatic entry is not removed by
   * disallow(): the configuration's safety.override takes it off.
   */
  automatic: string | null;
  /**
   * Listed through the daemon only: an automatic entry that safety.override
   * takes off the list (it is not in force and may be banned), with the
   * override ("PREFIX: REASON"); null otherwise.
   */
  overridden: string | null;
}

export interface DeviceEntry {
  /** Device name, or "*" for every device. */
  name: string;
  ifindex: number;
  /** In the attach list. */
  named: boolean;
  /** An ingress hook is on the device. */
  hooked: boolean;
}

/** The kernel's configuration, as the CLI reads it (KernelConfig is JSON-safe). */
export type ConfigInfo = KernelConfig;

/** The settable fields of ConfigInfo. */
export interface ConfigPatch {
  maxEntries?: number;
  mode?: KernelMode;
  gcInterval?: number;
}

export interface StatsResult {
  transport: 'direct' | 'client';
  moduleVersion: string;
  abiVersion: number;
  /** ISO time of the snapshot. */
  at: string;
  kernel: {
    entries: number;
    maxEntries: number;
    pinned: number;
    prefixes: number;
    allowEntries: number;
    /** Memory of the exact table, bytes (memory.exact). */
    bytes: number;
    /** The module's memory by table, bytes: the exact and prefix tables, the allowlist, the membership filter, and their sum. */
    memory: { exact: number; prefix: number; allow: number; filter: number; total: number };
    packetsSeen: number;
    dropped: { exact: number; ports: number; prefix: number; total: number };
    passedAllow: number;
    monitorHits: number;
    inserted: number;
    deleted: number;
    evicted: number;
    expired: number;
    eventsLost: number;
  };
  config: ConfigInfo;
  devices: DeviceEntry[];
  /** Records of the ban database by state; null without a database. */
  database: DatabaseCounts | null;
}

export type FlushTable = 'exact' | 'prefix' | 'allow';

export interface FlushRequest {
  /** Kernel tables to empty (default exact and prefix: the bans; the allowlist only when named). */
  scope: FlushTable[];
  /** Also remove the database's active bans (exact/prefix) and allowlist entries (allow). */
  database: boolean;
}

export interface FlushResult {
  /** Kernel entries removed. */
  kernel: number;
  /** Database records or allowlist entries removed (0 unless database). */
  database: number;
  /** Database records marked cold because their kernel entry went (when the database is kept). */
  cold: number;
}

export interface UnblockSourceResult {
  source: BanSource;
  tag: string | null;
  /** Database records removed. */
  removed: number;
  /** Kernel entries removed. */
  kernel: number;
}

/** One kernel ban with its hit counter, for `ffwall top`. */
export interface HitsResult {
  /** The kernel's clock, seconds (pass back as hitSince). */
  kernelNow: number;
  /** ISO time of the snapshot. */
  at: string;
  /** Kernel bans hit at or after hitSince (all bans when hitSince is 0). */
  entries: BanInfo[];
  /** True when more entries matched than the limit. */
  truncated: boolean;
}
