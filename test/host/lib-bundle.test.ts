// SPDX-License-Identifier: MIT
//
// The library's bundle (dist/lib/index.js, scripts/build-lib.mjs): the
// package's entry, the same exports as the tsc output it is built from,
// working on its own (its database too), built after that output, and still
// lazy (importing it loads neither the addon, nor lmdb, nor Node's sockets
// and streams).
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import test from 'ava';

import * as unbundled from '../../src/lib/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const bundleFile = path.join(root, 'dist', 'lib', 'index.js');

test('the package entry is the bundle, with every export of the library', async (t) => {
  t.is(fileURLToPath(import.meta.resolve('ffwall')), bundleFile);
  const bundled = (await import('ffwall')) as Record<string, unknown>;
  t.deepEqual(Object.keys(bundled).sort(), Object.keys(unbundled).sort());
  // Its own classes, not the tsc output's.
  t.not(bundled.Ffwall, unbundled.Ffwall);
});

test('the bundle blocks and checks on its own, with its own FakeKernel and error classes', async (t) => {
  const lib = (await import('ffwall')) as typeof unbundled;
  // The bundle's FakeKernel: its instanceof checks accept the bundle's
  // IpPrefix (the tsc tree's FakeKernel would refuse them).
  const fw = await lib.openFfwall({ kernel: new lib.FakeKernel(), database: false });
  try {
    const r = await fw.blockFeed(Buffer.from('192.0.2.1\n# a comment\n198.51.100.0/24\n'), { ttl: '1h' });
    t.like(r, { total: 2, applied: 2 });
    t.true((await fw.check('198.51.100.7')).blocked);
    t.true((await fw.check('192.0.2.1')).blocked);
    t.false((await fw.check('192.0.2.2')).blocked);
    t.throws(() => lib.parsePrefix('192.0.2.300'), { instanceOf: lib.AddressError });
  } finally {
    await fw.close();
  }
});

test("the bundle's ban database (inlined, with lmdb required when first opened) keeps a ban across a reopen", async (t) => {
  const lib = (await import('ffwall')) as typeof unbundled;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-libdb-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = path.join(dir, 'bans.lmdb');
  const first = await lib.openFfwall({ kernel: new lib.FakeKernel(), database: db });
  await first.block('203.0.113.9', { ttl: '2h', reason: 'bundle test' });
  await first.close();
  // A fresh kernel: the record comes from the database.
  const again = await lib.openFfwall({ kernel: new lib.FakeKernel(), database: db });
  try {
    const c = await again.check('203.0.113.9');
    t.like(c.record, { target: '203.0.113.9', reason: 'bundle test' });
    t.false(c.inKernel);
  } finally {
    await again.close();
  }
});

test("the bundle's listing by several threads (its worker, dist/lib/scan-worker.js, beside it) lists what one thread does", async (t) => {
  t.true(statSync(path.join(root, 'dist', 'lib', 'scan-worker.js')).isFile());
  const lib = (await import('ffwall')) as typeof unbundled;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-libdb-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fw = await lib.openFfwall({ kernel: new lib.FakeKernel({ maxEntries: 10_000 }), database: path.join(dir, 'bans.lmdb'), databaseOptions: { noSync: true } });
  try {
    await fw.blockMany(Array.from({ length: 1500 }, (_, i) => (i % 5 === 0 ? `2001:db8:${i.toString(16)}::/64` : `10.${i % 200}.${i >> 8}.${i & 255}`)), { ttl: '1h', reason: 'bundle' });
    const read = async (it: AsyncIterable<Uint8Array>): Promise<string> => {
      const parts: Buffer[] = [];
      for await (const c of it) parts.push(Buffer.from(c));
      return Buffer.concat(parts).toString('utf8');
    };
    const one = await read(fw.listNdjson({}, { threads: 1 }));
    t.is(one.split('\n').length - 1, 1500);
    t.is(await read(fw.listNdjson({}, { threads: 3 })), one);
    t.is(await read(fw.listTargets({}, { threads: 2 })), await read(fw.listTargets({}, { threads: 1 })));
  } finally {
    await fw.close();
  }
});

test('the bundle is not older than the library files it is built from', (t) => {
  const built = statSync(bundleFile).mtimeMs;
  const libDir = path.join(root, 'dist', 'src', 'lib');
  const newer = readdirSync(libDir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.js') && statSync(path.join(libDir, f)).mtimeMs > built);
  t.deepEqual(newer, [], 'tsc ran after the bundle was built: run `npm run build:ts`');
});

test('importing the bundle loads neither the addon, nor the ban database, nor Node\'s sockets and streams', async (t) => {
  // The shared objects of the process after the import: no ffwall.node, no
  // lmdb; and of Node's own modules, none of those that only some paths use
  // (src/lib/builtins.ts), nor the streams that an ES import of node:fs
  // would load (scripts/esbuild-base.mjs).
  const script = `
    const before = new Set(process.moduleLoadList);
    await import('ffwall');
    const loaded = process.moduleLoadList.filter((m) => !before.has(m));
    console.log(JSON.stringify({ objects: process.report.getReport().sharedObjects, loaded }));`;
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
  const { objects, loaded } = JSON.parse(stdout) as { objects: string[]; loaded: string[] };
  t.true(objects.length > 0);
  t.deepEqual(
    objects.filter((o) => /ffwall\.node|lmdb/.test(o)),
    [],
  );
  t.true(loaded.includes('NativeModule fs/promises'), 'the list of modules loaded by the import is read');
  t.deepEqual(
    loaded.filter((m) => /^NativeModule (net|readline|stream|stream\/promises|internal\/streams\/.*|crypto)$/.test(m)),
    [],
  );
  // The same check sees the addon once something needs it (ENOTTY on /dev/null, after loading it).
  const script2 = `const m = await import('ffwall'); try { m.NativeKernel.open('/dev/null'); } catch {} console.log(JSON.stringify(process.report.getReport().sharedObjects));`;
  const r2 = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script2], { cwd: root });
  t.true((JSON.parse(r2.stdout) as string[]).some((o) => o.endsWith('ffwall.node')));
});
