// SPDX-License-Identifier: MIT
//
// Sets and maps keyed by prefix that stay small at a million members: IPv4
// hosts (most of a window or a feed) as numbers, anything else by its key
// string.  A Set of a million key strings holds about 100 MB and makes one
// string per lookup; these make none for an IPv4 host.
import { type IpPrefix, prefixKeyOf, v4HostOf } from './addr.js';

/**
 * A set of prefixes that stays small for a 1M window: IPv4 hosts (most of
 * a window) as numbers, anything else as its key string.
 */
export class KeySet {
  readonly #m = new KeyMap<true>();
  add(p: IpPrefix): void {
    this.#m.set(p, true);
  }
  has(p: IpPrefix): boolean {
    return this.#m.get(p) !== undefined;
  }
  /** has() of a 17-byte record key (address, length), without an IpPrefix. */
  hasKey(key: Uint8Array): boolean {
    return this.#m.getKey(key) !== undefined;
  }
  clear(): void {
    this.#m.clear();
  }
  get size(): number {
    return this.#m.size;
  }
}

/** A map keyed by prefix: IPv4 hosts as numbers (no key string each), anything else by IpPrefix.key(). */
export class KeyMap<V> {
  readonly #v4 = new Map<number, V>();
  readonly #other = new Map<string, V>();
  set(p: IpPrefix, v: V): void {
    const n = p.v4Host();
    if (n === undefined) this.#other.set(p.key(), v);
    else this.#v4.set(n, v);
  }
  get(p: IpPrefix): V | undefined {
    const n = p.v4Host();
    return n === undefined ? this.#other.get(p.key()) : this.#v4.get(n);
  }
  /** get() of a 17-byte record key (address, length). */
  getKey(key: Uint8Array): V | undefined {
    if (this.#v4.size + this.#other.size === 0) return undefined;
    const len = key[16] ?? 0;
    const n = v4HostOf(key, len);
    return n === undefined ? this.#other.get(prefixKeyOf(key, len)) : this.#v4.get(n);
  }
  clear(): void {
    this.#v4.clear();
    this.#other.clear();
  }
  get size(): number {
    return this.#v4.size + this.#other.size;
  }
  *values(): Generator<V> {
    yield* this.#v4.values();
    yield* this.#other.values();
  }
}
