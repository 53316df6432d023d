// SPDX-License-Identifier: MIT
//
// The address parser: a table of valid inputs with their normal form and
// 128-space length, and a table of invalid ones with the reason (and the
// suggested fix where one exists).
import test from 'ava';

import { AddressError, IpPrefix, parseAddress, parsePrefix, toAddress } from '../../src/lib/addr.js';

const valid: Array<[input: string, normal: string, length: number, family: 4 | 6]> = [
  ['192.0.2.1', '192.0.2.1', 128, 4],
  ['0.0.0.0', '0.0.0.0', 128, 4],
  ['255.255.255.255', '255.255.255.255', 128, 4],
  [' 10.1.2.3 ', '10.1.2.3', 128, 4],
  ['192.0.2.0/24', '192.0.2.0/24', 120, 4],
  ['192.0.2.7/32', '192.0.2.7', 128, 4],
  ['0.0.0.0/0', '0.0.0.0/0', 96, 4],
  ['10.0.0.0/8', '10.0.0.0/8', 104, 4],
  ['::ffff:192.0.2.1', '192.0.2.1', 128, 4],
  ['::FFFF:c000:0201', '192.0.2.1', 128, 4],
  ['::ffff:192.0.2.0/120', '192.0.2.0/24', 120, 4],
  ['2001:db8::1', '2001:db8::1', 128, 6],
  ['2001:DB8:0:0:0:0:0:1', '2001:db8::1', 128, 6],
  ['2001:0db8:0000:0000:0001:0000:0000:0001', '2001:db8::1:0:0:1', 128, 6],
  ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1', 128, 6],
  ['2001:db8::/32', '2001:db8::/32', 32, 6],
  ['2001:db8:1:2::/64', '2001:db8:1:2::/64', 64, 6],
  ['::', '::', 128, 6],
  ['::1', '::1', 128, 6],
  ['::/0', '::/0', 0, 6],
  ['fe80::1:2', 'fe80::1:2', 128, 6],
  ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8', 128, 6],
  ['1:0:3:4:5:6:7:8', '1:0:3:4:5:6:7:8', 128, 6],
  ['64:ff9b::192.0.2.33', '64:ff9b::c000:221', 128, 6],
  ['2001:db8::1/128', '2001:db8::1', 128, 6],
];

for (const [input, normal, length, family] of valid) {
  test(`parses ${JSON.stringify(input)} as ${normal}`, (t) => {
    const p = parsePrefix(input);
    t.is(p.toString(), normal);
    t.is(p.length, length);
    t.is(p.family, family);
    t.is(p.bytes.length, 16);
    // The normal form parses back to the same key.
    t.is(parsePrefix(normal).key(), p.key());
  });
}

const invalid: Array<[input: string, reason: RegExp, suggestion?: string]> = [
  ['', /empty/],
  ['1.2.3', /four dotted parts/],
  ['1.2.3.4.5', /four dotted parts/],
  ['0x7f.0.0.1', /hexadecimal/],
  ['010.1.1.1', /leading zero.*octal/],
  ['1.2.3.04', /leading zero/],
  ['256.1.1.1', /larger than 255/],
  ['1.2.3.-1', /not an IPv4 or IPv6/],
  ['1..2.3', /not a decimal/],
  ['127.1', /four dotted parts/],
  ['2130706433', /four dotted parts/],
  ['example.com', /not an IPv4 or IPv6/],
  ['1.2.3.4/33', /longer than 32/],
  ['1.2.3.4/24', /host bits/, '1.2.3.0/24'],
  ['192.0.2.1/0', /host bits/, '0.0.0.0/0'],
  ['10.0.0.0/08', /not a decimal/],
  ['10.0.0.0/', /not a decimal/],
  ['10.0.0.0/ 8', /not a decimal/],
  ['2001:db8::1/64', /host bits/, '2001:db8::/64'],
  ['2001:db8::/129', /longer than 128/],
  ['2001:db8:::1', /more than once|empty group/],
  ['2001::db8::1', /more than once/],
  ['1:2:3:4:5:6:7:8:9', /8 groups/],
  ['1:2:3:4:5:6:7', /8 groups/],
  ['1:2:3:4:5:6:7::8', /too many groups/],
  ['12345::1', /1-4 hex digits/],
  ['fe80::1%eth0', /zone/],
  ['::ffff:1.2.3', /embedded IPv4/],
  ['::ffff:01.2.3.4', /embedded IPv4.*leading zero/],
  ['::ffff:0:0/80', /host bits|shorter than \/96/],
  ['gggg::1', /1-4 hex digits/],
];

