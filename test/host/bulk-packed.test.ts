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
import { checkPacked, countHosts, firstNotHost, NativeKernel } from '../../src/lib/kernel-native.js';
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
  const prepare = (op: number, count: number, addrs: Uint8Array, prefixLen: Uint8Array, nports?: Uint8Array, flags?: Uint16Array, ttl?: Uint32Array, ports?: Uint16Array): Call => {
    // Only the first and last record of big chunks, to keep it small.
    const pick = <T extends ArrayLike<number>>(a: T | undefined, w: number): number[] | undefined =>
      a === undefined ? undefined : count <= 4 ? arr(a, count * w) : [...Array.from(a).slice(0, w), ...Array.from(a).slice((count - 1) * w, count * w)];
    return { op, count, addrs: pick(addrs, 16) ?? [], prefixLen: pick(prefixLen, 1) ?? [], nports: pick(nports, 1), flags: pick(flags, 1), ttl: pick(ttl, 1), ports: pick(ports, KERNEL_LIMITS.maxPorts) };
  };
  const dev = {
    batch: async (...args: Parameters<typeof prepare>) => {
      const c = prepare(...args);
      calls.push(c);
      return { applied: c.count, changed: c.count };
    },
    prepareBatch: prepare,
    submitBatch: async (c: Call) => {
      calls.push(c);
      return { applied: c.count, changed: c.count };
    },
    reserve: async (entries: number) => {
      reserves.push(entries);
      // Recorded in the call order too: RESERVE must come before the ADDs.
      calls.push({ op: -1, count: entries, addrs: [], prefixLen: [], nports: undefined, flags: undefined, ttl: undefined, ports: undefined });
      return 1 << 20;
    },
    releaseBatchBuffers: () => 0,
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

test('checkPacked finds a bad length anywhere, at every alignment of the lengths (the word scan)', (t) => {
  for (let offset = 0; offset < 4; offset++) {
    for (let count = 0; count <= 13; count++) {
      const addrs = new Uint8Array(count * 16);
      const backing = new Uint8Array(offset + count + 4).fill(128);
      // Beyond count: a bad length that must not be looked at.
      backing[offset + count] = 129;
      const prefixLen = backing.subarray(offset, offset + count);
      t.is(firstNotHost(prefixLen, count), count, `all hosts: offset ${offset}, count ${count}`);
      t.notThrows(() => checkPacked({ count, addrs, prefixLen }));
      for (let p = 0; p < count; p++) {
        prefixLen[p] = 129;
        const first = firstNotHost(prefixLen, count);
        t.is(first, p, `offset ${offset}, count ${count}, bad at ${p}`);
        t.throws(() => checkPacked({ count, addrs, prefixLen }), { message: `packed[${p}]: prefix length 129 is not in 0..128` });
        prefixLen[p] = 128;
      }
    }
  }
});

test('firstNotHost and countHosts across the 64 KiB blocks they compare at once', (t) => {
  const count = 3 * 65536 + 17;
  const backing = new Uint8Array(count + 3).fill(128);
  const lens = backing.subarray(3, 3 + count);
  t.is(firstNotHost(lens, count), count);
  t.is(countHosts(lens, count), count);
  for (const at of [0, 1, 65535, 65536, 65537, 131071, 131072, 3 * 65536, count - 1]) {
    lens[at] = 120;
    t.is(firstNotHost(lens, count), at, `first other length at ${at}`);
    t.is(countHosts(lens, count), count - 1, `one prefix at ${at}`);
    lens[at] = 128;
  }
  // Several prefixes, counted as a loop over every record would.
  let seed = 5;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  for (let k = 0; k < 20; k++) lens[rnd(count)] = rnd(129);
  let naive = 0;
  for (let i = 0; i < count; i++) if (lens[i] === 128) naive++;
  t.is(countHosts(lens, count), naive);
  t.is(countHosts(lens, 1000), lens.subarray(0, 1000).filter((v) => v === 128).length, 'only the first count lengths');
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

/**
 * A NativeKernel over a device whose ioctls settle when the test says: the
 * log shows when each chunk is converted (prepare), sent (submit) and done.
 */
function pipelineKernel(opts: { failChunk?: number; failPrepare?: number } = {}): {
  kernel: NativeKernel;
  log: string[];
  settle: () => void;
} {
  const log: string[] = [];
  const waiting: Array<() => void> = [];
  const kernelError = (code: string, applied: number, badIndex?: number): Error =>
    Object.assign(new Error(`ioctl ${code}`), { code, errno: 1, syscall: 'ioctl', applied, ...(badIndex === undefined ? {} : { badIndex }) });
  let prepared = 0;
  const dev = {
    prepareBatch: (_op: number, count: number) => {
      const k = prepared++;
      if (k === opts.failPrepare) throw kernelError('ENOMEM', 0);
      log.push(`prepare ${k}`);
      return { k, count };
    },
    submitBatch: (b: { k: number; count: number }) => {
      log.push(`submit ${b.k}`);
      return new Promise<{ applied: number; changed: number }>((resolve, reject) => {
        waiting.push(() => {
          log.push(`done ${b.k}`);
          if (b.k === opts.failChunk) reject(kernelError('EEXIST', 5, 5));
          else resolve({ applied: b.count, changed: b.count });
        });
      });
    },
    reserve: async () => 1 << 20,
    releaseBatchBuffers: () => {
      log.push('release');
      return 0;
    },
    stats: () => ({ now: 1000, entries: 0 }),
    close: () => undefined,
  };
  type Ctor = new (b: unknown, d: unknown, path: string, cap: number, slice: number) => NativeKernel;
  const kernel = new (NativeKernel as unknown as Ctor)(loadBinding(), dev, '/dev/null', 4096, 4);
  return { kernel, log, settle: () => waiting.shift()?.() };
}

/** Runs @p while settling the stub's ioctls one at a time, as they come. */
async function drive<T>(p: Promise<T>, settle: () => void): Promise<T> {
  let done = false;
  const watched = p.finally(() => {
    done = true;
  });
  while (!done) {
    await new Promise((r) => setImmediate(r));
    settle();
  }
  return watched;
}

const threeChunks = (): { count: number; addrs: Uint8Array; prefixLen: Uint8Array } => {
  const count = 2 * KERNEL_LIMITS.batchMax + 10;
  const addrs = new Uint8Array(count * 16);
  for (let i = 0; i < count; i++) addrs.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff], i * 16);
  return { count, addrs, prefixLen: new Uint8Array(count).fill(128) };
};

test('addPacked converts each next chunk while the one before is in the kernel, and sends it only after', async (t) => {
  const { kernel, log, settle } = pipelineKernel();
  const res = await drive(kernel.addPacked(threeChunks(), { ttl: 60 }), settle);
  t.deepEqual(res, { applied: 2 * KERNEL_LIMITS.batchMax + 10, changed: 2 * KERNEL_LIMITS.batchMax + 10 });
  t.deepEqual(log, ['prepare 0', 'submit 0', 'prepare 1', 'done 0', 'submit 1', 'prepare 2', 'done 1', 'submit 2', 'done 2', 'release']);
});

test('addPacked: a chunk the kernel refuses stops the load; the next, already converted, is never sent', async (t) => {
  const { kernel, log, settle } = pipelineKernel({ failChunk: 1 });
  const err = await t.throwsAsync(drive(kernel.addPacked(threeChunks(), { ttl: 60 }), settle));
  t.like(err, { code: 'EEXIST', applied: KERNEL_LIMITS.batchMax + 5, badIndex: KERNEL_LIMITS.batchMax + 5 });
  t.deepEqual(log, ['prepare 0', 'submit 0', 'prepare 1', 'done 0', 'submit 1', 'prepare 2', 'done 1', 'release']);
});

test('addPacked: a failure converting the next chunk is raised after the current one is done', async (t) => {
  const { kernel, log, settle } = pipelineKernel({ failPrepare: 1 });
  const err = await t.throwsAsync(drive(kernel.addPacked(threeChunks(), { ttl: 60 }), settle));
  t.like(err, { code: 'ENOMEM', applied: KERNEL_LIMITS.batchMax });
  t.deepEqual(log, ['prepare 0', 'submit 0', 'done 0', 'release']);
});
