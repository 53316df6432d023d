// SPDX-License-Identifier: MIT
//
// Blocklist feeds: what `ffwall import` reads and `ffwall export` writes.
//
// Import formats (one entry per line):
//   plain   an address or CIDR per line; '#' and ';' start comments; blank lines are skipped
//   drop    Spamhaus DROP/EDROP: "1.2.3.0/24 ; SBL123" (the note becomes the ban's reason)
//   ipset   `ipset save` output: "create ..." lines are skipped, "add SET ENTRY [timeout N]
//           [comment "..."]" lines are entries (a timeout becomes the ban's TTL)
// Export formats: the same three, and an rbldnsd zone (a combined dataset: an ip4set for IPv4
// and an ip6trie for IPv6), so that rbldnsd serves the database as a DNSBL.
//
// Parsing is pure (parseFeedLine); reading is streamed (readFeed), so that a file of any size
// is validated in a first pass with flat memory, and applied in a second.  A bad line is a
// FeedError naming the line, its number, why, and the normalized CIDR when there is one.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';

import { AddressError, hasHostBitsAt, isV4MappedAt, packedPrefixAt, packPrefixInto, parsePrefix, parseV4PrefixBytes, type IpPrefix } from './addr.js';
import type { BanRecordInfo } from './api.js';
import { nodeReadline, nodeStreamPromises } from './builtins.js';
import { DURATION_MAX_SECONDS } from './duration.js';
import { tryLoadBinding, type NativeBinding } from './native.js';

