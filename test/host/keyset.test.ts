// SPDX-License-Identifier: MIT
import test from 'ava';

import { parsePrefix } from '../../src/lib/addr.js';
import { KeyMap, KeySet, U32Map } from '../../src/lib/keyset.js';

test('KeySet: IPv4 hosts, IPv6 hosts and prefixes are members by value, each apart from the others', (t) => {
  const s = new KeySet();
  for (const p of ['192.0.2.1', '2001:db8::1', '192.0.2.0/24', '2001:db8::/48', '0.0.0.1']) s.add(parsePrefix(p));
  t.is(s.size, 5);
  for (const p of ['192.0.2.1', '2001:db8::1', '192.0.2.0/24', '2001:db8::/48', '0.0.0.1']) t.true(s.has(parsePrefix(p)), p);
  // Neighbours that share a number or a string form with a member are not members.
  // ::1 is the number 1 no more than 0.0.0.1 is an IPv6 host.
  for (const p of ['192.0.2.2', '192.0.2.0', '192.0.2.0/25', '::1', '2001:db8::/47', '0.0.0.0/0']) t.false(s.has(parsePrefix(p)), p);
  s.add(parsePrefix('192.0.2.1'));
  t.is(s.size, 5, 'adding a member again changes nothing');
  s.clear();
  t.is(s.size, 0);
  t.false(s.has(parsePrefix('192.0.2.1')));
});

test('KeyMap: get() and getKey() of the 17-byte record key agree', (t) => {
  const m = new KeyMap<string>();
  m.set(parsePrefix('198.51.100.7'), 'a');
  m.set(parsePrefix('2001:db8::/64'), 'b');
  const key = (p: string): Uint8Array => {
    const x = parsePrefix(p);
    const k = new Uint8Array(17);
    x.writeTo(k, 0);
    k[16] = x.length;
    return k;
  };
  t.is(m.get(parsePrefix('198.51.100.7')), 'a');
  t.is(m.getKey(key('198.51.100.7')), 'a');
  t.is(m.getKey(key('2001:db8::/64')), 'b');
  t.is(m.getKey(key('198.51.100.8')), undefined);
  t.is(m.getKey(key('2001:db8::/63')), undefined);
  t.deepEqual([...m.values()].sort(), ['a', 'b']);
});

test('U32Map: every 32-bit key, 0 and 2^32-1 included, through many doublings and colliding keys; values replace; clear empties', (t) => {
  const m = new U32Map<number>();
  const keys: number[] = [0, 0xffffffff, 1, 0x80000000];
  // Keys that differ only in their low bits, and in their high bits (the hash must spread both).
  for (let i = 1; i <= 50_000; i++) keys.push((0xc0000000 + i) >>> 0, (i << 16) >>> 0);
  const want = new Map<number, number>();
  keys.forEach((k, i) => {
    m.set(k, i);
    want.set(k, i);
  });
  t.is(m.size, want.size);
  let wrong = 0;
  for (const [k, v] of want) if (m.get(k) !== v || !m.has(k)) wrong++;
  t.is(wrong, 0, 'every key gives its value back');
  for (const k of [2, 0xfffffffe, 0x7fffffff, 0xbfffffff, 0xc0000000 + 50_001]) t.false(m.has(k), `${k} was never set`);
  t.is(m.get(12345678), undefined);
  // Setting a key again replaces its value, in its place.
  m.set(0xffffffff, -1);
  t.is(m.get(0xffffffff), -1);
  t.is(m.get(-1), -1, 'a negative number is its unsigned 32-bit value');
  t.is(m.size, want.size);
  t.deepEqual([...m.values()].slice(0, 3), [0, -1, 2], 'values in insertion order');
  m.clear();
  t.is(m.size, 0);
  t.false(m.has(0));
  m.set(0, 7);
  t.is(m.get(0), 7);
});

test('KeySet.addAt: members straight from packed bytes, the same as add(); true only when new', (t) => {
  const s = new KeySet();
  const texts = ['192.0.2.1', '2001:db8::1', '192.0.2.0/24', '0.0.0.0', '::ffff:0:0/96'];
  const bytes = new Uint8Array(16 * (texts.length + 1));
  const ps = texts.map((x) => parsePrefix(x));
  // At an offset: the first 16 bytes are another address, never added.
  parsePrefix('198.51.100.1').writeTo(bytes, 0);
  ps.forEach((p, i) => p.writeTo(bytes, 16 * (i + 1)));
  ps.forEach((p, i) => t.true(s.addAt(bytes, 16 * (i + 1), p.length), `${texts[i]} is new`));
  ps.forEach((p, i) => t.false(s.addAt(bytes, 16 * (i + 1), p.length), `${texts[i]} again`));
  t.is(s.size, texts.length);
  for (const p of ps) t.true(s.has(p), p.toString());
  t.false(s.has(parsePrefix('198.51.100.1')));
  // The same bytes with another length are another member.
  t.false(s.has(parsePrefix('192.0.2.0')), '192.0.2.0 (a host) is not 192.0.2.0/24');
  s.add(parsePrefix('203.0.113.9'));
  const b = new Uint8Array(16);
  parsePrefix('203.0.113.9').writeTo(b, 0);
  t.false(s.addAt(b, 0, 128), 'a member added by add() is known to addAt()');
});
