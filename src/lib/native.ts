// SPDX-License-Identifier: MIT
//
// The only file that loads the native addon.  Its typings are private: the
// public types of the library live in kernel.ts, kernel-native.ts and index.ts.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import type { KernelStats } from './kernel.js';

export interface NativeVersion {
  abiVersion: number;
  features: bigint;
  moduleVersion: string;
}

export interface NativeConfig {
  maxEntries: number;
  mode: number;
  gcInterval: number;
  hookPriority: number;
  maxPrefixes: number;
  maxAllow: number;
  filterMaxBytes: number;
}

export interface NativeDeviceRecord {
  name: string;
  ifindex: number;
  flags: number;
}

export interface NativeEntry {
  addr: Uint8Array;
  prefixLen: number;
  flags: number;
  ttl: number;
  ports: number[];
  expires: number;
  lastHit: number;
  hits: number;
  kind: number;
}

export interface NativeLookup {
  verdict: number;
  match: number;
  now: number;
  entry: NativeEntry | undefined;
}

/** struct ffwall_entry_info records, columnar. */
export interface NativeEntryColumns {
  count: number;
  addrs: Uint8Array;
  prefixLen: Uint8Array;
  nports: Uint8Array;
  flags: Uint16Array;
  ttl: Uint32Array;
  /** count * MAX_PORTS */
  ports: Uint16Array;
  expires: Float64Array;
  lastHit: Float64Array;
  hits: Uint32Array;
  kind: Uint8Array;
}

export interface NativeDumpResult extends NativeEntryColumns {
  cursor: bigint;
}

/** The addon's stats(): the kernel's STATS record under the names of the Kernel interface (addon/ffwall.cc Stats()). */
export type NativeStats = KernelStats;

/** The arguments of batch() and prepareBatch(): one chunk, columnar; absent columns are zeros. */
export type NativeBatchArgs = [
  op: number,
  count: number,
  addrs: Uint8Array,
  prefixLen: Uint8Array,
  nports?: Uint8Array,
  flags?: Uint16Array,
  ttl?: Uint32Array,
  ports?: Uint16Array,
];

/** An opaque batch from prepareBatch(), converted to kernel records and not yet sent. */
export type NativePreparedBatch = { readonly __brand: 'ffwall prepared batch' };

/** A refused batch: the errno error plus applied/badIndex relative to the chunk. */
export interface NativeBatchError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path: string;
  applied: number;
  badIndex?: number;
}

export interface NativeDevice {
  readonly fd: number;
  readonly path: string;
  version(): NativeVersion;
  getConfig(): NativeConfig;
  setConfig(setMask: number, maxEntries: number, mode: number, gcInterval: number): void;
  attach(name: string): void;
  detach(name: string): void;
  listDevices(): NativeDeviceRecord[];
  /** One chunk (<= BATCH_MAX records); op is constants.BATCH_*. */
  batch(...args: NativeBatchArgs): Promise<{ applied: number; changed: number }>;
  /**
   * The records of batch() copied out of the columns now, for
   * submitBatch() later: a bulk load converts its next chunk while the
   * thread pool runs the ioctl of the one before.  Same arguments and errors.
   */
  prepareBatch(...args: NativeBatchArgs): NativePreparedBatch;
  /** Sends a prepared batch (once), as batch() does. */
  submitBatch(prepared: NativePreparedBatch): Promise<{ applied: number; changed: number }>;
  /**
   * The end of a bulk operation: frees the record buffers that
   * prepareBatch() reuses from chunk to chunk (a batch of 4096 records or
   * more takes one); returns how many it freed.
   */
  releaseBatchBuffers(): number;
  lookup(addr: Uint8Array, port: number, flags: number): NativeLookup;
  flush(scope: number, withFlags: number): number;
  /** RESERVE @entries (u32); resolves to the exact table's buckets after it. */
  reserve(entries: number): Promise<number>;
  dump(allow: boolean, cursor: bigint, capacity: number, hitSince: number): Promise<NativeDumpResult>;
  stats(): NativeStats;
  filterLoad(data: Uint8Array, nhashes: number, seed0: bigint, seed1: bigint, members: number): Promise<void>;
  filterAdd(addrs: Uint8Array): Promise<number>;
  close(): void;
}

export interface NativeEventBatch {
  count: number;
  type: Uint16Array;
  prefixLen: Uint8Array;
  flags: Uint8Array;
  value: Uint32Array;
  time: Float64Array;
  addrs: Uint8Array;
}

export interface NativeEventReader {
  readonly closed: boolean;
  pause(): void;
  resume(): void;
  close(): void;
}

