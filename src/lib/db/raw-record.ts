// SPDX-License-Identifier: MIT
//
// The reader of one stored ban record (a msgpack map, schema.ts's
// StoredRecord) for the scans of a whole table (`ffwall list` and
// `ffwall export` of a million records): no object, array or key string per
// record.  parseRecord() reads the map into module-level slots (the
// offsets of the strings, the numbers, the flags, the ports), which
// raw-json.ts writes as the record's JSON line and decodeRecord() copies
// into a reused object.  It knows the msgpack forms a record can take
// (maps, strings, integers, float64, nil, booleans, arrays of integers) and
// gives up (returns false) on anything else, a missing field or an unknown
// key; the caller then decodes the record the ordinary way.
// test/host/record-json.test.ts holds both against lmdb-js's decoder.
import type { BanSource, BanState } from './types.js';
import type { StoredRecord } from './schema.js';

/** The reused target of decodeRecord(): a StoredRecord whose fields are overwritten by each call. */
export function scratchRecord(): StoredRecord {
  return {
    ports: [],
    reason: '',
    source: 'api',
    tag: '',
    firstSeen: 0,
    lastSeen: 0,
    lastHit: 0,
    hitCount: 0,
    banCount: 0,
    episodes: 0,
    expires: null,
    permanent: false,
    pinned: false,
    monitor: false,
    state: 'cold',
    kernelHits: 0,
  };
}

const FIELDS = ['ports', 'reason', 'source', 'tag', 'firstSeen', 'lastSeen', 'lastHit', 'hitCount', 'banCount', 'episodes', 'expires', 'permanent', 'pinned', 'monitor', 'state', 'kernelHits'] as const;
const KEY_BYTES = FIELDS.map((f) => Buffer.from(f, 'latin1'));
const ALL = (1 << FIELDS.length) - 1;
export const F_PORTS = 0;
export const F_REASON = 1;
export const F_SOURCE = 2;
export const F_TAG = 3;
export const F_FIRST = 4;
export const F_LAST = 5;
export const F_HIT = 6;
export const F_HITS = 7;
export const F_BANS = 8;
export const F_EPISODES = 9;
export const F_EXPIRES = 10;
export const F_PERMANENT = 11;
export const F_PINNED = 12;
export const F_MONITOR = 13;
export const F_STATE = 14;
export const F_KERNEL_HITS = 15;

// ---- the parsed record (overwritten by each parseRecord) ----
let b: Uint8Array = new Uint8Array(0);
let end = 0;
let pos = 0;
let ok = true;
/** Start and end offsets of the strings: reason, source, tag, state. */
export const strStart = new Int32Array(FIELDS.length);
export const strEnd = new Int32Array(FIELDS.length);
/** Numbers by field (expires: NaN for nil). */
export const nums = new Float64Array(FIELDS.length);
export const flags = new Uint8Array(FIELDS.length);
export const ports = new Float64Array(16);
/** The bytes of the record parseRecord() read last, and its number of ports (ports[0, portCount)). */
export const parsed: { bytes: Uint8Array; portCount: number } = { bytes: new Uint8Array(0), portCount: 0 };

const f64 = new Float64Array(1);
const f64b = new Uint8Array(f64.buffer);
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function u32(at: number): number {
  return (((b[at] as number) << 24) >>> 0) + ((b[at + 1] as number) << 16) + ((b[at + 2] as number) << 8) + (b[at + 3] as number);
}

/** The length of the string at pos (pos moves past its header), or -1. */
function strLen(): number {
  const t = b[pos] as number;
  if (t >= 0xa0 && t <= 0xbf) {
    pos++;
    return t & 0x1f;
  }
  if (t === 0xd9) {
    pos += 2;
    return b[pos - 1] as number;
  }
  if (t === 0xda) {
    pos += 3;
    return ((b[pos - 2] as number) << 8) | (b[pos - 1] as number);
  }
  if (t === 0xdb) {
    pos += 5;
    return u32(pos - 4);
  }
  return -1;
}

function str(f: number): void {
  const n = strLen();
  if (n < 0 || pos + n > end) {
    ok = false;
    return;
  }
  strStart[f] = pos;
  pos += n;
  strEnd[f] = pos;
}

/** A number (any integer form, float64); anything else fails. */
function num(): number {
  const t = b[pos] as number;
  if (t <= 0x7f) {
    pos++;
    return t;
  }
  if (t >= 0xe0) {
    pos++;
    return t - 256;
  }
  switch (t) {
    case 0xcc:
      pos += 2;
      return b[pos - 1] as number;
    case 0xcd:
      pos += 3;
      return ((b[pos - 2] as number) << 8) | (b[pos - 1] as number);
    case 0xce:
      pos += 5;
      return u32(pos - 4);
    case 0xcf: {
      pos += 9;
      const v = u32(pos - 8) * 0x1_0000_0000 + u32(pos - 4);
      if (!Number.isSafeInteger(v)) ok = false;
      return v;
    }
    case 0xd0:
      pos += 2;
      return ((b[pos - 1] as number) << 24) >> 24;
    case 0xd1:
      pos += 3;
      return ((((b[pos - 2] as number) << 8) | (b[pos - 1] as number)) << 16) >> 16;
    case 0xd2:
      pos += 5;
      return u32(pos - 4) | 0;
    case 0xd3: {
      pos += 9;
      const v = (u32(pos - 8) | 0) * 0x1_0000_0000 + u32(pos - 4);
      if (!Number.isSafeInteger(v)) ok = false;
      return v;
    }
    case 0xcb: {
      pos += 9;
      const s = pos - 8;
      if (LITTLE) for (let i = 0; i < 8; i++) f64b[i] = b[s + 7 - i] as number;
      else for (let i = 0; i < 8; i++) f64b[i] = b[s + i] as number;
      return f64[0] as number;
    }
    default:
      ok = false;
      return 0;
  }
}

