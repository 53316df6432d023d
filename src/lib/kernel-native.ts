// SPDX-License-Identifier: MIT
//
// NativeKernel: the Kernel interface over the addon and /dev/ffwall.
//
// Every argument is checked here (validate.ts) before any system call.  Big
// inputs are validated and packed into columnar typed arrays in slices that
// yield to the event loop (a few milliseconds each), then sent in chunks of
// at most FFWALL_BATCH_MAX records, each chunk an ioctl on the thread pool:
// the loop keeps running between and during chunks.  The struct layouts live
// only in the addon, which includes kmod/uapi/ffwall.h.
import { setImmediate as yieldToLoop } from 'node:timers/promises';

import { IpPrefix } from './addr.js';
import { AbiMismatchError, DEFAULT_DEVICE_PATH } from './device.js';
import {
  FEATURES,
  KERNEL_LIMITS,
  isKernelError,
  type BatchOptions,
  type BatchResult,
  type DeviceInfo,
  type DumpOptions,
  type EntryKind,
  type FeatureName,
  type FlushOptions,
  type Kernel,
  type KernelConfig,
  type KernelConfigPatch,
  type KernelColumns,
  type KernelEntry,
  type KernelEvent,
  type KernelEventStream,
  type KernelEventType,
  type KernelRule,
  type KernelStats,
  type LookupResult,
  type MatchKind,
  type MembershipFilter,
  type ModuleVersion,
  type PackedFilterAdd,
  type Verdict,
} from './kernel.js';
import { loadBinding, type NativeBinding, type NativeConfig, type NativeDevice, type NativePreparedBatch, type NativeEntry, type NativeEntryColumns, type NativeEventBatch, type NativeEventReader } from './native.js';
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
} from './validate.js';

/** FFWALL_FEAT_* name of each feature, for messages. */
const FEATURE_MACROS: Record<FeatureName, string> = {
  config: 'FFWALL_FEAT_CONFIG',
  attach: 'FFWALL_FEAT_ATTACH',
  addDel: 'FFWALL_FEAT_ADD_DEL',
  lookup: 'FFWALL_FEAT_LOOKUP',
  flush: 'FFWALL_FEAT_FLUSH',
  dump: 'FFWALL_FEAT_DUMP',
  stats: 'FFWALL_FEAT_STATS',
  ports: 'FFWALL_FEAT_PORTS',
  monitor: 'FFWALL_FEAT_MONITOR',
  prefix: 'FFWALL_FEAT_PREFIX',
  allow: 'FFWALL_FEAT_ALLOW',
  events: 'FFWALL_FEAT_EVENTS',
  filter: 'FFWALL_FEAT_FILTER',
  flushFlags: 'FFWALL_FEAT_FLUSH_FLAGS',
  reserve: 'FFWALL_FEAT_RESERVE',
  statsMemory: 'FFWALL_FEAT_STATS_MEM',
};

/** Thrown by NativeKernel.open() when the module lacks features this library needs. */
export class MissingFeatureError extends Error {
  readonly code = 'EFFWALLFEAT';
  constructor(
    readonly missing: readonly string[],
    readonly moduleVersion: string,
  ) {
    super(
      `ffwall.ko ${moduleVersion} does not implement ${missing.join(', ')}, which this library needs; ` +
        'rebuild and reload the module from this package (`npm run build:kmod`, then reload ffwall.ko)',
    );
    this.name = 'MissingFeatureError';
  }
}

export interface NativeKernelOptions {
  /** Features the caller needs; open() refuses a module without them. Default: every feature of the Kernel interface. */
  require?: readonly FeatureName[];
  /** Events an event stream queues before it stops reading (the kernel ring then overflows). Default 4096. */
  eventQueueCap?: number;
  /** Main-thread budget of one packing slice, in milliseconds, before yielding to the loop. Default 4. */
  sliceMs?: number;
}

/** Stands for the prefix while addPacked() checks the shared options. */
const ANY_PREFIX = new IpPrefix(new Uint8Array(16), 128);

/** The verdicts and match kinds by their uapi numbers. */
const VERDICTS: readonly Verdict[] = ['pass', 'drop', 'monitor', 'ports'];
const MATCHES: readonly MatchKind[] = ['none', 'exact', 'prefix', 'allow'];
const KINDS: readonly (EntryKind | undefined)[] = [undefined, 'exact', 'prefix', 'allow'];

