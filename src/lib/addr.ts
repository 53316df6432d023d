// SPDX-License-Identifier: MIT
//
// Addresses and prefixes: strict parsing, one normal form, 16-byte keys.
//
// Every address is kept as the kernel keeps it (kmod/uapi/ffwall.h,
// "Addresses"): 16 bytes in network order, IPv4 as the v4-mapped IPv6
// address ::ffff:a.b.c.d, and a prefix length counted in that 128-bit space
// (an IPv4 /24 is 96 + 24 = 120).  Parsing is strict on purpose: the lenient
// forms that inet_aton() and some npm parsers accept ("1.2.3", "0x7f.0.0.1",
// "010.1.1.1", which some read as octal) are refused, because a ban list
// that reads "010.1.1.1" as 8.1.1.1 bans the wrong host.

/** A bad address or prefix.  A TypeError: it is bad input, never a system error. */
export class AddressError extends TypeError {
  readonly code = 'EFFWALLADDR';
  constructor(
    /** The text that was refused. */
    readonly input: string,
    /** Why, in a few words. */
    readonly reason: string,
    /** The normalized form the caller probably meant, when there is one. */
    readonly suggestion?: string,
  ) {
    super(`invalid address ${JSON.stringify(input)}: ${reason}${suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`}`);
    this.name = 'AddressError';
  }
}

const V4_MAPPED = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff] as const;

/**
 * An IPv4 or IPv6 address with a prefix length; a host address is a prefix
 * of its full length.  Immutable; compare with equals() or key().
 */
export class IpPrefix {
  readonly #bytes: Uint8Array;
  /** Prefix length in the kernel's 128-bit space (128: a host). */
  readonly length: number;

  /**
   * From 16 bytes and a 128-space length.  Throws AddressError when bits
   * beyond the length are set (use IpPrefix.masked() to clear them).
   */
  constructor(bytes: Uint8Array, length: number) {
    if (!(bytes instanceof Uint8Array) || bytes.length !== 16) throw new TypeError('IpPrefix: bytes must be a Uint8Array of 16 bytes');
    if (!Number.isInteger(length) || length < 0 || length > 128) throw new TypeError(`IpPrefix: length ${String(length)} is not an integer in 0..128`);
    const copy = new Uint8Array(bytes);
    this.#bytes = copy;
    this.length = length;
    if (hasHostBits(copy, length)) {
      const fixed = IpPrefix.masked(copy, length);
      throw new AddressError(this.toStringUnchecked(), 'bits are set beyond the prefix length', fixed.toString());
    }
  }

  /** The prefix of @length covering @bytes, host bits cleared. */
  static masked(bytes: Uint8Array, length: number): IpPrefix {
    const b = Uint8Array.from(bytes);
    for (let i = 0; i < 16; i++) {
      const keep = Math.max(0, Math.min(8, length - i * 8));
      b[i] = (b[i] ?? 0) & (0xff << (8 - keep)) & 0xff;
    }
    return new IpPrefix(b, length);
  }

  /** 4 for IPv4 (v4-mapped), 6 otherwise. */
  get family(): 4 | 6 {
    return isV4Mapped(this.#bytes) && this.length >= 96 ? 4 : 6;
  }

  /** Prefix length as people write it: 0..32 for IPv4, 0..128 for IPv6. */
  get bits(): number {
    return this.family === 4 ? this.length - 96 : this.length;
  }

  /** True for a single address. */
  get isHost(): boolean {
    return this.length === 128;
  }

  /** A copy of the 16 bytes. */
  get bytes(): Uint8Array {
    return Uint8Array.from(this.#bytes);
  }

  /** An IPv4 host address as an unsigned 32-bit number; undefined for anything else (no copy). */
  v4Host(): number | undefined {
    return v4HostOf(this.#bytes, this.length);
  }

  /** Writes the 16 bytes into @target at @offset (no copy to a new array). */
  writeTo(target: Uint8Array, offset: number): void {
    target.set(this.#bytes, offset);
  }

  /**
   * The ban database's key order, as feeds.ts inKeyOrder() sorts: IPv6
   * before IPv4 (a v4-mapped address with a length of 96 or more), then the
   * address bytes, then the length.  Negative when this comes first, 0 when
   * both are the same prefix.
   */
  compareKeyOrder(other: IpPrefix): number {
    const a = this.#bytes;
    const b = other.#bytes;
    for (let i = 0; i < 16; i++) {
      const d = (a[i] as number) - (b[i] as number);
      if (d === 0) continue;
      // The same first 12 bytes make the same family (a v4-mapped address
      // has a length of at least 96: the mask keeps its ffff), so the
      // families are looked at only when those differ.
      if (i < 12) {
        const fa = this.length >= 96 && isV4Mapped(a) ? 1 : 0;
        const fb = other.length >= 96 && isV4Mapped(b) ? 1 : 0;
        if (fa !== fb) return fa - fb;
      }
      return d;
    }
    return this.length - other.length;
  }

  /** A stable string key: 32 hex digits, '/', the 128-space length. */
  key(): string {
    return prefixKeyOf(this.#bytes, this.length);
  }

  equals(other: IpPrefix): boolean {
    return this.length === other.length && this.key() === other.key();
  }

  /** True when @other (an address or prefix) lies wholly inside this prefix. */
  contains(other: IpPrefix): boolean {
    if (other.length < this.length) return false;
    return !differsWithin(this.#bytes, other.#bytes, this.length);
  }

  /** True when one of the two contains the other: they share an address. */
  overlaps(other: IpPrefix): boolean {
    return !differsWithin(this.#bytes, other.#bytes, Math.min(this.length, other.length));
  }

  /** The enclosing prefix of @length (128-space), which must not exceed this one's. */
  supernet(length: number): IpPrefix {
    if (length > this.length) throw new RangeError(`supernet: /${length} is longer than ${this.toString()}`);
    return IpPrefix.masked(this.#bytes, length);
  }

  /** Normal form: "192.0.2.1", "192.0.2.0/24", "2001:db8::1", "2001:db8::/32". */
  toString(): string {
    return this.toStringUnchecked();
  }

  toJSON(): string {
    return this.toString();
  }

  private toStringUnchecked(): string {
    const b = this.#bytes;
    let text: string;
    let bits: number;
    if (isV4Mapped(b) && this.length >= 96) {
      text = `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
      bits = this.length - 96;
      return bits === 32 ? text : `${text}/${bits}`;
    }
    text = formatV6(b);
    bits = this.length;
    return bits === 128 ? text : `${text}/${bits}`;
  }
}

