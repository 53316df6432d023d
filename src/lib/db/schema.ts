// SPDX-License-Identifier: MIT
//
// Schema versions of the ban database and the migrations between them.
//
//   1  records { ports, reason, source: "feed:name" (source and tag in one
//      string), first, last, lastHit, hits, bans, expires (0 = permanent),
//      state }; the sub-databases meta, bans, expiry, history.
//   4  (current) as 3, plus 'ban.lengths' in meta: how many records there
//      are of each key length, so that a covering lookup (the policy
//      service, MISS, check) reads only the prefix lengths in use, not all
//      33 (IPv4) or 129 (IPv6).
//   3  as 2, plus two key indexes: 'inKernel' (records in state
//      'kernel') and 'pinned' (active pinned records), so that restoring the
//      kernel window reads full records only for the window itself.
//   2  records as StoredRecord below: source and tag apart,
//      permanent/pinned/monitor flags, episodes, expires null for permanent,
//      kernelHits; new indexes 'hot' (hottest first) and 'source' (one
//      source's or one jail's records), and per-state counters in meta.
//
// A migration converts records in batches, one write transaction each; a
// record already in the new shape is left alone, so a migration cut short
// (a crash, a second process migrating at the same time) resumes by simply
// running again.  The schema version is raised only after the last batch.
import type { BanRecord, BanSource, BanState } from './types.js';

export const SCHEMA_VERSION = 4;

/**
 * A record as stored (schema 2): BanRecord without the prefix, which is the
 * key.  The fields are stored in the order #banExact() writes them, which
 * raw-record.ts's reader expects first (FIELDS).
 */
export type StoredRecord = Omit<BanRecord, 'prefix'>;

/** A record of schema 1. */
export interface StoredRecordV1 {
  ports: number[];
  reason: string;
  source: string;
  first: number;
  last: number;
  lastHit: number;
  hits: number;
  bans: number;
  expires: number;
  state: BanState;
}

export function isV2Record(r: unknown): r is StoredRecord {
  return typeof r === 'object' && r !== null && 'firstSeen' in r && 'episodes' in r;
}

const KNOWN_SOURCES: readonly string[] = ['cli', 'policy', 'logwatch', 'feed', 'api'];

/** Schema 1 -> 2 for one record. */
export function recordV1toV2(r: StoredRecordV1): StoredRecord {
  const colon = r.source.indexOf(':');
  let source = colon < 0 ? r.source : r.source.slice(0, colon);
  let tag = colon < 0 ? '' : r.source.slice(colon + 1);
  if (!KNOWN_SOURCES.includes(source)) {
    // Schema 1 accepted any source text: keep it as the tag of an 'api' ban.
    tag = r.source;
    source = 'api';
  }
  const permanent = r.expires === 0;
  return {
    ports: [...r.ports],
    reason: r.reason,
    source: source as BanSource,
    tag,
    firstSeen: r.first,
    lastSeen: r.last,
    lastHit: r.lastHit,
    hitCount: r.hits,
    banCount: r.bans,
    episodes: r.bans,
    expires: permanent ? null : r.expires,
    permanent,
    pinned: false,
    monitor: false,
    state: r.state,
    kernelHits: 0,
  };
}

/** Thrown by open() for a database this ffwall cannot read. */
export class SchemaError extends Error {
  readonly code = 'EFFWALLSCHEMA';
  constructor(
    readonly path: string,
    readonly found: number,
    readonly supported: number,
  ) {
    super(
      `the ban database at ${path} has schema version ${found}, but this ffwall understands schema versions up to ${supported}: ` +
        'it was written by a newer ffwall; upgrade ffwall (downgrading the database is not supported)',
    );
    this.name = 'SchemaError';
  }
}
