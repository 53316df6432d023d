// SPDX-License-Identifier: MIT
//
// The fast path of `ffwall list --json` and `ffwall export --json`: a
// database record straight from its stored form to its NDJSON line, with no
// BanRecord, no IpPrefix and no Date per record.  The line is exactly
// JSON.stringify(recordInfo(record)) (the schema of docs/cli-json/ does not
// change); test/host/record-json.test.ts holds the two side by side.
//   - ISO times: by integer arithmetic, not Date (the date of the last day
//     seen is kept: records of one day share it);
//   - the target: IPv4 from the four key bytes; IPv6 through IpPrefix;
//   - free text (reason, tag): JSON.stringify of the string alone.
import { IpPrefix } from './addr.js';
import type { StoredRecord } from './db/schema.js';

const DAY_MS = 86_400_000;
/** Times of years 0..9999 (toISOString's four-digit form); others go through Date. */
const MIN_MS = Date.parse('0000-01-01T00:00:00.000Z');
const MAX_MS = Date.parse('9999-12-31T23:59:59.999Z');

const pad2 = (n: number): string => (n < 10 ? `0${n}` : `${n}`);
const pad3 = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : `${n}`);

/** "YYYY-MM-DDT" of a day number (days since 1970-01-01; years 0..9999), by integer arithmetic (the proleptic Gregorian calendar). */
function civilDate(days: number): string {
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  const yyyy = y < 10 ? `000${y}` : y < 100 ? `00${y}` : y < 1000 ? `0${y}` : `${y}`;
  return `${yyyy}-${pad2(m)}-${pad2(d)}T`;
}

/**
 * An ISO formatter with its own memory of the last time and the last day it
 * formatted (a record's times often repeat, and fall on few days): one per
 * field of a record, so that the fields do not evict each other's.
 */
export function isoFormatter(): (ms: number) => string {
  let cachedDay = Number.NaN;
  let cachedDate = '';
  let lastMs = Number.NaN;
  let lastIso = '';
  return (ms) => {
    if (ms === lastMs) return lastIso;
    if (!Number.isInteger(ms) || ms < MIN_MS || ms > MAX_MS) return new Date(ms).toISOString();
    const day = Math.floor(ms / DAY_MS);
    if (day !== cachedDay) {
      cachedDay = day;
      cachedDate = civilDate(day);
    }
    let t = ms - day * DAY_MS;
    const milli = t % 1000;
    t = (t - milli) / 1000;
    const sec = t % 60;
    t = (t - sec) / 60;
    const min = t % 60;
    const hour = (t - min) / 60;
    lastMs = ms;
    lastIso = `${cachedDate}${pad2(hour)}:${pad2(min)}:${pad2(sec)}.${pad3(milli)}Z`;
    return lastIso;
  };
}

/** new Date(ms).toISOString(), without Date. */
export const isoTime = isoFormatter();

/** An ISO time, or null for none (null or 0), as the API gives lastHitAt and expiresAt. */
export function isoOrNull(ms: number | null): string | null {
  return ms === null || ms === 0 ? null : isoTime(ms);
}

/** The target of a record key (16 address bytes, then the prefix length), as IpPrefix.toString() gives it. */
export function keyTarget(key: Uint8Array): string {
  const len = key[16] ?? 0;
  if (
    len >= 96 &&
    key[0] === 0 &&
    key[1] === 0 &&
    key[2] === 0 &&
    key[3] === 0 &&
    key[4] === 0 &&
    key[5] === 0 &&
    key[6] === 0 &&
    key[7] === 0 &&
    key[8] === 0 &&
    key[9] === 0 &&
    key[10] === 0xff &&
    key[11] === 0xff
  ) {
    const text = `${key[12]}.${key[13]}.${key[14]}.${key[15]}`;
    return len === 128 ? text : `${text}/${len - 96}`;
  }
  return new IpPrefix(key.subarray(0, 16), len).toString();
}

/** JSON.stringify of a string, with a memo of one (reasons and tags repeat from record to record). */
function textMemo(): (s: string) => string {
  let last = '';
  let lastJson = '""';
  return (s) => {
    if (s === last) return lastJson;
    const j = JSON.stringify(s);
    if (s.length <= 256) {
      last = s;
      lastJson = j;
    }
    return j;
  };
}
const reasonJson = textMemo();
const tagJson = textMemo();
const wordJson = textMemo();
const sourceJson = textMemo();
const firstSeenIso = isoFormatter();
const lastSeenIso = isoFormatter();
const lastHitIso = isoFormatter();
const expiresIso = isoFormatter();

/**
 * One record's NDJSON line, without the newline: JSON.stringify of the
 * BanRecordInfo the API gives for it (the same keys, in the same order).
 */
export function recordJson(key: Uint8Array, r: Readonly<StoredRecord>): string {
  let ports = '[';
  for (let i = 0; i < r.ports.length; i++) ports += i === 0 ? `${r.ports[i]}` : `,${r.ports[i]}`;
  ports += ']';
  return (
    `{"target":"${keyTarget(key)}","state":${wordJson(r.state)},"ports":${ports},"reason":${reasonJson(r.reason)},"source":${sourceJson(r.source)},"sourceTag":${tagJson(r.tag)}` +
    `,"firstSeenAt":"${firstSeenIso(r.firstSeen)}","lastSeenAt":"${lastSeenIso(r.lastSeen)}","lastHitAt":${r.lastHit === 0 ? 'null' : `"${lastHitIso(r.lastHit)}"`}` +
    `,"hitCount":${r.hitCount},"banCount":${r.banCount},"expiresAt":${r.expires === null || r.expires === 0 ? 'null' : `"${expiresIso(r.expires)}"`}` +
    `,"permanent":${r.permanent},"pinned":${r.pinned},"monitor":${r.monitor}}`
  );
}
