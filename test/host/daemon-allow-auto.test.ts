// SPDX-License-Identifier: MIT
//
// The automatic safety entries on the allowlist: listed (allowList(), over
// the socket, `ffwall allow list`) and marked with their kind; a plain
// removal is refused with the explicit way named, and changes nothing; the
// explicit way (safety.override) takes an entry off, survives a refresh,
// and is listed and logged, never silent.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test, { type ExecutionContext } from 'ava';

import { parsePrefix } from '../../src/lib/addr.js';
import { defaultConfig, type DaemonConfig } from '../../src/daemon/config.js';
import { Daemon, type SafetyReport } from '../../src/daemon/daemon.js';
import { SafetyList } from '../../src/daemon/safety.js';
import { openFfwall, type AllowEntryInfo, type Ffwall } from '../../src/lib/index.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';
import { ffwall } from './cli-helpers.js';
import { freshStore } from './db-helpers.js';

// eth0's default gateway 192.168.2.1 (little-endian words, as x86 prints them).
const ROUTE = `Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
`;

function safetyList(override: DaemonConfig['safety']['override']): SafetyList {
  const files: Record<string, string> = { '/proc/net/route': ROUTE, '/etc/resolv.conf': 'nameserver 192.0.2.53\n' };
  return new SafetyList({
    config: { ...defaultConfig().safety, linkLocal: false, hostAddresses: false, sshSessions: false, override },
    readers: { readText: async (p) => files[p], networkInterfaces: () => ({}), env: {}, endianness: 'LE' },
  });
}