/** One chunk of records, columnar, as the addon's batch() takes it. */
interface Chunk {
  /** Index in the whole input of the chunk's first record. */
  base: number;
  count: number;
  addrs: Uint8Array;
  prefixLen: Uint8Array;
  nports?: Uint8Array;
  flags?: Uint16Array;
  ttl?: Uint32Array;
  ports?: Uint16Array;
}

/** A chunk's kernel error with its indexes into the whole input, not the chunk. */
function rebase(err: unknown, base: number): unknown {
  if (isKernelError(err)) {
    err.applied = base + (err.applied ?? 0);
    if (err.badIndex !== undefined) err.badIndex += base;
  }
  return err;
}

function abortError(signal: AbortSignal, applied: number): Error & { applied: number } {
  const err = new Error('the batch was aborted', { cause: signal.reason }) as Error & { applied: number; code: string };
  err.name = 'AbortError';
  err.code = 'ABORT_ERR';
  err.applied = applied;
  return err;
}

/** Yields to the event loop whenever the current slice has used its budget. */
class Slicer {
  #start = performance.now();
  constructor(readonly budgetMs: number) {}
  due(): boolean {
    return performance.now() - this.#start >= this.budgetMs;
  }
  async yield(): Promise<void> {
    await yieldToLoop();
    this.#start = performance.now();
  }
}

function toEntry(c: NativeEntryColumns, i: number): KernelEntry {
  const np = c.nports[i] ?? 0;
  const ports: number[] = [];
  for (let p = 0; p < np; p++) ports.push(c.ports[i * KERNEL_LIMITS.maxPorts + p] ?? 0);
  const flags = c.flags[i] ?? 0;
  const k = loadBinding().constants;
  return {
    prefix: new IpPrefix(c.addrs.subarray(i * 16, i * 16 + 16), c.prefixLen[i] ?? 128),
    kind: KINDS[c.kind[i] ?? 1] ?? 'exact',
    ports,
    pinned: (flags & k.F_PINNED) !== 0,
    monitor: (flags & k.F_MONITOR) !== 0,
    ttl: c.ttl[i] ?? 0,
    expires: c.expires[i] ?? 0,
    lastHit: c.lastHit[i] ?? 0,
    hits: c.hits[i] ?? 0,
  };
}

function entryFromNative(e: NativeEntry): KernelEntry {
  const k = loadBinding().constants;
  return {
    prefix: new IpPrefix(e.addr, e.prefixLen),
    kind: KINDS[e.kind] ?? 'exact',
    ports: [...e.ports],
    pinned: (e.flags & k.F_PINNED) !== 0,
    monitor: (e.flags & k.F_MONITOR) !== 0,
    ttl: e.ttl,
    expires: e.expires,
    lastHit: e.lastHit,
    hits: e.hits,
  };
}

function configFromNative(c: NativeConfig): KernelConfig {
  return {
    maxEntries: c.maxEntries,
    mode: c.mode === loadBinding().constants.MODE_MONITOR ? 'monitor' : 'enforce',
    gcInterval: c.gcInterval,
    hookPriority: c.hookPriority,
    maxPrefixes: c.maxPrefixes,
    maxAllow: c.maxAllow,
    filterMaxBytes: c.filterMaxBytes,
  };
}

/** The addon's constants must be those KERNEL_LIMITS promises (a stale build would differ). */
function checkLimits(b: NativeBinding): void {
  const c = b.constants;
  const pairs: [string, number, number][] = [
    ['batchMax', KERNEL_LIMITS.batchMax, c.BATCH_MAX],
    ['dumpMax', KERNEL_LIMITS.dumpMax, c.DUMP_MAX],
    ['maxPorts', KERNEL_LIMITS.maxPorts, c.MAX_PORTS],
    ['ttlMax', KERNEL_LIMITS.ttlMax, c.TTL_MAX],
    ['maxEntriesMin', KERNEL_LIMITS.maxEntriesMin, c.MAX_ENTRIES_MIN],
    ['maxEntriesMax', KERNEL_LIMITS.maxEntriesMax, c.MAX_ENTRIES_MAX],
    ['gcIntervalMin', KERNEL_LIMITS.gcIntervalMin, c.GC_INTERVAL_MIN],
    ['gcIntervalMax', KERNEL_LIMITS.gcIntervalMax, c.GC_INTERVAL_MAX],
    ['maxAttach', KERNEL_LIMITS.maxAttach, c.MAX_ATTACH],
    ['ifNameMax', KERNEL_LIMITS.ifNameMax, c.IFNAMSIZ - 1],
    ['filterBlockBytes', KERNEL_LIMITS.filterBlockBytes, c.FILTER_BLOCK_BYTES],
    ['filterMaxHashes', KERNEL_LIMITS.filterMaxHashes, c.FILTER_MAX_HASHES],
  ];
  for (const [name, lib, addon] of pairs) {
    if (lib !== addon) throw new Error(`ffwall: KERNEL_LIMITS.${name} is ${lib} but the addon was built with ${addon}; rebuild the addon (\`npm run build:addon\`)`);
  }
}

