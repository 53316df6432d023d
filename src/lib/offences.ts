// SPDX-License-Identifier: MIT
//
// The offence tracker: mail servers (Postfix through its log, Haraka
// through the library) report what a client did wrong; when one address
// commits enough offences of one kind within a sliding time window, it is
// banned on the SMTP ports.
//
//   const t = new OffenceTracker(defaultOffenceConfig(), { ban: (req) => fw... });
//   await t.report({ address: '192.0.2.7', kind: 'unknown-user', origin: 'postfix' });
//
// Memory is bounded: at most maxTracked addresses are followed (the least
// recently offending one is dropped first), and per address and kind only
// the last `threshold` offence times are kept.  An address whose counter
// trips starts counting from zero again, whether the ban went ahead or was
// refused (an allowlisted address: counted, never banned; the refusal comes
// back in the result, once per `threshold` offences, never per offence).
import type { BanSource, BlockRequest, BlockResult } from './api.js';
import { formatDuration } from './duration.js';

/** The kinds of offence, by fixed name (the log watcher and the Haraka plugin emit exactly these). */
export const OFFENCE_KINDS = ['rbl', 'unknown-user', 'relay-denied', 'bad-helo', 'sasl-failed', 'pregreet', 'dnsbl', 'pipelining', 'hangup', 'other'] as const;
export type OffenceKind = (typeof OFFENCE_KINDS)[number];

/** What a mail server reports. */
export interface Offence {
  /** The client's address (a single IPv4 or IPv6 address). */
  address: string;
  /** One of OFFENCE_KINDS. */
  kind: string;
  /** Who saw it: 'postfix', 'haraka', ... (1..32 characters a-z 0-9 _ -). */
  origin: string;
  /** When, ms since the epoch; default now. */
  at?: number;
  /** Free text (at most 256 bytes), e.g. the log line's reason. */
  detail?: string;
}

/** Something that produces offences (the Postfix log watcher): the daemon starts, stops and follows it. */
export interface OffenceSource {
  start(): Promise<void>;
  stop(): Promise<void>;
  on(event: 'offence', listener: (o: Offence) => void): unknown;
  on(event: 'error', listener: (e: Error) => void): unknown;
}

/** One kind's rule. */
export interface OffenceRule {
  /** False: offences of this kind are counted nowhere and never ban. */
  enabled: boolean;
  /** Offences within `window` that ban. */
  threshold: number;
  /** Seconds. */
  window: number;
}

export interface OffenceConfig {
  /** Default window of the kinds (seconds); the kinds' rules carry their own, resolved. */
  window: number;
  /** Ports banned; empty: every port. */
  ports: number[];
  /** Seconds; null: the database's escalation (or the direct transport's default TTL). */
  ttl: number | null;
  /** Most addresses followed at once. */
  maxTracked: number;
  kinds: Record<OffenceKind, OffenceRule>;
}

/** Default thresholds per kind (window: 10 minutes). */
export const DEFAULT_THRESHOLDS: Readonly<Record<OffenceKind, number>> = {
  rbl: 1,
  'unknown-user': 3,
  'relay-denied': 2,
  'bad-helo': 3,
  'sasl-failed': 5,
  pregreet: 1,
  dnsbl: 1,
  pipelining: 2,
  hangup: 5,
  other: 5,
};

export const DEFAULT_OFFENCE_WINDOW = 600;
export const DEFAULT_OFFENCE_PORTS: readonly number[] = [25, 465, 587];
export const DEFAULT_MAX_TRACKED = 100_000;

export function defaultOffenceConfig(): OffenceConfig {
  const kinds = {} as Record<OffenceKind, OffenceRule>;
  for (const k of OFFENCE_KINDS) kinds[k] = { enabled: true, threshold: DEFAULT_THRESHOLDS[k], window: DEFAULT_OFFENCE_WINDOW };
  return { window: DEFAULT_OFFENCE_WINDOW, ports: [...DEFAULT_OFFENCE_PORTS], ttl: null, maxTracked: DEFAULT_MAX_TRACKED, kinds };
}

export function isOffenceKind(k: unknown): k is OffenceKind {
  return typeof k === 'string' && (OFFENCE_KINDS as readonly string[]).includes(k);
}

/** The ban source of an origin: postfix (its log) -> logwatch; haraka; fail2ban; anything else -> api. */
export function sourceOfOrigin(origin: string): BanSource {
  if (origin === 'postfix') return 'logwatch';
  if (origin === 'haraka') return 'haraka';
  if (origin === 'fail2ban') return 'fail2ban';
  return 'api';
}

/** An offence as it crosses a transport: checked, JSON-safe. */
export interface ReportRequest {
  /** Normalized single address. */
  address: string;
  kind: OffenceKind;
  origin: string;
  /** ms since the epoch; null: the tracker's now. */
  at: number | null;
  detail: string;
}

/** The answer to a report. */
export interface ReportResult {
  address: string;
  kind: OffenceKind;
  /** Offences of this kind from this address within the window, this one included (0 when the kind is disabled). */
  count: number;
  /** The kind's threshold (0 when disabled). */
  threshold: number;
  /** False when the kind is disabled: the offence was ignored. */
  enabled: boolean;
  /** True when this offence tripped the threshold and the ban went ahead. */
  banned: boolean;
  ban?: BlockResult;
  /** Set when the threshold tripped but the ban was refused: the error's code (EALLOWLISTED, ...) and message. */
  refused?: string;
}

