// SPDX-License-Identifier: MIT
//
// Argument checks shared by every Kernel implementation, so that a bad
// argument is the same TypeError or RangeError from the fake and from the
// module, thrown before any system call.  What only the kernel can judge
// (capacity, the allowlist, port-set slots) stays with the kernel.
import { getSystemErrorMap } from 'node:util';

import { IpPrefix } from './addr.js';
import { KERNEL_LIMITS, type FlushOptions, type KernelConfigPatch, type KernelError, type KernelRule, type MembershipFilter } from './kernel.js';

function isUint(v: unknown, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
}

export function checkPrefix(p: unknown, what: string): IpPrefix {
  if (!(p instanceof IpPrefix)) throw new TypeError(`${what} must be an IpPrefix (use parsePrefix())`);
  return p;
}

export function checkHost(p: unknown, what: string): IpPrefix {
  const prefix = checkPrefix(p, what);
  if (!prefix.isHost) throw new TypeError(`${what} must be a single address, got the prefix ${prefix.toString()}`);
  return prefix;
}

export function checkPort(port: unknown, what: string): number {
  if (!isUint(port, 65535) || port === 0) throw new RangeError(`${what} must be an integer port 1..65535, got ${String(port)}`);
  return port;
}

/** Sorted, deduplicated ports of a rule; throws on a bad port or more than 8. */
export function normalizePorts(ports: readonly number[] | undefined, what: string): number[] {
  if (ports === undefined) return [];
  if (!Array.isArray(ports)) throw new TypeError(`${what}.ports must be an array of ports`);
  const out = [...new Set(ports.map((p, i) => checkPort(p, `${what}.ports[${i}]`)))].sort((a, b) => a - b);
  if (out.length > KERNEL_LIMITS.maxPorts) throw new RangeError(`${what}.ports: at most ${KERNEL_LIMITS.maxPorts} distinct ports, got ${out.length}`);
  return out;
}

export interface CheckedRule {
  prefix: IpPrefix;
  ports: number[];
  ttl: number;
  pinned: boolean;
  monitor: boolean;
}

export function checkRule(rule: unknown, index: number): CheckedRule {
  const what = `rules[${index}]`;
  if (typeof rule !== 'object' || rule === null) throw new TypeError(`${what} must be an object`);
  const r = rule as Partial<KernelRule>;
  const prefix = checkPrefix(r.prefix, `${what}.prefix`);
  const ports = normalizePorts(r.ports, what);
  const ttl = r.ttl ?? 0;
  if (!isUint(ttl, KERNEL_LIMITS.ttlMax)) throw new RangeError(`${what}.ttl must be an integer number of seconds 0..${KERNEL_LIMITS.ttlMax}, got ${String(r.ttl)}`);
  for (const k of ['pinned', 'monitor'] as const) {
    if (r[k] !== undefined && typeof r[k] !== 'boolean') throw new TypeError(`${what}.${k} must be a boolean`);
  }
  return { prefix, ports, ttl, pinned: r.pinned === true, monitor: r.monitor === true };
}

/** The arguments of filterAddPacked(), checked: a TypeError names what is wrong. */
export function checkPackedHosts(addrs: unknown, count: unknown): { addrs: Uint8Array; count: number } {
  if (!(addrs instanceof Uint8Array)) throw new TypeError('filterAddPacked: addrs must be a Uint8Array');
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count * 16 > addrs.length) {
    throw new TypeError(`filterAddPacked: count must be an integer from 0 to ${Math.floor(addrs.length / 16)} (the addresses of 16 bytes in addrs), got ${String(count)}`);
  }
  return { addrs, count };
}

export function checkArray<T>(v: unknown, what: string): readonly T[] {
  if (!Array.isArray(v)) throw new TypeError(`${what} must be an array`);
  return v as readonly T[];
}

export function checkConfigPatch(patch: unknown): KernelConfigPatch {
  if (typeof patch !== 'object' || patch === null) throw new TypeError('config patch must be an object');
  const p = patch as Record<string, unknown>;
  for (const k of Object.keys(p)) {
    if (!['maxEntries', 'mode', 'gcInterval'].includes(k)) throw new TypeError(`config: ${k} cannot be set (settable: maxEntries, mode, gcInterval)`);
  }
  const out: KernelConfigPatch = {};
  if (p.maxEntries !== undefined) {
    if (!isUint(p.maxEntries, KERNEL_LIMITS.maxEntriesMax) || p.maxEntries < KERNEL_LIMITS.maxEntriesMin) {
      throw new RangeError(`config: maxEntries must be an integer ${KERNEL_LIMITS.maxEntriesMin}..${KERNEL_LIMITS.maxEntriesMax}, got ${String(p.maxEntries)}`);
    }
    out.maxEntries = p.maxEntries;
  }
  if (p.mode !== undefined) {
    if (p.mode !== 'enforce' && p.mode !== 'monitor') throw new TypeError(`config: mode must be 'enforce' or 'monitor', got ${String(p.mode)}`);
    out.mode = p.mode;
  }
  if (p.gcInterval !== undefined) {
    if (!isUint(p.gcInterval, KERNEL_LIMITS.gcIntervalMax) || p.gcInterval < KERNEL_LIMITS.gcIntervalMin) {
      throw new RangeError(`config: gcInterval must be an integer ${KERNEL_LIMITS.gcIntervalMin}..${KERNEL_LIMITS.gcIntervalMax} seconds, got ${String(p.gcInterval)}`);
    }
    out.gcInterval = p.gcInterval;
  }
  return out;
}

