// SPDX-License-Identifier: MIT
import test from 'ava';

import { parsePortSpec, parseServices, systemServiceTable } from '../../src/lib/ports.js';

// A small services file in the format of /etc/services.
const services = parseServices(`
# comment line
ssh		22/tcp				# SSH Remote Login Protocol
smtp		25/tcp		mail
domain		53/tcp				# Domain Name Server
domain		53/udp
submissions	465/tcp		ssmtp smtps urd # Submission over TLS [RFC8314]
submission	587/tcp
syslog		514/udp
kerberos-adm	749/tcp
bogus		99999/tcp
http		80/tcp		www
https		443/tcp
`);

test('parseServices: names and aliases, tcp first, bad lines skipped', (t) => {
  t.is(services.get('ssh'), 22);
  t.is(services.get('mail'), 25);
  t.is(services.get('smtps'), 465);
  t.is(services.get('urd'), 465);
  t.is(services.get('syslog'), 514, 'a udp-only service still maps');
  t.is(services.get('kerberos-adm'), 749);
  t.false(services.has('bogus'), 'a port out of range is skipped');
  t.false(services.has('#'));
});

const good: Array<[string, number[]]> = [
  ['25', [25]],
  ['25,465,587', [25, 465, 587]],
  ['smtp,465,submission', [25, 465, 587]],
  ['smtp, submissions ,submission', [25, 465, 587]],
  ['ssh', [22]],
  ['http,https', [80, 443]],
  ['587,25,25,mail', [25, 587]],
  ['1000:1003', [1000, 1001, 1002, 1003]],
  ['1000-1002,22', [22, 1000, 1001, 1002]],
  ['ssh:25', [22, 23, 24, 25]],
  ['kerberos-adm', [749]],
  ['SSH', [22]],
];
for (const [text, ports] of good) {
  test(`parsePortSpec ${JSON.stringify(text)} -> ${ports.join(',')}`, (t) => {
    t.deepEqual(parsePortSpec(text, { services }), { ports, all: false, widened: null });
  });
}

for (const text of ['0:65535', '1:65535', '25,0:65535', '1-65535']) {
  test(`parsePortSpec ${JSON.stringify(text)} is every port, without a warning`, (t) => {
    t.deepEqual(parsePortSpec(text, { services }), { ports: [], all: true, widened: null });
  });
}

test('more than 8 ports is refused by default, names the limit, and widens to every port on request', (t) => {
  for (const text of ['1000:2000', '1,2,3,4,5,6,7,8,9', '20:25,80,443,465']) {
    const err = t.throws(() => parsePortSpec(text, { services, what: '--port' }), { instanceOf: RangeError });
    t.regex(err.message, /^--port: .*more than 8 ports/);
    const wide = parsePortSpec(text, { services, overflow: 'all' });
    t.deepEqual(wide.ports, []);
    t.true(wide.all);
    t.regex(wide.widened ?? '', /blocking every port instead/);
  }
  // Exactly 8 is fine.
  t.deepEqual(parsePortSpec('1:8', { services }).ports, [1, 2, 3, 4, 5, 6, 7, 8]);
});

const bad: Array<[string, RegExp, 'TypeError' | 'RangeError']> = [
  ['', /empty port list/, 'TypeError'],
  [' , ', /empty port list/, 'TypeError'],
  ['25,,587', /empty item/, 'TypeError'],
  ['nosuchservice', /unknown service "nosuchservice" \(not in \/etc\/services\)/, 'TypeError'],
  ['smtp,nosuch', /unknown service "nosuch"/, 'TypeError'],
  ['0', /0 is not a port 1\.\.65535/, 'RangeError'],
  ['65536', /65536 is not a port/, 'RangeError'],
  ['1:2:3', /not a range/, 'TypeError'],
  [':25', /is not a port, a service name or a range/, 'TypeError'],
  ['30:20', /range 30:20 is empty/, 'RangeError'],
  ['25;rm -rf', /is not a port, a service name or a range/, 'TypeError'],
  ['-5', /is not a port, a service name or a range/, 'TypeError'],
];
for (const [text, message, kind] of bad) {
  test(`parsePortSpec ${JSON.stringify(text)} is a ${kind}`, (t) => {
    const err = t.throws(() => parsePortSpec(text, { services, what: '--port' }));
    t.is(err.constructor.name, kind);
    t.regex(err.message, message);
  });
}

test('an empty service table says the file is missing', (t) => {
  const err = t.throws(() => parsePortSpec('smtp', { services: new Map() }), { instanceOf: TypeError });
  t.regex(err.message, /missing or empty/);
});

test('the system table (/etc/services) knows the mail ports', (t) => {
  const table = systemServiceTable();
  if (table.size === 0) {
    t.pass('no /etc/services on this machine');
    return;
  }
  t.deepEqual(parsePortSpec('smtp,submissions,submission').ports, [25, 465, 587]);
  t.is(table.get('ssh'), 22);
});
