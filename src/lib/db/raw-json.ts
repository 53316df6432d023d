// SPDX-License-Identifier: MIT
//
// The fastest path of `ffwall list --json`: one stored record (its key and
// msgpack bytes, straight from LMDB's read buffer) written as its NDJSON
// line into an output buffer, byte by byte, with no string, object or
// number box per record.  The line is the same bytes as
// `${recordJson(key, decoded)}\n` (record-json.ts), i.e.
// JSON.stringify(recordInfo(record)); test/host/record-json.test.ts holds
// them side by side.
//
// raw-record.ts's parseRecord() reads the msgpack map into its slots
// (offsets of the strings, the numbers, the flags); LineWriter writes them.  Free
// text is copied as it is when it is printable ASCII with nothing to escape,
// otherwise decoded and given to JSON.stringify; the last text of each field
// is remembered with its JSON (reasons and tags repeat).  ISO times come from
// record-json.ts's formatters, remembered per field likewise.  Anything
// parseRecord() does not know (another form, a missing or unknown field)
// makes it return false; the caller then decodes the record the ordinary
// way.
import { isoFormatter, keyTarget } from '../record-json.js';
import {
  F_BANS,
  F_EXPIRES,
  F_FIRST,
  F_HIT,
  F_HITS,
  F_LAST,
  F_MONITOR,
  F_PERMANENT,
  F_PINNED,
  F_REASON,
  F_SOURCE,
  F_STATE,
  F_TAG,
  fieldText,
  flags,
  nums,
  parsed,
  parseRecord,
  ports,
  strEnd,
  strStart,
} from './raw-record.js';

// ---- filters on the parsed record ----

function bytesAre(f: number, want: Uint8Array): boolean {
  const b = parsed.bytes;
  const s = strStart[f] as number;
  const n = (strEnd[f] as number) - s;
  if (n !== want.length) return false;
  for (let i = 0; i < n; i++) if (b[s + i] !== want[i]) return false;
  return true;
}

/** What a ListFilter asks of a record, prepared for parsed records. */
export interface RawFilter {
  /** Allowed states as their bytes, or undefined for any. */
  states?: Uint8Array[];
  source?: string;
  tag?: string;
  port?: number;
  reason?: string | RegExp;
}

export function rawFilter(f: { state?: string | readonly string[]; source?: string; tag?: string; port?: number; reason?: string | RegExp }): RawFilter {
  const r: RawFilter = {};
  if (f.state !== undefined) r.states = (typeof f.state === 'string' ? [f.state] : f.state).map((s) => Buffer.from(s, 'utf8'));
  if (f.source !== undefined) r.source = f.source;
  if (f.tag !== undefined) r.tag = f.tag;
  if (f.port !== undefined) r.port = f.port;
  if (f.reason !== undefined) r.reason = f.reason;
  return r;
}

/** Whether the parsed record passes @f (store.listRaw's matches(), on the parsed slots). */
function parsedMatches(f: RawFilter): boolean {
  if (f.states !== undefined) {
    let any = false;
    for (const s of f.states) if (bytesAre(F_STATE, s)) any = true;
    if (!any) return false;
  }
  if (f.source !== undefined && fieldText(F_SOURCE) !== f.source) return false;
  if (f.tag !== undefined && fieldText(F_TAG) !== f.tag) return false;
  if (f.port !== undefined && parsed.portCount > 0) {
    let has = false;
    for (let j = 0; j < parsed.portCount; j++) if (ports[j] === f.port) has = true;
    if (!has) return false;
  }
  if (f.reason !== undefined) {
    const r = fieldText(F_REASON);
    if (typeof f.reason === 'string' ? !r.includes(f.reason) : !f.reason.test(r)) return false;
  }
  return true;
}

// ---- the line ----

/** The most bytes a line takes besides its strings' JSON (with the target and the ports at their longest). */
const LINE_FIXED_MAX = 1024;


