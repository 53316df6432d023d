// SPDX-License-Identifier: MIT
import test from 'ava';

import { parsePrefix } from '../../src/lib/addr.js';
import { KeyMap, KeySet } from '../../src/lib/keyset.js';

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
