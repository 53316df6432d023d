// SPDX-License-Identifier: MIT
//
// The TypeScript FFWALL_FILTER_BLOCKED_BLOOM (src/lib/bloom.ts, used by the
// fake kernel) against the known-answer vectors that the kernel's selftest
// and the C builder check themselves against: kmod/selftest/filter_kat.h,
// parsed here, so the three implementations share one copy.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import test from 'ava';

import { bloomInsert, bloomPosition, bloomTest, siphash24 } from '../../src/lib/bloom.js';

interface Kat {
  seed: [bigint, bigint];
  addr: Uint8Array;
  nblocks: number;
  k: number;
  hash: bigint;
  block: number;
  bits: number[];
}

function findRoot(): string {
  let dir = process.cwd();
  for (;;) {
    try {
      readFileSync(path.join(dir, 'kmod/selftest/filter_kat.h'));
      return dir;
    } catch {
      const parent = path.dirname(dir);
      if (parent === dir) throw new Error('kmod/selftest/filter_kat.h not found above the working directory');
      dir = parent;
    }
  }
}

function num(s: string): bigint {
  return BigInt(s.trim().replace(/ULL$|UL$|U$/i, ''));
}

/** Parses the initializer of ffwall_filter_kats[]: { {seed}, addr, nblocks, k, hash, block, {bits} }. */
function parseKats(text: string): Kat[] {
  const noComments = text.replace(/\/\*[\s\S]*?\*\//g, '');
  const start = noComments.indexOf('ffwall_filter_kats[] = {');
  if (start < 0) throw new Error('no ffwall_filter_kats[] in the header');
  const body = noComments.slice(start + 'ffwall_filter_kats[] = {'.length, noComments.indexOf('};', start));
  // Split the body into top-level { ... } records.
  const records: string[] = [];
  let depth = 0;
  let from = -1;
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '{') {
      if (depth === 0) from = i + 1;
      depth++;
    } else if (body[i] === '}') {
      depth--;
      if (depth === 0) records.push(body.slice(from, i));
    }
  }
  return records.map((rec) => {
    // Fields at depth 0 of the record, split on commas outside braces and parentheses.
    const fields: string[] = [];
    let d = 0;
    let cur = '';
    for (const ch of rec) {
      if (ch === '{' || ch === '(') d++;
      if (ch === '}' || ch === ')') d--;
      if (ch === ',' && d === 0) {
        fields.push(cur.trim());
        cur = '';
      } else cur += ch;
    }
    if (cur.trim() !== '') fields.push(cur.trim());
    if (fields.length !== 7) throw new Error(`a vector with ${fields.length} fields: ${rec}`);
    const list = (f: string): string[] =>
      f
        .replace(/^\{|\}$/g, '')
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '');
    const [seedF, addrF, nbF, kF, hashF, blockF, bitsF] = fields as [string, string, string, string, string, string, string];
    const seed = list(seedF).map(num) as [bigint, bigint];
    let addr: Uint8Array;
    const v4 = /^FFWALL_KAT_V4\(([^)]*)\)$/.exec(addrF);
    if (v4 !== null) {
      addr = new Uint8Array(16);
      addr[10] = 0xff;
      addr[11] = 0xff;
      list(v4[1] ?? '').forEach((x, i) => (addr[12 + i] = Number(num(x))));
    } else {
      addr = Uint8Array.from(list(addrF).map((x) => Number(num(x))));
    }
    return {
      seed,
      addr,
      nblocks: Number(num(nbF)),
      k: Number(num(kF)),
      hash: num(hashF),
      block: Number(num(blockF)),
      bits: list(bitsF).map((x) => Number(num(x))),
    };
  });
}

const kats = parseKats(readFileSync(path.join(findRoot(), 'kmod/selftest/filter_kat.h'), 'utf8'));

test('the header holds the four known-answer vectors', (t) => {
  t.is(kats.length, 4);
  for (const v of kats) {
    t.is(v.addr.length, 16);
    t.is(v.bits.length, v.k);
  }
});

test('SipHash-2-4 gives the reference vector (key 00..0f, message 00..0f)', (t) => {
  const key = Uint8Array.from({ length: 16 }, (_, i) => i);
  const k0 = Buffer.from(key).readBigUInt64LE(0);
  const k1 = Buffer.from(key).readBigUInt64LE(8);
  t.is(siphash24(k0, k1, key), 0x3f2acc7f57c29bdbn);
  // The reference paper's 64 vectors start with the empty message: 0x726fdb47dd0e0e31.
  t.is(siphash24(k0, k1, new Uint8Array(0)), 0x726fdb47dd0e0e31n);
});

for (const [i, v] of kats.entries()) {
  test(`vector ${i}: hash, block and bits match filter_kat.h`, (t) => {
    const pos = bloomPosition(v.seed, v.addr, v.nblocks, v.k);
    t.is(pos.hash, v.hash);
    t.is(pos.block, v.block);
    t.deepEqual(pos.bits, v.bits);
  });
}

test('bloomInsert sets exactly the vector bits and bloomTest finds the member', (t) => {
  const v = kats[1];
  if (v === undefined) return t.fail('no vector 1');
  const data = new Uint8Array(v.nblocks * 64);
  bloomInsert(data, v.seed, v.k, v.addr);
  const set: number[] = [];
  for (let byte = 0; byte < data.length; byte++) for (let b = 0; b < 8; b++) if ((((data[byte] ?? 0) >> b) & 1) === 1) set.push(byte * 8 + b);
  t.deepEqual(
    set,
    v.bits.map((bit) => v.block * 512 + bit),
  );
  t.true(bloomTest(data, v.seed, v.k, v.addr));
  const other = Uint8Array.from(v.addr);
  other[15] = (other[15] ?? 0) ^ 1;
  t.false(bloomTest(data, v.seed, v.k, other));
  return undefined;
});
