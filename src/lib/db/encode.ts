// SPDX-License-Identifier: MIT
//
// Encoded values that a bulk write reuses.  The bans of one import or feed
// differ only in their key: the same record value and the same history
// details, ten thousand times in a transaction.  Encoding each (msgpack, an
// object walk) was a tenth of a durable bulk ban's time on the host, and its
// garbage more; these memos encode a value once and hand the same bytes to
// ValueTable.putEncoded() while the next value is equal to it.
//
// Equality is by content (sameShallow), never by identity, so a memo can
// never hand out stale bytes: at worst it encodes again.
import type { ValueTable } from './lmdb.js';

/** Numbers, strings, booleans and null compare with ===; arrays of them element by element. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x: unknown = a[i];
    if (x !== b[i] || (typeof x === 'object' && x !== null)) return false;
  }
  return true;
}

/**
 * True when @a and @b (plain objects) have the same keys with values
 * sameValue() calls equal.  A nested object (other than an array of scalars)
 * is never equal.  The order of the keys does not matter: two orders encode
 * to different bytes that decode to the same object.  (for...in, not
 * Object.keys(): this runs twice per ban of a bulk write.)
 */
export function sameShallow(a: object, b: object): boolean {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  let n = 0;
  for (const k in x) {
    const v = x[k];
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return false;
    if (!sameValue(v, y[k]) || (v === undefined && !(k in y))) return false;
    n++;
  }
  // Every key of a is in b: the same count means the same keys.
  for (const _ in y) if (--n < 0) return false;
  return n === 0;
}

/** A shallow copy whose arrays are copies too (the memo's own, safe from a caller's later change). */
function snapshot<V extends object>(v: V): V {
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = Array.isArray(x) ? [...(x as unknown[])] : x;
  return out as V;
}

/** put() of a ValueTable that encodes a value only when it differs from the one before. */
export class ValueMemo<V extends object> {
  readonly #table: ValueTable<V>;
  #last: V | undefined;
  #bytes: Buffer | undefined;

  constructor(table: ValueTable<V>) {
    this.#table = table;
  }

  /** The bytes of @value: the previous call's when their values are the same. */
  bytes(value: V): Buffer {
    if (this.#bytes === undefined || this.#last === undefined || !sameShallow(this.#last, value)) {
      this.#bytes = this.#table.encode(value);
      this.#last = snapshot(value);
    }
    return this.#bytes;
  }

  /** Inside Env.write() only. */
  put(key: Uint8Array, value: V): void {
    this.#table.putEncoded(key, this.bytes(value));
  }
}

/** The stored history event: a map of three, in this order. */
export interface HistoryValue {
  type: string;
  key: Uint8Array;
  details: Record<string, unknown>;
}

/**
 * Writes history events {type, key, details} as one msgpack map composed of
 * its parts: the encoded label and type (remembered), the key as msgpack
 * bin, and the details (a ValueMemo: the bans of one batch share theirs).
 * The bytes are those the table's own encoder writes for the same object
 * (test/host/db-encode.test.ts); when the encoder's form of a key is not
 * the plain bin this writes, every event is encoded whole instead.
 */
export class HistoryWriter {
  readonly #table: ValueTable<HistoryValue>;
  readonly #details: ValueMemo<Record<string, unknown>>;
  readonly #types = new Map<string, Buffer>();
  readonly #keyLabel: Buffer;
  readonly #detailsLabel: Buffer;
  readonly #mapHeader: Buffer;
  readonly #composable: boolean;
  #scratch = Buffer.alloc(1024);

  constructor(table: ValueTable<HistoryValue>) {
    this.#table = table;
    this.#details = new ValueMemo(table as unknown as ValueTable<Record<string, unknown>>);
    this.#keyLabel = table.encode('key');
    this.#detailsLabel = table.encode('details');
    // The encoder's header of a map of three (lmdb-js writes map 16, 0xde 0 3,
    // where plain msgpack has 0x83): what its encoding has before the pairs.
    // The one other assumption, checked here with the rest: a key of 17
    // bytes is bin 8 (0xc4, length, bytes).
    const probeKey = Buffer.alloc(17, 0xa5);
    const whole = table.encode({ type: 'ban', key: probeKey, details: {} });
    const label = table.encode('type');
    const at = whole.indexOf(label);
    this.#mapHeader = Buffer.from(whole.subarray(0, Math.max(0, at)));
    this.#composable = at > 0 && whole.equals(Buffer.from(this.#compose('ban', probeKey, table.encode({}))));
  }

  #type(type: string): Buffer {
    let b = this.#types.get(type);
    if (b === undefined) {
      // The map's header and the label 'type' go in front of every type.
      b = Buffer.concat([this.#mapHeader, this.#table.encode('type'), this.#table.encode(type)]);
      this.#types.set(type, b);
    }
    return b;
  }

  #compose(type: string, key: Uint8Array, details: Buffer): Buffer {
    const head = this.#type(type);
    const n = head.length + this.#keyLabel.length + 2 + key.length + this.#detailsLabel.length + details.length;
    if (this.#scratch.length < n) this.#scratch = Buffer.alloc(Math.max(n, this.#scratch.length * 2));
    const s = this.#scratch;
    let o = head.copy(s, 0);
    o += this.#keyLabel.copy(s, o);
    s[o++] = 0xc4;
    s[o++] = key.length;
    s.set(key, o);
    o += key.length;
    o += this.#detailsLabel.copy(s, o);
    o += details.copy(s, o);
    return s.subarray(0, o);
  }

  /** The bytes put() writes for the event (valid until the next call). */
  bytes(value: HistoryValue): Uint8Array {
    if (!this.#composable || value.key.length > 255) return this.#table.encode(value);
    return this.#compose(value.type, value.key, this.#details.bytes(value.details));
  }

  /** Inside Env.write() only. */
  put(historyKey: Uint8Array, value: HistoryValue): void {
    this.#table.putEncoded(historyKey, this.bytes(value));
  }
}