/** IpPrefix.v4Host() of 16 address bytes (@b[0, 16)) and a 128-space length, without an IpPrefix. */
export function v4HostOf(b: Uint8Array, length: number): number | undefined {
  return v4HostAt(b, 0, length);
}

/** v4HostOf() of the 16 address bytes at @b[@offset] (a packed array, without a subarray). */
export function v4HostAt(b: Uint8Array, offset: number, length: number): number | undefined {
  if (length !== 128 || !isV4MappedAt(b, offset)) return undefined;
  return (((b[offset + 12] as number) << 24) | ((b[offset + 13] as number) << 16) | ((b[offset + 14] as number) << 8) | (b[offset + 15] as number)) >>> 0;
}

/** IpPrefix.key() of 16 address bytes (@b[0, 16)) and a 128-space length, without an IpPrefix. */
export function prefixKeyOf(b: Uint8Array, length: number): string {
  return `${Buffer.from(b.buffer, b.byteOffset, 16).toString('hex')}/${length}`;
}

function isV4Mapped(b: Uint8Array): boolean {
  return isV4MappedAt(b, 0);
}

/** True when the 16 address bytes at @b[@offset] are v4-mapped (::ffff:0:0/96): for packed arrays, without a subarray. */
export function isV4MappedAt(b: Uint8Array, offset: number): boolean {
  for (let i = 0; i < 12; i++) if (b[offset + i] !== V4_MAPPED[i]) return false;
  return true;
}

function hasHostBits(b: Uint8Array, length: number): boolean {
  return hasHostBitsAt(b, 0, length);
}

