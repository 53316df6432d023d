// SPDX-License-Identifier: MIT
//
// The Kernel interface: everything userland asks of ffwall.ko, in the
// library's own types.  Two implementations keep to it:
//   - NativeKernel (kernel-native.ts), over the addon and /dev/ffwall;
//   - FakeKernel (kernel-fake.ts), in memory, with the module's semantics.
// One conformance suite (test/conformance/) runs against both, so the fake
// cannot drift from the module.  The daemon, the CLI and the public API see
// the kernel only through this file.
//
// Units, as in kmod/uapi/ffwall.h: times are CLOCK_BOOTTIME seconds (0 =
// never), TTLs are seconds (0 = no kernel expiry), ports are host-order
// numbers.  Converting to wall-clock dates is the caller's business.
import type { IpPrefix } from './addr.js';

/** Limits of the ABI (kmod/uapi/ffwall.h); the native kernel checks they match the addon's. */
export const KERNEL_LIMITS = {
  batchMax: 65536,
  dumpMax: 8192,
  maxPorts: 8,
  ttlMax: 0x7fffffff,
  maxEntriesMin: 1,
  maxEntriesMax: 1 << 26,
  gcIntervalMin: 1,
  gcIntervalMax: 3600,
  maxAttach: 256,
  ifNameMax: 15,
  filterBlockBytes: 64,
  filterMaxHashes: 16,
} as const;

/** FFWALL_FEAT_* bits. */
export const FEATURES = {
  config: 1n << 0n,
  attach: 1n << 1n,
  addDel: 1n << 2n,
  lookup: 1n << 3n,
  flush: 1n << 4n,
  dump: 1n << 5n,
  stats: 1n << 6n,
  ports: 1n << 7n,
  monitor: 1n << 8n,
  prefix: 1n << 9n,
  allow: 1n << 10n,
  events: 1n << 11n,
  filter: 1n << 12n,
  flushFlags: 1n << 13n,
  reserve: 1n << 14n,
  statsMemory: 1n << 15n,
} as const;
export type FeatureName = keyof typeof FEATURES;

export interface ModuleVersion {
  /** FFWALL_ABI_VERSION of the module. */
  abiVersion: number;
  /** FFWALL_FEAT_* bits. */
  features: bigint;
  /** The module's own version, "MAJOR.MINOR.PATCH". */
  moduleVersion: string;
}

/** One ban as ADD takes it. */
export interface KernelRule {
  /** A host (an exact entry) or a prefix. */
  prefix: IpPrefix;
  /** Destination ports (1..65535, at most 8, duplicates merged); absent or empty: the whole address. */
  ports?: readonly number[];
  /** Seconds until the kernel expires the entry; absent or 0: never. At most KERNEL_LIMITS.ttlMax. */
  ttl?: number;
  /** Never evicted by the capacity cap. */
  pinned?: boolean;
  /** Counted, not dropped. */
  monitor?: boolean;
}

export type EntryKind = 'exact' | 'prefix' | 'allow';

/** One entry as LOOKUP and DUMP return it. */
export interface KernelEntry {
  prefix: IpPrefix;
  kind: EntryKind;
  /** Sorted, empty for the whole address. */
  ports: number[];
  pinned: boolean;
  monitor: boolean;
  /** Seconds left, 0: no expiry. */
  ttl: number;
  /** Absolute expiry, CLOCK_BOOTTIME seconds, 0: never. */
  expires: number;
  /** Last matching packet, CLOCK_BOOTTIME seconds, 0: never (approximate). */
  lastHit: number;
  /** Matching packets (approximate, wraps at 2^32). */
  hits: number;
}

/**
 * A DUMP batch as columns, without an object per entry (Kernel.dumpColumns()):
 * entry i is addrs[16i, 16i + 16) / prefixLen[i], its ports
 * ports[8i, 8i + nports[i]), kind[i] 1 exact, 2 prefix, 3 allow; times in
 * CLOCK_BOOTTIME seconds (0: never).  The arrays are the reader's until its
 * next step.
 */
export interface KernelColumns {
  count: number;
  addrs: Uint8Array;
  prefixLen: Uint8Array;
  kind: Uint8Array;
  nports: Uint8Array;
  ports: Uint16Array;
  flags: Uint16Array;
  expires: Float64Array;
  lastHit: Float64Array;
  hits: Uint32Array;
  /** The bits of flags[i]. */
  flagPinned: number;
  flagMonitor: number;
}

const KIND_NUMBERS: Readonly<Record<EntryKind, number>> = { exact: 1, prefix: 2, allow: 3 };

