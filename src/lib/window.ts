// SPDX-License-Identifier: MIT
//
// The kernel window (issue 7): the kernel table is a capped window onto the
// ban database.  KernelWindow keeps the two in step, with no I/O of its own
// beyond the Kernel and the BanStore it is given:
//   - restore():   an empty table (reboot, module reload) gets the allowlist
//                  mirror, then the hottest active bans up to the kernel's
//                  capacity, then the membership filter over every active
//                  host ban;
//   - reconcile(): a table that is not empty (userland restarted alone) is
//                  diffed against the database and repaired with ADD and DEL
//                  only: never FLUSH, so protection never lapses;
//   - promote():   the MISS path: the active ban covering an address goes
//                  back into the kernel;
//   - start():     restore or reconcile, from the kernel's state.
// docs/DESIGN-window.md explains the choices (what "empty" means, pinned
// bans beyond the capacity, the filter's size).
import { randomBytes } from 'node:crypto';

import { IpPrefix } from './addr.js';
import { bloomInsert } from './bloom.js';
import type { BanStore } from './db/store.js';
import type { BanRecord } from './db/types.js';
import { KeyMap, KeySet } from './keyset.js';
import { isKernelError, KERNEL_LIMITS, type Kernel, type KernelConfig, type KernelEntry, type KernelRule, type MembershipFilter } from './kernel.js';
import { loadBinding } from './native.js';

/** Target false-positive rate of the membership filter (kmod/DESIGN-filter.md: 10.37 bits per member, k 6). */
export const FILTER_BITS_PER_MEMBER = 10.37;
export const FILTER_NHASHES = 6;
/** Room for bans added after a build (FILTER_ADD) before the rate passes 1%: the filter is sized for 25% more members, and at least this many. */
export const FILTER_HEADROOM = 1.25;
export const FILTER_MIN_MEMBERS = 1024;

/** ADD/DEL chunk of the streamed loads: the ABI's batch maximum. */
const CHUNK = KERNEL_LIMITS.batchMax;
/** Addresses per native filterBuild call while streaming the active bans. */
const FILTER_CHUNK = 1 << 16;
/**
 * Records marked 'kernel' per write transaction after a restore (in key
 * order).  Each commit is a sync to disk and rewrites the pages it touched:
 * at 10k per transaction, marking a 365k window of a 3M-record database took
 * 24 s of a 25 s restore on the host, at 400k 16 s.  100k holds the writer
 * lock for about a second on the host.
 */
const MARK_CHUNK = 100_000;

export type WindowPhase = 'allowlist' | 'sweep' | 'load' | 'delete' | 'filter';

export interface WindowOptions {
  /** Wall clock in ms (the database's clock); default Date.now. */
  now?: () => number;
  /** Progress of restore/reconcile: @done of @total in @phase (total 0 when unknown). */
  onProgress?: (phase: WindowPhase, done: number, total: number) => void;
  /** The filter's SipHash key; default random per build. */
  seed?: () => readonly [bigint, bigint];
  /** 'native' (the addon's filterBuild, off the event loop), 'ts' (bloom.ts) or 'auto' (native when the addon loads). */
  filterBuilder?: 'native' | 'ts' | 'auto';
}

export interface FilterReport {
  /** Active host bans in the filter. */
  members: number;
  bytes: number;
  nhashes: number;
  /** True when filterMaxBytes capped the size (the rate is then above 1%). */
  clamped: boolean;
  /** The rate the size gives for `members` (blocked-Bloom approximation). */
  expectedFpr: number;
}

export interface WindowReport {
  mode: 'restore' | 'reconcile';
  /** Kernel capacity: exact entries and ban prefixes. */
  maxEntries: number;
  maxPrefixes: number;
  /** Active bans in the database after the sweep. */
  active: number;
  /** Active bans the sweep expired (their expiry had passed). */
  expired: number;
  /** Exact entries and prefixes ADDed to the kernel. */
  loaded: number;
  loadedPrefixes: number;
  /** Kernel entries (exact and prefixes) deleted: not active bans, or displaced by hotter ones (reconcile). */
  deleted: number;
  /** Kernel entries whose flags, ports or TTL were corrected (reconcile). */
  updated: number;
  /** Exact entries and prefixes in the kernel once done. */
  inKernel: number;
  prefixesInKernel: number;
  /** Active bans left in the database only (state cold). */
  cold: number;
  /** Pinned host bans that did not fit (more pinned bans than maxEntries): cold, in the filter. */
  pinnedOverCap: number;
  /** Bans the kernel refused (EEXIST under an allowlist entry, ENOSPC): cold. */
  refused: number;
  /** Allowlist entries added to and removed from the kernel. */
  allowAdded: number;
  allowRemoved: number;
  filter: FilterReport;
  /** Milliseconds per phase and in total. */
  timings: { sweep: number; allowlist: number; load: number; filter: number; total: number };
}

