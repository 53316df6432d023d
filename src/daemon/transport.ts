// SPDX-License-Identifier: MIT
//
// The transport the daemon serves on its control socket: the library's
// DirectTransport over the daemon's own kernel and store (not owned: closing
// it closes nothing), with two hooks of the daemon around the bans:
//   - before: the safety check (the automatic allowlist, the force rule),
//     which may refuse the whole request before anything changes;
//   - after: the new host bans go into the membership filter (FILTER_ADD),
//     so that they come back on a MISS once evicted.
// It also reports every request (op, result code) for the metrics.
import { packedPrefixAt, parsePrefix, type IpPrefix } from '../lib/addr.js';
import type {
  AllowEntryInfo,
  AllowResult,
  BanRecordInfo,
  BanSource,
  BatchProgress,
  BatchSummary,
  BlockRequest,
  BlockResult,
  CheckResult,
  ConfigInfo,
  ConfigPatch,
  DeviceEntry,
  FfwallEvent,
  FlushRequest,
  FlushResult,
  HitsResult,
  ListRequest,
  ShowResult,
  StatsResult,
  StatusResult,
  Transport,
  UnblockResult,
  UnblockSourceResult,
} from '../lib/api.js';
import { defaultOffenceConfig, OffenceTracker, type OffenceConfig, type ReportRequest, type ReportResult } from '../lib/offences.js';
import type { PackedPrefixes } from '../lib/kernel-native.js';
import type { PackedPrefixBytes } from '../lib/prefix-ranges.js';
import { AUTO_REASON_PREFIX, type DirectTransport } from '../lib/transport-direct.js';

/** One entry of the automatic safety list (src/daemon/safety.ts computes them). */
export interface SafetyEntryLike {
  prefix: IpPrefix;
  kind: string;
  reason: string;
}

export interface SafetyCheckLike {
  ok: boolean;
  /** Safety entries the target covers or lies in. */
  collisions: SafetyEntryLike[];
  /** Set when the prefix is too short and force was not given. */
  force?: string;
  reasons: string[];
}

/** The targets of a ban request, one at a time (a feed has no object per target). */
export interface BanTargets {
  readonly count: number;
  /** Target @i, parsed. */
  at(i: number): IpPrefix;
  /** Whether target @i was given force. */
  force(i: number): boolean;
  /** Target @i as its request wrote it (for messages). */
  name(i: number): string;
  /** The targets packed (a feed), when they came so: at(i) is entry i of it. */
  readonly packed?: PackedPrefixBytes;
}

/**
 * check() of one target, for many (SafetySource.checker()).  `entries`, when
 * set, are every entry it checks against: a host target that shares no
 * address with any of them passes (a host never needs force), which lets the
 * daemon screen a packed feed without an IpPrefix per entry.
 */
export type SafetyChecker = ((target: IpPrefix, options: { force?: boolean }) => SafetyCheckLike) & { readonly entries?: readonly SafetyEntryLike[] };

/** What the daemon needs of the safety list: SafetyList (safety.ts) has this shape. */
export interface SafetySource {
  /** Re-reads the host's addresses, gateways, resolvers; returns every entry in force. */
  refresh(): Promise<SafetyEntryLike[]>;
  /** The entries in force (last refresh and SSH snapshot, minus the overrides). */
  entries(): SafetyEntryLike[];
  /** Whether a ban of @target may go ahead (reads the SSH sessions open now). */
  check(target: IpPrefix, options: { force?: boolean }): Promise<SafetyCheckLike>;
  /**
   * check() for many targets: the host's state read once, then the returned
   * function checks one target, synchronously.  Optional: without it, the
   * daemon awaits check() per target.
   */
  checker?(): Promise<SafetyChecker>;
  /** The entries safety.override takes off the list, with the override (its prefix and reason). */
  overridden?(): Array<SafetyEntryLike & { override: string }>;
}