/** A dump() batch as KernelColumns, for a kernel whose DUMP gives objects (the fake). */
export function columnsOf(batch: readonly KernelEntry[]): KernelColumns {
  const n = batch.length;
  const c: KernelColumns = {
    count: n,
    addrs: new Uint8Array(n * 16),
    prefixLen: new Uint8Array(n),
    kind: new Uint8Array(n),
    nports: new Uint8Array(n),
    ports: new Uint16Array(n * 8),
    flags: new Uint16Array(n),
    expires: new Float64Array(n),
    lastHit: new Float64Array(n),
    hits: new Uint32Array(n),
    flagPinned: 1,
    flagMonitor: 2,
  };
  batch.forEach((e, i) => {
    e.prefix.writeTo(c.addrs, i * 16);
    c.prefixLen[i] = e.prefix.length;
    c.kind[i] = KIND_NUMBERS[e.kind];
    c.nports[i] = e.ports.length;
    c.ports.set(e.ports, i * 8);
    c.flags[i] = (e.pinned ? c.flagPinned : 0) | (e.monitor ? c.flagMonitor : 0);
    c.expires[i] = e.expires;
    c.lastHit[i] = e.lastHit;
    c.hits[i] = e.hits;
  });
  return c;
}

/** What a packet from an address would get. */
export type Verdict = 'pass' | 'drop' | 'monitor' | 'ports';
/** What decided the verdict. */
export type MatchKind = 'none' | 'exact' | 'prefix' | 'allow';

export interface LookupResult {
  /** Without a port, a port-scoped entry gives 'ports'; with one, 'drop' or 'pass'. */
  verdict: Verdict;
  match: MatchKind;
  /** The kernel's time, CLOCK_BOOTTIME seconds. */
  now: number;
  /** The entry that matched; undefined when match is 'none'. */
  entry: KernelEntry | undefined;
}

export interface BatchResult {
  /** Records applied (all of them on success). */
  applied: number;
  /** ADD: records that created an entry; DEL: records that removed one. */
  changed: number;
}

export interface BatchOptions {
  /** Called after each chunk with the records applied so far; in order, the last call has done === total. */
  onProgress?: (done: number, total: number) => void;
  /** Checked between chunks: an abort stops the batch with an AbortError carrying `applied`. */
  signal?: AbortSignal;
}

export type KernelMode = 'enforce' | 'monitor';

export interface KernelConfig {
  maxEntries: number;
  mode: KernelMode;
  gcInterval: number;
  /** Read only. */
  hookPriority: number;
  /** Read only. */
  maxPrefixes: number;
  /** Read only. */
  maxAllow: number;
  /** Read only. */
  filterMaxBytes: number;
}

export type KernelConfigPatch = Partial<Pick<KernelConfig, 'maxEntries' | 'mode' | 'gcInterval'>>;

export interface KernelStats {
  now: number;
  packetsSeen: number;
  packetsNotIp: number;
  droppedExact: number;
  droppedPorts: number;
  droppedPrefix: number;
  passedAllow: number;
  monitorHits: number;
  filterProbes: number;
  filterHits: number;
  entries: number;
  pinned: number;
  buckets: number;
  portsets: number;
  inserted: number;
  deleted: number;
  evicted: number;
  expired: number;
  resizes: number;
  /** Memory of the exact table (slab objects, bucket array, port sets). */
  bytes: number;
  entrySize: number;
  prefixes: number;
  allowEntries: number;
  eventsLost: number;
  hookErrors: number;
  /** Memory of the prefix table, of the allowlist, and the loaded membership filter's size (0: none). */
  prefixBytes: number;
  allowBytes: number;
  filterBytes: number;
}

export interface DeviceInfo {
  /** Device name, or "*" for every device. */
  name: string;
  /** 0 when no such device exists. */
  ifindex: number;
  /** In the attach list. */
  named: boolean;
  /** An ingress hook is on the device. */
  hooked: boolean;
}

export type FlushScope = 'exact' | 'prefix' | 'allow';

export interface FlushOptions {
  /** The tables to clear; default all three. */
  scope?: readonly FlushScope[];
  /** Only entries with these flags (all of those given as true). */
  pinned?: boolean;
  monitor?: boolean;
}

export interface DumpOptions {
  /** Only entries hit at or after this CLOCK_BOOTTIME second. */
  hitSince?: number;
}

/** The membership filter (FFWALL_FILTER_BLOCKED_BLOOM). */
export interface MembershipFilter {
  /** size: a non-zero multiple of 64 bytes, at most KernelConfig.filterMaxBytes. */
  data: Uint8Array;
  /** Bits per member, 1..16. */
  nhashes: number;
  /** SipHash key. */
  seed: readonly [bigint, bigint];
  /** Members, for the statistics only. */
  members: number;
}

export type KernelEventType = 'evicted' | 'expired' | 'miss' | 'overflow';