/** A started daemon over a fresh store and a FakeKernel, a client on its socket; torn down with the test. */
async function daemonWithClient(t: ExecutionContext, safety: SafetyList, beforeStart?: (d: Daemon) => void): Promise<{ d: Daemon; k: FakeKernel; fw: Ffwall; sock: string }> {
  const { store, close } = freshStore();
  const k = new FakeKernel();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-auto-'));
  const sock = path.join(dir, 'ffwall.sock');
  const d = new Daemon({ kernel: k, store, control: { path: sock }, intervals: { sync: 0, sweep: 0, prune: 0, safety: 0 }, safety, window: { filterBuilder: 'ts' } });
  beforeStart?.(d);
  await d.start();
  const fw = await openFfwall({ transport: 'client', socket: sock });
  t.teardown(async () => {
    await fw.close();
    await d.stop();
    await k.close();
    await close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { d, k, fw, sock };
}

const row = (e: AllowEntryInfo): string => `${e.target} auto=${e.automatic ?? '-'} kernel=${e.inKernel} overridden=${e.overridden ?? '-'}`;

test('automatic entries are listed, marked, refused by a plain remove; safety.override takes one off, across refreshes, listed and reported', async (t) => {
  const reports: SafetyReport[] = [];
  const safety = safetyList([{ prefix: parsePrefix('192.0.2.53'), reason: 'the old resolver is compromised' }]);
  const { d, k, fw, sock } = await daemonWithClient(t, safety, (daemon) => daemon.on('safety', (s) => reports.push(s)));
  await fw.allow(['10.9.9.9'], { reason: 'office' });

  const expected = [
    '127.0.0.0/8 auto=loopback kernel=true overridden=-',
    '::1 auto=loopback kernel=true overridden=-',
    '192.168.2.1 auto=gateway kernel=true overridden=-',
    '10.9.9.9 auto=- kernel=true overridden=-',
    '192.0.2.53 auto=resolver kernel=false overridden=192.0.2.53: the old resolver is compromised',
  ].sort();
  const listed = await fw.allowList();
  t.deepEqual(listed.map(row).sort(), expected, 'through the socket');
  t.regex(listed.find((e) => e.target === '192.168.2.1')?.reason ?? '', /^auto: gateway: default gateway on eth0$/);
  // Directly (no daemon): the same allowlist entries, marked; the overrides are the daemon's to list.
  t.deepEqual((await d.ffwall.allowList()).filter((e) => e.overridden === null).map(row).sort(), expected.filter((e) => !e.includes('resolver')));

  // The start's report says what is overridden (the command logs it as a warning).
  t.deepEqual(reports.at(-1)?.overridden, ['192.0.2.53 (resolver: resolver in /etc/resolv.conf) overridden by safety.override 192.0.2.53: the old resolver is compromised']);

  // A plain removal is refused, names the explicit way, and changes nothing, in a batch too.
  const err = await t.throwsAsync(() => fw.disallow(['10.9.9.9', '192.168.2.1']), { message: /automatic safety allowlist \(gateway: default gateway on eth0\).*safety\.override.*"prefix": "192\.168\.2\.1"/ });
  t.is((err as { code?: string } | undefined)?.code, 'EAUTOMATIC');
  t.deepEqual((await fw.allowList()).map(row).sort(), expected, 'nothing changed');
  const cli = await ffwall(['allow', 'remove', '127.0.0.0/8', '--transport', 'client', '--socket', sock]);
  t.is(cli.code, 2);
  t.regex(cli.stderr, /^ffwall: 127\.0\.0\.0\/8 is on the automatic safety allowlist \(loopback: IPv4 loopback\); the daemon would put it back\. To let it be banned, add it to safety\.override/);
  // A hand-added entry is removed as before.
  t.deepEqual(await fw.disallow(['10.9.9.9']), [{ target: '10.9.9.9', changed: true }]);

  // The overridden resolver may be banned; the gateway may not.
  t.is((await fw.block('192.0.2.53', { ttl: 3600 })).target, '192.0.2.53');
  await t.throwsAsync(() => fw.block('192.168.2.1', { ttl: 3600 }), { message: /inside 192\.168\.2\.1/ });
  // A refresh keeps the override: the resolver does not come back, and the report still names it.
  await d.refreshSafety();
  const inKernel: string[] = [];
  for await (const batch of k.allowDump()) for (const e of batch) inKernel.push(e.prefix.toString());
  t.false(inKernel.includes('192.0.2.53'));
  t.true(inKernel.includes('192.168.2.1'));
  t.is(reports.at(-1)?.overridden.length, 1);
  t.deepEqual((await fw.allowList()).filter((e) => e.overridden !== null).map((e) => e.target), ['192.0.2.53']);

  // The human table marks them.
  const human = await ffwall(['allow', 'list', '--transport', 'client', '--socket', sock]);
  t.is(human.code, 0, human.stderr);
  t.regex(human.stdout, /^TARGET\s+ADDED\s+KERNEL\s+AUTO\s+REASON\n/);
  t.regex(human.stdout, /\n192\.168\.2\.1\s+\S+ \S+\s+yes\s+gateway\s+auto: gateway: default gateway on eth0\n/);
  t.regex(human.stdout, /\n192\.0\.2\.53\s+-\s+no\s+resolver\s+overridden by safety\.override 192\.0\.2\.53: the old resolver is compromised \(auto: resolver: resolver in \/etc\/resolv\.conf\)\n/);
});

test('flush --scope allow keeps the automatic safety entries, in the database and in the kernel; the hand-added ones go', async (t) => {
  const { k, fw } = await daemonWithClient(t, safetyList([]));
  await fw.allow(['10.9.9.9', '2001:db8::/32'], { reason: 'office' });
  const kernelAllow = async (): Promise<string[]> => {
    const out: string[] = [];
    for await (const batch of k.allowDump()) for (const e of batch) out.push(e.prefix.toString());
    return out.sort();
  };
  const auto = ['127.0.0.0/8', '192.0.2.53', '192.168.2.1', '::1'].sort();
  t.deepEqual(await kernelAllow(), [...auto, '10.9.9.9', '2001:db8::/32'].sort());

  for (const database of [false, true]) {
    const r = await fw.flush({ scope: ['allow'], database });
    t.true(r.kernel >= (database ? 2 : 0), `kernel flushed (database ${database})`);
    t.deepEqual(await kernelAllow(), auto, `the safety entries are back in the kernel at once (database ${database})`);
    if (database) t.is(r.database, 2, 'only the two hand-added entries left the database');
  }
  const listed = (await fw.allowList()).map((e) => `${e.target} ${e.automatic ?? '-'}`).sort();
  t.deepEqual(listed, ['127.0.0.0/8 loopback', '192.0.2.53 resolver', '192.168.2.1 gateway', '::1 loopback'].sort());
  // Still refused as a ban target: the host stays unbannable.
  await t.throwsAsync(() => fw.block('192.168.2.1', { ttl: 60 }), { message: /inside 192\.168\.2\.1/ });
});

test('--print-safety lists the entries in force and, marked, the ones safety.override takes off', async (t) => {
  const { lines, problems } = await safetyList([{ prefix: parsePrefix('192.0.2.0/24'), reason: 'lab resolver, untrusted' }]).print();
  t.deepEqual(problems, []);
  t.deepEqual(lines.filter((l) => !l.includes('\tloopback\t')), [
    '192.168.2.1\tgateway\tdefault gateway on eth0',
    '192.0.2.53\tresolver\toverridden by safety.override 192.0.2.0/24: lab resolver, untrusted (resolver in /etc/resolv.conf)',
  ]);
  t.true(lines.some((l) => l.startsWith('127.0.0.0/8\tloopback\t')));
});