export interface NativeConstants {
  ABI_VERSION: number;
  BATCH_MAX: number;
  DUMP_MAX: number;
  DUMP_MIN: number;
  MAX_PORTS: number;
  TTL_MAX: number;
  MAX_ENTRIES_MIN: number;
  MAX_ENTRIES_MAX: number;
  GC_INTERVAL_MIN: number;
  GC_INTERVAL_MAX: number;
  MAX_ATTACH: number;
  IFNAMSIZ: number;
  FILTER_BLOCK_BYTES: number;
  FILTER_MAX_HASHES: number;
  FEAT_CONFIG: bigint;
  FEAT_ATTACH: bigint;
  FEAT_ADD_DEL: bigint;
  FEAT_LOOKUP: bigint;
  FEAT_FLUSH: bigint;
  FEAT_DUMP: bigint;
  FEAT_STATS: bigint;
  FEAT_PORTS: bigint;
  FEAT_MONITOR: bigint;
  FEAT_PREFIX: bigint;
  FEAT_ALLOW: bigint;
  FEAT_EVENTS: bigint;
  FEAT_FILTER: bigint;
  FEAT_FLUSH_FLAGS: bigint;
  MODE_ENFORCE: number;
  MODE_MONITOR: number;
  CONFIG_MAX_ENTRIES: number;
  CONFIG_MODE: number;
  CONFIG_GC_INTERVAL: number;
  DEV_NAMED: number;
  DEV_HOOKED: number;
  F_PINNED: number;
  F_MONITOR: number;
  VERDICT_PASS: number;
  VERDICT_DROP: number;
  VERDICT_MONITOR: number;
  VERDICT_PORTS: number;
  MATCH_NONE: number;
  MATCH_EXACT: number;
  MATCH_PREFIX: number;
  MATCH_ALLOW: number;
  LOOKUP_F_PORT: number;
  FLUSH_EXACT: number;
  FLUSH_PREFIX: number;
  FLUSH_ALLOW: number;
  DUMP_END: bigint;
  EVENT_EVICTED: number;
  EVENT_EXPIRED: number;
  EVENT_MISS: number;
  EVENT_OVERFLOW: number;
  BATCH_ADD: number;
  BATCH_DEL: number;
  BATCH_ALLOW_ADD: number;
  BATCH_ALLOW_DEL: number;
}

export interface NativeBinding {
  Device: new (path: string) => NativeDevice;
  EventReader: new (path: string, callback: (err: Error | null, batch: NativeEventBatch | undefined) => void) => NativeEventReader;
  /** FFWALL_FILTER_BLOCKED_BLOOM over count addresses (16 bytes each), off the event loop. */
  /** With @into (sizeBytes long), adds the members to it in place and resolves to it. */
  filterBuild(addrs: Uint8Array, count: number, sizeBytes: number, nhashes: number, seed0: bigint, seed1: bigint, into?: Uint8Array): Promise<Uint8Array>;
  filterHas(data: Uint8Array, nhashes: number, seed0: bigint, seed1: bigint, addr: Uint8Array): boolean;
  /** The hash, block and bit positions of one address (known-answer tests). */
  filterPositions(addr: Uint8Array, nblocks: number, nhashes: number, seed0: bigint, seed1: bigint): { hash: bigint; block: number; bits: Uint16Array };
  /**
   * feeds.ts packPlainFeed()'s fast path: from @state ([position, entries,
   * lines], updated in place) packs the lines that are exactly an IPv4
   * address or prefix (addr.ts parseV4PrefixBytes()'s rules) while the
   * columns have room; stops at the first other line, not consumed.
   */
  packV4Lines(buf: Uint8Array, addrs: Uint8Array, prefixLen: Uint8Array, lineOf: Uint32Array, state: Float64Array): void;
  constants: NativeConstants;
  ABI_VERSION: number;
  DEVICE_NAME: string;
}

let binding: NativeBinding | undefined;

/** Locates the built addon: build/Release/ffwall.node at the package root. */
export function addonPath(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'build', 'Release', 'ffwall.node');
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error('ffwall: the native addon is not built (build/Release/ffwall.node); run `npm run build:addon`');
}

/** loadBinding(), or undefined where the addon is not built (pure helpers then use their JavaScript). */
export function tryLoadBinding(): NativeBinding | undefined {
  try {
    return loadBinding();
  } catch {
    return undefined;
  }
}

export function loadBinding(): NativeBinding {
  if (binding === undefined) {
    const require = createRequire(import.meta.url);
    binding = require(addonPath()) as NativeBinding;
  }
  return binding;
}