for (const [input, reason, suggestion] of invalid) {
  test(`refuses ${JSON.stringify(input)}`, (t) => {
    const err = t.throws(() => parsePrefix(input), { instanceOf: AddressError });
    t.true(err instanceof TypeError, 'a bad address is a TypeError');
    t.regex(err.reason, reason);
    t.is(err.code, 'EFFWALLADDR');
    t.is(err.input, input);
    t.is(err.suggestion, suggestion);
    if (suggestion !== undefined) t.true(err.message.includes(`did you mean ${suggestion}?`));
  });
}

test('parseAddress refuses a prefix, even a full-length one', (t) => {
  t.throws(() => parseAddress('192.0.2.0/24'), { instanceOf: AddressError, message: /single address/ });
  t.throws(() => parseAddress('192.0.2.1/32'), { instanceOf: AddressError });
  t.is(parseAddress('192.0.2.1').toString(), '192.0.2.1');
  t.throws(() => toAddress(parsePrefix('10.0.0.0/8')), { instanceOf: AddressError });
});

test('non-strings are TypeErrors', (t) => {
  t.throws(() => parsePrefix(42 as unknown as string), { instanceOf: TypeError });
  t.throws(() => parseAddress(undefined as unknown as string), { instanceOf: TypeError });
});

test('IPv4 is the v4-mapped 16-byte key the kernel uses', (t) => {
  const p = parseAddress('192.0.2.1');
  t.deepEqual([...p.bytes], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1]);
  t.is(p.bits, 32);
  const n = parsePrefix('192.0.2.0/24');
  t.is(n.length, 120);
  t.is(n.bits, 24);
  t.is(parsePrefix('::ffff:192.0.2.1').key(), p.key());
});

test('containment, supernets and equality', (t) => {
  const net = parsePrefix('192.0.2.0/24');
  t.true(net.contains(parseAddress('192.0.2.200')));
  t.false(net.contains(parseAddress('192.0.3.1')));
  t.true(net.contains(net));
  t.false(parseAddress('192.0.2.1').contains(net));
  t.is(parseAddress('2001:db8:1:2:3:4:5:6').supernet(64).toString(), '2001:db8:1:2::/64');
  t.is(parseAddress('2001:db8:1:2:3:4:5:6').supernet(48).toString(), '2001:db8:1::/48');
  t.is(parseAddress('192.0.2.9').supernet(120).toString(), '192.0.2.0/24');
  t.throws(() => net.supernet(128), { instanceOf: RangeError });
  t.true(parsePrefix('2001:db8::/32').equals(parsePrefix('2001:0db8::/32')));
  t.false(parsePrefix('2001:db8::/32').equals(parsePrefix('2001:db8::/33')));
  // One 128-bit space, as in the kernel: ::/0 covers IPv4 too, 0.0.0.0/0 covers no IPv6.
  t.true(parsePrefix('::/0').contains(parseAddress('192.0.2.1')));
  t.false(parsePrefix('0.0.0.0/0').contains(parseAddress('2001:db8::1')));
});

test('the constructor refuses host bits and copies its input', (t) => {
  const b = new Uint8Array(16);
  b[15] = 1;
  t.throws(() => new IpPrefix(b, 120), { instanceOf: AddressError });
  const p = new IpPrefix(b, 128);
  b[15] = 2;
  t.is(p.toString(), '::1');
  const out = p.bytes;
  out[15] = 9;
  t.is(p.toString(), '::1');
  t.is(IpPrefix.masked(b, 120).toString(), '::/120');
  t.throws(() => new IpPrefix(new Uint8Array(4), 32), { instanceOf: TypeError });
  t.throws(() => new IpPrefix(new Uint8Array(16), 129), { instanceOf: TypeError });
});

test('JSON of a prefix is its normal form', (t) => {
  t.is(JSON.stringify({ a: parsePrefix('2001:DB8::/32') }), '{"a":"2001:db8::/32"}');
});