export type PromoteResult =
  | { promoted: true; prefix: IpPrefix; record: BanRecord }
  | { promoted: false; reason: 'no-ban' | 'expired' | 'refused'; prefix: IpPrefix | undefined; error?: Error };

/** The kernel rule of an active record; undefined when its expiry has passed at @now. */
export function ruleOf(r: BanRecord, now: number): KernelRule | undefined {
  let ttl = 0;
  if (r.expires !== null) {
    const left = Math.ceil((r.expires - now) / 1000);
    if (left <= 0) return undefined;
    ttl = Math.min(left, KERNEL_LIMITS.ttlMax);
  }
  const rule: KernelRule = { prefix: r.prefix, ttl };
  if (r.ports.length > 0) rule.ports = r.ports;
  if (r.pinned) rule.pinned = true;
  if (r.monitor) rule.monitor = true;
  return rule;
}

/** Bytes and hashes of the filter for @members active host bans, at most @maxBytes. */
export function filterSize(members: number, maxBytes: number): { bytes: number; nhashes: number; clamped: boolean; expectedFpr: number } {
  const planned = Math.max(FILTER_MIN_MEMBERS, Math.ceil(members * FILTER_HEADROOM));
  const block = KERNEL_LIMITS.filterBlockBytes;
  let bytes = Math.ceil((planned * FILTER_BITS_PER_MEMBER) / 8 / block) * block;
  const cap = Math.floor(maxBytes / block) * block;
  const clamped = bytes > cap;
  if (clamped) bytes = cap;
  const nhashes = FILTER_NHASHES;
  return { bytes, nhashes, clamped, expectedFpr: filterFpr(members, bytes, nhashes) };
}

/** Expected false-positive rate of a blocked Bloom filter of @bytes with @members inserted and @nhashes bits each. */
export function filterFpr(members: number, bytes: number, nhashes: number): number {
  const block = KERNEL_LIMITS.filterBlockBytes;
  if (bytes <= 0) return 1;
  // Blocked Bloom, Poisson members per block (DESIGN-filter.md's FPR_0; the real rate is a little higher).
  const lambda = members / (bytes / block);
  const p = 1 - nhashes / 512;
  let fpr = 0;
  let pois = Math.exp(-lambda);
  for (let j = 0; j < 4 * lambda + 40; j++) {
    if (j > 0) pois *= lambda / j;
    fpr += pois * (1 - p ** j) ** nhashes;
  }
  return fpr;
}

/** The documented target rate of the membership filter (DESIGN-window.md): the daemon rebuilds it past this. */
export const FILTER_TARGET_FPR = 0.01;

function randomSeed(): readonly [bigint, bigint] {
  const b = randomBytes(16);
  return [b.readBigUInt64LE(0), b.readBigUInt64LE(8)];
}

type NativeFilterBuild = (addrs: Uint8Array, count: number, sizeBytes: number, nhashes: number, seed0: bigint, seed1: bigint, into: Uint8Array) => Promise<Uint8Array>;

/** Builds a filter from addresses fed in chunks, so that the active set is never held in memory at once. */
class FilterBuilder {
  readonly data: Uint8Array;
  #buf = new Uint8Array(FILTER_CHUNK * 16);
  #n = 0;
  members = 0;
  constructor(
    readonly bytes: number,
    readonly nhashes: number,
    readonly seed: readonly [bigint, bigint],
    readonly native: NativeFilterBuild | undefined,
  ) {
    this.data = new Uint8Array(bytes);
  }

