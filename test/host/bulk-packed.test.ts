// SPDX-License-Identifier: MIT
//
// The kernel-only bulk path (issue 11): blockMany() of bare targets over the
// direct transport without a database packs them straight into the
// kernel's record buffer (addr.ts packPrefixInto) and sends packed ADDs
// (NativeKernel.addPacked, here over a stub device that records each
// ioctl; FakeKernel takes the same input as KernelRule objects).
import test from 'ava';

import { Ffwall } from '../../src/lib/ffwall.js';
import { FfwallError, IpPrefix, parsePrefix } from '../../src/lib/index.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';
import { checkPacked, NativeKernel } from '../../src/lib/kernel-native.js';
import { KERNEL_LIMITS } from '../../src/lib/kernel.js';
import { loadBinding } from '../../src/lib/native.js';
import { DirectTransport } from '../../src/lib/transport-direct.js';

interface Call {
  op: number;
  count: number;
  addrs: number[];
  prefixLen: number[];
  nports: number[] | undefined;
  flags: number[] | undefined;
  ttl: number[] | undefined;
  ports: number[] | undefined;
}

/** A NativeKernel whose device records each batch ioctl (and accepts every record). */
function stubKernel(): { kernel: NativeKernel; calls: Call[]; reserves: number[] } {
  const calls: Call[] = [];
  const reserves: number[] = [];
  const arr = (a: ArrayLike<number> | undefined, n: number): number[] | undefined => (a === undefined ? undefined : Array.from(a).slice(0, n));
  const dev = {
    batch: async (op: number, count: number, addrs: Uint8Array, prefixLen: Uint8Array, nports?: Uint8Array, flags?: Uint16Array, ttl?: Uint32Array, ports?: Uint16Array) => {
      // Only the first and last record of big chunks, to keep it small.
      const pick = <T extends ArrayLike<number>>(a: T | undefined, w: number): number[] | undefined =>
        a === undefined ? undefined : count <= 4 ? arr(a, count * w) : [...Array.from(a).slice(0, w), ...Array.from(a).slice((count - 1) * w, count * w)];
      calls.push({ op, count, addrs: pick(addrs, 16) ?? [], prefixLen: pick(prefixLen, 1) ?? [], nports: pick(nports, 1), flags: pick(flags, 1), ttl: pick(ttl, 1), ports: pick(ports, KERNEL_LIMITS.maxPorts) });
      return { applied: count, changed: count };
    },
    reserve: async (entries: number) => {
      reserves.push(entries);
      // Recorded in the call order too: RESERVE must come before the ADDs.
      calls.push({ op: -1, count: entries, addrs: [], prefixLen: [], nports: undefined, flags: undefined, ttl: undefined, ports: undefined });
      return 1 << 20;
    },
    stats: () => ({ now: 1000, entries: 0 }),
    close: () => undefined,
  };
  type Ctor = new (b: unknown, d: unknown, path: string, cap: number, slice: number) => NativeKernel;
  return { kernel: new (NativeKernel as unknown as Ctor)(loadBinding(), dev, '/dev/null', 4096, 4), calls, reserves };
}

const bytes = (t: string): number[] => [...parsePrefix(t).bytes];

test('blockMany over the native kernel alone: one packed ADD, shared options once, the same records as the rule path', async (t) => {
  const { kernel, calls } = stubKernel();
  const fw = new Ffwall(new DirectTransport(kernel, { defaultTtl: 86400 }));
  const k = loadBinding().constants;
  const res = await fw.blockMany(['192.0.2.1', '198.51.100.0/24', parsePrefix('2001:db8::/32'), ' 203.0.113.9 '], { ttl: '2h', ports: [25, 587], pin: true });
  t.deepEqual(res, { total: 4, applied: 4, changed: 4 });
  t.is(calls.length, 1);
  const c = calls[0] as Call;
  t.is(c.op, k.BATCH_ADD);
  t.is(c.count, 4);
  t.deepEqual(c.addrs, [...bytes('192.0.2.1'), ...bytes('198.51.100.0/24'), ...bytes('2001:db8::/32'), ...bytes('203.0.113.9')]);
  t.deepEqual(c.prefixLen, [128, 120, 32, 128]);
  t.deepEqual(c.ttl, [7200, 7200, 7200, 7200]);
  t.deepEqual(c.nports, [2, 2, 2, 2]);
  t.deepEqual(c.flags, [k.F_PINNED, k.F_PINNED, k.F_PINNED, k.F_PINNED]);
  const row = [25, 587, 0, 0, 0, 0, 0, 0].slice(0, KERNEL_LIMITS.maxPorts);
  t.deepEqual(c.ports, [...row, ...row, ...row, ...row]);
  await fw.close();
});