/**
 * Many prefixes packed as the kernel takes them: @count records of 16 bytes
 * in @addrs (the kernel's form, IPv4 v4-mapped) and their 128-space lengths
 * in @prefixLen.  What a bulk load builds straight from text, without an
 * object per entry (addr.ts packPrefixInto()).
 */
export interface PackedPrefixes {
  count: number;
  addrs: Uint8Array;
  prefixLen: Uint8Array;
}

/** The options every record of a packed ADD shares (KernelRule without its prefix). */
export type SharedRule = Omit<KernelRule, 'prefix'>;

/** A kernel that takes packed ADDs (NativeKernel); others get KernelRule objects. */
export interface PackedAdd {
  addPacked(packed: PackedPrefixes, shared: SharedRule, options?: BatchOptions): Promise<BatchResult>;
}

/** 64 KiB of lengths 128 (hosts), compared with a packed input's lengths a block at a time. */
let hostBlock: Buffer | undefined;

/**
 * The index of the first of @count lengths that is not 128 (a host), or
 * @count.  A bulk load of addresses is all hosts: the lengths are compared
 * with a block of 128s by memcmp (Buffer.compare), 64 KiB a call, and only
 * the block holding another length is walked byte by byte.  (A loop per
 * record here, and in the count of exact records, ran in V8's baseline tier
 * and cost about 300 instructions a record: a profile under callgrind.)
 */
export function firstNotHost(prefixLen: Uint8Array, count: number): number {
  const block = (hostBlock ??= Buffer.alloc(65536, 128));
  const lens = Buffer.from(prefixLen.buffer, prefixLen.byteOffset, Math.min(count, prefixLen.length));
  let i = 0;
  while (i < lens.length) {
    const n = Math.min(block.length, lens.length - i);
    if (lens.compare(block, 0, n, i, i + n) !== 0) break;
    i += n;
  }
  while (i < lens.length && lens[i] === 128) i++;
  return i;
}

/** How many of the first @count lengths are 128 (exact entries). */
export function countHosts(prefixLen: Uint8Array, count: number): number {
  let i = firstNotHost(prefixLen, count);
  let n = i;
  for (; i < count; i++) if (prefixLen[i] === 128) n++;
  return n;
}

/**
 * Checks a packed input: the arrays' sizes, each length 0..128 and no bits
 * set beyond it (what checkPrefix() checks of an IpPrefix).  Throws naming
 * the first bad record.
 */
export function checkPacked(packed: PackedPrefixes): void {
  if (typeof packed !== 'object' || packed === null) throw new TypeError('packed prefixes must be an object');
  const { count, addrs, prefixLen } = packed;
  if (!Number.isSafeInteger(count) || count < 0) throw new TypeError(`packed.count must be a non-negative integer, got ${String(count)}`);
  if (!(addrs instanceof Uint8Array) || addrs.length < count * 16) throw new TypeError('packed.addrs must be a Uint8Array of count*16 bytes');
  if (!(prefixLen instanceof Uint8Array) || prefixLen.length < count) throw new TypeError('packed.prefixLen must be a Uint8Array of count bytes');
  for (let i = firstNotHost(prefixLen, count); i < count; i++) {
    const len = prefixLen[i] ?? 0;
    if (len === 128) continue;
    if (len > 128) throw new RangeError(`packed[${i}]: prefix length ${len} is not in 0..128`);
    const o = i * 16;
    let bad = false;
    for (let b = len >> 3; b < 16 && !bad; b++) {
      const keep = Math.max(0, len - b * 8);
      const mask = keep >= 8 ? 0 : 0xff >> keep;
      if (((addrs[o + b] ?? 0) & mask) !== 0) bad = true;
    }
    if (bad) throw new RangeError(`packed[${i}]: bits are set beyond the prefix length /${len}`);
  }
}

