// SPDX-License-Identifier: MIT
//
// FFWALL_FILTER_BLOCKED_BLOOM (kmod/uapi/ffwall.h, kmod/DESIGN-filter.md) in
// TypeScript: SipHash-2-4 over the 16 address bytes, the block and the bit
// positions of a member.  Written for clarity and for the fake kernel, not
// for speed: BigInt arithmetic throughout.

const MASK64 = (1n << 64n) - 1n;
const BLOCK_BITS = 512;

function rotl(x: bigint, b: bigint): bigint {
  return ((x << b) | (x >> (64n - b))) & MASK64;
}

function readLe64(bytes: Uint8Array, off: number): bigint {
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(bytes[off + i] ?? 0);
  return v;
}

/** SipHash-2-4 of @msg with the key (k0, k1): k0 is the first 8 key bytes read little-endian. */
export function siphash24(k0: bigint, k1: bigint, msg: Uint8Array): bigint {
  let v0 = 0x736f6d6570736575n ^ k0;
  let v1 = 0x646f72616e646f6dn ^ k1;
  let v2 = 0x6c7967656e657261n ^ k0;
  let v3 = 0x7465646279746573n ^ k1;
  const round = (): void => {
    v0 = (v0 + v1) & MASK64;
    v1 = rotl(v1, 13n) ^ v0;
    v0 = rotl(v0, 32n);
    v2 = (v2 + v3) & MASK64;
    v3 = rotl(v3, 16n) ^ v2;
    v0 = (v0 + v3) & MASK64;
    v3 = rotl(v3, 21n) ^ v0;
    v2 = (v2 + v1) & MASK64;
    v1 = rotl(v1, 17n) ^ v2;
    v2 = rotl(v2, 32n);
  };
  const whole = msg.length - (msg.length % 8);
  for (let off = 0; off < whole; off += 8) {
    const m = readLe64(msg, off);
    v3 ^= m;
    round();
    round();
    v0 ^= m;
  }
  // Last word: the remaining bytes, and the length in the top byte.
  let last = BigInt(msg.length & 0xff) << 56n;
  for (let i = msg.length - 1; i >= whole; i--) last |= BigInt(msg[i] ?? 0) << BigInt(8 * (i - whole));
  v3 ^= last;
  round();
  round();
  v0 ^= last;
  v2 ^= 0xffn;
  for (let i = 0; i < 4; i++) round();
  return (v0 ^ v1 ^ v2 ^ v3) & MASK64;
}

export interface BloomPosition {
  /** SipHash-2-4 of the address. */
  hash: bigint;
  /** Block index, 0..nblocks-1. */
  block: number;
  /** Bit numbers inside the block (0..511), one per hash function. */
  bits: number[];
}

/** Where the member @addr (16 bytes) lives in a filter of @nblocks blocks with @nhashes bits. */
export function bloomPosition(seed: readonly [bigint, bigint], addr: Uint8Array, nblocks: number, nhashes: number): BloomPosition {
  if (addr.length !== 16) throw new TypeError('bloomPosition: the address must be 16 bytes');
  const hash = siphash24(seed[0], seed[1], addr);
  const hi = hash >> 32n;
  const block = Number((hi * BigInt(nblocks)) >> 32n);
  const a = Number(hash & 0xffffffffn);
  const b = Number(hi | 1n);
  const bits: number[] = [];
  for (let i = 0; i < nhashes; i++) {
    // (a + i * b) mod 2^32, then mod 512 (512 divides 2^32).
    const v = Number((BigInt(a) + BigInt(i) * BigInt(b)) & 0xffffffffn);
    bits.push(v % BLOCK_BITS);
  }
  return { hash, block, bits };
}

/** Sets the bits of @addr in @data (a filter of data.length / 64 blocks). */
export function bloomInsert(data: Uint8Array, seed: readonly [bigint, bigint], nhashes: number, addr: Uint8Array): void {
  const pos = bloomPosition(seed, addr, data.length / 64, nhashes);
  const base = pos.block * 64;
  for (const bit of pos.bits) data[base + (bit >> 3)] = (data[base + (bit >> 3)] ?? 0) | (1 << (bit & 7));
}

/** True when every bit of @addr is set in @data. */
export function bloomTest(data: Uint8Array, seed: readonly [bigint, bigint], nhashes: number, addr: Uint8Array): boolean {
  const pos = bloomPosition(seed, addr, data.length / 64, nhashes);
  const base = pos.block * 64;
  return pos.bits.every((bit) => (((data[base + (bit >> 3)] ?? 0) >> (bit & 7)) & 1) === 1);
}
