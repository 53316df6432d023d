// SPDX-License-Identifier: MIT
//
// The automatic safety allowlist on fixture text of /proc and /etc: the
// parsers, every kind of entry with its reason, overrides, the prefix length
// rule and the collision check.
import test from 'ava';

import { parsePrefix } from '../../src/lib/addr.js';
import { defaultConfig, type DaemonConfig } from '../../src/daemon/config.js';
import { needsForce, parseIpv6Route, parseResolvConf, parseRoute, parseTcp, SafetyList, sshEnvClient, type SafetyReaders } from '../../src/daemon/safety.js';

// Little-endian host words, as an x86 kernel prints them.
const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t0002A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
wg0\t00000000\t00000000\t0001\t0\t0\t200\t00000000\t0\t0\t0
eth1\t00000000\t01000A0A\t0002\t0\t0\t300\t00000000\t0\t0\t0
`;

const IPV6_ROUTE = `20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db8000000000000000000000001 00000400 00000001 00000000 00000003 eth1
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo
`;

const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 0F00000A:0016 097100CB:C3CA 01 00000000:00000000 02:00094A1D 00000000     0        0 1002 2 0000000000000000 20 4 30 10 -1
   2: 0F00000A:0019 0A7100CB:D000 01 00000000:00000000 00:00000000 00000000   108        0 1003 1 0000000000000000 20 4 30 10 -1
   3: 0F00000A:08AE 0B7100CB:D001 01 00000000:00000000 00:00000000 00000000     0        0 1004 1 0000000000000000 20 4 30 10 -1
   4: 0F00000A:0016 0C7100CB:D002 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
`;

const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2001 1 0000000000000000 100 0 0 10 0
   1: B80D0120000000000000000001000000:0016 B80D0120000000000000000077000000:E0E0 01 00000000:00000000 02:00094A1D 00000000     0        0 2002 2 0000000000000000 20 4 30 10 -1
   2: 0000000000000000FFFF00000F00000A:0016 0000000000000000FFFF0000076433C6:E0E1 01 00000000:00000000 02:00094A1D 00000000     0        0 2003 2 0000000000000000 20 4 30 10 -1
