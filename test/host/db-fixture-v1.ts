// SPDX-License-Identifier: MIT
//
// Writes a schema-1 ban database the way ffwall's schema 1 laid it out
// (src/lib/db/schema.ts), straight through lmdb, for the migration test.
// Also stamps an arbitrary schema version (the refusal of a newer one).
import { open } from 'lmdb';

export interface V1Fixture {
  ip16: Buffer;
  length: number;
  record: { ports: number[]; reason: string; source: string; first: number; last: number; lastHit: number; hits: number; bans: number; expires: number; state: 'kernel' | 'cold' | 'expired' };
}

function key(f: V1Fixture): Buffer {
  return Buffer.concat([f.ip16, Buffer.from([f.length])]);
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(Math.floor(n / 2 ** 32), 0);
  b.writeUInt32BE(n % 2 ** 32, 4);
  return b;
}

export async function writeV1(path: string, records: readonly V1Fixture[]): Promise<void> {
  const root = open({ path, maxDbs: 32 });
  const meta = root.openDB('meta', { keyEncoding: 'binary', encoding: 'msgpack', useRecords: false } as never);
  const bans = root.openDB('bans', { keyEncoding: 'binary', encoding: 'msgpack', useRecords: false } as never);
  const expiry = root.openDB('expiry', { keyEncoding: 'binary', encoding: 'binary' });
  root.transactionSync(() => {
    meta.putSync(Buffer.from('schema'), 1);
    for (const f of records) {
      bans.putSync(key(f), f.record);
      if (f.record.state !== 'expired' && f.record.expires !== 0) expiry.putSync(Buffer.concat([u64(f.record.expires), key(f)]), Buffer.alloc(0));
    }
  });
  await root.close();
}

export async function stampSchema(path: string, version: number, opts: { dropBanLengths?: boolean; banLengths?: number[] } = {}): Promise<void> {
  const root = open({ path, maxDbs: 32 });
  const meta = root.openDB('meta', { keyEncoding: 'binary', encoding: 'msgpack', useRecords: false } as never);
  meta.putSync(Buffer.from('schema'), version);
  // Schema 4's per-length record counts: removed (as before schema 4), or replaced.
  if (opts.dropBanLengths === true) meta.removeSync(Buffer.from('ban.lengths'));
  if (opts.banLengths !== undefined) meta.putSync(Buffer.from('ban.lengths'), opts.banLengths);
  await root.close();
}

/** ::ffff:a.b.c.d as 16 bytes. */
export function v4(a: number, b: number, c: number, d: number): Buffer {
  return Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d]);
}