test('blockMany over the native kernel alone: RESERVE, then chunks of batchMax, the default TTL, no ports column', async (t) => {
  const { kernel, calls, reserves } = stubKernel();
  const fw = new Ffwall(new DirectTransport(kernel, { defaultTtl: 600 }));
  const n = KERNEL_LIMITS.batchMax + 3;
  const items: string[] = [];
  for (let i = 0; i < n; i++) items.push(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
  const progress: number[] = [];
  const res = await fw.blockMany(items, { onProgress: (p) => progress.push(p.done) });
  t.deepEqual(res, { total: n, applied: n, changed: n });
  // One RESERVE for every exact entry, before the ADDs.
  t.deepEqual(reserves, [n]);
  t.deepEqual(
    calls.map((c) => [c.op, c.count]),
    [
      [-1, n],
      [loadBinding().constants.BATCH_ADD, KERNEL_LIMITS.batchMax],
      [loadBinding().constants.BATCH_ADD, 3],
    ],
  );
  t.deepEqual(progress, [KERNEL_LIMITS.batchMax, n]);
  // One batch or less: no RESERVE (the kernel sizes a batch itself); prefixes do not count.
  await fw.blockMany(['192.0.2.1', '198.51.100.0/24']);
  await fw.blockMany(Array.from({ length: KERNEL_LIMITS.batchMax + 5 }, (_, i) => `${10 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`));
  t.deepEqual(reserves, [n]);
  const last = calls[2] as Call;
  t.deepEqual(last.addrs, [...bytes('10.1.0.0'), ...bytes('10.1.0.1'), ...bytes('10.1.0.2')]);
  t.deepEqual(last.ttl, [600, 600, 600]);
  t.is(last.ports, undefined);
  await fw.close();
});

test('blockMany over the kernel alone: a bad item or option is named and nothing is sent', async (t) => {
  const { kernel, calls } = stubKernel();
  const fw = new Ffwall(new DirectTransport(kernel, { defaultTtl: 600 }));
  const e1 = await t.throwsAsync(fw.blockMany(['192.0.2.1', '192.0.2.1/24', '192.0.2.3']));
  t.is(e1?.message, 'items[1]: invalid address "192.0.2.1/24": host bits are set beyond the prefix length (did you mean 192.0.2.0/24?)');
  const e2 = await t.throwsAsync(fw.blockMany(['192.0.2.1', '192.0.2.2', '01.2.3.4']));
  t.regex(e2?.message ?? '', /^items\[2\]: .*leading zero/);
  await t.throwsAsync(fw.blockMany(['192.0.2.1'], { ttl: 'forever' }), { message: /invalid duration/ });
  await t.throwsAsync(fw.blockMany(['192.0.2.1'], { ports: [0] }), { message: /port/ });
  t.is(calls.length, 0);
  await fw.close();
});

test('blockMany over the kernel alone: the same results through FakeKernel, packed or not', async (t) => {
  const items = ['192.0.2.1', '198.51.100.0/24', '2001:db8::1', '2001:db8:1::/48', '192.0.2.1'];
  const dump = async (k: FakeKernel): Promise<string[]> => {
    const out: string[] = [];
    for await (const batch of k.dump()) for (const e of batch) out.push(`${e.prefix.toString()} ttl=${e.ttl} ports=${e.ports.join(',')} pinned=${e.pinned} monitor=${e.monitor}`);
    return out.sort();
  };
  const a = new FakeKernel({});
  const fa = new Ffwall(new DirectTransport(a, { defaultTtl: 600 }));
  const ra = await fa.blockMany(items, { ttl: '1h', ports: [25], monitor: true });
  // An object item takes the general path for the whole input.
  const b = new FakeKernel({});
  const fb = new Ffwall(new DirectTransport(b, { defaultTtl: 600 }));
  const rb = await fb.blockMany([...items.slice(0, 4), { target: items[4] as string }], { ttl: '1h', ports: [25], monitor: true });
  t.deepEqual(ra, rb);
  t.deepEqual(ra, { total: 5, applied: 5, changed: 4 });
  t.deepEqual(await dump(a), await dump(b));
  t.is((await dump(a)).length, 4);
  t.regex((await dump(a))[0] ?? '', /ttl=3600 ports=25 pinned=false monitor=true/);
  await fa.close();
  await fb.close();
});

test('blockMany over the kernel alone: an allowlisted item is named by its index and target', async (t) => {
  const kernel = new FakeKernel({});
  await kernel.allowAdd([parsePrefix('198.51.100.0/24')]);
  const fw = new Ffwall(new DirectTransport(kernel, { defaultTtl: 600 }));
  const err = await t.throwsAsync(fw.blockMany(['192.0.2.1', '192.0.2.2', '198.51.100.7']));
  t.true(err instanceof FfwallError);
  t.is((err as FfwallError).code, 'EALLOWLISTED');
  t.regex(err?.message ?? '', /198\.51\.100\.7 \(item 2\) is on the allowlist \(by 198\.51\.100\.0\/24\)/);
  t.is((await kernel.stats()).entries, 0);
  await fw.close();
});

test('checkPacked: sizes, lengths and host bits, naming the record', (t) => {
  const addrs = new Uint8Array(32);
  addrs.set(parsePrefix('192.0.2.0/24').bytes, 0);
  addrs.set(parsePrefix('192.0.2.1').bytes, 16);
  t.notThrows(() => checkPacked({ count: 2, addrs, prefixLen: Uint8Array.of(120, 128) }));
  t.throws(() => checkPacked({ count: 2, addrs, prefixLen: Uint8Array.of(120, 120) }), { message: 'packed[1]: bits are set beyond the prefix length /120' });
  t.throws(() => checkPacked({ count: 2, addrs, prefixLen: Uint8Array.of(129, 128) }), { message: /packed\[0\]: prefix length 129/ });
  t.throws(() => checkPacked({ count: 3, addrs, prefixLen: Uint8Array.of(120, 128, 128) }), { message: /count\*16/ });
  t.throws(() => checkPacked({ count: 2, addrs, prefixLen: Uint8Array.of(120) }), { message: /count bytes/ });
  const zero = new Uint8Array(16);
  t.notThrows(() => checkPacked({ count: 1, addrs: zero, prefixLen: Uint8Array.of(0) }));
  zero[15] = 1;
  t.throws(() => checkPacked({ count: 1, addrs: zero, prefixLen: Uint8Array.of(0) }), { message: /packed\[0\]/ });
  t.notThrows(() => checkPacked({ count: 1, addrs: zero, prefixLen: Uint8Array.of(128) }));
  t.is(new IpPrefix(zero, 128).toString(), '::1');
});

test('addPacked refuses bad records before any ioctl', async (t) => {
  const { kernel, calls } = stubKernel();
  const addrs = new Uint8Array(16);
  addrs.set(parsePrefix('192.0.2.1').bytes, 0);
  await t.throwsAsync(kernel.addPacked({ count: 1, addrs, prefixLen: Uint8Array.of(120) }, { ttl: 60 }), { message: /packed\[0\]/ });
  await t.throwsAsync(kernel.addPacked({ count: 1, addrs, prefixLen: Uint8Array.of(128) }, { ttl: -1 }), { message: /ttl/ });
  t.is(calls.length, 0);
  t.deepEqual(await kernel.addPacked({ count: 1, addrs, prefixLen: Uint8Array.of(128) }, { ttl: 60 }), { applied: 1, changed: 1 });
  t.is(calls.length, 1);
});