`;

const RESOLV = `# generated
search example.net
nameserver 192.0.2.53
nameserver fe80::53%eth0
nameserver 2001:db8::53
nameserver not-an-address
options edns0
`;

const IFACES: ReturnType<SafetyReaders['networkInterfaces']> = {
  lo: [
    { address: '127.0.0.1', netmask: '255.0.0.0', family: 'IPv4', mac: '00:00:00:00:00:00', internal: true, cidr: '127.0.0.1/8' },
    { address: '::1', netmask: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', family: 'IPv6', mac: '00:00:00:00:00:00', internal: true, cidr: '::1/128', scopeid: 0 },
  ],
  eth0: [
    { address: '10.0.0.15', netmask: '255.255.255.0', family: 'IPv4', mac: '52:54:00:12:34:56', internal: false, cidr: '10.0.0.15/24' },
    { address: '2001:db8::1', netmask: 'ffff:ffff:ffff:ffff::', family: 'IPv6', mac: '52:54:00:12:34:56', internal: false, cidr: '2001:db8::1/64', scopeid: 0 },
  ],
};

function files(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { '/proc/net/route': ROUTE, '/proc/net/ipv6_route': IPV6_ROUTE, '/proc/net/tcp': TCP, '/proc/net/tcp6': TCP6, '/etc/resolv.conf': RESOLV, ...overrides };
}

function list(config: Partial<DaemonConfig['safety']> = {}, fs = files(), env: Record<string, string> = {}, now?: () => number): { s: SafetyList; reads: string[] } {
  const reads: string[] = [];
  const s = new SafetyList({
    config: { ...defaultConfig().safety, ...config },
    readers: {
      readText: async (p) => {
        reads.push(p);
        return fs[p];
      },
      networkInterfaces: () => IFACES,
      env,
      endianness: 'LE',
    },
    ...(now === undefined ? {} : { now }),
  });
  return { s, reads };
}

test('parseRoute: the default gateways that are up and have RTF_GATEWAY', (t) => {
  t.deepEqual(
    parseRoute(ROUTE, 'LE').map((g) => `${g.address.toString()} ${g.device}`),
    ['192.168.2.1 eth0'],
  );
  t.deepEqual(
    parseRoute(ROUTE.replace('0003', '0003').replace('eth1\t00000000\t01000A0A\t0002', 'eth1\t00000000\t01000A0A\t0003'), 'LE').map((g) => g.address.toString()),
    ['192.168.2.1', '10.10.0.1'],
  );
  t.deepEqual(
    parseRoute('Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\neth0\t00000000\tC0A80201\t0003\t0\t0\t0\t00000000\n', 'BE').map((g) => g.address.toString()),
    ['192.168.2.1'],
  );
});

test('parseIpv6Route: default routes with a next hop', (t) => {
  t.deepEqual(
    parseIpv6Route(IPV6_ROUTE).map((g) => `${g.address.toString()} ${g.device}`),
    ['fe80::1 eth0', '2001:db8::1 eth1'],
  );
});

test('parseResolvConf: nameservers, zone indexes dropped, junk ignored', (t) => {
  t.deepEqual(
    parseResolvConf(RESOLV).map((p) => p.toString()),
    ['192.0.2.53', 'fe80::53', '2001:db8::53'],
  );
});

test('parseTcp: ESTABLISHED sessions on the given local ports only', (t) => {
  t.deepEqual(
    parseTcp(TCP, [22], 'LE').map((s) => `${s.local.toString()}:${s.localPort} <- ${s.remote.toString()}:${s.remotePort}`),
    ['10.0.0.15:22 <- 203.0.113.9:50122'],
  );
  t.deepEqual(
    parseTcp(TCP, [22, 2222], 'LE').map((s) => s.remote.toString()),
    ['203.0.113.9', '203.0.113.11'],
  );
  t.deepEqual(
    parseTcp(TCP6, [22], 'LE').map((s) => `${s.local.toString()} <- ${s.remote.toString()}:${s.remotePort}`),
    ['2001:db8::1 <- 2001:db8::77:57568', '10.0.0.15 <- 198.51.100.7:57569'],
  );
  t.deepEqual(parseTcp('', [22]), []);
});

test('sshEnvClient: SSH_CONNECTION, then SSH_CLIENT', (t) => {
  t.is(sshEnvClient({ SSH_CLIENT: '198.51.100.20 50000 22' })?.address.toString(), '198.51.100.20');
  t.is(sshEnvClient({ SSH_CONNECTION: '2001:db8::9 50000 2001:db8::1 22', SSH_CLIENT: '198.51.100.20 50000 22' })?.address.toString(), '2001:db8::9');
  t.is(sshEnvClient({ SSH_CLIENT: 'garbage' }), undefined);
  t.is(sshEnvClient({}), undefined);
});

test('the list: every kind with its reason', async (t) => {
  const { s } = list({ sshPorts: [22, 2222] }, files(), { SSH_CLIENT: '198.51.100.20 50000 22' });
  await s.refresh();
  await s.sshSessions();
  const lines = s.entries().map((e) => `${e.kind} ${e.prefix.toString()} ${e.reason}`);
  t.deepEqual(lines, [
    'loopback 127.0.0.0/8 IPv4 loopback',
    'loopback ::1 IPv6 loopback; address of lo',
    'link-local 169.254.0.0/16 IPv4 link-local',
    'link-local fe80::/10 IPv6 link-local',
    'host 127.0.0.1 address of lo',
    'host 10.0.0.15 address of eth0',
    'host 2001:db8::1 address of eth0; default gateway on eth1',
    'gateway 192.168.2.1 default gateway on eth0',
    'gateway fe80::1 default gateway on eth0',
    'resolver 192.0.2.53 resolver in /etc/resolv.conf',
    'resolver fe80::53 resolver in /etc/resolv.conf',
    'resolver 2001:db8::53 resolver in /etc/resolv.conf',
    'ssh 203.0.113.9 SSH session from 203.0.113.9 port 50122 to port 22',
    'ssh 203.0.113.11 SSH session from 203.0.113.11 port 53249 to port 2222',
    'ssh 2001:db8::77 SSH session from 2001:db8::77 port 57568 to port 22',
    'ssh 198.51.100.7 SSH session from 198.51.100.7 port 57569 to port 22',
    'ssh 198.51.100.20 SSH session of this process (SSH_CLIENT)',
  ]);
  t.deepEqual(s.problems, []);
});

test('check: a ban of a gateway, a resolver, an SSH client, the host, loopback is refused with the reason', async (t) => {
  const { s } = list();
  await s.refresh();
  const cases: Array<[string, string]> = [
    ['192.168.2.1', '192.168.2.1 is inside 192.168.2.1 (default gateway on eth0)'],
    ['192.0.2.53', '192.0.2.53 is inside 192.0.2.53 (resolver in /etc/resolv.conf)'],
    ['203.0.113.9', '203.0.113.9 is inside 203.0.113.9 (SSH session from 203.0.113.9 port 50122 to port 22)'],
    ['10.0.0.15', '10.0.0.15 is inside 10.0.0.15 (address of eth0)'],
    ['127.0.0.5', '127.0.0.5 is inside 127.0.0.0/8 (IPv4 loopback)'],
    ['169.254.169.254', '169.254.169.254 is inside 169.254.0.0/16 (IPv4 link-local)'],
    ['fe80::1234', 'fe80::1234 is inside fe80::/10 (IPv6 link-local)'],
    ['203.0.113.0/24', '203.0.113.0/24 covers 203.0.113.9 (SSH session from 203.0.113.9 port 50122 to port 22)'],
  ];
  for (const [target, reason] of cases) {
    const c = await s.check(parsePrefix(target));
    t.false(c.ok, target);
    t.deepEqual(c.reasons, [reason], target);
  }
  const fine = await s.check(parsePrefix('198.51.100.99'));
  t.true(fine.ok);
  t.deepEqual(fine.collisions, []);
});

test('the prefix length rule: shorter than /16 or /32 needs force', async (t) => {
  const cfg = defaultConfig().safety;
  t.is(needsForce(parsePrefix('198.51.0.0/16'), cfg), undefined);
  t.is(needsForce(parsePrefix('198.48.0.0/12'), cfg), '198.48.0.0/12 is shorter than /16 (IPv4); banning it needs force');
  t.is(needsForce(parsePrefix('2001:db8::/32'), cfg), undefined);
  t.is(needsForce(parsePrefix('2001:d00::/24'), cfg), '2001:d00::/24 is shorter than /32 (IPv6); banning it needs force');
  const { s } = list();
  await s.refresh();
  const refused = await s.check(parsePrefix('100.64.0.0/10'));
  t.false(refused.ok);
  t.is(refused.force, '100.64.0.0/10 is shorter than /16 (IPv4); banning it needs force');
  t.true((await s.check(parsePrefix('100.64.0.0/10'), { force: true })).ok);
  const both = await s.check(parsePrefix('192.0.0.0/8'), { force: true });
  t.false(both.ok, 'force does not override the safety list');
  t.deepEqual(both.reasons, ['192.0.0.0/8 covers 192.168.2.1 (default gateway on eth0)', '192.0.0.0/8 covers 192.0.2.53 (resolver in /etc/resolv.conf)']);
});

test('an explicit override takes an entry off the list; the others stay', async (t) => {
  const { s } = list({ override: [{ prefix: parsePrefix('192.0.2.53'), reason: 'compromised resolver' }] });
  await s.refresh();
  t.true((await s.check(parsePrefix('192.0.2.53'))).ok);
  t.false(s.entries().some((e) => e.prefix.toString() === '192.0.2.53'));
  t.false((await s.check(parsePrefix('192.168.2.1'))).ok);
});

test('each source can be switched off; safety.enabled false switches off all', async (t) => {
  const { s } = list({ gateways: false, resolvers: false, sshSessions: false, hostAddresses: false, loopback: false, linkLocal: true }, files());
  await s.refresh();
  t.deepEqual(
    s.entries().map((e) => e.prefix.toString()),
    ['169.254.0.0/16', 'fe80::/10'],
  );
  t.true((await s.check(parsePrefix('203.0.113.9'))).ok);
  const { s: off, reads } = list({ enabled: false });
  await off.refresh();
  t.deepEqual(off.entries(), []);
  t.true((await off.check(parsePrefix('127.0.0.1'))).ok);
  t.deepEqual(reads, [], 'nothing read when disabled');
  t.false((await off.check(parsePrefix('10.0.0.0/8'))).ok, 'the length rule stays');
});

test('missing files (no IPv6, no resolv.conf) are skipped; unreadable ones are reported', async (t) => {
  const { s } = list({}, files({ '/proc/net/ipv6_route': undefined, '/proc/net/tcp6': undefined, '/etc/resolv.conf': undefined }));
  await s.refresh();
  t.true(s.entries().some((e) => e.kind === 'gateway'));
  t.false(s.entries().some((e) => e.kind === 'resolver'));
  t.deepEqual(s.problems, []);
  const bad = new SafetyList({
    config: defaultConfig().safety,
    readers: {
      readText: async (p) => {
        if (p === '/proc/net/route') throw Object.assign(new Error('denied'), { code: 'EACCES' });
        return undefined;
      },
      networkInterfaces: () => ({}),
      env: {},
    },
  });
  await bad.refresh();
  t.deepEqual(bad.problems, ['/proc/net/route: EACCES']);
});

test('SSH sessions are read when a ban is checked, at most once per cache period', async (t) => {
  let now = 1000;
  const fs = files({ '/proc/net/tcp': TCP.split('\n').slice(0, 1).join('\n'), '/proc/net/tcp6': undefined });
  const { s, reads } = list({}, fs, {}, () => now);
  await s.refresh();
  t.true((await s.check(parsePrefix('203.0.113.9'))).ok, 'no session yet');
  fs['/proc/net/tcp'] = TCP;
  now += 500;
  t.true((await s.check(parsePrefix('203.0.113.9'))).ok, 'cached');
  now += 600;
  const c = await s.check(parsePrefix('203.0.113.9'));
  t.false(c.ok, 'the new session protects its client');
  t.is(reads.filter((r) => r === '/proc/net/tcp').length, 2);
});

test('checker(): one read of the host for many targets, and the same answer as check() for each', async (t) => {
  const fs = files();
  const { s, reads } = list({}, fs);
  await s.refresh();
  const before = reads.length;
  const one = await s.checker();
  t.is(reads.length - before, 2, 'the SSH sessions read once (tcp and tcp6)');
  const targets = ['192.168.2.1', '203.0.113.0/24', '127.0.0.5', '100.64.0.0/10', '198.51.100.99', 'fe80::1234', '2001:db8:5::/48'];
  for (let i = 0; i < 1000; i++) one(parsePrefix(`198.51.${i >> 8}.${i & 255}`));
  t.is(reads.length - before, 2, 'and not again per target');
  for (const target of targets) {
    for (const force of [false, true]) {
      const p = parsePrefix(target);
      t.deepEqual(one(p, force ? { force } : {}), await s.check(p, force ? { force } : {}), `${target} force=${String(force)}`);
    }
  }
  t.false(one(parsePrefix('203.0.113.9')).ok, 'an SSH client');
  t.true(one(parsePrefix('198.51.100.99')).ok);
});
