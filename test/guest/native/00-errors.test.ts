// SPDX-License-Identifier: MIT
//
// NativeKernel against the real module: errno mapping in Node's shape
// (EPERM, ENOTTY, EINVAL, ENOENT, EEXIST with badIndex) and a round trip of
// the small commands.
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';

import test from 'ava';

import { parseAddress, parsePrefix } from '../../../src/lib/addr.js';
import { NativeKernel } from '../../../src/lib/kernel-native.js';
import { loadBinding } from '../../../src/lib/native.js';

const ko = process.env.FFWALL_KO ?? '';
const root = process.env.FFWALL_ROOT ?? process.cwd();
const DEV = '/dev/ffwall';

test.before(() => {
  execFileSync('insmod', [ko]);
});

test.after.always(() => {
  spawnSync('rmmod', ['ffwall']);
});

test.serial('EPERM without CAP_NET_ADMIN, with code, errno, syscall and path', (t) => {
  const script = `
    import { NativeKernel } from ${JSON.stringify(path.join(root, 'dist/src/lib/index.js'))};
    try { NativeKernel.open('/dev/ffwall'); console.log('NO-ERROR'); }
    catch (e) { console.log(JSON.stringify({ code: e.code, errno: e.errno, syscall: e.syscall, path: e.path, message: e.message })); }
  `;
  const r = spawnSync('setpriv', ['--bounding-set=-net_admin', '--inh-caps=-net_admin', '--', 'node', '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  t.is(r.status, 0, r.stderr);
  const err = JSON.parse(r.stdout.trim()) as Record<string, unknown>;
  t.deepEqual(err, { code: 'EPERM', errno: -1, syscall: 'ioctl', path: DEV, message: "EPERM: operation not permitted, ioctl '/dev/ffwall'" });
});

test.serial('ENOTTY: a character device that is not ffwall', (t) => {
  const err = t.throws(() => NativeKernel.open('/dev/null'));
  t.like(err, { code: 'ENOTTY', errno: -25, syscall: 'ioctl', path: '/dev/null' });
});

test.serial('EINVAL through the native layer: a DUMP cursor no call returned, a raw bad config value', async (t) => {
  const b = loadBinding();
  const dev = new b.Device(DEV);
  try {
    // The phase bits say "prefixes" but the prefix-set cursor is out of range.
    const e1 = await t.throwsAsync(dev.dump(false, 0xbffffffffffffffen, 64, 0));
    t.like(e1, { code: 'EINVAL', errno: -22, syscall: 'ioctl', path: DEV, message: "EINVAL: invalid argument, ioctl '/dev/ffwall'" });
    const e1b = await t.throwsAsync(dev.dump(true, 1n << 62n, 64, 0));
    t.like(e1b, { code: 'EINVAL', errno: -22, syscall: 'ioctl', path: DEV });
    const e2 = await t.throwsAsync(dev.dump(false, 0n, 4, 0));
    t.like(e2, { code: 'EINVAL', errno: -22, syscall: 'ioctl', path: DEV });
    const e3 = t.throws(() => dev.setConfig(b.constants.CONFIG_MODE, 0, 7, 0));
    t.like(e3, { code: 'EINVAL', errno: -22, syscall: 'ioctl', path: DEV });
    // A raw bad record: host bits beyond the prefix, at index 2 of the chunk.
    const addrs = new Uint8Array(3 * 16);
    addrs.set(parseAddress('192.0.2.1').bytes, 0);
    addrs.set(parseAddress('192.0.2.2').bytes, 16);
    addrs.set(parseAddress('192.0.2.3').bytes, 32);
    const e4 = await t.throwsAsync(dev.batch(b.constants.BATCH_ADD, 3, addrs, Uint8Array.of(128, 128, 120)));
    t.like(e4, { code: 'EINVAL', syscall: 'ioctl', path: DEV, applied: 0, badIndex: 2 });
  } finally {
    dev.close();
  }
});

test.serial('prepareBatch/submitBatch: records made now, sent once, nothing else accepted', async (t) => {
  const b = loadBinding();
  const dev = new b.Device(DEV);
  try {
    dev.flush(b.constants.FLUSH_EXACT, 0);
    const addrs = new Uint8Array(2 * 16);
    addrs.set(parseAddress('192.0.2.41').bytes, 0);
    addrs.set(parseAddress('192.0.2.42').bytes, 16);
    const prefixLen = Uint8Array.of(128, 128);
    const prepared = dev.prepareBatch(b.constants.BATCH_ADD, 2, addrs, prefixLen, undefined, undefined, Uint32Array.of(600, 600));
    // The columns were copied at prepare: changing them now changes nothing.
    addrs.fill(0);
    prefixLen.fill(0);
    t.is(dev.stats().entries, 0, 'nothing is sent before submitBatch');
    t.deepEqual(await dev.submitBatch(prepared), { applied: 2, changed: 2 });
    t.is(dev.lookup(parseAddress('192.0.2.42').bytes, 0, 0).verdict, b.constants.VERDICT_DROP);
    t.is(dev.stats().entries, 2);
    t.throws(() => dev.submitBatch(prepared), { message: 'submitBatch: this batch was already submitted' });
    t.throws(() => dev.submitBatch({} as never), { instanceOf: TypeError, message: 'submitBatch: not a prepared batch' });
    t.throws(() => dev.prepareBatch(9, 1, addrs, prefixLen), { instanceOf: RangeError, message: 'batch: bad op or count' });
    t.is(dev.stats().entries, 2);
  } finally {
    dev.close();
  }
});

test.serial('ENOENT and EEXIST from NativeKernel, EEXIST with a global badIndex', async (t) => {
  const k = NativeKernel.open(DEV);
  try {
    await k.flush();
    const eDetach = await t.throwsAsync(k.detach('nosuchdev0'));
    t.like(eDetach, { code: 'ENOENT', errno: -2, syscall: 'ioctl', path: DEV });
    await k.allowAdd([parsePrefix('203.0.113.0/24')]);
    const rules = [];
    for (let i = 0; i < 70000; i++) rules.push({ prefix: parseAddress(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`) });
    rules.push({ prefix: parseAddress('203.0.113.9') });
    const progress: number[] = [];
    const e = await t.throwsAsync(k.add(rules, { onProgress: (d) => progress.push(d) }));
    // The first chunk (65536) went in; the second was refused whole.
    t.like(e, { code: 'EEXIST', errno: -17, syscall: 'ioctl', path: DEV, applied: 65536, badIndex: 70000 });
    t.deepEqual(progress, [65536]);
    t.is((await k.stats()).entries, 65536);
  } finally {
    await k.flush();
    await k.close();
  }
});

test.serial('a round trip of the small commands', async (t) => {
  const k = NativeKernel.open(DEV);
  try {
    const v = await k.version();
    t.is(v.abiVersion, loadBinding().ABI_VERSION);
    const cfg = await k.setConfig({ gcInterval: 7, mode: 'monitor' });
    t.is(cfg.gcInterval, 7);
    t.is(cfg.mode, 'monitor');
    t.is((await k.setConfig({ mode: 'enforce' })).mode, 'enforce');
    // A name with no device yet: named, not hooked (no hook flips under traffic).
    await k.attach('ffwtest0');
    t.like((await k.devices()).find((d) => d.name === 'ffwtest0'), { ifindex: 0, named: true, hooked: false });
    await k.detach('ffwtest0');
    t.is((await k.devices()).find((d) => d.name === 'ffwtest0'), undefined);

    const host = parseAddress('198.51.100.7');
    const r = await k.add([{ prefix: host, ports: [443, 80, 80], ttl: 3600, pinned: true }, { prefix: parsePrefix('2001:db8::/32') }]);
    t.deepEqual(r, { applied: 2, changed: 2 });
    const l = await k.lookup(host);
    t.is(l.verdict, 'ports');
    t.is(l.match, 'exact');
    t.deepEqual(l.entry?.ports, [80, 443]);
    t.true(l.entry?.pinned);
    t.true((l.entry?.ttl ?? 0) > 3000);
    t.is((await k.lookup(host, 80)).verdict, 'drop');
    t.is((await k.lookup(host, 81)).verdict, 'pass');
    t.like(await k.lookup(parseAddress('2001:db8::5')), { verdict: 'drop', match: 'prefix' });
    const all = [];
    for await (const batch of k.dump()) all.push(...batch);
    t.deepEqual(all.map((e) => `${e.kind} ${e.prefix.toString()}`).sort(), ['exact 198.51.100.7', 'prefix 2001:db8::/32']);
    t.is(await k.flush({ scope: ['exact'], pinned: true }), 1);
    t.deepEqual(await k.del([parsePrefix('2001:db8::/32')]), { applied: 1, changed: 1 });
    t.is((await k.stats()).entries, 0);
  } finally {
    await k.close();
  }
});