export interface DaemonTransportHooks {
  /** Throws (nothing changed) when a request may not go ahead. */
  beforeBan(targets: BanTargets): Promise<void>;
  /** After bans were written: the targets (as written) of the records. */
  afterBan(targets: Pick<BanTargets, 'count' | 'at'>): Promise<void>;
  /**
   * Runs a batch of bans (its writes and afterBan()) once beforeBan() let
   * it go ahead: the daemon holds back its sweep's filter upkeep meanwhile,
   * so that a long import is not added to the filter twice (default: runs it).
   */
  batch?<T>(run: () => Promise<T>): Promise<T>;
  /** Every request and its result: 'ok' or the error's code. */
  request?(op: string, result: string): void;
  /** Every offence reported and what came of it. */
  offence?(offence: ReportRequest, result: ReportResult): void;
  /** The automatic safety entries the configuration overrides (listed by allowList(), marked). */
  overridden?(): Array<SafetyEntryLike & { override: string }>;
}

/** The targets of @requests (@prefixes: the same, parsed already). */
function requestTargets(requests: readonly BlockRequest[], prefixes?: readonly IpPrefix[]): BanTargets {
  const req = (i: number): BlockRequest => requests[i] as BlockRequest;
  return {
    count: requests.length,
    at: (i) => prefixes?.[i] ?? parsePrefix(req(i).target),
    force: (i) => req(i).force === true,
    name: (i) => req(i).target,
  };
}

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  return err instanceof TypeError || err instanceof RangeError ? 'invalid' : 'error';
}

export class DaemonTransport implements Transport {
  readonly name = 'direct' as const;
  readonly #inner: DirectTransport;
  readonly #hooks: DaemonTransportHooks;
  readonly #offences: OffenceTracker;

  /** Does no work. */
  constructor(inner: DirectTransport, hooks: DaemonTransportHooks, options: { offences?: OffenceConfig; now?: () => number } = {}) {
    this.#inner = inner;
    this.#hooks = hooks;
    // The daemon's own tracker: its bans go through block() below, safety checks and filter included.
    this.#offences = new OffenceTracker(options.offences ?? defaultOffenceConfig(), { ban: (r) => this.block(r), ...(options.now === undefined ? {} : { now: options.now }) });
  }

  /** The offence tracker shared by every client of the daemon. */
  get offences(): OffenceTracker {
    return this.#offences;
  }

