// SPDX-License-Identifier: MIT
//
// `ffwall list --kernel` and Ffwall.kernelList()/kernelNdjson(): the
// kernel's own table, through the daemon's socket and directly, with the
// same entries; what the kernel holds, not what the database believes.
import test from 'ava';

import { openFfwall, parseAddress, parsePrefix, type BanInfo } from '../../src/lib/index.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';
import { daemon, ffwall, shapeErrors, stop } from './cli-helpers.js';
import { KERNEL_ENTRY } from './cli-schemas.js';

/** Bans of every kind, an allowlist entry, and hits on one of them. */
async function fill(fw: Awaited<ReturnType<typeof openFfwall>>, kernel: FakeKernel): Promise<void> {
  await fw.block('192.0.2.7', { ttl: '2h', reason: 'one' });
  await fw.block('192.0.2.8', { ttl: '2h', ports: [25, 587] });
  await fw.block('192.0.2.9', { permanent: true, pin: true });
  await fw.block('198.51.100.0/24', { ttl: '1h', monitor: true });
  await fw.allow('203.0.113.0/24', { reason: 'office' });
  for (let i = 0; i < 3; i++) kernel.packet({ src: parseAddress('192.0.2.7'), proto: 'tcp', dport: 80 });
}

test('kernelList: exact entries then prefixes, their ports, flags, expiry and hits; not the allowlist', async (t) => {
  const kernel = new FakeKernel();
  const fw = await openFfwall({ kernel, database: false });
  try {
    await fill(fw, kernel);
    const got: BanInfo[] = [];
    for await (const e of fw.kernelList()) got.push(e);
    t.deepEqual(
      got.map((e) => [e.target, e.kind]),
      [
        ['192.0.2.7', 'exact'],
        ['192.0.2.8', 'exact'],
        ['192.0.2.9', 'exact'],
        ['198.51.100.0/24', 'prefix'],
      ],
    );
    const by = new Map(got.map((e) => [e.target, e]));
    t.is(by.get('192.0.2.7')?.hits, 3);
    t.not(by.get('192.0.2.7')?.lastHitAt, null);
    t.is(by.get('192.0.2.8')?.hits, 0);
    t.is(by.get('192.0.2.8')?.lastHitAt, null);
    t.deepEqual(by.get('192.0.2.8')?.ports, [25, 587]);
    t.like(by.get('192.0.2.9'), { pinned: true, expiresAt: null });
    t.like(by.get('198.51.100.0/24'), { monitor: true, kind: 'prefix' });
    const left = Date.parse(by.get('192.0.2.7')?.expiresAt ?? '') - Date.now();
    // Kernel times are whole seconds: within a second or two of 2h.
    t.true(left > 7100e3 && left <= 7202e3, `expires in ${left} ms`);
    for (const e of got) t.deepEqual(shapeErrors(e, KERNEL_ENTRY), [], e.target);
    // A limit, and a bad one.
    const two: string[] = [];
    for await (const e of fw.kernelList({ limit: 2 })) two.push(e.target);
    t.is(two.length, 2);
    t.throws(() => fw.kernelNdjson({ limit: 0 }), { instanceOf: RangeError });
    t.throws(() => fw.kernelNdjson({ limit: 1.5 }), { instanceOf: RangeError });
    t.throws(() => fw.kernelList({ limit: -1 }), { instanceOf: RangeError }, 'checked at the call, not at the first step');
  } finally {
    await fw.close();
  }
});

test('ffwall list --kernel: the same entries through the socket as directly; what the kernel holds, not the database', async (t) => {
  const d = await daemon();
  try {
    await fill(d.fw, d.kernel);
    const direct: BanInfo[] = [];
    for await (const e of d.fw.kernelList()) direct.push(e);
    const json = await ffwall(['list', '--kernel', '--json', ...d.conn]);
    t.is(json.code, 0, json.stderr);
    const lines = json.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as BanInfo);
    // The same entries; their times are the kernel's seconds turned into wall-clock time at each read, so within a few seconds.
    const untimed = (e: BanInfo): Omit<BanInfo, 'expiresAt' | 'lastHitAt'> & { expires: boolean; hit: boolean } => {
      const { expiresAt, lastHitAt, ...rest } = e;
      return { ...rest, expires: expiresAt !== null, hit: lastHitAt !== null };
    };
    t.deepEqual(lines.map(untimed), direct.map(untimed));
    lines.forEach((e, i) => {
      const x = direct[i];
      if (e.expiresAt !== null && x?.expiresAt != null) t.true(Math.abs(Date.parse(e.expiresAt) - Date.parse(x.expiresAt)) <= 3000, e.target);
    });
    // An entry the kernel lost (deleted behind the database's back) is gone from --kernel, not from the database's list.
    await d.kernel.del([parsePrefix('192.0.2.8')]);
    const after = await ffwall(['list', '--kernel', '--json', ...d.conn]);
    t.false(after.stdout.includes('"192.0.2.8"'));
    t.true((await ffwall(['list', '--json', ...d.conn])).stdout.includes('"192.0.2.8"'));
    const table = await ffwall(['list', '--kernel', ...d.conn]);
    t.is(table.code, 0, table.stderr);
    t.regex(table.stdout, /^TARGET +KIND +PORTS +EXPIRES +HITS +LAST HIT +FLAGS/);
    t.regex(table.stdout, /192\.0\.2\.9 +exact +all +never +0 +never +pinned/);
    t.regex(table.stdout, /198\.51\.100\.0\/24 +prefix +all +in 1h +0 +never +monitor/);
    t.regex(table.stdout, /3 kernel entries \[client\]\n$/);
    const limited = await ffwall(['list', '--kernel', '--json', '--limit', '1', ...d.conn]);
    t.is(limited.stdout.trimEnd().split('\n').length, 1);
    // The database's filters do not apply to the kernel's table: a usage error, exit 2.
    const bad = await ffwall(['list', '--kernel', '--state', 'cold', ...d.conn]);
    t.is(bad.code, 2);
    t.regex(bad.stderr, /--state/);
  } finally {
    await stop(d);
  }
});

test('list --kernel streams a table of 30,000 entries through the socket in row payloads', async (t) => {
  const d = await daemon();
  try {
    const n = 30_000;
    await d.kernel.add(Array.from({ length: n }, (_, i) => ({ prefix: parsePrefix(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`), ttl: 3600 })));
    const r = await ffwall(['list', '--kernel', '--json', ...d.conn]);
    t.is(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    t.is(lines.length, n);
    t.is(new Set(lines.map((l) => (JSON.parse(l) as BanInfo).target)).size, n);
  } finally {
    await stop(d);
  }
});
