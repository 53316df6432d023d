// SPDX-License-Identifier: MIT
//
// FakeKernel: the Kernel interface in memory, with the semantics and the
// errnos of ffwall.ko (kmod/uapi/ffwall.h, kmod/DESIGN*.md, kmod/*.c), for
// tests of everything above the kernel and for the conformance suite
// (test/conformance/), which runs the same tests against this fake and the
// real module.
//
// Modelled: the exact table (capacity cap, CLOCK eviction, expiry: a miss at
// once, reclaimed by the next gc pass), port sets (shared by exact entries
// and ban prefixes, limited like the module's), ban prefixes and the
// allowlist (longest match, limits, EEXIST), LOOKUP, DUMP phases, FLUSH,
// STATS, config, the attach list, the membership filter (the real
// FFWALL_FILTER_BLOCKED_BLOOM), per-reader event rings with OVERFLOW, and
// the hook's verdict for a packet (packet()).
//
// Deliberate simplifications: CLOCK sweeps in insertion order, not hash
// order; DUMP returns entries in insertion order within each phase; the
// MISS rate limit is per address per whole second of the fake clock (the
// module's is per address per CPU per HZ); bucket counts and bytes in
// STATS are plausible, not the module's.
import { setImmediate as nextTurn } from 'node:timers/promises';

import { IpPrefix } from './addr.js';
import { bloomTest, bloomInsert } from './bloom.js';
import {
  FEATURES,
  KERNEL_LIMITS,
  columnsOf,
  type BatchOptions,
  type BatchResult,
  type DeviceInfo,
  type DumpOptions,
  type FlushOptions,
  type Kernel,
  type KernelColumns,
  type KernelConfig,
  type KernelConfigPatch,
  type KernelEntry,
  type KernelEvent,
  type KernelEventStream,
  type KernelEventType,
  type KernelMode,
  type KernelRule,
  type KernelStats,
  type LookupResult,
  type MatchKind,
  type MembershipFilter,
  type ModuleVersion,
  type PackedFilterAdd,
  type Verdict,
} from './kernel.js';
import {
  checkArray,
  checkBatchOptions,
  checkConfigPatch,
  checkDeviceName,
  checkFilter,
  checkFlushOptions,
  checkReserve,
  checkHost,
  checkPackedHosts,
  checkPort,
  checkPrefix,
  checkRule,
  errnoError,
  type CheckedRule,
} from './validate.js';

const U32_MAX = 0xffffffff;
/** Port set ids 1..1023: the module's table has FFWALL_MAX_PORTSETS slots and id 0 means "no ports". */
const PORTSET_SLOTS = 1024 - 1;
const ALL_FEATURES = Object.values(FEATURES).reduce((a, b) => a | b, 0n);
const DUMP_CHUNK = KERNEL_LIMITS.dumpMax;

export interface FakeKernelOptions {
  /** Capacity cap of the exact table at load (module parameter max_entries, default 1048576). */
  maxEntries?: number;
  /** Limit of ban prefixes (default 65536). */
  maxPrefixes?: number;
  /** Limit of allowlist entries (default 65536). */
  maxAllow?: number;
  /** Largest membership filter in bytes (default 32 MiB). */
  filterMaxBytes?: number;
  /** Records in each event reader's ring (default 1024). */
  eventRingSize?: number;
  /** Seconds between two gc passes (default 10). */
  gcInterval?: number;
  /** Read-only hook priority (default -300). */
  hookPriority?: number;
  /**
   * The kernel's clock, CLOCK_BOOTTIME seconds.  Default: a fake clock that
   * starts at 1000 and moves only with advance().  advance() adds to
   * whatever this returns.
   */
  clock?: () => number;
  /** The path named in errors (default '/dev/ffwall'). */
  path?: string;
  /** Network devices that exist, name to ifindex (default lo 1, eth0 2). */
  netdevs?: Record<string, number>;
  /** The module version string (default '0.1.0'). */
  moduleVersion?: string;
}

/** A packet for FakeKernel.packet(): what the ingress hook looks at. */
export interface FakePacket {
  /** The source address (a host). */
  src: IpPrefix;
  proto: 'tcp' | 'udp' | 'sctp' | 'icmp';
  /** Destination port (tcp, udp, sctp). */
  dport?: number;
  /**
   * Whether the packet starts a flow (TCP SYN, SCTP INIT, ICMP echo request),
   * default true.  UDP datagrams always do.
   */
  flowStart?: boolean;
  /** Receiving device; absent: a hooked device. A device that is not hooked passes everything uncounted. */
  device?: string;
}

interface Entry {
  prefix: IpPrefix;
  ports: number[];
  portsKey: string;
  pinned: boolean;
  monitor: boolean;
  /** Absolute expiry, 0: never. */
  expires: number;
  lastHit: number;
  hits: number;
  /** CLOCK reference bit (exact entries only). */
  ref: boolean;
}

interface Filter {
  data: Uint8Array;
  nhashes: number;
  seed: readonly [bigint, bigint];
  members: number;
}

function hexOf(p: IpPrefix): string {
  return p.key();
}

