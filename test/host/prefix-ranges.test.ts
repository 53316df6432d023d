// SPDX-License-Identifier: MIT
//
// PrefixRanges (src/lib/prefix-ranges.ts): the fast "shares an address with
// one of them" screen of a packed feed against a short list.  Its answer must
// equal IpPrefix.overlaps() against every prefix of the list, for any target.
import test from 'ava';

import { seededRandom } from '../../bench/lib/stats.js';
import { IpPrefix, parsePrefix } from '../../src/lib/addr.js';
import { PrefixRanges } from '../../src/lib/prefix-ranges.js';

/** A random prefix in a few crowded neighbourhoods (so that lists and targets nest and collide). */
function randomPrefix(r: () => number): IpPrefix {
  const b = new Uint8Array(16);
  const v4 = r() < 0.6;
  if (v4) {
    b[10] = 0xff;
    b[11] = 0xff;
    b[12] = [10, 192, 255, 0][Math.floor(r() * 4)] as number;
    b[13] = Math.floor(r() * 4);
    b[14] = Math.floor(r() * 256);
    b[15] = Math.floor(r() * 256);
    // Lengths 96..128 in the 128-bit space (/0../32), hosts often.
    const len = r() < 0.5 ? 128 : 96 + Math.floor(r() * 33);
    return IpPrefix.masked(b, len);
  }
  b[0] = 0x20;
  b[1] = 0x01;
  b[2] = 0x0d;
  b[3] = 0xb8;
  for (let i = 4; i < 16; i++) b[i] = r() < 0.7 ? 0 : Math.floor(r() * 256);
  const len = r() < 0.4 ? 128 : Math.floor(r() * 129);
  return IpPrefix.masked(b, len);
}

test('overlaps() and overlapsPacked() agree with IpPrefix.overlaps() against the whole list, for random lists and targets', (t) => {
  const r = seededRandom(11);
  let hits = 0;
  let checked = 0;
  for (let round = 0; round < 200; round++) {
    const list = Array.from({ length: Math.floor(r() * 12) }, () => randomPrefix(r));
    const ranges = new PrefixRanges(list);
    const targets = Array.from({ length: 100 }, () => randomPrefix(r));
    const packed = { addrs: new Uint8Array(targets.length * 16), prefixLen: new Uint8Array(targets.length) };
    targets.forEach((p, i) => {
      p.writeTo(packed.addrs, i * 16);
      packed.prefixLen[i] = p.length;
    });
    targets.forEach((p, i) => {
      const want = list.some((e) => e.overlaps(p));
      checked++;
      if (want) hits++;
      if (ranges.overlaps(p) !== want || ranges.overlapsPacked(packed, i) !== want) {
        t.fail(`round ${round}: ${p.toString()} against [${list.map(String).join(', ')}]: want ${want}`);
      }
    });
  }
  // Both answers were exercised, often.
  t.true(hits > checked / 10 && hits < checked - checked / 10, `${hits} of ${checked} overlapped`);
});

test('nested, equal-start and duplicate prefixes merge into one range without losing the wider', (t) => {
  const list = ['10.0.0.0/32', '10.0.0.0/8', '10.1.0.0/16', '10.0.0.0/8', '192.0.2.0/24', '192.0.2.255'].map((s) => parsePrefix(s));
  const ranges = new PrefixRanges(list);
  t.is(ranges.size, 2);
  for (const [target, want] of [
    ['10.255.255.255', true],
    ['10.0.0.0', true],
    ['11.0.0.0', false],
    ['9.255.255.255', false],
    ['0.0.0.0/0', true],
    ['8.0.0.0/6', true],
    ['192.0.3.0', false],
    ['192.0.2.128/25', true],
    ['::ffff:10.1.2.3', true],
    ['2001:db8::1', false],
  ] as const) {
    t.is(ranges.overlaps(parsePrefix(target)), want, target);
  }
});

test('edges of the space: ::/0, the last address, and an empty list', (t) => {
  t.false(new PrefixRanges([]).overlaps(parsePrefix('::/0')));
  const all = new PrefixRanges([parsePrefix('::/0')]);
  t.true(all.overlaps(parsePrefix('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')));
  t.true(all.overlaps(parsePrefix('0.0.0.0')));
  const last = new PrefixRanges([parsePrefix('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff')]);
  t.true(last.overlaps(parsePrefix('ffff::/16')));
  t.false(last.overlaps(parsePrefix('fffe::/16')));
  t.false(last.overlaps(parsePrefix('255.255.255.255')));
});