export class NativeKernel implements Kernel, PackedFilterAdd {
  readonly kind = 'native' as const;
  readonly #binding: NativeBinding;
  readonly #dev: NativeDevice;
  readonly #path: string;
  readonly #streams = new Set<NativeEventStream>();
  readonly #queueCap: number;
  readonly #sliceMs: number;
  #closed = false;

  private constructor(binding: NativeBinding, dev: NativeDevice, path: string, queueCap: number, sliceMs: number) {
    this.#binding = binding;
    this.#dev = dev;
    this.#path = path;
    this.#queueCap = queueCap;
    this.#sliceMs = sliceMs;
  }

  /**
   * Opens the device, refuses a module of another ABI version
   * (AbiMismatchError) or without the features needed (MissingFeatureError).
   */
  static open(path: string = DEFAULT_DEVICE_PATH, opts: NativeKernelOptions = {}): NativeKernel {
    if (typeof path !== 'string' || path.length === 0) throw new TypeError('ffwall: device path must be a non-empty string');
    if (typeof opts !== 'object' || opts === null) throw new TypeError('ffwall: options must be an object');
    const required: readonly FeatureName[] = opts.require ?? (Object.keys(FEATURES) as FeatureName[]);
    if (!Array.isArray(required as unknown)) throw new TypeError('ffwall: options.require must be an array of feature names');
    for (const f of required) if (!Object.hasOwn(FEATURES, f)) throw new TypeError(`ffwall: unknown feature ${String(f)}`);
    const cap = opts.eventQueueCap ?? 4096;
    if (!Number.isInteger(cap) || cap < 1) throw new RangeError('ffwall: options.eventQueueCap must be a positive integer');
    const sliceMs = opts.sliceMs ?? 4;
    if (typeof sliceMs !== 'number' || !(sliceMs > 0)) throw new RangeError('ffwall: options.sliceMs must be a positive number');

    const binding = loadBinding();
    checkLimits(binding);
    const dev = new binding.Device(path);
    try {
      const v = dev.version();
      if (v.abiVersion !== binding.ABI_VERSION) throw new AbiMismatchError(v.abiVersion, binding.ABI_VERSION);
      const missing = required.filter((f) => (v.features & FEATURES[f]) === 0n).map((f) => FEATURE_MACROS[f]);
      if (missing.length > 0) throw new MissingFeatureError(missing, v.moduleVersion);
    } catch (err) {
      dev.close();
      throw err;
    }
    return new NativeKernel(binding, dev, path, cap, sliceMs);
  }

  /**
   * @internal Opens @path without VERSION, ABI or feature checks, so that
   * tests can show on a host without the module (e.g. on /dev/null) that bad
   * arguments fail before any system call.  Not part of the public API.
   */
  static openUnchecked(path: string): NativeKernel {
    const binding = loadBinding();
    return new NativeKernel(binding, new binding.Device(path), path, 4096, 4);
  }

  get path(): string {
    return this.#path;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async version(): Promise<ModuleVersion> {
    const v = this.#dev.version();
    return { abiVersion: v.abiVersion, features: v.features, moduleVersion: v.moduleVersion };
  }

