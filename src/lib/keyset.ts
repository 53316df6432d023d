// SPDX-License-Identifier: MIT
//
// Sets and maps keyed by prefix that stay small at a million members: IPv4
// hosts (most of a window or a feed) as numbers, anything else by its key
// string.  A Set of a million key strings holds about 100 MB and makes one
// string per lookup; these make none for an IPv4 host.  The numbers go into
// an open-addressing table of 32-bit keys (U32Map) rather than a Map: most
// IPv4 addresses are above 2^30, which V8 keeps as heap numbers, and a Map
// of a million of them took 0.3 s to fill and 0.5 s to query on the host
// (the daemon's filter upkeep after a feed of 1M).
import { type IpPrefix, prefixKeyOf, v4HostAt, v4HostOf } from './addr.js';

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
  /** add() of the prefix of @length whose 16 bytes are at @offset of @bytes (a packed feed), without an IpPrefix; true when it was not a member. */
  addAt(bytes: Uint8Array, offset: number, length: number): boolean {
    return this.#m.setAt(bytes, offset, length, true);
  }
  clear(): void {
    this.#m.clear();
  }
  get size(): number {
    return this.#m.size;
  }
}

/** Slots of a new U32Map (a power of two). */
const U32_MIN_SLOTS = 64;

/**
 * A map of unsigned 32-bit keys: open addressing with linear probing in
 * typed arrays, at most half full (it doubles past that); the values in
 * one dense array, in insertion order.  No delete: its users fill it, read
 * it and clear it.
 */
export class U32Map<V> {
  #keys = new Uint32Array(U32_MIN_SLOTS);
  /** Per slot: 0 when empty, else 1 + the index of its value (every key value, 0 included, is valid). */
  #at = new Uint32Array(U32_MIN_SLOTS);
  #values: V[] = [];
  #shift = 32 - Math.log2(U32_MIN_SLOTS);

  get size(): number {
    return this.#values.length;
  }

  /** The slot of @key, or of the empty slot where it would go. */
  #slot(key: number): number {
    const mask = this.#keys.length - 1;
    // Fibonacci hashing: the top bits of key * 2^32/phi.
    let i = Math.imul(key, 0x9e3779b1) >>> this.#shift;
    while (this.#at[i] !== 0 && this.#keys[i] !== key) i = (i + 1) & mask;
    return i;
  }

  get(key: number): V | undefined {
    const at = this.#at[this.#slot(key >>> 0)] as number;
    return at === 0 ? undefined : this.#values[at - 1];
  }

  has(key: number): boolean {
    return this.#at[this.#slot(key >>> 0)] !== 0;
  }

  /** Sets @key to @value; true when the key was new. */
  set(key: number, value: V): boolean {
    const k = key >>> 0;
    let i = this.#slot(k);
    const at = this.#at[i] as number;
    if (at !== 0) {
      this.#values[at - 1] = value;
      return false;
    }
    if ((this.#values.length + 1) * 2 > this.#keys.length) {
      this.#grow();
      i = this.#slot(k);
    }
    this.#values.push(value);
    this.#keys[i] = k;
    this.#at[i] = this.#values.length;
    return true;
  }

  clear(): void {
    this.#keys = new Uint32Array(U32_MIN_SLOTS);
    this.#at = new Uint32Array(U32_MIN_SLOTS);
    this.#values = [];
    this.#shift = 32 - Math.log2(U32_MIN_SLOTS);
  }

  /** The values in insertion order. */
  *values(): Generator<V> {
    yield* this.#values;
  }

  #grow(): void {
    const keys = this.#keys;
    const at = this.#at;
    this.#keys = new Uint32Array(keys.length * 2);
    this.#at = new Uint32Array(keys.length * 2);
    this.#shift--;
    for (let j = 0; j < keys.length; j++) {
      if (at[j] === 0) continue;
      const i = this.#slot(keys[j] as number);
      this.#keys[i] = keys[j] as number;
      this.#at[i] = at[j] as number;
    }
  }
}

/** A map keyed by prefix: IPv4 hosts as numbers (no key string each), anything else by IpPrefix.key(). */
export class KeyMap<V> {
  readonly #v4 = new U32Map<V>();
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
  /** set() of the prefix of @length whose 16 bytes are at @offset of @bytes; true when the key was new. */
  setAt(bytes: Uint8Array, offset: number, length: number, v: V): boolean {
    const n = v4HostAt(bytes, offset, length);
    if (n !== undefined) return this.#v4.set(n, v);
    const key = prefixKeyOf(bytes.subarray(offset, offset + 16), length);
    const had = this.#other.has(key);
    this.#other.set(key, v);
    return !had;
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