/** True when the 16 address bytes at @b[@offset] have bits set beyond @length (128-space). */
export function hasHostBitsAt(b: Uint8Array, offset: number, length: number): boolean {
  let i = length >>> 3;
  const rest = length & 7;
  if (rest !== 0 && ((b[offset + i++] ?? 0) & (0xff >>> rest)) !== 0) return true;
  for (; i < 16; i++) if ((b[offset + i] ?? 0) !== 0) return true;
  return false;
}

function differsWithin(a: Uint8Array, b: Uint8Array, length: number): boolean {
  const whole = length >>> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return true;
  const rest = length & 7;
  if (rest === 0) return false;
  return (((a[whole] ?? 0) ^ (b[whole] ?? 0)) & (0xff << (8 - rest)) & 0xff) !== 0;
}

// RFC 5952: lower case, no leading zeros, the longest run (>= 2) of zero
// groups as "::" (the first on a tie).
function formatV6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] ?? 0) << 8) | (b[i + 1] ?? 0));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

const DEC_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseV4(text: string, into: Uint8Array, offset: number): string | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return 'an IPv4 address has exactly four dotted parts';
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    if (!DEC_OCTET.test(p)) {
      if (/^0[0-9]+$/.test(p)) return `leading zero in "${p}" (octal is not accepted)`;
      if (/^0[xX]/.test(p)) return `hexadecimal part "${p}" is not accepted`;
      return `"${p}" is not a decimal number 0-255`;
    }
    const n = Number(p);
    if (n > 255) return `${p} is larger than 255`;
    into[offset + i] = n;
  }
  return undefined;
}