  async getConfig(): Promise<KernelConfig> {
    return configFromNative(this.#dev.getConfig());
  }

  async setConfig(patch: KernelConfigPatch): Promise<KernelConfig> {
    const p = checkConfigPatch(patch);
    const k = this.#binding.constants;
    let mask = 0;
    if (p.maxEntries !== undefined) mask |= k.CONFIG_MAX_ENTRIES;
    if (p.mode !== undefined) mask |= k.CONFIG_MODE;
    if (p.gcInterval !== undefined) mask |= k.CONFIG_GC_INTERVAL;
    if (mask !== 0) {
      this.#dev.setConfig(mask, p.maxEntries ?? 0, p.mode === 'monitor' ? k.MODE_MONITOR : k.MODE_ENFORCE, p.gcInterval ?? 0);
    }
    return this.getConfig();
  }

  async attach(device: string): Promise<void> {
    this.#dev.attach(checkDeviceName(device));
  }

  async detach(device: string): Promise<void> {
    this.#dev.detach(checkDeviceName(device));
  }

  async devices(): Promise<DeviceInfo[]> {
    const k = this.#binding.constants;
    return this.#dev.listDevices().map((d) => ({
      name: d.name,
      ifindex: d.ifindex,
      named: (d.flags & k.DEV_NAMED) !== 0,
      hooked: (d.flags & k.DEV_HOOKED) !== 0,
    }));
  }

  async add(rules: readonly KernelRule[], options?: BatchOptions): Promise<BatchResult> {
    const list = checkArray<KernelRule>(rules, 'rules');
    checkBatchOptions(options);
    const chunks = await this.#packRules(list, options?.signal);
    return this.#runBatch(this.#binding.constants.BATCH_ADD, chunks, list.length, options);
  }

  /**
   * ADD of packed prefixes sharing one set of options (a bulk load): the
   * options are checked once, the records for their lengths and host bits
   * (checkPacked()), and each chunk of KERNEL_LIMITS.batchMax is sent as a
   * view of @packed, without a copy or an object per record.
   */
  async addPacked(packed: PackedPrefixes, shared: SharedRule, options?: BatchOptions): Promise<BatchResult> {
    checkPacked(packed);
    checkBatchOptions(options);
    const r = checkRule({ ...shared, prefix: ANY_PREFIX }, 0);
    const k = this.#binding.constants;
    const max = KERNEL_LIMITS.batchMax;
    const room = Math.min(max, packed.count);
    // The shared columns are the same for every chunk: built once, viewed per chunk.
    const nports = new Uint8Array(room).fill(r.ports.length);
    const flags = new Uint16Array(room).fill((r.pinned ? k.F_PINNED : 0) | (r.monitor ? k.F_MONITOR : 0));
    const ttl = new Uint32Array(room).fill(r.ttl);
    let ports: Uint16Array | undefined;
    if (r.ports.length > 0) {
      ports = new Uint16Array(room * KERNEL_LIMITS.maxPorts);
      for (let i = 0; i < room; i++) ports.set(r.ports, i * KERNEL_LIMITS.maxPorts);
    }
    const chunks: Chunk[] = [];
    for (let base = 0; base < packed.count; base += max) {
      const n = Math.min(max, packed.count - base);
      const c: Chunk = {
        base,
        count: n,
        addrs: packed.addrs.subarray(base * 16, (base + n) * 16),
        prefixLen: packed.prefixLen.subarray(base, base + n),
        nports: nports.subarray(0, n),
        flags: flags.subarray(0, n),
        ttl: ttl.subarray(0, n),
      };
      if (ports !== undefined) c.ports = ports.subarray(0, n * KERNEL_LIMITS.maxPorts);
      chunks.push(c);
    }
    return this.#runBatch(k.BATCH_ADD, chunks, packed.count, options);
  }

  async del(prefixes: readonly IpPrefix[], options?: BatchOptions): Promise<BatchResult> {
    return this.#prefixBatch(this.#binding.constants.BATCH_DEL, prefixes, 'prefixes', options);
  }

  async allowAdd(prefixes: readonly IpPrefix[], options?: BatchOptions): Promise<BatchResult> {
    return this.#prefixBatch(this.#binding.constants.BATCH_ALLOW_ADD, prefixes, 'prefixes', options);
  }

  async allowDel(prefixes: readonly IpPrefix[], options?: BatchOptions): Promise<BatchResult> {
    return this.#prefixBatch(this.#binding.constants.BATCH_ALLOW_DEL, prefixes, 'prefixes', options);
  }

  async lookup(address: IpPrefix, port?: number): Promise<LookupResult> {
    const addr = checkHost(address, 'address');
    const k = this.#binding.constants;
    const p = port === undefined ? 0 : checkPort(port, 'port');
    const r = this.#dev.lookup(addr.bytes, p, port === undefined ? 0 : k.LOOKUP_F_PORT);
    return {
      verdict: VERDICTS[r.verdict] ?? 'pass',
      match: MATCHES[r.match] ?? 'none',
      now: r.now,
      entry: r.entry === undefined ? undefined : entryFromNative(r.entry),
    };
  }

  dump(options?: DumpOptions): AsyncIterable<KernelEntry[]> {
    if (options !== undefined && (typeof options !== 'object' || options === null)) throw new TypeError('dump options must be an object');
    const hitSince = options?.hitSince ?? 0;
    if (typeof hitSince !== 'number' || !Number.isSafeInteger(hitSince) || hitSince < 0) {
      throw new RangeError(`dump: hitSince must be a non-negative integer (CLOCK_BOOTTIME seconds), got ${String(options?.hitSince)}`);
    }
    return this.#walk(false, hitSince);
  }

  async *dumpColumns(): AsyncIterable<KernelColumns> {
    const k = this.#binding.constants;
    let cursor = 0n;
    do {
      const r = await this.#dev.dump(false, cursor, KERNEL_LIMITS.dumpMax, 0);
      cursor = r.cursor;
      if (r.count > 0) yield { ...r, flagPinned: k.F_PINNED, flagMonitor: k.F_MONITOR };
    } while (cursor !== k.DUMP_END);
  }

  allowDump(): AsyncIterable<KernelEntry[]> {
    return this.#walk(true, 0);
  }

  async flush(options?: FlushOptions): Promise<number> {
    const o = checkFlushOptions(options);
    const k = this.#binding.constants;
    let scope = 0;
    if (o.scope.has('exact')) scope |= k.FLUSH_EXACT;
    if (o.scope.has('prefix')) scope |= k.FLUSH_PREFIX;
    if (o.scope.has('allow')) scope |= k.FLUSH_ALLOW;
    const flags = (o.pinned ? k.F_PINNED : 0) | (o.monitor ? k.F_MONITOR : 0);
    return this.#dev.flush(scope, flags);
  }

  async stats(): Promise<KernelStats> {
    return { ...this.#dev.stats() };
  }

  async reserve(entries: number): Promise<number> {
    return this.#dev.reserve(checkReserve(entries));
  }

  async filterLoad(filter: MembershipFilter): Promise<void> {
    const f = checkFilter(filter);
    await this.#dev.filterLoad(f.data, f.nhashes, f.seed[0], f.seed[1], f.members);
  }

  async filterAdd(addresses: readonly IpPrefix[], options?: BatchOptions): Promise<void> {
    const list = checkArray<IpPrefix>(addresses, 'addresses');
    checkBatchOptions(options);
    const chunks = await this.#packPrefixes(list, 'addresses', true, options?.signal);
    const total = list.length;
    let done = 0;
    for (const c of chunks) {
      if (options?.signal?.aborted === true) throw abortError(options.signal, done);
      try {
        await this.#dev.filterAdd(c.addrs);
      } catch (err) {
        if (isKernelError(err)) err.applied = done;
        throw err;
      }
      done += c.count;
      options?.onProgress?.(done, total);
    }
    if (chunks.length === 0) options?.onProgress?.(0, 0);
  }

  /** PackedFilterAdd: the addresses go to FILTER_ADD in chunks of batchMax, straight from @addrs (the addon copies each chunk). */
  async filterAddPacked(addrs: Uint8Array, count: number): Promise<void> {
    const a = checkPackedHosts(addrs, count);
    const max = KERNEL_LIMITS.batchMax;
    for (let base = 0; base < a.count; base += max) {
      const n = Math.min(max, a.count - base);
      try {
        await this.#dev.filterAdd(a.addrs.subarray(base * 16, (base + n) * 16));
      } catch (err) {
        if (isKernelError(err)) err.applied = base;
        throw err;
      }
    }
  }

  events(): KernelEventStream {
    if (this.#closed) throw new Error('ffwall: the kernel is closed');
    const s = new NativeEventStream(this.#binding, this.#path, this.#queueCap, (x) => this.#streams.delete(x));
    this.#streams.add(s);
    return s;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of [...this.#streams]) s.close();
    this.#dev.close();
  }

  // -------------------------------------------------------------------------

  async #prefixBatch(op: number, prefixes: readonly IpPrefix[], what: string, options: BatchOptions | undefined): Promise<BatchResult> {
    const list = checkArray<IpPrefix>(prefixes, what);
    checkBatchOptions(options);
    const chunks = await this.#packPrefixes(list, what, false, options?.signal);
    return this.#runBatch(op, chunks, list.length, options);
  }

  /** Validates every rule and packs them into chunks, yielding to the loop between slices. */
  async #packRules(rules: readonly KernelRule[], signal: AbortSignal | undefined): Promise<Chunk[]> {
    const k = this.#binding.constants;
    const max = KERNEL_LIMITS.batchMax;
    const chunks: Chunk[] = [];
    const slicer = new Slicer(this.#sliceMs);
    for (let base = 0; base < rules.length; base += max) {
      const n = Math.min(max, rules.length - base);
      const c: Required<Chunk> = {
        base,
        count: n,
        addrs: new Uint8Array(n * 16),
        prefixLen: new Uint8Array(n),
        nports: new Uint8Array(n),
        flags: new Uint16Array(n),
        ttl: new Uint32Array(n),
        ports: new Uint16Array(n * KERNEL_LIMITS.maxPorts),
      };
      for (let i = 0; i < n; i++) {
        if ((i & 255) === 255 && slicer.due()) {
          await slicer.yield();
          if (signal?.aborted === true) throw abortError(signal, 0);
        }
        const r = checkRule(rules[base + i], base + i);
        r.prefix.writeTo(c.addrs, i * 16);
        c.prefixLen[i] = r.prefix.length;
        c.nports[i] = r.ports.length;
        c.flags[i] = (r.pinned ? k.F_PINNED : 0) | (r.monitor ? k.F_MONITOR : 0);
        c.ttl[i] = r.ttl;
        if (r.ports.length > 0) c.ports.set(r.ports, i * KERNEL_LIMITS.maxPorts);
      }
      chunks.push(c);
    }
    return chunks;
  }

  async #packPrefixes(list: readonly IpPrefix[], what: string, hostsOnly: boolean, signal: AbortSignal | undefined): Promise<Chunk[]> {
    const max = KERNEL_LIMITS.batchMax;
    const chunks: Chunk[] = [];
    const slicer = new Slicer(this.#sliceMs);
    for (let base = 0; base < list.length; base += max) {
      const n = Math.min(max, list.length - base);
      const c: Chunk = { base, count: n, addrs: new Uint8Array(n * 16), prefixLen: new Uint8Array(n) };
      for (let i = 0; i < n; i++) {
        if ((i & 255) === 255 && slicer.due()) {
          await slicer.yield();
          if (signal?.aborted === true) throw abortError(signal, 0);
        }
        const p = hostsOnly ? checkHost(list[base + i], `${what}[${base + i}]`) : checkPrefix(list[base + i], `${what}[${base + i}]`);
        p.writeTo(c.addrs, i * 16);
        c.prefixLen[i] = p.length;
      }
      chunks.push(c);
    }
    return chunks;
  }

  async #runBatch(op: number, chunks: readonly Chunk[], total: number, options: BatchOptions | undefined): Promise<BatchResult> {
    // More than one batch of ADDs: the hash grown once for all their exact
    // entries (the kernel grows it per batch otherwise: a 1M load took 25%
    // longer).  A failed allocation is not an error: the ADDs grow it.
    if (op === this.#binding.constants.BATCH_ADD && chunks.length > 1) {
      let exact = 0;
      for (const c of chunks) exact += countHosts(c.prefixLen, c.count);
      if (exact > KERNEL_LIMITS.batchMax) {
        try {
          await this.#dev.reserve(Math.min(exact, 0xffffffff));
        } catch (err) {
          if (!isKernelError(err) || err.code !== 'ENOMEM') throw err;
        }
      }
    }
    // Each chunk is converted to kernel records while the ioctl of the one
    // before runs on the thread pool; it is sent only after that ioctl
    // succeeded, so the chunks still apply in order and stop at an error.
    // An error converting the next chunk is raised once the current one is
    // done (and counted in applied).
    const prepare = (c: Chunk): NativePreparedBatch => {
      try {
        return this.#dev.prepareBatch(op, c.count, c.addrs, c.prefixLen, c.nports, c.flags, c.ttl, c.ports);
      } catch (err) {
        throw rebase(err, c.base);
      }
    };
    try {
      return await this.#submitAll(chunks, total, prepare, options);
    } finally {
      // The record buffers prepareBatch() reused from chunk to chunk.
      this.#dev.releaseBatchBuffers();
    }
  }

  /** #runBatch()'s chunks, each prepared while the one before is in the kernel. */
  async #submitAll(chunks: readonly Chunk[], total: number, prepare: (c: Chunk) => NativePreparedBatch, options: BatchOptions | undefined): Promise<BatchResult> {
    let applied = 0;
    let changed = 0;
    let next = chunks[0] === undefined ? undefined : prepare(chunks[0]);
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i] as Chunk;
      if (options?.signal?.aborted === true) throw abortError(options.signal, applied);
      let pending: Promise<{ applied: number; changed: number }>;
      try {
        pending = this.#dev.submitBatch(next as NativePreparedBatch);
      } catch (err) {
        throw rebase(err, c.base);
      }
      let prepError: unknown;
      const following = chunks[i + 1];
      try {
        next = following === undefined ? undefined : prepare(following);
      } catch (err) {
        prepError = err;
      }
      let r: { applied: number; changed: number };
      try {
        r = await pending;
      } catch (err) {
        throw rebase(err, c.base);
      }
      applied += r.applied;
      changed += r.changed;
      options?.onProgress?.(applied, total);
      if (prepError !== undefined) throw prepError;
    }
    if (chunks.length === 0) options?.onProgress?.(0, 0);
    return { applied, changed };
  }

  async *#walk(allow: boolean, hitSince: number): AsyncGenerator<KernelEntry[], void, undefined> {
    const k = this.#binding.constants;
    let cursor = 0n;
    do {
      const r = await this.#dev.dump(allow, cursor, KERNEL_LIMITS.dumpMax, hitSince);
      cursor = r.cursor;
      if (r.count === 0) continue;
      const batch: KernelEntry[] = new Array<KernelEntry>(r.count);
      for (let i = 0; i < r.count; i++) batch[i] = toEntry(r, i);
      yield batch;
    } while (cursor !== k.DUMP_END);
  }
}