  async #run<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      const r = await fn();
      this.#hooks.request?.(op, 'ok');
      return r;
    } catch (err) {
      this.#hooks.request?.(op, codeOf(err));
      throw err;
    }
  }

  block(r: BlockRequest): Promise<BlockResult> {
    return this.#run('block', async () => {
      await this.#hooks.beforeBan(requestTargets([r]));
      const res = await this.#inner.block(r);
      const written = [res.target, ...res.also];
      await this.#hooks.afterBan({ count: written.length, at: (i) => parsePrefix(written[i] as string) });
      return res;
    });
  }

  blockMany(requests: BlockRequest[], onProgress?: (p: BatchProgress) => void, prefixes?: readonly IpPrefix[]): Promise<BatchSummary> {
    return this.#run('blockMany', async () => {
      // The records may be wider (IPv6 aggregation): only host targets go into the filter, and those are written as given.
      return this.#batch(requestTargets(requests, prefixes), () => this.#inner.blockMany(requests, onProgress, prefixes));
    });
  }

  /** A feed (Ffwall.blockFeed()): the safety checks of every entry, then the inner transport's kernel-first load. */
  blockPacked(packed: PackedPrefixes, shared: BlockRequest, targetOf: (i: number) => string, onProgress?: (p: BatchProgress) => void): Promise<BatchSummary> {
    return this.#run('blockFeed', async () => {
      const force = shared.force === true;
      const targets: BanTargets = { count: packed.count, at: (i) => packedPrefixAt(packed, i), force: () => force, name: targetOf, packed };
      return this.#batch(targets, () => this.#inner.blockPacked(packed, shared, targetOf, onProgress));
    });
  }

  /** A batch of bans of @targets: the safety checks, then @write and afterBan() inside the daemon's batch hook. */
  async #batch(targets: BanTargets, write: () => Promise<BatchSummary>): Promise<BatchSummary> {
    await this.#hooks.beforeBan(targets);
    const run = async (): Promise<BatchSummary> => {
      const res = await write();
      await this.#hooks.afterBan(targets);
      return res;
    };
    return this.#hooks.batch === undefined ? run() : this.#hooks.batch(run);
  }

  unblock(target: string): Promise<UnblockResult> {
    return this.#run('unblock', () => this.#inner.unblock(target));
  }

  unblockMany(targets: string[], onProgress?: (p: BatchProgress) => void): Promise<BatchSummary> {
    return this.#run('unblockMany', () => this.#inner.unblockMany(targets, onProgress));
  }

  check(address: string, port: number | null): Promise<CheckResult> {
    return this.#run('check', () => this.#inner.check(address, port));
  }

  allow(targets: string[], reason: string): Promise<AllowResult[]> {
    return this.#run('allow', () => this.#inner.allow(targets, reason));
  }

  disallow(targets: string[]): Promise<AllowResult[]> {
    return this.#run('disallow', () => this.#inner.disallow(targets));
  }

  status(): Promise<StatusResult> {
    return this.#run('status', () => this.#inner.status());
  }

  // The operator's calls (the CLI): passed through, counted.
  list(filter: ListRequest): AsyncIterable<BanRecordInfo> {
    this.#hooks.request?.('list', 'ok');
    return this.#inner.list(filter);
  }

  listNdjson(filter: ListRequest): AsyncIterable<Uint8Array> {
    this.#hooks.request?.('list', 'ok');
    return this.#inner.listNdjson(filter);
  }

  kernelNdjson(limit: number): AsyncIterable<Uint8Array> {
    this.#hooks.request?.('kernelList', 'ok');
    return this.#inner.kernelNdjson(limit);
  }

  show(target: string): Promise<ShowResult> {
    return this.#run('show', () => this.#inner.show(target));
  }

  stats(): Promise<StatsResult> {
    return this.#run('stats', () => this.#inner.stats());
  }

  /** The allowlist (automatic entries marked), then the automatic entries safety.override takes off it. */
  allowList(): Promise<AllowEntryInfo[]> {
    return this.#run('allowList', async () => {
      const out = await this.#inner.allowList();
      const listed = new Set(out.map((e) => e.target));
      for (const o of this.#hooks.overridden?.() ?? []) {
        const target = o.prefix.toString();
        if (listed.has(target)) continue;
        out.push({ target, reason: `${AUTO_REASON_PREFIX}${o.kind}: ${o.reason}`, addedAt: null, inKernel: false, automatic: o.kind, overridden: o.override });
      }
      return out;
    });
  }

  attach(device: string): Promise<DeviceEntry[]> {
    return this.#run('attach', () => this.#inner.attach(device));
  }

  detach(device: string): Promise<DeviceEntry[]> {
    return this.#run('detach', () => this.#inner.detach(device));
  }

  devices(): Promise<DeviceEntry[]> {
    return this.#run('devices', () => this.#inner.devices());
  }

  getConfig(): Promise<ConfigInfo> {
    return this.#run('getConfig', () => this.#inner.getConfig());
  }

  setConfig(patch: ConfigPatch): Promise<ConfigInfo> {
    return this.#run('setConfig', () => this.#inner.setConfig(patch));
  }

  flush(request: FlushRequest): Promise<FlushResult> {
    return this.#run('flush', () => this.#inner.flush(request));
  }

  unblockSource(source: BanSource, tag: string | null): Promise<UnblockSourceResult> {
    return this.#run('unblockSource', () => this.#inner.unblockSource(source, tag));
  }

  hits(hitSince: number, limit: number): Promise<HitsResult> {
    return this.#run('hits', () => this.#inner.hits(hitSince, limit));
  }

  report(offence: ReportRequest): Promise<ReportResult> {
    return this.#run('report', async () => {
      const r = await this.#offences.report(offence);
      this.#hooks.offence?.(offence, r);
      return r;
    });
  }

  subscribe(listener: (event: FfwallEvent) => void, onError: (err: Error) => void): Promise<() => void> {
    return this.#inner.subscribe(listener, onError);
  }

  /** Closes nothing of the daemon's (the inner transport does not own the kernel or the store). */
  close(): Promise<void> {
    return this.#inner.close();
  }
}
