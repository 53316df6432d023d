// SPDX-License-Identifier: MIT
//
// A set of prefixes as sorted, merged ranges of the kernel's 128-bit address
// space, answering one question fast: does a target share any address with
// one of them?  Two prefixes share an address exactly when one contains the
// other, which for ranges is "they intersect" (CIDR ranges are nested or
// disjoint), so the answer is exact, for any target length.
//
// What it is for: screening a feed of a million entries against a short
// list (the automatic safety list, the allowlist) straight from the packed
// bytes, without an IpPrefix per entry or a database read per entry.  A
// target it clears overlaps none of the list; a target it does not clear is
// checked again by the caller's exact rule (which entry, contains or is
// contained, force), which then runs for the few entries that need it.
import type { IpPrefix } from './addr.js';

/** Prefixes packed as the kernel takes them: 16 bytes (addrs) and a 128-space length (prefixLen) each. */
export interface PackedPrefixBytes {
  readonly addrs: Uint8Array;
  readonly prefixLen: Uint8Array;
}

/** Four big-endian 32-bit words of the 16 bytes at @offset of @b, into @out at @at. */
function wordsInto(b: Uint8Array, offset: number, out: Uint32Array, at: number): void {
  for (let w = 0; w < 4; w++) {
    const o = offset + w * 4;
    out[at + w] = (((b[o] as number) << 24) | ((b[o + 1] as number) << 16) | ((b[o + 2] as number) << 8) | (b[o + 3] as number)) >>> 0;
  }
}

/** Sets @lo to the first and @hi to the last address of the prefix of @length whose words @lo holds (host bits ignored). */
function spanOf(lo: Uint32Array, hi: Uint32Array, at: number, length: number): void {
  for (let w = 0; w < 4; w++) {
    const keep = Math.max(0, Math.min(32, length - w * 32));
    // The word's network mask: keep bits of 32 (a shift of 32 is a no-op in JS, hence the cases).
    const mask = keep === 0 ? 0 : keep === 32 ? 0xffffffff : (0xffffffff << (32 - keep)) >>> 0;
    const v = ((lo[at + w] as number) & mask) >>> 0;
    lo[at + w] = v;
    hi[at + w] = (v | ~mask) >>> 0;
  }
}

/** Compares the 128-bit values at @i of @a and @j of @b (4 words each): negative, 0, positive. */
function cmp(a: Uint32Array, i: number, b: Uint32Array, j: number): number {
  for (let w = 0; w < 4; w++) {
    const d = (a[i + w] as number) - (b[j + w] as number);
    if (d !== 0) return d;
  }
  return 0;
}

export class PrefixRanges {
  /** First addresses of the merged ranges, 4 words each, ascending. */
  readonly #lo: Uint32Array;
  /** Last addresses of the merged ranges, 4 words each. */
  readonly #hi: Uint32Array;
  /** Merged ranges (a prefix inside another adds none). */
  readonly size: number;
  /** Scratch: the target's first and last address. */
  readonly #tlo = new Uint32Array(4);
  readonly #thi = new Uint32Array(4);
  /** Scratch: the bytes of an IpPrefix given to overlaps(). */
  readonly #scratch = new Uint8Array(16);

  constructor(prefixes: Iterable<IpPrefix>) {
    const list = [...prefixes];
    const lo = new Uint32Array(list.length * 4);
    const hi = new Uint32Array(list.length * 4);
    const scratch = new Uint8Array(16);
    list.forEach((p, i) => {
      p.writeTo(scratch, 0);
      wordsInto(scratch, 0, lo, i * 4);
      spanOf(lo, hi, i * 4, p.length);
    });
    // By first address, the wider of two that start together first (so that the narrower is skipped as inside it).
    const order = list.map((_, i) => i).sort((x, y) => cmp(lo, x * 4, lo, y * 4) || cmp(hi, y * 4, hi, x * 4));
    const mlo = new Uint32Array(list.length * 4);
    const mhi = new Uint32Array(list.length * 4);
    let n = 0;
    for (const i of order) {
      // Sorted by first address: a prefix that starts inside the last merged range lies wholly inside it (CIDR).
      if (n > 0 && cmp(lo, i * 4, mhi, (n - 1) * 4) <= 0) continue;
      mlo.set(lo.subarray(i * 4, i * 4 + 4), n * 4);
      mhi.set(hi.subarray(i * 4, i * 4 + 4), n * 4);
      n++;
    }
    this.#lo = mlo.slice(0, n * 4);
    this.#hi = mhi.slice(0, n * 4);
    this.size = n;
  }

  /** True when @p shares an address with a prefix of the set. */
  overlaps(p: IpPrefix): boolean {
    p.writeTo(this.#scratch, 0);
    return this.overlapsAt(this.#scratch, 0, p.length);
  }

  /** overlaps() of entry @i of prefixes packed as the kernel takes them (16 bytes and a length each). */
  overlapsPacked(packed: PackedPrefixBytes, i: number): boolean {
    return this.overlapsAt(packed.addrs, i * 16, packed.prefixLen[i] ?? 128);
  }

  /** overlaps() of the prefix of @length whose 16 bytes are at @offset of @bytes. */
  overlapsAt(bytes: Uint8Array, offset: number, length: number): boolean {
    const n = this.size;
    if (n === 0) return false;
    const tlo = this.#tlo;
    const thi = this.#thi;
    wordsInto(bytes, offset, tlo, 0);
    spanOf(tlo, thi, 0, length);
    // The first merged range whose last address is at or past the target's first.
    let a = 0;
    let z = n;
    while (a < z) {
      const m = (a + z) >>> 1;
      if (cmp(this.#hi, m * 4, tlo, 0) < 0) a = m + 1;
      else z = m;
    }
    return a < n && cmp(this.#lo, a * 4, thi, 0) <= 0;
  }
}
