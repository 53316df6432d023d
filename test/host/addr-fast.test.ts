// SPDX-License-Identifier: MIT
//
// The bulk load's fast IPv4 parser (parseV4PrefixInto, packPrefixInto)
// against parsePrefix(): on every text, valid or not, the fast path either
// declines (-1) or gives exactly parsePrefix()'s bytes and length; it never
// accepts a text parsePrefix() refuses; packPrefixInto() accepts and refuses
// exactly what parsePrefix() does, with its message.
import test from 'ava';

import { packPrefixInto, parsePrefix, parseV4PrefixBytes, parseV4PrefixInto } from '../../src/lib/addr.js';

/** parsePrefix()'s verdict: [bytes, length] or the error message. */
function slow(text: string): [number[], number] | string {
  try {
    const p = parsePrefix(text);
    return [[...p.bytes], p.length];
  } catch (err) {
    return (err as Error).message;
  }
}

function fast(text: string): [number[], number] | -1 {
  const out = new Uint8Array(32).fill(0xaa);
  const len = parseV4PrefixInto(text, out, 8);
  if (len < 0) return -1;
  return [[...out.subarray(8, 24)], len];
}

/** parseV4PrefixBytes over the text's UTF-8 bytes, between other bytes. */
function fastBytes(text: string): [number[], number] | -1 {
  const buf = Buffer.from(`1.2.3.4\n${text}\n5.6.7.8`);
  const start = 8;
  const end = buf.length - 8;
  const out = new Uint8Array(32).fill(0xaa);
  const len = parseV4PrefixBytes(buf, start, end, out, 8);
  if (len < 0) return -1;
  return [[...out.subarray(8, 24)], len];
}

function packed(text: string): [number[], number] | string {
  const out = new Uint8Array(16).fill(0x55);
  try {
    const len = packPrefixInto(text, out, 0);
    return [[...out], len];
  } catch (err) {
    return (err as Error).message;
  }
}

// [text, the fast path takes it]
const TABLE: [string, boolean][] = [
  ['192.0.2.1', true],
  ['0.0.0.0', true],
  ['255.255.255.255', true],
  ['1.2.3.4/32', true],
  ['10.0.0.0/8', true],
  ['0.0.0.0/0', true],
  ['192.0.2.0/24', true],
  ['192.0.2.128/25', true],
  ['100.64.0.0/10', true],
  ['9.9.9.9/32', true],
  // leading zeros, octal and hex
  ['01.2.3.4', false],
  ['1.02.3.4', false],
  ['1.2.3.00', false],
  ['1.2.3.010', false],
  ['0x1.2.3.4', false],
  ['1.2.3.4/08', false],
  ['1.2.3.4/00', false],
  ['0.0.0.0/00', false],
  // out of range, wrong shape
  ['256.1.1.1', false],
  ['1.1.1.256', false],
  ['1.1.1.999', false],
  ['1.1.1.1000', false],
  ['1.1.1', false],
  ['1.1.1.1.1', false],
  ['1.1..1', false],
  ['.1.1.1', false],
  ['1.1.1.', false],
  ['1.1.1.1/', false],
  ['1.1.1.1/33', false],
  ['1.1.1.1/100', false],
  ['1.1.1.1/-1', false],
  ['1.1.1.1/3a', false],
  ['1.1.1.1//24', false],
  ['1.1.1.1/24/24', false],
  ['', false],
  ['-', false],
  ['a.b.c.d', false],
  ['1.2.3.4a', false],
  ['１.2.3.4', false],
  // host bits
  ['192.0.2.1/24', false],
  ['192.0.2.128/24', false],
  ['10.0.0.1/31', false],
  ['128.0.0.0/0', false],
  ['0.0.0.1/0', false],
  // whitespace and comments (parsePrefix trims; the fast path declines)
  [' 192.0.2.1', false],
  ['192.0.2.1 ', false],
  ['\t192.0.2.1\r', false],
  ['192.0.2.1 # note', false],
  ['192.0.2.1;x', false],
  // IPv6 forms (parsePrefix's)
  ['2001:db8::1', false],
  ['2001:DB8::/32', false],
  ['::', false],
  ['::/0', false],
  ['::1', false],
  ['::ffff:192.0.2.1', false],
  ['::ffff:192.0.2.0/120', false],
  ['::ffff:0:0/96', false],
  ['::ffff:0:0/95', false],
  ['2001:db8::1/64', false],
  ['fe80::1%eth0', false],
  ['1:2:3:4:5:6:7:8:9', false],
  ['2001:db8:::1', false],
  ['1::2::3', false],
];

test('parseV4PrefixInto: takes the plain IPv4 forms with parsePrefix bytes, declines the rest', (t) => {
  for (const [text, takes] of TABLE) {
    const f = fast(text);
    const s = slow(text);
    if (takes) {
      t.not(f, -1, `fast path should take ${JSON.stringify(text)}`);
      t.deepEqual(f, s, `bytes of ${JSON.stringify(text)}`);
    } else {
      t.is(f, -1, `fast path should decline ${JSON.stringify(text)}`);
    }
    t.deepEqual(fastBytes(text), f, `bytes path of ${JSON.stringify(text)}`);
    // packPrefixInto: the same verdict as parsePrefix, valid or not.
    t.deepEqual(packed(text), s, `packPrefixInto(${JSON.stringify(text)})`);
  }
});

test('parseV4PrefixInto: random texts near IPv4 agree with parsePrefix', (t) => {
  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const alphabet = '0123456789012345678901234567890123456789...../:a x';
  let taken = 0;
  for (let k = 0; k < 30_000; k++) {
    let text: string;
    if (rnd(3) === 0) {
      text = '';
      const n = 1 + rnd(20);
      for (let i = 0; i < n; i++) text += alphabet[rnd(alphabet.length)];
    } else {
      const oct = (): string => String(rnd(4) === 0 ? rnd(300) : rnd(256)).padStart(rnd(8) === 0 ? 3 : 1, '0');
      text = `${oct()}.${oct()}.${oct()}.${oct()}`;
      if (rnd(2) === 0) text += `/${rnd(40)}`;
    }
    const f = fast(text);
    const s = slow(text);
    if (f !== -1) {
      taken++;
      if (JSON.stringify(f) !== JSON.stringify(s)) t.fail(`${JSON.stringify(text)}: fast ${JSON.stringify(f)}, parsePrefix ${JSON.stringify(s)}`);
    }
    if (JSON.stringify(fastBytes(text)) !== JSON.stringify(f)) t.fail(`${JSON.stringify(text)}: bytes path differs`);
    const p = packed(text);
    if (JSON.stringify(p) !== JSON.stringify(s)) t.fail(`${JSON.stringify(text)}: packPrefixInto ${JSON.stringify(p)}, parsePrefix ${JSON.stringify(s)}`);
  }
  // The fast path does take the common case (not a test that only declines).
  t.true(taken > 1_000, `fast path took ${taken}`);
});

test('packPrefixInto: writes at the offset and leaves the rest alone', (t) => {
  const out = new Uint8Array(48).fill(7);
  t.is(packPrefixInto('198.51.100.7', out, 16), 128);
  t.deepEqual([...out.subarray(16, 32)], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 198, 51, 100, 7]);
  t.true(out.subarray(0, 16).every((b) => b === 7));
  t.true(out.subarray(32).every((b) => b === 7));
  t.is(packPrefixInto('2001:db8::/32', out, 32), 32);
  t.deepEqual([...out.subarray(32, 48)], [...parsePrefix('2001:db8::/32').bytes]);
});