function bool(): number {
  const t = b[pos++];
  if (t === 0xc3) return 1;
  if (t !== 0xc2) ok = false;
  return 0;
}

function keyIs(f: number, start: number, n: number): boolean {
  const k = KEY_BYTES[f] as Buffer;
  if (k.length !== n) return false;
  for (let i = 0; i < n; i++) if (k[i] !== b[start + i]) return false;
  return true;
}

/** Which field the key at pos names (pos moves past it), or -1; @hint is tried first (the writer keeps one order). */
function key(hint: number): number {
  const n = strLen();
  if (n < 0) return -1;
  const start = pos;
  pos += n;
  if (hint < FIELDS.length && keyIs(hint, start, n)) return hint;
  for (let f = 0; f < FIELDS.length; f++) if (keyIs(f, start, n)) return f;
  return -1;
}

/**
 * Reads the msgpack record @bytes[0, @length) into the module's slots.
 * False when it is not a record of the forms this file knows (the bytes
 * are then to be decoded the ordinary way).
 */
export function parseRecord(bytes: Uint8Array, length: number): boolean {
  b = bytes;
  end = length;
  ok = true;
  const t = b[0];
  let n: number;
  if (length < 1) return false;
  if (t !== undefined && t >= 0x80 && t <= 0x8f) {
    n = t & 0x0f;
    pos = 1;
  } else if (t === 0xde && length >= 3) {
    n = ((b[1] as number) << 8) | (b[2] as number);
    pos = 3;
  } else return false;
  let seen = 0;
  for (let i = 0; i < n && ok; i++) {
    if (pos >= end) return false;
    const f = key(i);
    if (f < 0 || pos >= end) return false;
    seen |= 1 << f;
    switch (f) {
      case F_PORTS: {
        const a = b[pos] as number;
        if (a < 0x90 || a > 0x9f) return false;
        pos++;
        const count = a & 0x0f;
        parsed.portCount = count;
        for (let j = 0; j < count; j++) ports[j] = num();
        break;
      }
      case F_REASON:
      case F_SOURCE:
      case F_TAG:
      case F_STATE:
        str(f);
        break;
      case F_EXPIRES:
        if (b[pos] === 0xc0) {
          pos++;
          nums[f] = Number.NaN;
        } else nums[f] = num();
        break;
      case F_PERMANENT:
      case F_PINNED:
      case F_MONITOR:
        flags[f] = bool();
        break;
      default:
        nums[f] = num();
    }
  }
  parsed.bytes = b;
  return ok && seen === ALL && pos === end;
}

/** A string field of the parsed record, decoded (for filters and the slow JSON path). */
export function fieldText(f: number): string {
  const s = strStart[f] as number;
  const e = strEnd[f] as number;
  let ascii = true;
  for (let i = s; i < e; i++) if ((b[i] as number) >= 0x80) ascii = false;
  if (ascii && e - s < 32) {
    let r = '';
    for (let i = s; i < e; i++) r += String.fromCharCode(b[i] as number);
    return r;
  }
  return Buffer.from(b.buffer, b.byteOffset + s, e - s).toString('utf8');
}


/**
 * Decodes the msgpack record @b into @into (every field overwritten; its
 * ports array reused).  False, with @into in no particular state, when the
 * bytes are not a record of the forms parseRecord() knows.
 */
export function decodeRecord(b: Uint8Array, into: StoredRecord): boolean {
  if (!parseRecord(b, b.length)) return false;
  const r = into as { -readonly [K in keyof StoredRecord]: StoredRecord[K] };
  r.ports.length = 0;
  for (let j = 0; j < parsed.portCount; j++) r.ports.push(ports[j] as number);
  r.reason = fieldText(F_REASON);
  r.source = fieldText(F_SOURCE) as BanSource;
  r.tag = fieldText(F_TAG);
  r.state = fieldText(F_STATE) as BanState;
  r.firstSeen = nums[F_FIRST] as number;
  r.lastSeen = nums[F_LAST] as number;
  r.lastHit = nums[F_HIT] as number;
  r.hitCount = nums[F_HITS] as number;
  r.banCount = nums[F_BANS] as number;
  r.episodes = nums[F_EPISODES] as number;
  const ex = nums[F_EXPIRES] as number;
  r.expires = Number.isNaN(ex) ? null : ex;
  r.permanent = flags[F_PERMANENT] === 1;
  r.pinned = flags[F_PINNED] === 1;
  r.monitor = flags[F_MONITOR] === 1;
  r.kernelHits = nums[F_KERNEL_HITS] as number;
  return true;
}