function isExpired(e: Entry, now: number): boolean {
  return e.expires !== 0 && now >= e.expires;
}

function expiry(now: number, ttl: number): number {
  if (ttl === 0) return 0;
  return Math.min(now + ttl, U32_MAX);
}

/** One prefix set: ban prefixes or the allowlist. */
class PrefixSet {
  readonly entries = new Map<string, Entry>();
  readonly lens = new Map<number, number>();
  constructor(
    readonly kind: 'prefix' | 'allow',
    readonly max: number,
    readonly maxLen: number,
  ) {}

  link(e: Entry): void {
    this.entries.set(hexOf(e.prefix), e);
    this.lens.set(e.prefix.length, (this.lens.get(e.prefix.length) ?? 0) + 1);
  }

  unlink(e: Entry): void {
    this.entries.delete(hexOf(e.prefix));
    const n = (this.lens.get(e.prefix.length) ?? 1) - 1;
    if (n === 0) this.lens.delete(e.prefix.length);
    else this.lens.set(e.prefix.length, n);
  }

  /** The longest live entry of length <= maxLen containing @addr (bytes). */
  find(addr: Uint8Array, maxLen: number, now: number): Entry | undefined {
    const lens = [...this.lens.keys()].filter((l) => l <= maxLen).sort((a, b) => b - a);
    for (const len of lens) {
      const e = this.entries.get(IpPrefix.masked(addr, len).key());
      if (e !== undefined && !isExpired(e, now)) return e;
    }
    return undefined;
  }
}

class KernelAbortError extends Error {
  readonly code = 'ABORT_ERR';
  constructor(
    readonly applied: number,
    options?: { cause?: unknown },
  ) {
    super('The operation was aborted', options);
    this.name = 'AbortError';
  }
}

export class FakeKernel implements Kernel, PackedFilterAdd {
  readonly kind = 'fake' as const;
  readonly path: string;

  #closed = false;
  #offset = 0;
  readonly #clock: () => number;
  #nextGc: number;

  // Configuration.
  #maxEntries: number;
  #mode: KernelMode = 'enforce';
  #gcInterval: number;
  readonly #hookPriority: number;
  readonly #filterMaxBytes: number;
  readonly #eventRingSize: number;
  readonly #moduleVersion: string;

  // The exact table, in insertion order (the CLOCK hand's order).
  readonly #table = new Map<string, Entry>();
  #hand: Iterator<Entry> | undefined;
  #pinned = 0;
  #buckets = 16;
  /** No shrinking before this time (seconds): the room of a RESERVE. */
  #reserveHold = 0;
  readonly #portsets = new Map<string, number>();

  readonly #ban: PrefixSet;
  readonly #allow: PrefixSet;

  #filter: Filter | undefined;
  readonly #missReported = new Map<string, number>();

  // Devices.
  readonly #netdevs = new Map<string, number>();
  readonly #names: string[] = [];
  #attachAll = false;

  readonly #readers = new Set<FakeEventStream>();