const ascii = (s: string): Buffer => Buffer.from(s, 'latin1');
const L_TARGET = ascii('{"target":"');
const L_STATE = ascii('","state":');
const L_PORTS = ascii(',"ports":[');
const L_REASON = ascii('],"reason":');
const L_SOURCE = ascii(',"source":');
const L_TAG = ascii(',"sourceTag":');
const L_FIRST = ascii(',"firstSeenAt":"');
const L_LAST = ascii('","lastSeenAt":"');
const L_HIT = ascii('","lastHitAt":');
const L_HITS = ascii(',"hitCount":');
const L_BANS = ascii(',"banCount":');
const L_EXPIRES = ascii(',"expiresAt":');
const L_PERMANENT = ascii(',"permanent":');
const L_PINNED = ascii(',"pinned":');
const L_MONITOR = ascii(',"monitor":');
const L_END = ascii('}\n');
const L_NULL = ascii('null');
const L_TRUE = ascii('true');
const L_FALSE = ascii('false');
/** "0".."255" as bytes. */
const OCTET = Array.from({ length: 256 }, (_, i) => ascii(String(i)));

let o: Buffer = Buffer.alloc(0);
let op = 0;

function put(c: Uint8Array): void {
  const n = c.length;
  if (n > 16) o.set(c, op);
  else for (let i = 0; i < n; i++) o[op + i] = c[i] as number;
  op += n;
}

/** A number as a template literal writes it (recordJson's `${n}`). */
function putNum(v: number): void {
  if (v >= 0 && v < 256 && (v | 0) === v) {
    put(OCTET[v] as Buffer);
    return;
  }
  op += o.write(String(v), op, 'latin1');
}