export interface OffenceTrackerOptions {
  /** Bans (the tracker builds the request). Throws when refused. */
  ban: (request: BlockRequest) => Promise<BlockResult>;
  /** Wall clock, ms; default Date.now. */
  now?: () => number;
}

interface Tracked {
  /** Per kind: the last offence times (ms), oldest first, at most the threshold. */
  kinds: Map<OffenceKind, number[]>;
}

export class OffenceTracker {
  #config: OffenceConfig;
  readonly #ban: (request: BlockRequest) => Promise<BlockResult>;
  readonly #now: () => number;
  /** Insertion order is recency: the first entry is the least recently offending address. */
  readonly #tracked = new Map<string, Tracked>();
  #dropped = 0;

  constructor(config: OffenceConfig, options: OffenceTrackerOptions) {
    this.#config = config;
    this.#ban = options.ban;
    this.#now = options.now ?? Date.now;
  }

  get config(): OffenceConfig {
    return this.#config;
  }

  /** Addresses followed now. */
  get size(): number {
    return this.#tracked.size;
  }

  /** Addresses dropped to keep within maxTracked, since the start. */
  get dropped(): number {
    return this.#dropped;
  }

  /** A new configuration (reload): the counters stay; a lower cap drops the least recent addresses now. */
  configure(config: OffenceConfig): void {
    this.#config = config;
    this.#trim();
  }

  /** Forgets every counter. */
  clear(): void {
    this.#tracked.clear();
  }

  /** The count of @kind for @address now (tests, inspection). */
  count(address: string, kind: OffenceKind): number {
    const rule = this.#config.kinds[kind];
    const times = this.#tracked.get(address)?.kinds.get(kind);
    if (times === undefined || times.length === 0) return 0;
    const newest = Math.max(this.#now(), times[times.length - 1] ?? 0);
    return times.filter((t) => t > newest - rule.window * 1000).length;
  }

  /** Counts @o; bans its address when the kind's threshold is reached within its window. */
  async report(o: ReportRequest): Promise<ReportResult> {
    const rule = this.#config.kinds[o.kind];
    if (!rule.enabled) return { address: o.address, kind: o.kind, count: 0, threshold: 0, enabled: false, banned: false };
    const now = this.#now();
    const at = o.at ?? now;
    // Older than the window ending now (a log read from its start, a late report): it cannot count any more.
    if (at <= now - rule.window * 1000) return { address: o.address, kind: o.kind, count: this.count(o.address, o.kind), threshold: rule.threshold, enabled: true, banned: false };
    let entry = this.#tracked.get(o.address);
    if (entry === undefined) entry = { kinds: new Map() };
    else this.#tracked.delete(o.address);
    this.#tracked.set(o.address, entry);
    this.#trim();
    let times = entry.kinds.get(o.kind);
    if (times === undefined) {
      times = [];
      entry.kinds.set(o.kind, times);
    }
    // Sorted insert: log lines may come a little out of order.
    let i = times.length;
    while (i > 0 && (times[i - 1] ?? 0) > at) i--;
    times.splice(i, 0, at);
    const newest = times[times.length - 1] ?? at;
    const from = newest - rule.window * 1000;
    let drop = 0;
    while (drop < times.length && (times[drop] ?? 0) <= from) drop++;
    if (drop > 0) times.splice(0, drop);
    if (times.length > rule.threshold) times.splice(0, times.length - rule.threshold);
    const count = times.length;
    const result: ReportResult = { address: o.address, kind: o.kind, count, threshold: rule.threshold, enabled: true, banned: false };
    if (count < rule.threshold) return result;
    // Tripped: count afresh from here, whatever the ban's outcome.
    entry.kinds.delete(o.kind);
    if (entry.kinds.size === 0) this.#tracked.delete(o.address);
    const request: BlockRequest = {
      target: o.address,
      ports: [...this.#config.ports],
      ttl: this.#config.ttl,
      permanent: false,
      pin: false,
      monitor: false,
      reason: reasonOf(o.origin, count, o.kind, rule.window),
      source: sourceOfOrigin(o.origin),
      sourceTag: o.kind,
    };
    try {
      result.ban = await this.#ban(request);
      result.banned = true;
    } catch (err) {
      const e = err as { code?: unknown; message?: unknown };
      const code = typeof e.code === 'string' ? e.code : 'error';
      result.refused = `${code}: ${typeof e.message === 'string' ? e.message : String(err)}`;
    }
    return result;
  }

  #trim(): void {
    const max = this.#config.maxTracked;
    while (this.#tracked.size > max) {
      const oldest = this.#tracked.keys().next().value;
      if (oldest === undefined) break;
      this.#tracked.delete(oldest);
      this.#dropped++;
    }
  }
}

/** "postfix: 3x unknown-user in 10m" */
export function reasonOf(origin: string, count: number, kind: OffenceKind, windowSeconds: number): string {
  return `${origin}: ${count}x ${kind} in ${formatDuration(windowSeconds)}`;
}