export function checkDeviceName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) throw new TypeError('device name must be a non-empty string');
  if (Buffer.byteLength(name) > KERNEL_LIMITS.ifNameMax) throw new RangeError(`device name "${name}" is longer than ${KERNEL_LIMITS.ifNameMax} bytes`);
  if (name !== '*' && /[\s/:\0]/.test(name)) throw new TypeError(`device name "${name}" has a character no interface name can have`);
  return name;
}

/** RESERVE's count: an integer 0..2^32-1 (RangeError otherwise); both kernels check it so. */
export function checkReserve(entries: unknown): number {
  if (!Number.isInteger(entries) || (entries as number) < 0 || (entries as number) > 0xffffffff) throw new RangeError(`reserve: entries must be an integer 0..4294967295, got ${String(entries)}`);
  return entries as number;
}

export function checkFlushOptions(opts: unknown): { scope: Set<'exact' | 'prefix' | 'allow'>; pinned: boolean; monitor: boolean } {
  const o = (opts ?? {}) as FlushOptions;
  if (typeof o !== 'object') throw new TypeError('flush options must be an object');
  const scope = new Set(o.scope ?? (['exact', 'prefix', 'allow'] as const));
  if (scope.size === 0) throw new TypeError('flush: scope must name at least one table');
  for (const s of scope) if (s !== 'exact' && s !== 'prefix' && s !== 'allow') throw new TypeError(`flush: unknown scope ${String(s)}`);
  for (const k of ['pinned', 'monitor'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'boolean') throw new TypeError(`flush: ${k} must be a boolean`);
  }
  return { scope, pinned: o.pinned === true, monitor: o.monitor === true };
}

export function checkFilter(f: unknown): MembershipFilter {
  if (typeof f !== 'object' || f === null) throw new TypeError('filter must be an object');
  const m = f as Partial<MembershipFilter>;
  if (!(m.data instanceof Uint8Array) || m.data.length === 0 || m.data.length % KERNEL_LIMITS.filterBlockBytes !== 0) {
    throw new RangeError(`filter.data must be a non-empty Uint8Array whose size is a multiple of ${KERNEL_LIMITS.filterBlockBytes}`);
  }
  if (!isUint(m.nhashes, KERNEL_LIMITS.filterMaxHashes) || m.nhashes < 1) throw new RangeError(`filter.nhashes must be 1..${KERNEL_LIMITS.filterMaxHashes}`);
  if (!Array.isArray(m.seed) || m.seed.length !== 2 || m.seed.some((s) => typeof s !== 'bigint' || s < 0n || s >= 1n << 64n)) {
    throw new TypeError('filter.seed must be two unsigned 64-bit bigints');
  }
  if (!isUint(m.members, Number.MAX_SAFE_INTEGER)) throw new RangeError('filter.members must be a non-negative integer');
  return m as MembershipFilter;
}

export function checkBatchOptions(o: unknown): void {
  if (o === undefined) return;
  if (typeof o !== 'object' || o === null) throw new TypeError('batch options must be an object');
  const b = o as { onProgress?: unknown; signal?: unknown };
  if (b.onProgress !== undefined && typeof b.onProgress !== 'function') throw new TypeError('onProgress must be a function');
  if (b.signal !== undefined && !(b.signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
}

let errnoByName: Map<string, [number, string]> | undefined;

/**
 * A Node-shaped system error, the same shape and message as the addon's:
 * "ENOSPC: no space left on device, ioctl '/dev/ffwall'".
 */
export function errnoError(code: string, syscall: string, path: string, extra?: { applied?: number; badIndex?: number }): KernelError {
  if (errnoByName === undefined) {
    errnoByName = new Map();
    for (const [errno, [name, message]] of getSystemErrorMap()) errnoByName.set(name, [errno, message]);
  }
  const known = errnoByName.get(code);
  if (known === undefined) throw new Error(`errnoError: unknown errno name ${code}`);
  const err = new Error(`${code}: ${known[1]}, ${syscall} '${path}'`) as KernelError;
  err.code = code;
  err.errno = known[0];
  err.syscall = syscall;
  err.path = path;
  if (extra?.applied !== undefined) err.applied = extra.applied;
  if (extra?.badIndex !== undefined) err.badIndex = extra.badIndex;
  return err;
}