/** A remembered ISO formatter per time field: last ms and its 24 bytes. */
class IsoSlot {
  readonly #format = isoFormatter();
  #ms = Number.NaN;
  #bytes = Buffer.alloc(64);
  #len = 0;
  put(ms: number): void {
    if (ms !== this.#ms) {
      const s = this.#format(ms);
      if (s.length > 60) {
        op += o.write(s, op, 'latin1');
        return;
      }
      this.#len = this.#bytes.write(s, 0, 'latin1');
      this.#ms = ms;
    }
    const c = this.#bytes;
    for (let i = 0; i < this.#len; i++) o[op + i] = c[i] as number;
    op += this.#len;
  }
}
const firstIso = new IsoSlot();
const lastIso = new IsoSlot();
const hitIso = new IsoSlot();
const expiresIso = new IsoSlot();

/** A remembered JSON string per text field: the last text's bytes and its JSON. */
class TextSlot {
  #raw = Buffer.alloc(256);
  #rawLen = -1;
  #json = Buffer.alloc(1600);
  #jsonLen = 0;
  put(f: number): void {
    const b = parsed.bytes;
    const s = strStart[f] as number;
    const e = strEnd[f] as number;
    const n = e - s;
    if (n === this.#rawLen) {
      let same = true;
      const r = this.#raw;
      for (let i = 0; i < n; i++)
        if (r[i] !== b[s + i]) {
          same = false;
          break;
        }
      if (same) {
        const j = this.#json;
        for (let i = 0; i < this.#jsonLen; i++) o[op + i] = j[i] as number;
        op += this.#jsonLen;
        return;
      }
    }
    const start = op;
    let plain = true;
    for (let i = s; i < e; i++) {
      const c = b[i] as number;
      if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) {
        plain = false;
        break;
      }
    }
    if (plain) {
      o[op++] = 0x22;
      for (let i = s; i < e; i++) o[op++] = b[i] as number;
      o[op++] = 0x22;
    } else op += o.write(JSON.stringify(fieldText(f)), op, 'utf8');
    if (n <= this.#raw.length && op - start <= this.#json.length) {
      for (let i = 0; i < n; i++) this.#raw[i] = b[s + i] as number;
      this.#rawLen = n;
      o.copy(this.#json, 0, start, op);
      this.#jsonLen = op - start;
    }
  }
}
const stateText = new TextSlot();
const reasonText = new TextSlot();
const sourceText = new TextSlot();
const tagText = new TextSlot();

/** The target of the record key @k[0, @kLen) at op. */
function putTarget(k: Uint8Array, kLen: number): void {
  const len = k[16] ?? 0;
  if (
    kLen === 17 &&
    len >= 96 &&
    k[0] === 0 &&
    k[1] === 0 &&
    k[2] === 0 &&
    k[3] === 0 &&
    k[4] === 0 &&
    k[5] === 0 &&
    k[6] === 0 &&
    k[7] === 0 &&
    k[8] === 0 &&
    k[9] === 0 &&
    k[10] === 0xff &&
    k[11] === 0xff
  ) {
    put(OCTET[k[12] as number] as Buffer);
    o[op++] = 0x2e;
    put(OCTET[k[13] as number] as Buffer);
    o[op++] = 0x2e;
    put(OCTET[k[14] as number] as Buffer);
    o[op++] = 0x2e;
    put(OCTET[k[15] as number] as Buffer);
    if (len !== 128) {
      o[op++] = 0x2f;
      putNum(len - 96);
    }
  } else op += o.write(keyTarget(k.subarray(0, kLen)), op, 'latin1');
}

/** The line of the parsed record after its target (from its closing quote to the newline), into @out at @at; the offset after it. */
function writeRest(out: Buffer, at: number): number {
  o = out;
  op = at;
  put(L_STATE);
  stateText.put(F_STATE);
  put(L_PORTS);
  for (let j = 0, n = parsed.portCount; j < n; j++) {
    if (j > 0) o[op++] = 0x2c;
    putNum(ports[j] as number);
  }
  put(L_REASON);
  reasonText.put(F_REASON);
  put(L_SOURCE);
  sourceText.put(F_SOURCE);
  put(L_TAG);
  tagText.put(F_TAG);
  put(L_FIRST);
  firstIso.put(nums[F_FIRST] as number);
  put(L_LAST);
  lastIso.put(nums[F_LAST] as number);
  put(L_HIT);
  const hit = nums[F_HIT] as number;
  if (hit === 0) put(L_NULL);
  else {
    o[op++] = 0x22;
    hitIso.put(hit);
    o[op++] = 0x22;
  }
  put(L_HITS);
  putNum(nums[F_HITS] as number);
  put(L_BANS);
  putNum(nums[F_BANS] as number);
  put(L_EXPIRES);
  const ex = nums[F_EXPIRES] as number;
  if (Number.isNaN(ex) || ex === 0) put(L_NULL);
  else {
    o[op++] = 0x22;
    expiresIso.put(ex);
    o[op++] = 0x22;
  }
  put(L_PERMANENT);
  put(flags[F_PERMANENT] === 1 ? L_TRUE : L_FALSE);
  put(L_PINNED);
  put(flags[F_PINNED] === 1 ? L_TRUE : L_FALSE);
  put(L_MONITOR);
  put(flags[F_MONITOR] === 1 ? L_TRUE : L_FALSE);
  put(L_END);
  return op;
}


/** The most bytes LineWriter.write() takes for a value of @valueLength bytes. */
export function lineRoom(valueLength: number): number {
  return LINE_FIXED_MAX + 6 * valueLength;
}

const compare = Buffer.prototype.compare;

/** An Int32Array over the whole of @b's memory (cached: lmdb-js reads every value into one buffer). */
let wordsOf: { buffer: ArrayBufferLike; words: Int32Array } | undefined;
function words(b: Uint8Array): Int32Array {
  if (wordsOf === undefined || wordsOf.buffer !== b.buffer) wordsOf = { buffer: b.buffer, words: new Int32Array(b.buffer, 0, b.buffer.byteLength >>> 2) };
  return wordsOf.words;
}

/**
 * Are @a[0, @n) and @v[0, @n) the same bytes?  @a's words are @aw (offset 0).
 * Four bytes a step when @v is aligned (lmdb-js's read buffer is): under
 * emulation a Buffer.compare() call per record cost a sixth of an export.
 */
function sameValue(a: Uint8Array, aw: Int32Array, v: Uint8Array, n: number): boolean {
  if ((v.byteOffset & 3) !== 0) return compare.call(a, v, 0, n, 0, n) === 0;
  const vw = words(v);
  const base = v.byteOffset >>> 2;
  const nw = n >>> 2;
  for (let i = 0; i < nw; i++) if (aw[i] !== vw[base + i]) return false;
  for (let i = nw << 2; i < n; i++) if (a[i] !== v[i]) return false;
  return true;
}

/**
 * Writes the lines of a walk, one record at a time, remembering the last
 * value it parsed: a record whose stored bytes equal the previous one's
 * (a feed's or an import's bans differ only in their key) gets the same
 * filter verdict and the same line after its target, copied.
 */
export class LineWriter {
  readonly #filter: RawFilter;
  readonly #targets: boolean;
  readonly #lastWords = new Int32Array(1024);
  readonly #last = new Uint8Array(this.#lastWords.buffer);
  #lastLen = -1;
  #lastMatch = false;
  /**
   * The remembered line after the target (#rest[0, #restLen)): copied into
   * one buffer kept for the walk, grown when a line needs it.  A fresh
   * Buffer per record was an allocation per line of a table whose records
   * all differ (5-10% of a 1M listing's time on the host).
   */
  #rest = Buffer.alloc(1024);
  #restLen = 0;
  /**
   * #rest[0, #restLen) as a view, made at the first repeat of a line: each
   * repeat is then one TypedArray set() (a Buffer copy() per line cost more
   * in its JavaScript than the copy itself).
   */
  #restView: Uint8Array | undefined;

