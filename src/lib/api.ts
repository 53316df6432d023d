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
import type { KernelMode, MatchKind, Verdict } from './kernel.js';

/** Who asked for a ban: recorded with it, used to remove one source's bans. */
export type BanSource = 'cli' | 'api' | 'policy' | 'logwatch' | 'feed';

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
  database: { kernel: number; cold: number; expired: number; total: number } | null;
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
export interface Transport {
  readonly name: 'direct' | 'client';
  block(request: BlockRequest): Promise<BlockResult>;
  blockMany(requests: BlockRequest[], onProgress?: (p: BatchProgress) => void): Promise<BatchSummary>;
  unblock(target: string): Promise<UnblockResult>;
  unblockMany(targets: string[], onProgress?: (p: BatchProgress) => void): Promise<BatchSummary>;
  check(address: string, port: number | null): Promise<CheckResult>;
  allow(targets: string[], reason: string): Promise<AllowResult[]>;
  disallow(targets: string[]): Promise<AllowResult[]>;
  status(): Promise<StatusResult>;
  /** Starts delivering events to @listener until the returned function is called. */
  subscribe(listener: (event: FfwallEvent) => void, onError: (err: Error) => void): Promise<() => void>;
  close(): Promise<void>;
}