const EVENT_TYPES: readonly (KernelEventType | undefined)[] = [undefined, 'evicted', 'expired', 'miss', 'overflow'];

/**
 * Events of one reader (its own kernel ring), as an async iterator with a
 * bounded queue: at @cap queued events the reader stops polling, so the
 * kernel ring fills and its OVERFLOW record reports the gap; reading resumes
 * when the consumer has drained half the queue.
 */
class NativeEventStream implements KernelEventStream {
  readonly #reader: NativeEventReader;
  readonly #cap: number;
  readonly #onClose: (s: NativeEventStream) => void;
  #queue: KernelEvent[] = [];
  #head = 0;
  #waiters: { resolve: (r: IteratorResult<KernelEvent>) => void; reject: (e: unknown) => void }[] = [];
  #paused = false;
  #closed = false;
  #error: unknown = undefined;
  readonly #pinned: number;
  readonly #monitor: number;

  constructor(binding: NativeBinding, path: string, cap: number, onClose: (s: NativeEventStream) => void) {
    this.#cap = cap;
    this.#onClose = onClose;
    this.#pinned = binding.constants.F_PINNED;
    this.#monitor = binding.constants.F_MONITOR;
    this.#reader = new binding.EventReader(path, (err, batch) => this.#onBatch(err, batch));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Events waiting in the queue. */
  get queued(): number {
    return this.#queue.length - this.#head;
  }

  /** True while the stream has stopped reading because its queue is full. */
  get paused(): boolean {
    return this.#paused;
  }

  #onBatch(err: Error | null, batch: NativeEventBatch | undefined): void {
    if (this.#closed) return;
    if (err !== null || batch === undefined) {
      this.#error = err ?? new Error('ffwall: event reader failed');
      const w = this.#waiters.shift();
      if (w !== undefined) {
        w.reject(this.#error);
        this.#error = undefined;
      }
      this.close();
      return;
    }
    for (let i = 0; i < batch.count; i++) {
      const type = EVENT_TYPES[batch.type[i] ?? 0];
      if (type === undefined) continue;
      const flags = batch.flags[i] ?? 0;
      const ev: KernelEvent = {
        type,
        prefix: type === 'overflow' ? undefined : IpPrefix.masked(batch.addrs.subarray(i * 16, i * 16 + 16), batch.prefixLen[i] ?? 128),
        pinned: (flags & this.#pinned) !== 0,
        monitor: (flags & this.#monitor) !== 0,
        value: batch.value[i] ?? 0,
        time: batch.time[i] ?? 0,
      };
      const w = this.#waiters.shift();
      if (w !== undefined) w.resolve({ value: ev, done: false });
      else this.#queue.push(ev);
    }
    if (!this.#paused && this.queued >= this.#cap) {
      this.#paused = true;
      this.#reader.pause();
    }
  }

  #next(): Promise<IteratorResult<KernelEvent>> {
    if (this.#head < this.#queue.length) {
      const ev = this.#queue[this.#head] as KernelEvent;
      this.#head++;
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#head);
        this.#head = 0;
      }
      if (this.#paused && !this.#closed && this.queued <= this.#cap >> 1) {
        this.#paused = false;
        this.#reader.resume();
      }
      return Promise.resolve({ value: ev, done: false });
    }
    if (this.#error !== undefined) {
      const e = this.#error;
      this.#error = undefined;
      return Promise.reject(e);
    }
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#reader.close();
    this.#queue = [];
    this.#head = 0;
    for (const w of this.#waiters.splice(0)) w.resolve({ value: undefined, done: true });
    this.#onClose(this);
  }

  [Symbol.asyncIterator](): AsyncIterator<KernelEvent> {
    return {
      next: () => this.#next(),
      return: () => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