  /** @targets: lines of the target alone (the plain export), else NDJSON records. */
  constructor(filter: RawFilter, targets: boolean) {
    this.#filter = filter;
    this.#targets = targets;
  }

  /**
   * The line of the record (key @k[0, @kLen), stored value @v[0, @vLen))
   * into @out at @at (lineRoom(@vLen) bytes free): the offset after it; -1
   * when the record does not pass the filter; -2 when its value is of a form
   * parseRecord() does not know (nothing written: the caller decodes it).
   */
  write(k: Uint8Array, kLen: number, v: Uint8Array, vLen: number, out: Buffer, at: number): number {
    const fresh = vLen !== this.#lastLen || !sameValue(this.#last, this.#lastWords, v, vLen);
    if (fresh) {
      this.#lastLen = -1;
      if (!parseRecord(v, vLen)) return -2;
      const match = parsedMatches(this.#filter);
      if (vLen <= this.#last.length) {
        this.#last.set(v.subarray(0, vLen), 0);
        this.#lastLen = vLen;
        this.#lastMatch = match;
      }
      if (!match) return -1;
    } else if (!this.#lastMatch) {
      return -1;
    }
    o = out;
    op = at;
    if (this.#targets) {
      putTarget(k, kLen);
      o[op++] = 0x0a;
      return op;
    }
    put(L_TARGET);
    putTarget(k, kLen);
    if (!fresh) {
      const rest = (this.#restView ??= this.#rest.subarray(0, this.#restLen));
      out.set(rest, op);
      return op + rest.length;
    }
    const restAt = op;
    const next = writeRest(out, restAt);
    if (this.#lastLen === vLen) {
      if (next - restAt > this.#rest.length) this.#rest = Buffer.alloc(2 * (next - restAt));
      this.#restLen = out.copy(this.#rest, 0, restAt, next);
      this.#restView = undefined;
    }
    return next;
  }
}
