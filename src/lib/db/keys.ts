// SPDX-License-Identifier: MIT
//
// Byte layouts of the database keys.  LMDB orders keys bytewise, so every
// layout is chosen for the range scans it serves:
//
//   record key (17 B)    address[16] | length[1]
//       Every record inside a prefix P/len lies in one contiguous range,
//       from P|len to (P with the host bits set)|128 inclusive (a record
//       whose address is inside P and whose length is shorter than len
//       would have host bits set, which IpPrefix refuses).
//   expiry index (25 B)  expiresMs[8, big-endian] | record key
//       Active, non-permanent bans only; the sweep reads from the start up
//       to "now".
//   hot index (33 B)     ~lastHitMs[8] | ~lastSeenMs[8] | record key
//       Active bans only; both times complemented, so forward order is
//       hottest first: most recent hit, then most recent ban.
//   source index         source utf8 | 0x00 | tag utf8 | 0x00 | record key
//       Every record (active or not): one source's, or one tag's, records
//       are one range (fail2ban removes one jail's bans).
//   history (16 B)       timeMs[8] | seq[8]; age pruning is a range delete
//   history by record    record key | timeMs[8] | seq[8]
import { IpPrefix } from '../addr.js';

export const KEY_BYTES = 17;
const U53 = 2 ** 53;

export function recordKey(p: IpPrefix): Buffer {
  const k = Buffer.allocUnsafe(KEY_BYTES);
  p.writeTo(k, 0);
  k[16] = p.length;
  return k;
}

/** The record key of @p's supernet of @length (<= p.length), without building the IpPrefix. */
export function supernetKey(p: IpPrefix, length: number): Buffer {
  const k = Buffer.allocUnsafe(KEY_BYTES);
  p.writeTo(k, 0);
  for (let i = length >> 3; i < 16; i++) {
    const keep = Math.max(0, length - i * 8);
    k[i] = keep >= 8 ? (k[i] ?? 0) : (k[i] ?? 0) & (0xff << (8 - keep)) & 0xff;
  }
  k[16] = length;
  return k;
}

export function prefixOfKey(key: Uint8Array, offset = 0): IpPrefix {
  return new IpPrefix(key.subarray(offset, offset + 16), key[offset + 16] ?? 0);
}

/** [start, end] (end inclusive) of the record keys inside @p, @p itself included. */
export function keyRangeInside(p: IpPrefix): { start: Buffer; end: Buffer } {
  const start = recordKey(p);
  const end = Buffer.from(start);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, p.length - i * 8));
    end[i] = (end[i] ?? 0) | (0xff >> keep);
  }
  end[16] = 128;
  return { start, end };
}

/** Writes a non-negative integer < 2^53 as 8 bytes, big-endian. */
export function writeU64(buf: Buffer, offset: number, v: number): void {
  const n = Math.max(0, Math.min(U53 - 1, Math.floor(v)));
  buf.writeUInt32BE(Math.floor(n / 2 ** 32), offset);
  buf.writeUInt32BE(n % 2 ** 32, offset + 4);
}

export function readU64(buf: Uint8Array, offset: number): number {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return b.readUInt32BE(offset) * 2 ** 32 + b.readUInt32BE(offset + 4);
}

/*
 * The key builders below take an optional @out of their size to write into:
 * a caller that hands the key straight to a put or a remove (LMDB copies it)
 * reuses one buffer instead of one per call.
 */

export function expiryKey(expires: number, key: Uint8Array, out?: Buffer): Buffer {
  const k = out ?? Buffer.allocUnsafe(8 + KEY_BYTES);
  writeU64(k, 0, expires);
  k.set(key, 8);
  return k;
}

/** The first expiry key after every ban expiring at or before @ms. */
export function expiryBound(ms: number): Buffer {
  const k = Buffer.alloc(8 + KEY_BYTES, 0xff);
  writeU64(k, 0, ms);
  return k;
}

export function hotKey(lastHit: number, lastSeen: number, key: Uint8Array): Buffer {
  const k = Buffer.allocUnsafe(16 + KEY_BYTES);
  writeU64(k, 0, U53 - 1 - lastHit);
  writeU64(k, 8, U53 - 1 - lastSeen);
  k.set(key, 16);
  return k;
}

export function sourcePrefix(source: string, tag?: string): Buffer {
  return tag === undefined ? Buffer.from(`${source}\0`, 'utf8') : Buffer.from(`${source}\0${tag}\0`, 'utf8');
}

/** sourcePrefix() of the (source, tag) pairs seen lately: a bulk ban writes one per record. */
const sourcePrefixes = new Map<string, Buffer>();

export function sourceKey(source: string, tag: string, key: Uint8Array): Buffer {
  const id = `${source}\0${tag}`;
  let pre = sourcePrefixes.get(id);
  if (pre === undefined) {
    if (sourcePrefixes.size >= 256) sourcePrefixes.clear();
    pre = sourcePrefix(source, tag);
    sourcePrefixes.set(id, pre);
  }
  const k = Buffer.allocUnsafe(pre.length + key.length);
  pre.copy(k, 0);
  k.set(key, pre.length);
  return k;
}

/** The smallest key greater than every key that starts with @prefix (for exclusive range ends). */
export function afterPrefix(prefix: Uint8Array): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if ((b[i] ?? 0) < 0xff) {
      b[i] = (b[i] ?? 0) + 1;
      return b.subarray(0, i + 1);
    }
  }
  return Buffer.concat([b, Buffer.from([0xff])]);
}

export function historyKey(time: number, seq: number, out?: Buffer): Buffer {
  const k = out ?? Buffer.allocUnsafe(16);
  writeU64(k, 0, time);
  writeU64(k, 8, seq);
  return k;
}

export function historyByRecordKey(key: Uint8Array, time: number, seq: number, out?: Buffer): Buffer {
  const k = out ?? Buffer.allocUnsafe(KEY_BYTES + 16);
  k.set(key, 0);
  writeU64(k, KEY_BYTES, time);
  writeU64(k, KEY_BYTES + 8, seq);
  return k;
}