export interface KernelEvent {
  type: KernelEventType;
  /** The entry's address or prefix; undefined for 'overflow'. */
  prefix: IpPrefix | undefined;
  /** Flags of the entry (evicted, expired). */
  pinned: boolean;
  monitor: boolean;
  /** evicted, expired: the entry's hits; overflow: records lost; miss: 0. */
  value: number;
  /** CLOCK_BOOTTIME seconds. */
  time: number;
}

/**
 * Events from the moment the stream was opened.  Iterate it with for await;
 * close() ends the iteration (a pending next() resolves done).  A slow
 * consumer never grows memory without bound: the stream stops reading, the
 * kernel's ring fills, and the gap arrives as one 'overflow' event.
 */
export interface KernelEventStream extends AsyncIterable<KernelEvent> {
  close(): void;
  readonly closed: boolean;
}

/**
 * Errors: a bad argument is a TypeError (or AddressError, a TypeError) thrown
 * before any system call.  A refusal of the kernel is an Error with Node's
 * shape, KernelError: code (the errno name: EPERM, ENOSPC, EEXIST, ...),
 * errno (negative), syscall 'ioctl', path.  A failed batch also carries
 * `applied` (records of the whole input in effect, always a prefix of it)
 * and, when one record was refused, `badIndex` (its index in the input).
 */
export interface Kernel {
  /** 'native', 'fake', or 'none' (kernel-none.ts: opened with the database alone). */
  readonly kind: 'native' | 'fake' | 'none';

  version(): Promise<ModuleVersion>;

  getConfig(): Promise<KernelConfig>;
  /** Changes the given fields, all or none; returns the new configuration. */
  setConfig(patch: KernelConfigPatch): Promise<KernelConfig>;

  attach(device: string): Promise<void>;
  detach(device: string): Promise<void>;
  devices(): Promise<DeviceInfo[]>;

  /** ADD in chunks of at most KERNEL_LIMITS.batchMax, off the event loop. */
  add(rules: readonly KernelRule[], options?: BatchOptions): Promise<BatchResult>;
  /** DEL: only the prefixes matter. */
  del(prefixes: readonly IpPrefix[], options?: BatchOptions): Promise<BatchResult>;
  /** The verdict for a packet from @address (a host), to @port if given. Does not count as a hit. */
  lookup(address: IpPrefix, port?: number): Promise<LookupResult>;
  /** Every entry: exact entries, then prefixes, then the allowlist; in batches. */
  dump(options?: DumpOptions): AsyncIterable<KernelEntry[]>;
  /** The ban entries of dump() (exact, then prefixes; no allowlist) as columns: a whole-table listing without an object per entry. */
  dumpColumns(): AsyncIterable<KernelColumns>;
  /** Removes entries; returns how many. */
  flush(options?: FlushOptions): Promise<number>;
  /**
   * RESERVE: grows the exact table's hash at once for @entries more (an
   * integer 0..2^32-1), so that a bulk ADD does not double it step after
   * step; never shrinks it and limits nothing.  Resolves to its buckets.
   * add() of more than one batch of exact entries does this itself.
   */
  reserve(entries: number): Promise<number>;
  stats(): Promise<KernelStats>;

  allowAdd(prefixes: readonly IpPrefix[], options?: BatchOptions): Promise<BatchResult>;
  allowDel(prefixes: readonly IpPrefix[], options?: BatchOptions): Promise<BatchResult>;
  allowDump(): AsyncIterable<KernelEntry[]>;

  filterLoad(filter: MembershipFilter): Promise<void>;
  filterAdd(addresses: readonly IpPrefix[], options?: BatchOptions): Promise<void>;

  /** Opens a new event reader. */
  events(): KernelEventStream;

  /** Closes the device and every open event stream. Idempotent. */
  close(): Promise<void>;
}

/** A kernel that takes the membership filter's new hosts packed (NativeKernel, FakeKernel); others get IpPrefix objects. */
export interface PackedFilterAdd {
  /** filterAdd() of the first @count host addresses of @addrs, 16 bytes each (a host has no length to check). */
  filterAddPacked(addrs: Uint8Array, count: number): Promise<void>;
}

/** The Node-shaped error of a refused ioctl (or open/read). */
export interface KernelError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path: string;
  /** Batches: records of the input in effect. */
  applied?: number;
  /** Batches: index in the input of the record the kernel refused. */
  badIndex?: number;
}

export function isKernelError(err: unknown): err is KernelError {
  return err instanceof Error && typeof (err as Partial<KernelError>).code === 'string' && typeof (err as Partial<KernelError>).errno === 'number' && typeof (err as Partial<KernelError>).syscall === 'string';
}