  readonly #stats = {
    packetsSeen: 0,
    packetsNotIp: 0,
    droppedExact: 0,
    droppedPorts: 0,
    droppedPrefix: 0,
    passedAllow: 0,
    monitorHits: 0,
    filterProbes: 0,
    filterHits: 0,
    inserted: 0,
    deleted: 0,
    evicted: 0,
    expired: 0,
    resizes: 0,
    eventsLost: 0,
  };

  constructor(options: FakeKernelOptions = {}) {
    const int = (v: number | undefined, def: number, min: number, max: number, what: string): number => {
      const x = v ?? def;
      if (!Number.isInteger(x) || x < min || x > max) throw new RangeError(`FakeKernel: ${what} must be an integer ${min}..${max}`);
      return x;
    };
    this.path = options.path ?? '/dev/ffwall';
    this.#maxEntries = int(options.maxEntries, 1 << 20, KERNEL_LIMITS.maxEntriesMin, KERNEL_LIMITS.maxEntriesMax, 'maxEntries');
    this.#gcInterval = int(options.gcInterval, 10, KERNEL_LIMITS.gcIntervalMin, KERNEL_LIMITS.gcIntervalMax, 'gcInterval');
    this.#hookPriority = int(options.hookPriority, -300, -(2 ** 31), 2 ** 31 - 1, 'hookPriority');
    this.#filterMaxBytes = int(options.filterMaxBytes, 32 << 20, 64, 2 ** 31, 'filterMaxBytes');
    this.#eventRingSize = int(options.eventRingSize, 1024, 16, 65536, 'eventRingSize');
    this.#ban = new PrefixSet('prefix', int(options.maxPrefixes, 65536, 1, 1 << 20, 'maxPrefixes'), 127);
    this.#allow = new PrefixSet('allow', int(options.maxAllow, 65536, 1, 1 << 20, 'maxAllow'), 128);
    this.#moduleVersion = options.moduleVersion ?? '0.1.0';
    if (options.clock !== undefined) {
      const c = options.clock;
      this.#clock = () => Math.floor(c());
    } else {
      this.#clock = () => 1000;
    }
    for (const [name, ifindex] of Object.entries(options.netdevs ?? { lo: 1, eth0: 2 })) this.#netdevs.set(name, ifindex);
    this.#nextGc = this.now + this.#gcInterval;
  }

  // ---- Test hooks -----------------------------------------------------------

  /** The kernel's time, CLOCK_BOOTTIME seconds. */
  get now(): number {
    return (this.#clock() + this.#offset) >>> 0;
  }

  /** Moves the clock by @seconds, running every gc pass that falls due on the way. */
  advance(seconds: number): void {
    if (!Number.isInteger(seconds) || seconds < 0) throw new RangeError('advance: seconds must be a non-negative integer');
    const target = this.now + seconds;
    while (this.#nextGc <= target) {
      this.#offset += this.#nextGc - this.now;
      this.#nextGc += this.#gcInterval;
      this.gc();
    }
    this.#offset += target - this.now;
  }

  /** One pass of the expiry reclaimer now: exact entries, then ban prefixes.  Returns how many were reclaimed. */
  gc(): number {
    const now = this.now;
    let n = 0;
    for (const e of [...this.#table.values()]) {
      if (!isExpired(e, now)) continue;
      this.#raise('expired', e, e.hits);
      this.#unlinkExact(e);
      this.#stats.expired++;
      n++;
    }
    n += this.#gcSet(this.#ban, now);
    this.#maybeShrink();
    return n;
  }

  /** Adds a network device (as if it appeared), hooked if the attach list names it. */
  addNetdev(name: string, ifindex: number): void {
    this.#netdevs.set(name, ifindex);
  }

  /** Removes a network device; its name stays in the attach list. */
  removeNetdev(name: string): void {
    this.#netdevs.delete(name);
  }

  /**
   * The verdict of the ingress hook for one packet, with its side effects:
   * counters, hits, the filter probe and MISS.
   */
  packet(p: FakePacket): 'drop' | 'pass' {
    this.#live();
    this.#tick();
    const src = checkHost(p.src, 'packet.src');
    if (!['tcp', 'udp', 'sctp', 'icmp'].includes(p.proto)) throw new TypeError(`packet.proto: unknown protocol ${String(p.proto)}`);
    if (p.dport !== undefined) checkPort(p.dport, 'packet.dport');
    if (p.device !== undefined && !this.#hooked(p.device)) return 'pass';
    const now = this.now;
    const st = this.#stats;
    st.packetsSeen++;
    const addr = src.bytes;
    let e: Entry | undefined = this.#table.get(hexOf(src));
    let exact = true;
    if (e !== undefined && isExpired(e, now)) e = undefined;
    if (e === undefined) {
      exact = false;
      e = this.#ban.find(addr, 127, now);
      if (e === undefined) {
        this.#miss(p, src, now);
        return 'pass';
      }
    }
    if (e.ports.length > 0) {
      if (p.proto === 'icmp' || p.dport === undefined || !e.ports.includes(p.dport)) return 'pass';
    }
    if (this.#allow.find(addr, 128, 0) !== undefined) {
      st.passedAllow++;
      return 'pass';
    }
    e.hits = (e.hits + 1) >>> 0;
    e.lastHit = now;
    if (exact) e.ref = true;
    if (e.monitor || this.#mode === 'monitor') {
      st.monitorHits++;
      return 'pass';
    }
    if (!exact) st.droppedPrefix++;
    else if (e.ports.length > 0) st.droppedPorts++;
    else st.droppedExact++;
    return 'drop';
  }

  // ---- Kernel ---------------------------------------------------------------

  async version(): Promise<ModuleVersion> {
    this.#live();
    return { abiVersion: 1, features: ALL_FEATURES, moduleVersion: this.#moduleVersion };
  }

  async getConfig(): Promise<KernelConfig> {
    this.#live();
    this.#tick();
    return this.#config();
  }

  async setConfig(patch: KernelConfigPatch): Promise<KernelConfig> {
    const p = checkConfigPatch(patch);
    this.#live();
    this.#tick();
    if (p.maxEntries !== undefined) {
      if (this.#pinned > p.maxEntries) throw this.#err('ENOSPC');
      this.#maxEntries = p.maxEntries;
      const now = this.now;
      while (this.#table.size > p.maxEntries) this.#evictOne(now);
      this.#maybeShrink();
    }
    if (p.mode !== undefined) this.#mode = p.mode;
    if (p.gcInterval !== undefined) {
      this.#gcInterval = p.gcInterval;
      this.#nextGc = this.now + p.gcInterval;
    }
    return this.#config();
  }

  async attach(device: string): Promise<void> {
    const name = this.#checkDevice(device);
    this.#live();
    if (name === '*') {
      this.#attachAll = true;
      return;
    }
    if (this.#names.includes(name)) return;
    if (this.#names.length >= KERNEL_LIMITS.maxAttach) throw this.#err('ENOSPC');
    this.#names.push(name);
  }

  async detach(device: string): Promise<void> {
    const name = this.#checkDevice(device);
    this.#live();
    if (name === '*') {
      if (!this.#attachAll) throw this.#err('ENOENT');
      this.#attachAll = false;
      return;
    }
    const i = this.#names.indexOf(name);
    if (i < 0) throw this.#err('ENOENT');
    this.#names.splice(i, 1);
  }

  async devices(): Promise<DeviceInfo[]> {
    this.#live();
    const out: DeviceInfo[] = [];
    if (this.#attachAll) out.push({ name: '*', ifindex: 0, named: true, hooked: false });
    for (const name of this.#names) {
      const ifindex = this.#netdevs.get(name) ?? 0;
      out.push({ name, ifindex, named: true, hooked: this.#netdevs.has(name) });
    }
    if (this.#attachAll) {
      for (const [name, ifindex] of this.#netdevs) if (!this.#names.includes(name)) out.push({ name, ifindex, named: false, hooked: true });
    }
    return out;
  }

  async add(rules: readonly KernelRule[], options?: BatchOptions): Promise<BatchResult> {
    const list = checkArray<KernelRule>(rules, 'rules');
    checkBatchOptions(options);
    const checked = list.map((r, i) => checkRule(r, i));
    this.#live();
    // As NativeKernel: more than one batch of exact entries, RESERVE first.
    let exact = 0;
    for (const r of checked) if (r.prefix.isHost) exact++;
    if (exact > KERNEL_LIMITS.batchMax) this.#grow(exact, 1);
    return this.#batch(checked, options, (chunk) => this.#addChunk(chunk));
  }

  async del(prefixes: readonly IpPrefix[], options?: BatchOptions): Promise<BatchResult> {
    const list = checkArray<IpPrefix>(prefixes, 'prefixes').map((p, i) => checkPrefix(p, `prefixes[${i}]`));
    checkBatchOptions(options);
    this.#live();
    return this.#batch(list, options, (chunk) => this.#delChunk(chunk));
  }

  async lookup(address: IpPrefix, port?: number): Promise<LookupResult> {
    const addr = checkHost(address, 'address');
    if (port !== undefined) checkPort(port, 'port');
    this.#live();
    this.#tick();
    const now = this.now;
    const bytes = addr.bytes;
    const a = this.#allow.find(bytes, 128, 0);
    if (a !== undefined) return { verdict: 'pass', match: 'allow', now, entry: this.#info(a, 'allow', now) };
    let e: Entry | undefined = this.#table.get(hexOf(addr));
    let match: MatchKind = 'exact';
    if (e !== undefined && isExpired(e, now)) e = undefined;
    if (e === undefined) {
      e = this.#ban.find(bytes, 127, now);
      match = 'prefix';
    }
    if (e === undefined) return { verdict: 'pass', match: 'none', now, entry: undefined };
    let verdict: Verdict;
    if (e.ports.length === 0) verdict = 'drop';
    else if (port === undefined) verdict = 'ports';
    else verdict = e.ports.includes(port) ? 'drop' : 'pass';
    if (verdict !== 'pass' && (e.monitor || this.#mode === 'monitor')) verdict = 'monitor';
    return { verdict, match, now, entry: this.#info(e, match === 'exact' ? 'exact' : 'prefix', now) };
  }

  dump(options?: DumpOptions): AsyncIterable<KernelEntry[]> {
    if (options !== undefined && (typeof options !== 'object' || options === null)) throw new TypeError('dump options must be an object');
    const hitSince = options?.hitSince ?? 0;
    if (typeof hitSince !== 'number' || !Number.isSafeInteger(hitSince) || hitSince < 0) {
      throw new RangeError(`dump: hitSince must be a non-negative integer (CLOCK_BOOTTIME seconds), got ${String(options?.hitSince)}`);
    }
    return this.#dumpIter(['exact', 'prefix', 'allow'], hitSince);
  }

  async *dumpColumns(): AsyncIterable<KernelColumns> {
    for await (const batch of this.#dumpIter(['exact', 'prefix'], 0)) yield columnsOf(batch);
  }

  async reserve(entries: number): Promise<number> {
    checkReserve(entries);
    this.#live();
    this.#grow(entries, 1);
    if (entries > 0) this.#reserveHold = this.now + 60;
    return this.#buckets;
  }

  /**
   * As the module's ffwall_table_reserve(): one resize to the power of two
   * the entries there and @n more need, within max_entries and 2^26
   * buckets, when that is at least @minDoublings doublings; never smaller.
   */
  #grow(n: number, minDoublings: number): void {
    const want = Math.min(this.#table.size + n, this.#maxEntries);
    let buckets = this.#buckets;
    while (buckets < want && buckets < 2 ** 26) buckets *= 2;
    if (buckets >= this.#buckets * 2 ** minDoublings) {
      this.#buckets = buckets;
      this.#stats.resizes++;
    }
  }

  async flush(options?: FlushOptions): Promise<number> {
    const f = checkFlushOptions(options);
    this.#live();
    this.#tick();
    const withFlags = f.pinned || f.monitor;
    const wanted = (e: Entry): boolean => (!f.pinned || e.pinned) && (!f.monitor || e.monitor);
    let removed = 0;
    if (f.scope.has('exact')) {
      for (const e of [...this.#table.values()]) {
        if (withFlags && !wanted(e)) continue;
        this.#unlinkExact(e);
        this.#stats.deleted++;
        removed++;
      }
      if (!withFlags) this.#buckets = 16;
      this.#maybeShrink();
    }
    if (f.scope.has('prefix')) {
      for (const e of [...this.#ban.entries.values()]) {
        if (withFlags && !wanted(e)) continue;
        this.#unlinkPrefix(this.#ban, e);
        removed++;
      }
    }
    if (f.scope.has('allow') && !withFlags) {
      removed += this.#allow.entries.size;
      for (const e of [...this.#allow.entries.values()]) this.#allow.unlink(e);
    }
    return removed;
  }

  async stats(): Promise<KernelStats> {
    this.#live();
    this.#tick();
    const s = this.#stats;
    return {
      now: this.now,
      packetsSeen: s.packetsSeen,
      packetsNotIp: s.packetsNotIp,
      droppedExact: s.droppedExact,
      droppedPorts: s.droppedPorts,
      droppedPrefix: s.droppedPrefix,
      passedAllow: s.passedAllow,
      monitorHits: s.monitorHits,
      filterProbes: s.filterProbes,
      filterHits: s.filterHits,
      entries: this.#table.size,
      pinned: this.#pinned,
      buckets: this.#buckets,
      portsets: this.#portsets.size,
      inserted: s.inserted,
      deleted: s.deleted,
      evicted: s.evicted,
      expired: s.expired,
      resizes: s.resizes,
      bytes: this.#table.size * 40 + this.#buckets * 8 + 1024 * 24,
      entrySize: 40,
      prefixes: this.#ban.entries.size,
      allowEntries: this.#allow.entries.size,
      eventsLost: s.eventsLost,
      hookErrors: 0,
      // As the module counts them: 40-byte objects and a fixed bucket array of 2^15 pointers per set.
      prefixBytes: this.#ban.entries.size * 40 + 8 * 32768,
      allowBytes: this.#allow.entries.size * 40 + 8 * 32768,
      filterBytes: this.#filter?.data.length ?? 0,
    };
  }

  async allowAdd(prefixes: readonly IpPrefix[], options?: BatchOptions): Promise<BatchResult> {
    const list = checkArray<IpPrefix>(prefixes, 'prefixes').map((p, i) => checkPrefix(p, `prefixes[${i}]`));
    checkBatchOptions(options);
    this.#live();
    return this.#batch(list, options, (chunk) => {
      const now = this.now;
      let changed = 0;
      for (let i = 0; i < chunk.length; i++) {
        const r = this.#setAdd(this.#allow, { prefix: chunk[i] as IpPrefix, ports: [], ttl: 0, pinned: false, monitor: false }, now);
        if (r === 'ENOSPC') return { applied: i, changed, error: 'ENOSPC' };
        if (r) changed++;
      }
      return { applied: chunk.length, changed };
    });
  }

  async allowDel(prefixes: readonly IpPrefix[], options?: BatchOptions): Promise<BatchResult> {
    const list = checkArray<IpPrefix>(prefixes, 'prefixes').map((p, i) => checkPrefix(p, `prefixes[${i}]`));
    checkBatchOptions(options);
    this.#live();
    return this.#batch(list, options, (chunk) => {
      let changed = 0;
      for (const p of chunk) {
        const e = this.#allow.entries.get(hexOf(p));
        if (e === undefined) continue;
        this.#allow.unlink(e);
        changed++;
      }
      return { applied: chunk.length, changed };
    });
  }

  allowDump(): AsyncIterable<KernelEntry[]> {
    return this.#dumpIter(['allow'], 0);
  }

  async filterLoad(filter: MembershipFilter): Promise<void> {
    const f = checkFilter(filter);
    this.#live();
    if (f.data.length > this.#filterMaxBytes) throw this.#err('EINVAL');
    this.#filter = { data: Uint8Array.from(f.data), nhashes: f.nhashes, seed: [f.seed[0], f.seed[1]], members: f.members };
  }

  async filterAdd(addresses: readonly IpPrefix[], options?: BatchOptions): Promise<void> {
    const list = checkArray<IpPrefix>(addresses, 'addresses').map((p, i) => checkHost(p, `addresses[${i}]`));
    checkBatchOptions(options);
    this.#live();
    await this.#batch(list, options, (chunk) => {
      const f = this.#filter;
      if (f === undefined) return { applied: 0, changed: 0, error: 'ENOENT', plain: true };
      for (const a of chunk) bloomInsert(f.data, f.seed, f.nhashes, a.bytes);
      f.members += chunk.length;
      return { applied: chunk.length, changed: 0 };
    });
  }

  /** PackedFilterAdd: filterAdd() of the packed hosts, as IpPrefix objects. */
  async filterAddPacked(addrs: Uint8Array, count: number): Promise<void> {
    const a = checkPackedHosts(addrs, count);
    const list: IpPrefix[] = [];
    for (let i = 0; i < a.count; i++) list.push(new IpPrefix(a.addrs.subarray(i * 16, i * 16 + 16), 128));
    return this.filterAdd(list);
  }

  events(): KernelEventStream {
    if (this.#closed) throw new Error('ffwall: the kernel is closed');
    const s = new FakeEventStream(this.#eventRingSize, () => this.now, () => this.#stats.eventsLost++, (r) => this.#readers.delete(r));
    this.#readers.add(s);
    return s;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const r of [...this.#readers]) r.close();
  }

  // ---- Internals ------------------------------------------------------------

  #err(code: string, extra?: { applied?: number; badIndex?: number }): Error {
    return errnoError(code, 'ioctl', this.path, extra);
  }

  #live(): void {
    if (this.#closed) throw errnoError('EBADF', 'ioctl', this.path);
  }

  /** Runs the gc passes an external clock made due. */
  #tick(): void {
    const now = this.now;
    while (this.#nextGc <= now) {
      this.#nextGc += this.#gcInterval;
      this.gc();
    }
  }

  #config(): KernelConfig {
    return {
      maxEntries: this.#maxEntries,
      mode: this.#mode,
      gcInterval: this.#gcInterval,
      hookPriority: this.#hookPriority,
      maxPrefixes: this.#ban.max,
      maxAllow: this.#allow.max,
      filterMaxBytes: this.#filterMaxBytes,
    };
  }

  #checkDevice(device: string): string {
    const name = checkDeviceName(device);
    // dev_valid_name() also refuses these two; the kernel says EINVAL.
    if (name === '.' || name === '..') throw this.#err('EINVAL');
    return name;
  }

  #hooked(device: string): boolean {
    return this.#netdevs.has(device) && (this.#attachAll || this.#names.includes(device));
  }

  #raise(type: KernelEventType, e: Entry | undefined, value: number, prefix?: IpPrefix): void {
    if (this.#readers.size === 0) return;
    const ev: KernelEvent = {
      type,
      prefix: e?.prefix ?? prefix,
      pinned: e?.pinned ?? false,
      monitor: e?.monitor ?? false,
      value: value >>> 0,
      time: this.now,
    };
    for (const r of this.#readers) r.push(ev);
  }

  #miss(p: FakePacket, src: IpPrefix, now: number): void {
    const f = this.#filter;
    if (f === undefined) return;
    const flowStart = p.proto === 'udp' || p.flowStart !== false;
    if (!flowStart) return;
    this.#stats.filterProbes++;
    if (!bloomTest(f.data, f.seed, f.nhashes, src.bytes)) return;
    this.#stats.filterHits++;
    if (this.#allow.find(src.bytes, 128, 0) !== undefined) return;
    const key = hexOf(src);
    const last = this.#missReported.get(key);
    if (last !== undefined && now - last < 1) return;
    this.#missReported.set(key, now);
    this.#raise('miss', undefined, 0, src);
  }

  #info(e: Entry, kind: 'exact' | 'prefix' | 'allow', now: number): KernelEntry {
    return {
      prefix: e.prefix,
      kind,
      ports: [...e.ports],
      pinned: e.pinned,
      monitor: e.monitor,
      ttl: e.expires !== 0 && e.expires > now ? e.expires - now : 0,
      expires: e.expires,
      lastHit: e.lastHit,
      hits: e.hits,
    };
  }

  async *#dumpIter(phases: readonly ('exact' | 'prefix' | 'allow')[], hitSince: number): AsyncGenerator<KernelEntry[]> {
    this.#live();
    this.#tick();
    for (const phase of phases) {
      const src = phase === 'exact' ? this.#table : phase === 'prefix' ? this.#ban.entries : this.#allow.entries;
      // Snapshot the keys: entries removed meanwhile are skipped, added ones are not returned.
      const keys = [...src.keys()];
      for (let i = 0; i < keys.length; i += DUMP_CHUNK) {
        this.#live();
        this.#tick();
        const now = this.now;
        const out: KernelEntry[] = [];
        for (const k of keys.slice(i, i + DUMP_CHUNK)) {
          const e = src.get(k);
          if (e === undefined || isExpired(e, now)) continue;
          if (hitSince !== 0 && e.lastHit < hitSince) continue;
          out.push(this.#info(e, phase, now));
        }
        if (out.length > 0) yield out;
        await nextTurn();
      }
    }
  }

  // Port sets, shared by exact entries and ban prefixes.
  #portsetGet(ports: number[]): string | 'ENOSPC' {
    if (ports.length === 0) return '';
    const key = ports.join(',');
    const refs = this.#portsets.get(key);
    if (refs !== undefined) {
      this.#portsets.set(key, refs + 1);
      return key;
    }
    if (this.#portsets.size >= PORTSET_SLOTS) return 'ENOSPC';
    this.#portsets.set(key, 1);
    return key;
  }

  #portsetPut(key: string): void {
    if (key === '') return;
    const refs = this.#portsets.get(key) ?? 1;
    if (refs <= 1) this.#portsets.delete(key);
    else this.#portsets.set(key, refs - 1);
  }

  #unlinkExact(e: Entry): void {
    this.#table.delete(hexOf(e.prefix));
    if (e.pinned) this.#pinned--;
    this.#portsetPut(e.portsKey);
  }

  #unlinkPrefix(s: PrefixSet, e: Entry): void {
    s.unlink(e);
    this.#portsetPut(e.portsKey);
  }

  #gcSet(s: PrefixSet, now: number): number {
    let n = 0;
    for (const e of [...s.entries.values()]) {
      if (!isExpired(e, now)) continue;
      if (s.kind === 'prefix') this.#raise('expired', e, e.hits);
      this.#unlinkPrefix(s, e);
      n++;
    }
    return n;
  }

  #maybeShrink(): void {
    // As the module: a RESERVE keeps its room for 60 s.
    if (this.now < this.#reserveHold) return;
    while (this.#buckets > 16 && this.#table.size < this.#buckets / 8) {
      this.#buckets /= 2;
      this.#stats.resizes++;
    }
  }

  /** The next entry under the CLOCK hand, wrapping around. */
  #handNext(): Entry {
    for (let wrapped = 0; wrapped < 2; wrapped++) {
      if (this.#hand === undefined) this.#hand = this.#table.values();
      const r = this.#hand.next();
      if (!r.done) return r.value;
      this.#hand = undefined;
    }
    throw new Error('FakeKernel: CLOCK hand on an empty table');
  }

  /** Makes room for one entry (module: ffwall_evict_one); 'ENOSPC' when every entry is pinned and none expired. */
  #evictOne(now: number): 'ENOSPC' | undefined {
    if (this.#table.size === this.#pinned) {
      for (const e of this.#table.values()) {
        if (!isExpired(e, now)) continue;
        this.#raise('expired', e, e.hits);
        this.#unlinkExact(e);
        this.#stats.expired++;
        return undefined;
      }
      return 'ENOSPC';
    }
    let visits = 0;
    for (;;) {
      const e = this.#handNext();
      if (isExpired(e, now)) {
        this.#stats.expired++;
        this.#raise('expired', e, e.hits);
        this.#unlinkExact(e);
        return undefined;
      }
      if (!e.pinned) {
        if (!e.ref || ++visits > 2 * this.#table.size) {
          this.#stats.evicted++;
          this.#raise('evicted', e, e.hits);
          this.#unlinkExact(e);
          return undefined;
        }
        e.ref = false;
      }
    }
  }

  /** ADD of one exact record (module: ffwall_insert_one): true if it created an entry. */
  #insertExact(r: CheckedRule, now: number): boolean | 'ENOSPC' {
    const key = hexOf(r.prefix);
    const e = this.#table.get(key);
    const ps = this.#portsetGet(r.ports);
    if (ps === 'ENOSPC') return 'ENOSPC';
    if (e !== undefined) {
      // Update in place, expired or not: hits and last hit stay.
      if (e.pinned !== r.pinned) this.#pinned += r.pinned ? 1 : -1;
      const old = e.portsKey;
      e.ports = r.ports;
      e.portsKey = ps;
      e.pinned = r.pinned;
      e.monitor = r.monitor;
      e.expires = expiry(now, r.ttl);
      e.ref = true;
      this.#portsetPut(old);
      return false;
    }
    if (this.#table.size >= this.#maxEntries && this.#evictOne(now) === 'ENOSPC') {
      this.#portsetPut(ps);
      return 'ENOSPC';
    }
    if (this.#table.size >= this.#buckets) {
      this.#buckets *= 2;
      this.#stats.resizes++;
    }
    this.#table.set(key, { prefix: r.prefix, ports: r.ports, portsKey: ps, pinned: r.pinned, monitor: r.monitor, expires: expiry(now, r.ttl), lastHit: 0, hits: 0, ref: true });
    if (r.pinned) this.#pinned++;
    this.#stats.inserted++;
    return true;
  }

  /** ADD of one record to a prefix set (module: ffwall_pset_add_locked). */
  #setAdd(s: PrefixSet, r: CheckedRule, now: number): boolean | 'ENOSPC' {
    const key = hexOf(r.prefix);
    let e = s.entries.get(key);
    if (e === undefined && s.entries.size >= s.max) {
      // Full: only expired entries can make room; prefixes are never evicted.
      if (this.#gcSet(s, now) === 0) return 'ENOSPC';
      e = s.entries.get(key);
    }
    const ps = this.#portsetGet(r.ports);
    if (ps === 'ENOSPC') return 'ENOSPC';
    if (e !== undefined) {
      let created = false;
      if (isExpired(e, now)) {
        // An expired entry is gone: this ADD creates it anew.
        e.hits = 0;
        e.lastHit = 0;
        created = true;
      }
      const old = e.portsKey;
      e.ports = r.ports;
      e.portsKey = ps;
      e.pinned = r.pinned;
      e.monitor = r.monitor;
      e.expires = expiry(now, r.ttl);
      this.#portsetPut(old);
      return created;
    }
    s.link({ prefix: r.prefix, ports: r.ports, portsKey: ps, pinned: r.pinned, monitor: r.monitor, expires: expiry(now, r.ttl), lastHit: 0, hits: 0, ref: false });
    return true;
  }

  /** One ADD ioctl: the EEXIST check of the whole chunk, then the records in order. */
  #addChunk(chunk: readonly CheckedRule[]): ChunkResult {
    this.#tick();
    for (let i = 0; i < chunk.length; i++) {
      const p = (chunk[i] as CheckedRule).prefix;
      if (this.#allow.find(p.bytes, p.length, 0) !== undefined) return { applied: 0, changed: 0, error: 'EEXIST', badIndex: i };
    }
    // As the module: a batch whose exact records would double the hash twice or more grows it at once.
    let exact = 0;
    for (const r of chunk) if (r.prefix.isHost) exact++;
    this.#grow(exact, 2);
    const now = this.now;
    let changed = 0;
    for (let i = 0; i < chunk.length; i++) {
      const r = chunk[i] as CheckedRule;
      const res = r.prefix.isHost ? this.#insertExact(r, now) : this.#setAdd(this.#ban, r, now);
      if (res === 'ENOSPC') return { applied: i, changed, error: 'ENOSPC' };
      if (res) changed++;
    }
    return { applied: chunk.length, changed };
  }

  /** One DEL ioctl. */
  #delChunk(chunk: readonly IpPrefix[]): ChunkResult {
    this.#tick();
    const now = this.now;
    let changed = 0;
    for (const p of chunk) {
      if (p.isHost) {
        const e = this.#table.get(hexOf(p));
        if (e === undefined) continue;
        if (!isExpired(e, now)) changed++;
        this.#unlinkExact(e);
        this.#stats.deleted++;
      } else {
        const e = this.#ban.entries.get(hexOf(p));
        if (e === undefined) continue;
        if (!isExpired(e, now)) changed++;
        this.#unlinkPrefix(this.#ban, e);
      }
    }
    this.#maybeShrink();
    return { applied: chunk.length, changed };
  }

  /**
   * Runs @items through @apply in chunks of KERNEL_LIMITS.batchMax, as the
   * native kernel issues one ioctl per chunk: progress after each chunk, the
   * signal checked before each, errors carrying the global applied count
   * and bad index.
   */
  async #batch<T>(items: readonly T[], options: BatchOptions | undefined, apply: (chunk: readonly T[]) => ChunkResult): Promise<BatchResult> {
    const total = items.length;
    let applied = 0;
    let changed = 0;
    for (let base = 0; base < total; base += KERNEL_LIMITS.batchMax) {
      const signal = options?.signal;
      if (signal?.aborted === true) throw new KernelAbortError(applied, { cause: signal.reason });
      this.#live();
      const r = apply(items.slice(base, base + KERNEL_LIMITS.batchMax));
      if (r.error !== undefined) {
        if (r.plain === true) throw this.#err(r.error, { applied });
        const extra: { applied: number; badIndex?: number } = { applied: applied + r.applied };
        if (r.badIndex !== undefined) extra.badIndex = base + r.badIndex;
        throw this.#err(r.error, extra);
      }
      applied += r.applied;
      changed += r.changed;
      options?.onProgress?.(applied, total);
      if (base + KERNEL_LIMITS.batchMax < total) await nextTurn();
    }
    // As the native kernel: an empty batch makes no system call but reports its (empty) progress.
    if (total === 0) options?.onProgress?.(0, 0);
    return { applied, changed };
  }
}

interface ChunkResult {
  applied: number;
  changed: number;
  error?: string;
  badIndex?: number;
  /** An error with applied but no bad index (FILTER_ADD). */
  plain?: boolean;
}

/** One event reader: its own ring, as a file opened for reading has in the module. */
class FakeEventStream implements KernelEventStream {
  readonly #size: number;
  readonly #ring: KernelEvent[] = [];
  #lost = 0;
  #closed = false;
  #waiters: ((r: IteratorResult<KernelEvent>) => void)[] = [];

  constructor(
    size: number,
    readonly now: () => number,
    readonly onLost: () => void,
    readonly onClose: (s: FakeEventStream) => void,
  ) {
    this.#size = size;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Pending losses become OVERFLOW records while more than @keep slots are free. */
  #settle(keep: number): void {
    while (this.#lost > 0 && this.#size - this.#ring.length > keep) {
      const n = Math.min(this.#lost, U32_MAX);
      this.#ring.push({ type: 'overflow', prefix: undefined, pinned: false, monitor: false, value: n, time: this.now() });
      this.#lost -= n;
    }
  }

  push(ev: KernelEvent): void {
    if (this.#closed) return;
    this.#settle(1);
    if (this.#lost === 0 && this.#ring.length < this.#size) this.#ring.push(ev);
    else {
      this.#lost++;
      this.onLost();
    }
    this.#wake();
  }

  #take(): KernelEvent | undefined {
    this.#settle(0);
    return this.#ring.shift();
  }

  #wake(): void {
    while (this.#waiters.length > 0) {
      const ev = this.#take();
      if (ev === undefined) return;
      this.#waiters.shift()?.({ value: ev, done: false });
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.onClose(this);
    for (const w of this.#waiters.splice(0)) w({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<KernelEvent> {
    return {
      next: (): Promise<IteratorResult<KernelEvent>> => {
        if (this.#closed) return Promise.resolve({ value: undefined, done: true });
        const ev = this.#take();
        if (ev !== undefined) return Promise.resolve({ value: ev, done: false });
        return new Promise((resolve) => this.#waiters.push(resolve));
      },
      return: (): Promise<IteratorResult<KernelEvent>> => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
