// SPDX-License-Identifier: MIT
//
// A decoder of one stored ban record (a msgpack map, schema.ts's
// StoredRecord) into a reused object, for the scans of a whole table
// (`ffwall list` of a million records): no object, array or key string per
// record, short ASCII strings built without a call into C++.  It knows the
// msgpack forms a record can take (maps, strings, integers, float64, nil,
// booleans, arrays of integers) and gives up (returns false) on anything
// else, a missing field or an unknown key; the caller then decodes the
// record the ordinary way.  test/host/record-json.test.ts holds its output
// against lmdb-js's decoder.
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
type Field = (typeof FIELDS)[number];
const KEY_BYTES = FIELDS.map((f) => Buffer.from(f, 'latin1'));
const ALL = (1 << FIELDS.length) - 1;

let pos = 0;
let ok = true;

function fail(): number {
  ok = false;
  return 0;
}

/** The string at @b[start, end): short ASCII by hand, the rest by Buffer. */
function text(b: Buffer, start: number, end: number): string {
  if (end - start < 24) {
    let s = '';
    for (let i = start; i < end; i++) {
      const c = b[i] as number;
      if (c >= 0x80) return b.toString('utf8', start, end);
      s += String.fromCharCode(c);
    }
    return s;
  }
  return b.toString('utf8', start, end);
}

/** The length of a string at pos (pos moves past its header), or -1. */
function strLen(b: Buffer): number {
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
    return b.readUInt16BE(pos - 2);
  }
  if (t === 0xdb) {
    pos += 5;
    return b.readUInt32BE(pos - 4);
  }
  return -1;
}

function str(b: Buffer): string {
  const n = strLen(b);
  if (n < 0 || pos + n > b.length) {
    fail();
    return '';
  }
  const s = text(b, pos, pos + n);
  pos += n;
  return s;
}

/** A number (any integer form, float64); anything else fails. */
function num(b: Buffer): number {
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
      return b.readUInt16BE(pos - 2);
    case 0xce:
      pos += 5;
      return b.readUInt32BE(pos - 4);
    case 0xcf: {
      pos += 9;
      const v = b.readUInt32BE(pos - 8) * 0x1_0000_0000 + b.readUInt32BE(pos - 4);
      return Number.isSafeInteger(v) ? v : fail();
    }
    case 0xd0:
      pos += 2;
      return b.readInt8(pos - 1);
    case 0xd1:
      pos += 3;
      return b.readInt16BE(pos - 2);
    case 0xd2:
      pos += 5;
      return b.readInt32BE(pos - 4);
    case 0xd3: {
      pos += 9;
      const v = b.readInt32BE(pos - 8) * 0x1_0000_0000 + b.readUInt32BE(pos - 4);
      return Number.isSafeInteger(v) ? v : fail();
    }
    case 0xcb:
      pos += 9;
      return b.readDoubleBE(pos - 8);
    default:
      return fail();
  }
}

function bool(b: Buffer): boolean {
  const t = b[pos++];
  if (t === 0xc3) return true;
  if (t !== 0xc2) fail();
  return false;
}

function keyIs(f: number, b: Buffer, start: number, n: number): boolean {
  const k = KEY_BYTES[f] as Buffer;
  if (k.length !== n) return false;
  for (let i = 0; i < n; i++) if (k[i] !== b[start + i]) return false;
  return true;
}

/** Which field the key at pos names (pos moves past it), or -1; @hint is tried first (the writer keeps one order). */
function key(b: Buffer, hint: number): number {
  const n = strLen(b);
  if (n < 0) return -1;
  const start = pos;
  pos += n;
  if (hint < FIELDS.length && keyIs(hint, b, start, n)) return hint;
  for (let f = 0; f < FIELDS.length; f++) if (keyIs(f, b, start, n)) return f;
  return -1;
}

/**
 * Decodes the msgpack record @b into @into (every field overwritten; its
 * ports array reused).  False, with @into in no particular state, when the
 * bytes are not a record of the forms above.
 */
export function decodeRecord(b: Buffer, into: StoredRecord): boolean {
  pos = 0;
  ok = true;
  const t = b[0];
  let n: number;
  if (t !== undefined && t >= 0x80 && t <= 0x8f) {
    n = t & 0x0f;
    pos = 1;
  } else if (t === 0xde) {
    n = b.readUInt16BE(1);
    pos = 3;
  } else return false;
  let seen = 0;
  const r = into as { -readonly [K in Field]: StoredRecord[K] };
  for (let i = 0; i < n && ok; i++) {
    if (pos >= b.length) return false;
    const f = key(b, i);
    if (f < 0 || pos >= b.length) return false;
    seen |= 1 << f;
    switch (FIELDS[f]) {
      case 'ports': {
        const a = b[pos] as number;
        if (a < 0x90 || a > 0x9f) return false;
        pos++;
        const len = a & 0x0f;
        r.ports.length = 0;
        for (let j = 0; j < len; j++) r.ports.push(num(b));
        break;
      }
      case 'reason':
        r.reason = str(b);
        break;
      case 'source':
        r.source = str(b) as BanSource;
        break;
      case 'tag':
        r.tag = str(b);
        break;
      case 'state':
        r.state = str(b) as BanState;
        break;
      case 'expires':
        if (b[pos] === 0xc0) {
          pos++;
          r.expires = null;
        } else r.expires = num(b);
        break;
      case 'permanent':
        r.permanent = bool(b);
        break;
      case 'pinned':
        r.pinned = bool(b);
        break;
      case 'monitor':
        r.monitor = bool(b);
        break;
      case 'firstSeen':
        r.firstSeen = num(b);
        break;
      case 'lastSeen':
        r.lastSeen = num(b);
        break;
      case 'lastHit':
        r.lastHit = num(b);
        break;
      case 'hitCount':
        r.hitCount = num(b);
        break;
      case 'banCount':
        r.banCount = num(b);
        break;
      case 'episodes':
        r.episodes = num(b);
        break;
      case 'kernelHits':
        r.kernelHits = num(b);
        break;
      default:
        return false;
    }
  }
  return ok && seen === ALL && pos === b.length;
}