function parseV6(text: string, into: Uint8Array): string | undefined {
  if (text.includes('%')) return 'zone indexes (%eth0) are not accepted';
  const dbl = text.indexOf('::');
  if (dbl !== text.lastIndexOf('::')) return '"::" appears more than once';
  const parseSide = (side: string): number[] | string => {
    if (side === '') return [];
    const out: number[] = [];
    const parts = side.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i] ?? '';
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = new Uint8Array(4);
        const err = parseV4(p, v4, 0);
        if (err !== undefined) return `embedded IPv4: ${err}`;
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else {
        if (!HEX_GROUP.test(p)) return p === '' ? 'empty group' : `"${p}" is not a group of 1-4 hex digits`;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  let groups: number[];
  if (dbl >= 0) {
    const head = parseSide(text.slice(0, dbl));
    if (typeof head === 'string') return head;
    const tailText = text.slice(dbl + 2);
    if (tailText.includes('.') && text.slice(0, dbl).includes('.')) return 'misplaced embedded IPv4';
    const tail = parseSide(tailText);
    if (typeof tail === 'string') return tail;
    if (head.length + tail.length > 7) return 'too many groups around "::"';
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = parseSide(text);
    if (typeof all === 'string') return all;
    if (all.length !== 8) return `an IPv6 address has 8 groups, this has ${all.length}`;
    groups = all;
  }
  for (let i = 0; i < 8; i++) {
    const g = groups[i] ?? 0;
    into[2 * i] = g >> 8;
    into[2 * i + 1] = g & 0xff;
  }
  return undefined;
}

/** Parses a bare address (no "/len"); returns the bytes and the family, or an error reason. */
function parseBare(text: string): { bytes: Uint8Array; family: 4 | 6 } | string {
  const bytes = new Uint8Array(16);
  if (text.includes(':')) {
    const err = parseV6(text, bytes);
    if (err !== undefined) return err;
    // ::ffff:a.b.c.d is the kernel's IPv4 form: treat it as IPv4.
    return { bytes, family: isV4Mapped(bytes) ? 4 : 6 };
  }
  if (!/^[0-9.]+$/.test(text)) {
    if (/^0[xX]|\.0[xX]/.test(text)) return 'hexadecimal parts are not accepted';
    return 'not an IPv4 or IPv6 address';
  }
  for (let i = 0; i < 12; i++) bytes[i] = V4_MAPPED[i] ?? 0;
  const err = parseV4(text, bytes, 12);
  if (err !== undefined) return err;
  return { bytes, family: 4 };
}

/**
 * Parses one address ("192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1").
 * A prefix is refused, even /32 or /128: use parsePrefix() for those.
 */
export function parseAddress(input: string): IpPrefix {
  if (typeof input !== 'string') throw new TypeError(`address must be a string, got ${typeof input}`);
  const text = input.trim();
  if (text === '') throw new AddressError(input, 'empty');
  if (text.includes('/')) throw new AddressError(input, 'a prefix where a single address is expected');
  const r = parseBare(text);
  if (typeof r === 'string') throw new AddressError(input, r);
  return new IpPrefix(r.bytes, 128);
}

/**
 * Parses an address or a CIDR prefix ("192.0.2.0/24", "2001:db8::/32").  A
 * bare address is a host prefix (/32, /128).  Bits beyond the length are an
 * error whose suggestion is the normalized prefix, never silently cleared.
 */
export function parsePrefix(input: string): IpPrefix {
  if (typeof input !== 'string') throw new TypeError(`prefix must be a string, got ${typeof input}`);
  const text = input.trim();
  if (text === '') throw new AddressError(input, 'empty');
  const slash = text.indexOf('/');
  if (slash < 0) return parseAddress(text);
  const addrText = text.slice(0, slash);
  const lenText = text.slice(slash + 1);
  const r = parseBare(addrText);
  if (typeof r === 'string') throw new AddressError(input, r);
  // "::ffff:0:0/104"-style v6 text naming a v4-mapped prefix counts in 128-space.
  const v6Text = addrText.includes(':');
  const max = r.family === 4 && !v6Text ? 32 : 128;
  if (!/^(?:0|[1-9][0-9]{0,2})$/.test(lenText)) throw new AddressError(input, `prefix length "${lenText}" is not a decimal number`);
  const bits = Number(lenText);
  if (bits > max) throw new AddressError(input, `prefix length /${bits} is longer than ${max} bits`);
  const length = r.family === 4 && !v6Text ? 96 + bits : bits;
  if (r.family === 4 && v6Text && length < 96) throw new AddressError(input, 'a v4-mapped prefix shorter than /96 is not accepted');
  if (hasHostBits(r.bytes, length)) {
    throw new AddressError(input, 'host bits are set beyond the prefix length', IpPrefix.masked(r.bytes, length).toString());
  }
  return new IpPrefix(r.bytes, length);
}

/** Like parsePrefix(), but a string that fails returns undefined. */
export function tryParsePrefix(input: string): IpPrefix | undefined {
  try {
    return parsePrefix(input);
  } catch {
    return undefined;
  }
}

/** Accepts an IpPrefix or parses a string. */
export function toPrefix(value: IpPrefix | string): IpPrefix {
  return value instanceof IpPrefix ? value : parsePrefix(value);
}

/** Accepts an IpPrefix host or parses a string as a single address. */
export function toAddress(value: IpPrefix | string): IpPrefix {
  if (value instanceof IpPrefix) {
    if (!value.isHost) throw new AddressError(value.toString(), 'a prefix where a single address is expected');
    return value;
  }
  return parseAddress(value);
}

/**
 * The fast path of parsePrefix() for bulk loads: an IPv4 address or prefix
 * in its plain form ("192.0.2.1", "192.0.2.0/24": decimal parts without
 * leading zeros, no spaces, no host bits) is written straight into @out at
 * @offset as the kernel's 16 bytes (v4-mapped), and its 128-space length is
 * returned, without an object or a substring.  Anything else returns -1
 * and writes nothing meaningful: IPv6, text around the address, and every
 * error.  The caller then calls parsePrefix(), which accepts the text or
 * names what is wrong with it; so both paths accept exactly the same texts
 * and give the same bytes (test/host/addr-fast.test.ts).
 */
export function parseV4PrefixInto(text: string, out: Uint8Array, offset: number): number {
  const n = text.length;
  let i = 0;
  let word = 0;
  for (let part = 0; part < 4; part++) {
    // One decimal part: "0", or 1-3 digits without a leading zero, <= 255.
    let c = i < n ? text.charCodeAt(i) - 48 : -1;
    if (c < 0 || c > 9) return -1;
    let v = c;
    i++;
    if (v !== 0) {
      for (let d = 0; d < 2 && i < n; d++) {
        c = text.charCodeAt(i) - 48;
        if (c < 0 || c > 9) break;
        v = v * 10 + c;
        i++;
      }
      if (v > 255) return -1;
    }
    word = word * 256 + v;
    if (part < 3) {
      if (i >= n || text.charCodeAt(i) !== 46 /* . */) return -1;
      i++;
    }
  }
  let bits = 32;
  if (i < n) {
    if (text.charCodeAt(i) !== 47 /* / */) return -1;
    i++;
    let c = i < n ? text.charCodeAt(i) - 48 : -1;
    if (c < 0 || c > 9) return -1;
    bits = c;
    i++;
    if (bits !== 0 && i < n) {
      c = text.charCodeAt(i) - 48;
      if (c < 0 || c > 9) return -1;
      bits = bits * 10 + c;
      i++;
    }
    if (i !== n || bits > 32) return -1;
    // Host bits beyond the length: parsePrefix() names them and the fix.
    if (bits < 32 && word % 2 ** (32 - bits) !== 0) return -1;
  }
  if (i !== n) return -1;
  return writeV4Key(out, offset, word, bits);
}

/**
 * Writes the prefix of @target into @out at @offset (16 bytes) and returns
 * its 128-space length: the fast IPv4 path when it applies, else
 * parsePrefix() (which throws AddressError for a bad target).
 */
export function packPrefixInto(target: string, out: Uint8Array, offset: number): number {
  const len = parseV4PrefixInto(target, out, offset);
  if (len >= 0) return len;
  const p = parsePrefix(target);
  p.writeTo(out, offset);
  return p.length;
}

/**
 * parseV4PrefixInto() over the bytes @start..@end of @buf (ASCII text, e.g.
 * one line of a feed file read as bytes): the same texts taken, the same
 * bytes written, -1 for everything else.
 */
export function parseV4PrefixBytes(buf: Uint8Array, start: number, end: number, out: Uint8Array, offset: number): number {
  let i = start;
  let word = 0;
  for (let part = 0; part < 4; part++) {
    let c = i < end ? (buf[i] as number) - 48 : -1;
    if (c < 0 || c > 9) return -1;
    let v = c;
    i++;
    if (v !== 0) {
      for (let d = 0; d < 2 && i < end; d++) {
        c = (buf[i] as number) - 48;
        if (c < 0 || c > 9) break;
        v = v * 10 + c;
        i++;
      }
      if (v > 255) return -1;
    }
    word = word * 256 + v;
    if (part < 3) {
      if (i >= end || buf[i] !== 46 /* . */) return -1;
      i++;
    }
  }
  let bits = 32;
  if (i < end) {
    if (buf[i] !== 47 /* / */) return -1;
    i++;
    let c = i < end ? (buf[i] as number) - 48 : -1;
    if (c < 0 || c > 9) return -1;
    bits = c;
    i++;
    if (bits !== 0 && i < end) {
      c = (buf[i] as number) - 48;
      if (c < 0 || c > 9) return -1;
      bits = bits * 10 + c;
      i++;
    }
    if (i !== end || bits > 32) return -1;
    if (bits < 32 && word % 2 ** (32 - bits) !== 0) return -1;
  }
  if (i !== end) return -1;
  return writeV4Key(out, offset, word, bits);
}

/** Writes IPv4 address @word as its 16-byte v4-mapped key at @offset; returns the 128-space length of /@bits. */
function writeV4Key(out: Uint8Array, offset: number, word: number, bits: number): number {
  // Ten stores, not fill(): a builtin call per key cost more than the parse.
  for (let i = offset; i < offset + 10; i++) out[i] = 0;
  out[offset + 10] = 0xff;
  out[offset + 11] = 0xff;
  out[offset + 12] = word >>> 24;
  out[offset + 13] = (word >>> 16) & 0xff;
  out[offset + 14] = (word >>> 8) & 0xff;
  out[offset + 15] = word & 0xff;
  return 96 + bits;
}

/**
 * Entry @i of prefixes packed as the kernel takes them, 16 bytes and a
 * length each (PackedPrefixes, PackedFeed), as an IpPrefix.
 */
export function packedPrefixAt(packed: { readonly addrs: Uint8Array; readonly prefixLen: Uint8Array }, i: number): IpPrefix {
  return new IpPrefix(packed.addrs.subarray(i * 16, i * 16 + 16), packed.prefixLen[i] ?? 128);
}