export const IMPORT_FORMATS = ['plain', 'drop', 'ipset'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];
export const EXPORT_FORMATS = ['plain', 'drop', 'ipset', 'rbldnsd'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** One entry of a feed. */
export interface FeedEntry {
  /** 1-based line number in the file. */
  line: number;
  /** The normalized address or CIDR. */
  target: string;
  /** Seconds (ipset's timeout); absent: the importer's default. */
  ttl?: number;
  /** The line's note (DROP's SBL id, ipset's comment); '' when none. */
  note: string;
}

/** A bad line of a feed: bad input (a TypeError), with where and why. */
export class FeedError extends TypeError {
  readonly code = 'EFFWALLFEED';
  constructor(
    /** 1-based line number. */
    readonly line: number,
    /** The line as read (trimmed, at most 200 characters). */
    readonly text: string,
    /** Why it is bad. */
    readonly reason: string,
    /** The fix, e.g. the normalized CIDR. */
    readonly suggestion?: string,
  ) {
    super(`line ${line}: ${JSON.stringify(text)}: ${reason}${suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`}`);
    this.name = 'FeedError';
  }
}

function target(text: string, lineNo: number, whole: string): string {
  try {
    return parsePrefix(text).toString();
  } catch (err) {
    if (err instanceof AddressError) throw new FeedError(lineNo, whole, err.reason, err.suggestion);
    throw err;
  }
}

/**
 * Parses one line of a feed.  Returns null for a line without an entry
 * (blank, comment, ipset's create), the entry otherwise; throws FeedError.
 */
export function parseFeedLine(format: ImportFormat, raw: string, lineNo: number): FeedEntry | null {
  const whole = raw.trim().slice(0, 200);
  switch (format) {
    case 'plain': {
      const body = raw.replace(/[#;].*$/, '').trim();
      if (body === '') return null;
      const words = body.split(/\s+/);
      if (words.length > 1) throw new FeedError(lineNo, whole, 'one address or CIDR per line expected; comments start with # or ;', words[0]);
      return { line: lineNo, target: target(body, lineNo, whole), note: '' };
    }
    case 'drop': {
      const t = raw.trim();
      if (t === '' || t.startsWith(';') || t.startsWith('#')) return null;
      const semi = t.indexOf(';');
      const cidr = (semi < 0 ? t : t.slice(0, semi)).trim();
      const note = semi < 0 ? '' : t.slice(semi + 1).trim();
      if (/\s/.test(cidr)) throw new FeedError(lineNo, whole, 'expected "CIDR ; note" (Spamhaus DROP format)', cidr.split(/\s+/)[0]);
      return { line: lineNo, target: target(cidr, lineNo, whole), note: cleanNote(note) };
    }
    case 'ipset': {
      const t = raw.trim();
      if (t === '' || t.startsWith('#')) return null;
      const words = splitIpsetWords(t);
      const verb = words[0];
      if (verb === 'create' || verb === 'COMMIT') return null;
      if (verb !== 'add' || words.length < 3) throw new FeedError(lineNo, whole, 'expected "add SET ENTRY [timeout N]" or "create ..." (ipset save output)');
      const entry = words[2] ?? '';
      if (entry.includes(',')) throw new FeedError(lineNo, whole, 'only address and net sets (hash:ip, hash:net) can be imported', entry.split(',')[0]);
      const out: FeedEntry = { line: lineNo, target: target(entry, lineNo, whole), note: '' };
      for (let i = 3; i < words.length; i += 2) {
        const k = words[i];
        const v = words[i + 1];
        if (v === undefined) throw new FeedError(lineNo, whole, `option ${k ?? ''} has no value`);
        if (k === 'timeout') {
          if (!/^[0-9]+$/.test(v) || Number(v) > DURATION_MAX_SECONDS) throw new FeedError(lineNo, whole, `timeout "${v}" is not a number of seconds`);
          // ipset's timeout 0 means "never expires".
          out.ttl = Number(v);
        } else if (k === 'comment') out.note = cleanNote(v);
        // Other options (packets, bytes, skbmark...) carry nothing a ban keeps.
      }
      return out;
    }
  }
}

/** Words of an ipset line; a double-quoted word may hold spaces. */
function splitIpsetWords(t: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(t); m !== null; m = re.exec(t)) out.push(m[1] ?? m[2] ?? '');
  return out;
}

/** A note as a ban's reason: no control characters, at most 256 bytes. */
function cleanNote(s: string): string {
  let out = s.replace(/[\u0000-\u001f\u007f]/g, ' ');
  while (Buffer.byteLength(out) > 256) out = out.slice(0, -1);
  return out;
}

/** Lines of a file, streamed, numbered from 1. */
async function* lines(file: string): AsyncGenerator<[number, string]> {
  const rl = nodeReadline().createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
  let n = 0;
  for await (const l of rl) yield [++n, l];
}

/** The entries of a feed file, streamed; throws FeedError at the first bad line. */
export async function* readFeed(file: string, format: ImportFormat): AsyncGenerator<FeedEntry> {
  for await (const [n, l] of lines(file)) {
    const e = parseFeedLine(format, l, n);
    if (e !== null) yield e;
  }
}

/** A plain feed packed as the kernel takes it (kernel-native.ts PackedPrefixes), with its line count. */
export interface PackedFeed {
  count: number;
  addrs: Uint8Array;
  prefixLen: Uint8Array;
  /** Lines read. */
  lines: number;
  /** The 1-based line number of each entry (for messages). */
  lineOf: Uint32Array;
}

/**
 * Parses a whole plain feed (its bytes, UTF-8) in one pass, straight into
 * the kernel's record layout: a line that is exactly an IPv4 address or
 * prefix is parsed from its bytes (addr.ts parseV4PrefixBytes), without a
 * string or an object; every other line (IPv6, comments, spaces, errors)
 * goes through parseFeedLine() and packPrefixInto(), so the entries and the
 * errors are readFeed()'s: lines end at \n, \r\n or \r (as readline), and
 * the first bad line throws its FeedError.
 */
export function packPlainFeed(buf: Uint8Array, options: { native?: boolean } = {}): PackedFeed {
  const p = new PlainPacker(buf.length, options);
  p.push(buf);
  return p.finish();
}

/**
 * packPlainFeed() of a file, read in pieces while the pieces before are
 * parsed: the next read runs on the thread pool (a kernel copy, on another
 * CPU when there is one) during the parse of the current piece, and the
 * file is never in memory whole.  The entries, errors and line numbers are
 * packPlainFeed()'s of the whole file.  @pieceSize (bytes, default 1 MiB) is
 * for tests.
 */
export async function packPlainFile(file: string, options: { native?: boolean; pieceSize?: number } = {}): Promise<PackedFeed> {
  const piece = options.pieceSize ?? 1 << 20;
  if (!Number.isSafeInteger(piece) || piece < 1) throw new RangeError('packPlainFile: pieceSize must be a positive integer');
  const fh = await open(file, 'r');
  try {
    const p = new PlainPacker((await fh.stat()).size, options);
    // Two buffers in turn: one is parsed while the next piece is read into
    // the other.  The bytes after a piece's last \n (a line cut in two) wait
    // in `carry` and are parsed with the head of the next piece.
    const bufs = [Buffer.allocUnsafe(piece), Buffer.allocUnsafe(piece)];
    let carry: Buffer[] = [];
    let k = 0;
    let reading = fh.read(bufs[0] as Buffer, 0, piece, null);
    for (;;) {
      const { bytesRead } = await reading;
      if (bytesRead === 0) break;
      const buf = (bufs[k & 1] as Buffer).subarray(0, bytesRead);
      k++;
      reading = fh.read(bufs[k & 1] as Buffer, 0, piece, null);
      let from = 0;
      if (carry.length > 0) {
        const nl = buf.indexOf(10);
        if (nl < 0) {
          // Still inside one line: keep it all (a copy: the buffer is reused).
          carry.push(Buffer.from(buf));
          continue;
        }
        p.push(Buffer.concat([...carry, buf.subarray(0, nl + 1)]));
        carry = [];
        from = nl + 1;
      }
      const last = buf.lastIndexOf(10);
      if (last >= from) {
        p.push(buf.subarray(from, last + 1));
        from = last + 1;
      }
      if (from < buf.length) carry.push(Buffer.from(buf.subarray(from)));
    }
    // The last line, without its \n.
    if (carry.length > 0) p.push(Buffer.concat(carry));
    return p.finish();
  } finally {
    await fh.close();
  }
}

/**
 * The one-pass parser behind packPlainFeed(): push() takes the feed's bytes
 * in order, each push ending at a line end or at the end of the feed.
 */
class PlainPacker {
  // The addon's loop takes the runs of IPv4 lines (a third of a 1M load
  // under emulation was this loop in JavaScript); each other line, and a
  // line that needs the columns to grow, is parsed here.  native: false (tests)
  // keeps to the JavaScript.
  readonly #native: NativeBinding['packV4Lines'] | undefined;
  readonly #state = new Float64Array(3);
  #cap: number;
  #addrs: Uint8Array;
  #prefixLen: Uint8Array;
  #lineOf: Uint32Array;
  #count = 0;
  #line = 0;

  constructor(bytes: number, options: { native?: boolean }) {
    this.#native = options.native === false ? undefined : v4Lines();
    // Room for a feed of IPv4 addresses (8 bytes or more a line) at once;
    // shorter lines (IPv6 "::", prefixes like "1.0.0.0/8" are not shorter)
    // grow the columns.  No pass over the bytes just to count lines.
    this.#cap = (bytes >>> 3) + 16;
    this.#addrs = new Uint8Array(this.#cap * 16);
    this.#prefixLen = new Uint8Array(this.#cap);
    this.#lineOf = new Uint32Array(this.#cap);
  }

  push(buf: Uint8Array): void {
    const n = buf.length;
    const native = this.#native;
    const state = this.#state;
    let count = this.#count;
    let line = this.#line;
    let start = 0;
    while (start < n) {
      if (native !== undefined) {
        state[0] = start;
        state[1] = count;
        state[2] = line;
        native(buf, this.#addrs, this.#prefixLen, this.#lineOf, state);
        start = state[0] as number;
        count = state[1] as number;
        line = state[2] as number;
        if (start >= n) break;
      }
      let end = start;
      while (end < n && buf[end] !== 10 && buf[end] !== 13) end++;
      line++;
      if (count === this.#cap) this.#grow();
      let len = parseV4PrefixBytes(buf, start, end, this.#addrs, count * 16);
      if (len < 0) {
        const text = Buffer.from(buf.buffer, buf.byteOffset + start, end - start).toString('utf8');
        const e = parseFeedLine('plain', text, line);
        if (e !== null) len = packPrefixInto(e.target, this.#addrs, count * 16);
      }
      if (len >= 0) {
        this.#prefixLen[count] = len;
        this.#lineOf[count] = line;
        count++;
      }
      // The line's end: \r\n is one.
      if (end < n && buf[end] === 13 && end + 1 < n && buf[end + 1] === 10) end++;
      start = end + 1;
    }
    this.#count = count;
    this.#line = line;
  }

  #grow(): void {
    this.#cap *= 2;
    const a = new Uint8Array(this.#cap * 16);
    a.set(this.#addrs);
    this.#addrs = a;
    const p = new Uint8Array(this.#cap);
    p.set(this.#prefixLen);
    this.#prefixLen = p;
    const l = new Uint32Array(this.#cap);
    l.set(this.#lineOf);
    this.#lineOf = l;
  }

  finish(): PackedFeed {
    const count = this.#count;
    return made({ count, addrs: this.#addrs.subarray(0, count * 16), prefixLen: this.#prefixLen.subarray(0, count), lines: this.#line, lineOf: this.#lineOf.subarray(0, count) });
  }
}

/** The feeds made here (packPlainFeed(), packPlainFile(), inKeyOrder()): checked entries. */
const madeHere = new WeakSet<PackedFeed>();

function made(p: PackedFeed): PackedFeed {
  madeHere.add(p);
  return p;
}

/**
 * True for a feed that packPlainFeed(), packPlainFile() or inKeyOrder()
 * returned: every entry was parsed and checked there, so Ffwall.blockFeed()
 * takes it as it is (an object of the same shape made elsewhere is not).
 */
export function isPackedFeed(x: unknown): x is PackedFeed {
  return typeof x === 'object' && x !== null && madeHere.has(x as PackedFeed);
}

/**
 * The entries of @packed in the ban database's key order (the address
 * bytes), each family apart: @packed itself when they already are, else a
 * copy.  Entries with the same address keep their order in the feed, so a
 * duplicate still refreshes the ban of the line before it.
 *
 * Why: a write transaction copies every B-tree page it changes.  Ten
 * thousand bans in random order change a page per ban in the records and in
 * each index (the same ban database grew a third larger too); in key order
 * they change a few hundred.  1M addresses in random order took 58 s on the
 * host, the same in key order 13 s (docs/DESIGN-db.md, Bulk bans).
 *
 * One Float64Array sorted natively, no comparator: each entry is a 53-bit
 * integer, from the top: the family (1 bit), the address's leading bits
 * (as many as are left) and the entry's index (the tie-break that keeps
 * the sort stable).  IPv6 keeps only its leading bits there (32 of them at
 * 1M entries), IPv4 past 2^20 entries fewer than its 32: the runs that tie
 * are then sorted by their whole addresses.
 */
export function inKeyOrder(packed: PackedFeed): PackedFeed {
  const n = packed.count;
  if (n < 2) return packed;
  const idxBits = Math.max(1, Math.ceil(Math.log2(n)));
  const rankBits = 52 - idxBits; // and one bit for the family
  const idxScale = 2 ** idxBits;
  const a = packed.addrs;
  const keys = new Float64Array(n);
  // Runs that share the leading bits (IPv6 in one network, a prefix and its
  // address, duplicates): by the whole address, then the length, then the index.
  const byBytes = (x: number, y: number): number => {
    for (let b = 0; b < 16; b++) {
      const d = (a[x * 16 + b] ?? 0) - (a[y * 16 + b] ?? 0);
      if (d !== 0) return d;
    }
    return (packed.prefixLen[x] ?? 0) - (packed.prefixLen[y] ?? 0) || x - y;
  };
  let sorted = true;
  let prevRank = -1;
  for (let i = 0; i < n; i++) {
    const o = i * 16;
    const hi = ((a[o] ?? 0) << 24) | ((a[o + 1] ?? 0) << 16) | ((a[o + 2] ?? 0) << 8) | (a[o + 3] ?? 0);
    const mid = ((a[o + 4] ?? 0) << 24) | ((a[o + 5] ?? 0) << 16) | ((a[o + 6] ?? 0) << 8) | (a[o + 7] ?? 0);
    const v4 = (packed.prefixLen[i] ?? 0) >= 96 && isV4MappedAt(a, o);
    let rank: number;
    if (v4) {
      const v = (((a[o + 12] ?? 0) << 24) | ((a[o + 13] ?? 0) << 16) | ((a[o + 14] ?? 0) << 8) | (a[o + 15] ?? 0)) >>> 0;
      rank = 2 ** rankBits + (rankBits >= 32 ? v : Math.floor(v / 2 ** (32 - rankBits)));
    } else {
      const h = hi >>> 0;
      rank = rankBits > 32 ? h * 2 ** (rankBits - 32) + Math.floor((mid >>> 0) / 2 ** (64 - rankBits)) : Math.floor(h / 2 ** (32 - rankBits));
    }
    // In order while each rank is at least the one before, and an equal one's whole address too.
    if (sorted && (rank < prevRank || (rank === prevRank && byBytes(i - 1, i) > 0))) sorted = false;
    prevRank = rank;
    keys[i] = rank * idxScale + i;
  }
  if (sorted) return packed;
  keys.sort();
  const order = new Uint32Array(n);
  for (let j = 0; j < n; j++) {
    const k = keys[j] as number;
    order[j] = k - Math.floor(k / idxScale) * idxScale;
  }
  for (let s = 0; s < n; ) {
    const r = Math.floor((keys[s] as number) / idxScale);
    let e = s + 1;
    while (e < n && Math.floor((keys[e] as number) / idxScale) === r) e++;
    if (e - s > 1) order.subarray(s, e).sort(byBytes);
    s = e;
  }
  const addrs = new Uint8Array(n * 16);
  const prefixLen = new Uint8Array(n);
  const lineOf = new Uint32Array(n);
  for (let j = 0; j < n; j++) {
    const i = order[j] as number;
    // Byte by byte: a subarray per entry cost more than the copy.
    for (let b = 0; b < 16; b++) addrs[j * 16 + b] = a[i * 16 + b] as number;
    prefixLen[j] = packed.prefixLen[i] ?? 0;
    lineOf[j] = packed.lineOf[i] ?? 0;
  }
  return made({ count: n, addrs, prefixLen, lines: packed.lines, lineOf });
}

/**
 * The permutation that puts @prefixes in key order (inKeyOrder() of them:
 * stable); undefined when they already are, which is checked first without
 * copying an address (IpPrefix.compareKeyOrder()): a feed that blockFeed()
 * has sorted comes here.
 */
export function keyOrderOf(prefixes: readonly IpPrefix[]): Uint32Array | undefined {
  const n = prefixes.length;
  let at = 1;
  while (at < n && (prefixes[at - 1] as IpPrefix).compareKeyOrder(prefixes[at] as IpPrefix) <= 0) at++;
  if (at >= n) return undefined;
  const addrs = new Uint8Array(n * 16);
  const prefixLen = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const p = prefixes[i] as IpPrefix;
    p.writeTo(addrs, i * 16);
    prefixLen[i] = p.length;
  }
  return packedKeyOrder({ count: n, addrs, prefixLen });
}

/**
 * The permutation that puts packed prefixes in key order (inKeyOrder() of
 * them: stable): position k of the key order holds entry order[k];
 * undefined when they already are in key order.
 */
export function packedKeyOrder(packed: Pick<PackedFeed, 'count' | 'addrs' | 'prefixLen'>): Uint32Array | undefined {
  const n = packed.count;
  const lineOf = new Uint32Array(n);
  for (let i = 0; i < n; i++) lineOf[i] = i;
  const sorted = inKeyOrder({ count: n, addrs: packed.addrs, prefixLen: packed.prefixLen, lines: n, lineOf });
  return sorted.lineOf === lineOf ? undefined : sorted.lineOf;
}

/** Bytes per entry of a packed feed on the control socket (control.ts op blockFeed): 16 address bytes and a length. */
export const PACKED_WIRE_ENTRY = 17;

/**
 * Entries @start..@end of @packed as the control socket carries them
 * (feedFromWire() reads it back): their addresses, 16 bytes each, then
 * their lengths (128-space), a byte each.
 */
export function packedToWire(packed: Pick<PackedFeed, 'addrs' | 'prefixLen'>, start: number, end: number): Uint8Array {
  const n = end - start;
  const out = new Uint8Array(n * PACKED_WIRE_ENTRY);
  out.set(packed.addrs.subarray(start * 16, end * 16), 0);
  out.set(packed.prefixLen.subarray(start, end), n * 16);
  return out;
}

/**
 * The feed of @count entries that @bytes carries (packedToWire()'s layout),
 * every entry checked as a parsed one is: a length over 128, or bits set
 * beyond it, throw a TypeError naming the entry (its index in `badIndex`).
 * The entries are copied: @bytes may be reused.  Its lineOf numbers the
 * entries from 1 (the wire has no lines).
 */
export function feedFromWire(bytes: Uint8Array, count: number): PackedFeed {
  if (!Number.isSafeInteger(count) || count < 0 || bytes.length !== count * PACKED_WIRE_ENTRY) {
    throw new TypeError(`a packed feed of ${String(count)} entries is ${String(count * PACKED_WIRE_ENTRY)} bytes, got ${bytes.length}`);
  }
  const addrs = bytes.slice(0, count * 16);
  const prefixLen = bytes.slice(count * 16);
  const lineOf = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    const len = prefixLen[i] as number;
    if (len > 128 || hasHostBitsAt(addrs, i * 16, len)) {
      const why = len > 128 ? `length ${len} is over 128` : 'bits are set beyond the prefix length';
      throw Object.assign(new TypeError(`entry ${i} of the packed feed: ${why}; nothing was blocked`), { badIndex: i });
    }
    lineOf[i] = i + 1;
  }
  return made({ count, addrs, prefixLen, lines: count, lineOf });
}

let packV4Lines: NativeBinding['packV4Lines'] | null | undefined;
/** The addon's packV4Lines(), looked up once; undefined without the addon. */
function v4Lines(): NativeBinding['packV4Lines'] | undefined {
  if (packV4Lines === undefined) packV4Lines = tryLoadBinding()?.packV4Lines ?? null;
  return packV4Lines ?? undefined;
}

export interface ValidateOptions {
  /** Errors to collect before stopping (default 10). */
  maxErrors?: number;
  /** An extra check of each entry (the allowlist): returns why it is refused, or undefined. */
  check?: (entry: FeedEntry) => string | undefined;
  /** Called every 10,000 lines with the bytes read so far. */
  onProgress?: (lines: number) => void;
}

export interface ValidateResult {
  /** Lines read. */
  lines: number;
  /** Entries found. */
  entries: number;
  /** The bad lines (at most maxErrors); empty when the feed is good. */
  errors: FeedError[];
}

/** The first pass: reads the whole feed, collects bad lines, changes nothing. */
export async function validateFeed(file: string, format: ImportFormat, options: ValidateOptions = {}): Promise<ValidateResult> {
  const max = options.maxErrors ?? 10;
  const res: ValidateResult = { lines: 0, entries: 0, errors: [] };
  for await (const [n, l] of lines(file)) {
    res.lines = n;
    if (n % 10_000 === 0) options.onProgress?.(n);
    let e: FeedEntry | null;
    try {
      e = parseFeedLine(format, l, n);
    } catch (err) {
      if (!(err instanceof FeedError)) throw err;
      res.errors.push(err);
      if (res.errors.length >= max) break;
      continue;
    }
    if (e === null) continue;
    const refused = options.check?.(e);
    if (refused !== undefined) {
      res.errors.push(new FeedError(n, l.trim().slice(0, 200), refused));
      if (res.errors.length >= max) break;
      continue;
    }
    res.entries++;
  }
  return res;
}

/** Lines in a file: for a progress bar's total. */
export async function countLines(file: string): Promise<number> {
  let n = 0;
  for await (const _ of lines(file)) n++;
  return n;
}

/**
 * Copies a stream (standard input) to a temporary file, so that it can be
 * read twice.  Returns the path and a cleanup function.
 */
export async function spool(input: Readable): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ffwall-import-'));
  const file = path.join(dir, 'stdin');
  const cleanup = (): Promise<void> => rm(dir, { recursive: true, force: true });
  try {
    await nodeStreamPromises().pipeline(input, createWriteStream(file, { mode: 0o600 }));
  } catch (err) {
    await cleanup();
    throw err;
  }
  return { path: file, cleanup };
}


/**
 * The index of the first entry of @packed that an import refuses for the
 * allowlist @allow (allowlistCheck()'s test: inside an entry, or covering
 * one), or -1.
 */
export function firstAllowlistOverlap(packed: PackedFeed, allow: readonly string[]): number {
  if (allow.length === 0) return -1;
  const prefixes = allow.map((a) => parsePrefix(a));
  for (let i = 0; i < packed.count; i++) {
    const p = packedPrefixAt(packed, i);
    if (prefixes.some((a) => a.overlaps(p))) return i;
  }
  return -1;
}

/** An allowlist check for validateFeed(): an entry inside, or containing, an allowlist entry is refused. */
export function allowlistCheck(allow: readonly string[]): (e: FeedEntry) => string | undefined {
  const prefixes = allow.map((a) => parsePrefix(a));
  return (e) => {
    if (prefixes.length === 0) return undefined;
    const p = parsePrefix(e.target);
    const hit = prefixes.find((a) => a.overlaps(p));
    return hit === undefined ? undefined : `${e.target} is on the allowlist (by ${hit.toString()}); remove it from the feed or from the allowlist (ffwall allow remove ${hit.toString()})`;
  };
}

// ---- export ----

export interface ExportOptions {
  /** ipset: the set name (suffixed -v4 and -v6); rbldnsd: the dataset name.  Default 'ffwall'. */
  name?: string;
  /** rbldnsd: the A record answered for a listed address.  Default 127.0.0.2. */
  answer?: string;
  /** rbldnsd: the TXT answer ($ is the queried address).  Default "Listed by ffwall: $". */
  text?: string;
  /** The time written in the header; default now. */
  now?: Date;
}

function familyOf(target: string): 4 | 6 {
  return parsePrefix(target).family;
}

/** Remaining seconds of a record's ban (ipset timeout), 0 when permanent. */
function remaining(r: BanRecordInfo, now: number): number {
  if (r.expiresAt === null) return 0;
  return Math.max(1, Math.ceil((Date.parse(r.expiresAt) - now) / 1000));
}

/**
 * Writes records in a format, streamed.  @records is called once per pass:
 * rbldnsd needs its IPv4 and IPv6 datasets apart, so it reads twice (once
 * per family); the others read once.  @write returns a promise when the
 * output needs draining.
 */
export async function writeExport(
  format: ExportFormat,
  records: () => AsyncIterable<BanRecordInfo>,
  write: (chunk: string) => void | Promise<void>,
  options: ExportOptions = {},
): Promise<number> {
  const name = options.name ?? 'ffwall';
  if (!/^[A-Za-z0-9_.-]{1,24}$/.test(name)) throw new TypeError(`export name must be 1..24 letters, digits, '_', '.' or '-', got ${JSON.stringify(name)}`);
  const now = options.now ?? new Date();
  const stamp = now.toISOString();
  let n = 0;
  const pass = async (line: (r: BanRecordInfo) => string | null): Promise<void> => {
    let buf = '';
    for await (const r of records()) {
      const l = line(r);
      if (l === null) continue;
      buf += l;
      n++;
      if (buf.length >= 64 * 1024) {
        await write(buf);
        buf = '';
      }
    }
    if (buf !== '') await write(buf);
  };
  switch (format) {
    case 'plain':
      await write(`# ffwall export, ${stamp}\n`);
      await pass((r) => `${r.target}\n`);
      break;
    case 'drop':
      await write(`; ffwall export, ${stamp}\n`);
      await pass((r) => `${r.target} ; ${dropNote(r)}\n`);
      break;
    case 'ipset': {
      const t = now.getTime();
      await write(`create ${name}-v4 hash:net family inet hashsize 1024 maxelem 16777216 timeout 0\n`);
      await write(`create ${name}-v6 hash:net family inet6 hashsize 1024 maxelem 16777216 timeout 0\n`);
      await pass((r) => {
        const f = familyOf(r.target);
        const to = remaining(r, t);
        return `add ${name}-v${f} ${r.target}${to === 0 ? '' : ` timeout ${to}`}\n`;
      });
      break;
    }
    case 'rbldnsd': {
      const answer = options.answer ?? '127.0.0.2';
      if (!/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(answer)) throw new TypeError(`rbldnsd answer must be an address in 127.0.0.0/8, got ${answer}`);
      const text = (options.text ?? 'Listed by ffwall: $').replace(/[\u0000-\u001f\u007f]/g, ' ');
      await write(`# ffwall export (rbldnsd combined dataset), ${stamp}\n# serve with: rbldnsd -b 127.0.0.1/5353 bl.example.org:combined:FILE\n`);
      await write(`$DATASET ip4set:${name}-v4 @\n:${answer}:${text}\n`);
      await pass((r) => (familyOf(r.target) === 4 ? `${r.target}\n` : null));
      await write(`$DATASET ip6trie:${name}-v6 @\n:${answer}:${text}\n`);
      await pass((r) => (familyOf(r.target) === 6 ? `${r.target}\n` : null));
      break;
    }
  }
  return n;
}

/** DROP's note column: the reason, or the source and tag; never a ';' or a newline. */
function dropNote(r: BanRecordInfo): string {
  const s = r.reason !== '' ? r.reason : r.sourceTag !== '' ? `${r.source}:${r.sourceTag}` : r.source;
  return s.replace(/[;\u0000-\u001f\u007f]/g, ' ').trim();
}