  async add(p: IpPrefix): Promise<void> {
    p.writeTo(this.#buf, this.#n * 16);
    this.#n++;
    this.members++;
    if (this.#n === FILTER_CHUNK) await this.flush();
  }

  /** add() from a record key (the address is its first 16 bytes), copied before any await. */
  async addKey(key: Uint8Array): Promise<void> {
    this.#buf.set(key.subarray(0, 16), this.#n * 16);
    this.#n++;
    this.members++;
    if (this.#n === FILTER_CHUNK) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#n === 0) return;
    const n = this.#n;
    this.#n = 0;
    if (this.native !== undefined) {
      // In place: no full-size buffer per chunk.
      await this.native(this.#buf.subarray(0, n * 16), n, this.bytes, this.nhashes, this.seed[0], this.seed[1], this.data);
    } else {
      for (let i = 0; i < n; i++) bloomInsert(this.data, this.seed, this.nhashes, this.#buf.subarray(i * 16, i * 16 + 16));
    }
  }

  filter(): MembershipFilter {
    return { data: this.data, nhashes: this.nhashes, seed: this.seed, members: this.members };
  }
}

/** An ordered list of prefixes kept as packed 17-byte keys (address, length): a window's worth costs 17 bytes each. */
class PackedList {
  #buf = Buffer.alloc(17 * 1024);
  length = 0;
  push(p: IpPrefix): void {
    this.#room();
    p.writeTo(this.#buf, this.length * 17);
    this.#buf[this.length * 17 + 16] = p.length;
    this.length++;
  }
  /** push() of a 17-byte record key (address, length), copied. */
  pushKey(key: Uint8Array): void {
    this.#room();
    this.#buf.set(key.subarray(0, 17), this.length * 17);
    this.length++;
  }
  /** Room for one more entry (the buffer doubles when full). */
  #room(): void {
    if ((this.length + 1) * 17 <= this.#buf.length) return;
    const b = Buffer.alloc(this.#buf.length * 2);
    this.#buf.copy(b);
    this.#buf = b;
  }
  at(i: number): IpPrefix {
    const o = i * 17;
    return new IpPrefix(Uint8Array.from(this.#buf.subarray(o, o + 16)), this.#buf[o + 16] as number);
  }
  /**
   * Puts the list in record-key order (the bytes of the address, then the
   * length): the order of the database's ban table, so that writes to many
   * records in one transaction dirty neighbouring pages, not one page each.
   */
  sortByKey(): void {
    const n = this.length;
    const buf = this.#buf;
    // Five words per entry (the address as four big-endian words, then the length), compared word by word.
    const w = new Uint32Array(n * 5);
    for (let i = 0; i < n; i++) {
      const o = i * 17;
      for (let j = 0; j < 4; j++) w[i * 5 + j] = buf.readUInt32BE(o + j * 4);
      w[i * 5 + 4] = buf[o + 16] as number;
    }
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    order.sort((a, b) => {
      for (let j = 0; j < 5; j++) {
        const d = (w[a * 5 + j] as number) - (w[b * 5 + j] as number);
        if (d !== 0) return d;
      }
      return 0;
    });
    const sorted = Buffer.alloc(buf.length);
    for (let i = 0; i < n; i++) {
      const o = (order[i] as number) * 17;
      buf.copy(sorted, i * 17, o, o + 17);
    }
    this.#buf = sorted;
  }
  /** Removes and returns the last @n, last first. */
  popMany(n: number): IpPrefix[] {
    const out: IpPrefix[] = [];
    while (n-- > 0 && this.length > 0) out.push(this.at(--this.length));
    return out;
  }
}

/** Decides, in hottest-first order, which active bans belong in the kernel. */
class WindowPlan {
  hosts = 0;
  prefixes = 0;
  pinnedHosts = 0;
  /** Unpinned host targets, hottest first: the coldest are displaced by pinned bans found later. */
  readonly unpinned = new PackedList();
  /** Pinned host bans met once the window was full. */
  readonly latePinned: IpPrefix[] = [];
  pinnedOverCap = 0;
  constructor(
    readonly maxEntries: number,
    readonly maxPrefixes: number,
  ) {}

  /** 'target' (belongs in the kernel now), 'late' (a pinned ban that displaces an unpinned target at the end), 'beyond'. */
  decide(prefix: IpPrefix, pinned: boolean): 'target' | 'late' | 'beyond' {
    if (!prefix.isHost) {
      if (this.prefixes >= this.maxPrefixes) return 'beyond';
      this.prefixes++;
      return 'target';
    }
    if (this.hosts < this.maxEntries) {
      this.hosts++;
      if (pinned) this.pinnedHosts++;
      else this.unpinned.push(prefix);
      return 'target';
    }
    if (pinned) {
      if (this.pinnedHosts + this.latePinned.length < this.maxEntries) {
        this.latePinned.push(prefix);
        return 'late';
      }
      this.pinnedOverCap++;
    }
    return 'beyond';
  }

  /** The unpinned targets the late pinned bans displace, coldest first. */
  displaced(): IpPrefix[] {
    return this.unpinned.popMany(this.latePinned.length);
  }
}

/** reconcile(): a kernel entry, the rule its record asks for, and the record when it is not marked 'kernel' yet. */
interface InKernel {
  entry: KernelEntry;
  rule: KernelRule;
  record: BanRecord | undefined;
}

/** Buffers prefixes and runs @fn on each chunk. */
class Batcher<T> {
  #items: T[] = [];
  constructor(
    readonly size: number,
    readonly fn: (items: T[]) => Promise<void> | void,
  ) {}
  async push(x: T): Promise<void> {
    this.#items.push(x);
    if (this.#items.length >= this.size) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.#items.length === 0) return;
    const items = this.#items;
    this.#items = [];
    await this.fn(items);
  }
}

function emptyReport(mode: WindowReport['mode']): WindowReport {
  return {
    mode,
    maxEntries: 0,
    maxPrefixes: 0,
    active: 0,
    expired: 0,
    loaded: 0,
    loadedPrefixes: 0,
    deleted: 0,
    updated: 0,
    inKernel: 0,
    prefixesInKernel: 0,
    cold: 0,
    pinnedOverCap: 0,
    refused: 0,
    allowAdded: 0,
    allowRemoved: 0,
    filter: { members: 0, bytes: 0, nhashes: 0, clamped: false, expectedFpr: 0 },
    timings: { sweep: 0, allowlist: 0, load: 0, filter: 0, total: 0 },
  };
}

function sameRule(e: KernelEntry, rule: KernelRule, kernelNow: number): boolean {
  const ports = rule.ports ?? [];
  if (e.pinned !== (rule.pinned ?? false) || e.monitor !== (rule.monitor ?? false)) return false;
  if (e.ports.length !== ports.length || e.ports.some((p, i) => p !== ports[i])) return false;
  const ttl = rule.ttl ?? 0;
  if ((e.expires === 0) !== (ttl === 0)) return false;
  // The kernel counts whole seconds: a TTL within 2 s of the database's expiry is the same ban.
  return ttl === 0 || Math.abs(e.expires - kernelNow - ttl) <= 2;
}

export class KernelWindow {
  readonly kernel: Kernel;
  readonly store: BanStore;
  readonly #now: () => number;
  readonly #options: WindowOptions;
  #native: NativeFilterBuild | undefined | null = null;

  /** Does no work. */
  constructor(kernel: Kernel, store: BanStore, options: WindowOptions = {}) {
    this.kernel = kernel;
    this.store = store;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Restore when the kernel table is empty (no exact entries and no ban prefixes), reconcile otherwise. */
  async start(): Promise<WindowReport> {
    return (await this.isEmpty()) ? this.restore() : this.reconcile();
  }

  /** No exact entries and no ban prefixes; allowlist entries and the filter do not count. */
  async isEmpty(): Promise<boolean> {
    const s = await this.kernel.stats();
    return s.entries === 0 && s.prefixes === 0;
  }

  #progress(phase: WindowPhase, done: number, total: number): void {
    this.#options.onProgress?.(phase, done, total);
  }

  /** Expires every active ban whose expiry has passed; returns how many. */
  #sweep(): number {
    const now = this.#now();
    let n = 0;
    for (;;) {
      const r = this.store.sweep(now, 10_000);
      n += r.expired.length;
      this.#progress('sweep', n, 0);
      if (!r.more) return n;
    }
  }

  /** Mirrors the database's allowlist into the kernel (adds missing, removes extra). */
  async #mirrorAllowlist(report: WindowReport): Promise<void> {
    const inKernel = new Map<string, IpPrefix>();
    for await (const batch of this.kernel.allowDump()) for (const e of batch) inKernel.set(e.prefix.key(), e.prefix);
    const missing: IpPrefix[] = [];
    for (const a of this.store.allowlist()) {
      if (!inKernel.delete(a.prefix.key())) missing.push(a.prefix);
    }
    if (missing.length > 0) {
      const r = await this.kernel.allowAdd(missing, { onProgress: (d, t) => this.#progress('allowlist', d, t) });
      report.allowAdded = r.changed;
    }
    if (inKernel.size > 0) {
      const r = await this.kernel.allowDel([...inKernel.values()]);
      report.allowRemoved = r.changed;
    }
  }

  /** kernel.reserve(), where a failed allocation only means the ADDs grow the hash as they go. */
  async #reserve(entries: number): Promise<void> {
    try {
      await this.kernel.reserve(entries);
    } catch (err) {
      if (!isKernelError(err) || err.code !== 'ENOMEM') throw err;
    }
  }

  async #filterBuilder(members: number, maxBytes: number): Promise<FilterBuilder> {
    const size = filterSize(members, maxBytes);
    const seed = (this.#options.seed ?? randomSeed)();
    return new FilterBuilder(size.bytes, size.nhashes, seed, await this.#nativeBuild());
  }

  async #nativeBuild(): Promise<NativeFilterBuild | undefined> {
    if (this.#native !== null) return this.#native;
    const mode = this.#options.filterBuilder ?? 'auto';
    this.#native = undefined;
    if (mode === 'ts') return undefined;
    try {
      const b = loadBinding();
      this.#native = (addrs, count, size, k, s0, s1, into) => b.filterBuild(addrs, count, size, k, s0, s1, into);
    } catch (err) {
      if (mode === 'native') throw err;
    }
    return this.#native;
  }

  async #loadFilter(fb: FilterBuilder, report: WindowReport, maxBytes: number): Promise<void> {
    await fb.flush();
    await this.kernel.filterLoad(fb.filter());
    const size = filterSize(fb.members, maxBytes);
    report.filter = { members: fb.members, bytes: fb.bytes, nhashes: fb.nhashes, clamped: size.clamped, expectedFpr: size.expectedFpr };
    this.#progress('filter', fb.members, fb.members);
  }

  /**
   * ADDs @rules, skipping (and returning) those the kernel refuses one by
   * one (EEXIST: under an allowlist entry; ENOSPC: no room), so that one bad
   * record does not stop a restore.  Returns the rules in effect.
   */
  async #addTolerant(rules: KernelRule[], report: WindowReport, onDone: (done: number) => void): Promise<KernelRule[]> {
    let rest = rules;
    const ok: KernelRule[] = [];
    while (rest.length > 0) {
      try {
        await this.kernel.add(rest, { onProgress: (d) => onDone(ok.length + d) });
        ok.push(...rest);
        break;
      } catch (err) {
        if (!isKernelError(err) || (err.code !== 'EEXIST' && err.code !== 'ENOSPC')) throw err;
        const bad = err.badIndex ?? err.applied ?? 0;
        ok.push(...rest.slice(0, bad));
        report.refused++;
        if (err.code === 'ENOSPC') {
          // Every entry is pinned or the port sets are full: keep the rest of this kind cold.
          const host = rest[bad]?.prefix.isHost ?? true;
          const remaining = rest.slice(bad + 1);
          report.refused += remaining.filter((r) => r.prefix.isHost === host).length;
          rest = remaining.filter((r) => r.prefix.isHost !== host);
        } else {
          rest = rest.slice(bad + 1);
        }
      }
    }
    return ok;
  }

  /**
   * The start of restore() and reconcile(): the kernel's configuration,
   * their report with the table's limits, the expiry sweep, then the
   * allowlist mirror.
   */
  async #begin(kind: 'restore' | 'reconcile'): Promise<{ report: WindowReport; cfg: KernelConfig }> {
    const report = emptyReport(kind);
    const cfg = await this.kernel.getConfig();
    report.maxEntries = cfg.maxEntries;
    report.maxPrefixes = cfg.maxPrefixes;
    let t = performance.now();
    report.expired = this.#sweep();
    report.timings.sweep = performance.now() - t;
    t = performance.now();
    await this.#mirrorAllowlist(report);
    report.timings.allowlist = performance.now() - t;
    return { report, cfg };
  }

  /**
   * For an empty kernel table: the allowlist mirror, the hottest active bans
   * up to the capacity (streamed in ADD batches, marked 'kernel'; the rest
   * 'cold'), then the membership filter over every active host ban.
   */
  async restore(): Promise<WindowReport> {
    const t0 = performance.now();
    const { report, cfg } = await this.#begin('restore');
    let t = performance.now();
    const counts = this.store.counts();
    const activeTotal = counts.kernel + counts.cold;
    // The exact table's hash sized once for the window: the active bans, but
    // no more than the host records (of any state; prefixes go to the prefix
    // sets, and counting them made a database of IPv6 /64 bans reserve for
    // hosts it does not have).
    const hostRecords = this.store.prefixLengths()?.find((l) => l.length === 128)?.records ?? activeTotal;
    await this.#reserve(Math.min(activeTotal, hostRecords, cfg.maxEntries));
    const fb = await this.#filterBuilder(activeTotal, cfg.filterMaxBytes);
    const now = this.#now();
    let loadedSoFar = 0;
    // The records loaded are marked 'kernel' after the loads, in key order
    // (PackedList.sortByKey()): marking each ADD batch in hot order made
    // every 10k-record transaction dirty about 10k database pages.  A crash
    // before the marks leaves a full kernel table, which the next start
    // reconciles (it marks what the kernel holds).
    const loadedKeys = new PackedList();
    const loads = new Batcher<BanRecord>(CHUNK, async (recs) => {
      const rules = this.#rulesNow(recs);
      const base = loadedSoFar;
      const ok = await this.#addTolerant(rules, report, (d) => this.#progress('load', base + d, Math.min(activeTotal, cfg.maxEntries + cfg.maxPrefixes)));
      loadedSoFar += ok.length;
      for (const r of ok) {
        if (r.prefix.isHost) report.loaded++;
        else report.loadedPrefixes++;
        loadedKeys.push(r.prefix);
      }
    });
    // Full records are read only for the window itself: the pinned bans
    // first (the kernel never evicts them), then the hottest by the hot
    // index's keys.  Every active host ban goes into the filter from the
    // keys alone, so a 10M-record database costs 10M key reads, not 10M
    // record reads.
    const chosen = new KeySet();
    let hosts = 0;
    let prefixes = 0;
    const room = (p: IpPrefix): boolean => (p.isHost ? hosts < cfg.maxEntries : prefixes < cfg.maxPrefixes);
    const take = async (rec: BanRecord): Promise<void> => {
      const rule = ruleOf(rec, now);
      if (rule === undefined) return; // expired since the sweep: swept below
      if (rec.prefix.isHost) hosts++;
      else prefixes++;
      chosen.add(rec.prefix);
      await loads.push(rec);
    };
    const pinned = [...this.store.pinnedActive()].sort((a, b) => b.lastHit - a.lastHit || b.lastSeen - a.lastSeen);
    const pinnedKeys = new KeySet();
    for (const rec of pinned) {
      pinnedKeys.add(rec.prefix);
      if (room(rec.prefix)) await take(rec);
      else if (rec.prefix.isHost) report.pinnedOverCap++;
    }
    await loads.flush();
    // Choose the rest in one read pass over the hot index, then load them:
    // an LMDB range iterator that outlives write transactions of the same
    // process re-positions after each commit, which made a 10M-key pass
    // crawl when loads were written during it.
    const picked = new PackedList();
    let pickedHosts = hosts;
    let pickedPrefixes = prefixes;
    // Keys read in place (no IpPrefix each: a 10M-record database has 10M).
    for (const key of this.store.activeKeys()) {
      report.active++;
      const host = key[16] === 128;
      if (!(host ? pickedHosts >= cfg.maxEntries : pickedPrefixes >= cfg.maxPrefixes) && !pinnedKeys.hasKey(key)) {
        if (host) pickedHosts++;
        else pickedPrefixes++;
        picked.pushKey(key);
      }
      if (host) await fb.addKey(key);
    }
    for (let k = 0; k < picked.length; k++) {
      const rec = this.store.get(picked.at(k));
      if (rec === undefined || rec.pinned || rec.state === 'expired' || !room(rec.prefix)) continue; // pinned: placed above, or over the cap
      await take(rec);
    }
    await loads.flush();
    loadedKeys.sortByKey();
    const marks = new Batcher<IpPrefix>(MARK_CHUNK, (ps) => void this.store.markLoaded(ps, MARK_CHUNK));
    for (let k = 0; k < loadedKeys.length; k++) await marks.push(loadedKeys.at(k));
    await marks.flush();
    // The previous window (state 'kernel' before the table emptied) is cold
    // where the new one does not hold it.  Collected first: the index changes
    // as records are marked.
    const stale = new PackedList();
    for (const p of this.store.inKernelPrefixes()) if (!chosen.has(p)) stale.push(p);
    const colds = new Batcher<IpPrefix>(10_000, (ps) => void this.store.markEvicted(ps));
    for (let k = 0; k < stale.length; k++) await colds.push(stale.at(k));
    await colds.flush();
    report.timings.load = performance.now() - t;

    t = performance.now();
    await this.#loadFilter(fb, report, cfg.filterMaxBytes);
    report.timings.filter = performance.now() - t;
    report.expired += this.#sweep();
    await this.#finish(report, t0);
    return report;
  }

  /**
   * The kernel rules of @recs, their TTLs counted from now, just before
   * their ADD: a TTL counted from the start of a restore that loads for
   * minutes would make every entry outlive its ban by that long (and the
   * next reconcile would find every entry's expiry wrong and ADD it again).
   * A record that has expired in the meantime is left out (swept later).
   */
  #rulesNow(recs: readonly BanRecord[]): KernelRule[] {
    const now = this.#now();
    const rules: KernelRule[] = [];
    for (const rec of recs) {
      const rule = ruleOf(rec, now);
      if (rule !== undefined) rules.push(rule);
    }
    return rules;
  }

  async #finish(report: WindowReport, t0: number): Promise<void> {
    const s = await this.kernel.stats();
    report.inKernel = s.entries;
    report.prefixesInKernel = s.prefixes;
    const c = this.store.counts();
    report.cold = c.cold;
    report.active = c.kernel + c.cold;
    report.timings.total = performance.now() - t0;
  }

  /**
   * For a table that is not empty: DUMP, diff against the database, delete
   * kernel entries that are not active bans, correct flags/TTLs, add the
   * hottest missing bans (displacing the coldest entries outside the window
   * when the table is full), fix the states, reload the filter and mirror
   * the allowlist.  Never FLUSH.
   */
  async reconcile(): Promise<WindowReport> {
    const t0 = performance.now();
    const { report, cfg } = await this.#begin('reconcile');
    let t = performance.now();
    const now = this.#now();
    const kernelNow = (await this.kernel.stats()).now;
    // The kernel's entries: key -> entry with its record's rule and state,
    // without the stale ones (deleted at once).  Only these records, and the
    // ones loaded below, are read whole: the rest of the database is walked
    // as hot-index keys, as in restore().
    const inKernel = new KeyMap<InKernel>();
    const stale: IpPrefix[] = [];
    for await (const batch of this.kernel.dump()) {
      for (const e of batch) {
        if (e.kind === 'allow') continue;
        const rec = this.store.get(e.prefix);
        const rule = rec === undefined || rec.state === 'expired' ? undefined : ruleOf(rec, now);
        if (rec === undefined || rule === undefined) stale.push(e.prefix);
        else inKernel.set(e.prefix, { entry: e, rule, record: rec.state === 'kernel' ? undefined : rec });
      }
    }
    if (stale.length > 0) {
      const r = await this.kernel.del(stale, { onProgress: (d, tot) => this.#progress('delete', d, tot) });
      report.deleted += r.changed;
    }
    let exactInKernel = 0;
    let prefixesInKernel = 0;
    for (const { entry: e } of inKernel.values()) {
      if (e.kind === 'exact') exactInKernel++;
      else prefixesInKernel++;
    }

    const counts = this.store.counts();
    const plan = new WindowPlan(cfg.maxEntries, cfg.maxPrefixes);
    const fb = await this.#filterBuilder(counts.kernel + counts.cold, cfg.filterMaxBytes);
    const missingHosts: IpPrefix[] = [];
    const missingPrefixes: IpPrefix[] = [];
    const late: IpPrefix[] = [];
    /** In the kernel but outside the window, hottest first: the coldest go when room is needed. */
    const beyondInKernel = new PackedList();
    const fixes = new Batcher<BanRecord>(CHUNK, async (recs) => {
      const ok = await this.#addTolerant(this.#rulesNow(recs), report, () => undefined);
      report.updated += ok.length;
    });
    const toLoaded = new Batcher<IpPrefix>(10_000, (ps) => void this.store.markLoaded(ps));
    const toCold = new Batcher<IpPrefix>(10_000, (ps) => void this.store.markEvicted(ps));
    // What the database holds pinned, and believes is in the kernel: key sets.
    const pinnedKeys = new KeySet();
    for (const rec of this.store.pinnedActive()) pinnedKeys.add(rec.prefix);
    const markedKernel = new KeySet();
    for (const p of this.store.inKernelPrefixes()) markedKernel.add(p);
    for (const p of this.store.activePrefixes()) {
      if (p.isHost) await fb.add(p);
      const k = inKernel.get(p);
      const d = plan.decide(p, pinnedKeys.has(p));
      if (k !== undefined) {
        if (!sameRule(k.entry, k.rule, kernelNow)) {
          const rec = k.record ?? this.store.get(p);
          if (rec !== undefined) await fixes.push(rec);
        }
        if (k.record !== undefined) await toLoaded.push(p);
        if (d === 'beyond' && p.isHost) beyondInKernel.push(p);
      } else {
        if (d === 'target') (p.isHost ? missingHosts : missingPrefixes).push(p);
        else if (d === 'late') late.push(p);
        if (markedKernel.has(p)) await toCold.push(p);
      }
    }
    await fixes.flush();
    await toLoaded.flush();
    await toCold.flush();

    // Pinned bans beyond the window displace the coldest unpinned targets.
    if (late.length > 0) {
      const displaced = plan.displaced();
      const missingKeys = new Set(missingHosts.map((p) => p.key()));
      for (const p of displaced) {
        if (missingKeys.has(p.key())) missingHosts.splice(missingHosts.findIndex((q) => q.equals(p)), 1);
        else beyondInKernel.push(p);
      }
      missingHosts.push(...late);
    }

    // Add the missing hosts.  With the table full, the coldest entries outside the window make
    // room, in steps of at most half the table (DEL, then ADD), so it never goes empty.
    const total = missingHosts.length + missingPrefixes.length;
    let done = 0;
    const addSome = async (ps: IpPrefix[]): Promise<number> => {
      const recs: BanRecord[] = [];
      for (const p of ps) {
        const rec = this.store.get(p);
        if (rec !== undefined && rec.state !== 'expired') recs.push(rec);
      }
      const rules = this.#rulesNow(recs);
      const base = done;
      const ok = await this.#addTolerant(rules, report, (d) => this.#progress('load', base + d, total));
      done += ps.length;
      for (const r of ok) {
        if (r.prefix.isHost) report.loaded++;
        else report.loadedPrefixes++;
      }
      this.store.markLoaded(ok.map((r) => r.prefix));
      return ok.length;
    };
    let room = Math.max(0, cfg.maxEntries - exactInKernel);
    let i = 0;
    while (i < missingHosts.length) {
      if (room <= 0) {
        const step = Math.min(CHUNK, Math.max(1, Math.floor(exactInKernel / 2)), missingHosts.length - i);
        const out = beyondInKernel.popMany(step);
        if (out.length === 0) break;
        const r = await this.kernel.del(out, { onProgress: (d, tot) => this.#progress('delete', d, tot) });
        report.deleted += r.changed;
        exactInKernel -= r.changed;
        room += r.changed;
        this.store.markEvicted(out);
        if (r.changed === 0) break;
      }
      const n = Math.min(room, CHUNK, missingHosts.length - i);
      const added = await addSome(missingHosts.slice(i, i + n));
      exactInKernel += added;
      room -= added;
      i += n;
      if (added === 0 && room > 0) room = 0; // refused (ENOSPC): no more room
    }
    const prefixRoom = Math.max(0, cfg.maxPrefixes - prefixesInKernel);
    for (let j = 0; j < Math.min(prefixRoom, missingPrefixes.length); j += CHUNK) await addSome(missingPrefixes.slice(j, Math.min(j + CHUNK, prefixRoom)));
    const leftOut = [...missingHosts.slice(i), ...missingPrefixes.slice(prefixRoom)];
    if (leftOut.length > 0) this.store.markEvicted(leftOut.filter((p) => this.store.get(p)?.state === 'kernel'));
    report.pinnedOverCap = plan.pinnedOverCap;
    report.timings.load = performance.now() - t;

    t = performance.now();
    await this.#loadFilter(fb, report, cfg.filterMaxBytes);
    report.timings.filter = performance.now() - t;
    report.expired += this.#sweep();
    await this.#finish(report, t0);
    return report;
  }

  /**
   * Rebuilds the membership filter alone over every active host ban (the
   * daemon calls it when the filter has drifted: too many members added
   * since its sizing, or too many removed).  The table is not touched.
   */
  async rebuildFilter(): Promise<FilterReport> {
    const cfg = await this.kernel.getConfig();
    const counts = this.store.counts();
    const report = emptyReport('reconcile');
    const fb = await this.#filterBuilder(counts.kernel + counts.cold, cfg.filterMaxBytes);
    for (const p of this.store.activePrefixes()) if (p.isHost) await fb.add(p);
    await this.#loadFilter(fb, report, cfg.filterMaxBytes);
    return report.filter;
  }

  /** The active ban covering @address (the exact record, else the longest prefix), if any. */
  findBan(address: IpPrefix): BanRecord | undefined {
    return this.store.covering(address);
  }

  /**
   * The MISS path: ADD the active ban covering @address back into the
   * kernel and mark it 'kernel'.  No ban (a filter false positive) or an
   * expired one: nothing changes.
   */
  async promote(address: IpPrefix): Promise<PromoteResult> {
    const rec = this.findBan(address);
    if (rec === undefined) return { promoted: false, reason: 'no-ban', prefix: undefined };
    const rule = ruleOf(rec, this.#now());
    if (rule === undefined) {
      this.#sweep();
      return { promoted: false, reason: 'expired', prefix: rec.prefix };
    }
    try {
      await this.kernel.add([rule]);
    } catch (err) {
      if (isKernelError(err) && (err.code === 'EEXIST' || err.code === 'ENOSPC')) return { promoted: false, reason: 'refused', prefix: rec.prefix, error: err };
      throw err;
    }
    this.store.markLoaded([rec.prefix]);
    return { promoted: true, prefix: rec.prefix, record: { ...rec, state: 'kernel', kernelHits: 0 } };
  }

  /** EVICTED: the ban is cold (database only). */
  evicted(prefix: IpPrefix): void {
    const rec = this.store.get(prefix);
    if (rec?.state === 'kernel') this.store.markEvicted([prefix]);
  }

  /**
   * EXPIRED: the kernel's TTL ran out.  When the database's expiry has
   * passed too the ban expires there (sweep); otherwise (the ban was
   * extended meanwhile) it is cold.
   */
  expired(prefix: IpPrefix): BanRecord | undefined {
    let rec = this.store.get(prefix);
    if (rec === undefined || rec.state === 'expired') return rec;
    if (rec.expires !== null && rec.expires <= this.#now() + 1000) {
      this.#sweepUntil(rec.expires);
      rec = this.store.get(prefix);
    }
    if (rec?.state === 'kernel') {
      this.store.markEvicted([prefix]);
      rec = this.store.get(prefix);
    }
    return rec;
  }

  #sweepUntil(time: number): void {
    const until = Math.max(this.#now(), time);
    while (this.store.sweep(until, 10_000).more);
  }
}
