// SPDX-License-Identifier: MIT
//
// The native layer on a host without the module: argument checks that fail
// before any system call, Node-shaped errno errors (ENOENT, ENOTTY), the
// membership filter against the known-answer vectors of
// kmod/selftest/filter_kat.h, the event reader over a FIFO, and the addon
// in a worker thread.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import test, { type ExecutionContext } from 'ava';

import { parseAddress, parsePrefix } from '../../src/lib/addr.js';
import { NativeKernel } from '../../src/lib/kernel-native.js';
import { isKernelError, type KernelRule } from '../../src/lib/kernel.js';
import { addonPath, loadBinding, type NativeEventBatch } from '../../src/lib/native.js';
import { errnoError } from '../../src/lib/validate.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** A rejection whose error has at least these properties. */
async function rejectsLike(t: ExecutionContext, p: Promise<unknown> | (() => PromiseLike<unknown>), like: Record<string, unknown>): Promise<void> {
  const err = await (typeof p === 'function' ? t.throwsAsync(p) : t.throwsAsync(p));
  t.like(err, like);
}

function nullKernel(): NativeKernel {
  return NativeKernel.openUnchecked('/dev/null');
}

// ---------------------------------------------------------------------------
// Errors

test('open of a missing device path fails with ENOENT in Node\'s shape', (t) => {
  const p = '/nonexistent-ffwall-dir/ffwall';
  const err = t.throws(() => NativeKernel.open(p));
  t.true(isKernelError(err));
  t.like(err, { code: 'ENOENT', errno: -2, syscall: 'open', path: p });
  t.is(err?.message, errnoError('ENOENT', 'open', p).message);
});

test('opening /dev/null gives ENOTTY from VERSION, in Node\'s shape', (t) => {
  const err = t.throws(() => NativeKernel.open('/dev/null'));
  t.like(err, { code: 'ENOTTY', errno: -25, syscall: 'ioctl', path: '/dev/null' });
  t.is(err?.message, "ENOTTY: inappropriate ioctl for device, ioctl '/dev/null'");
  t.is(err?.message, errnoError('ENOTTY', 'ioctl', '/dev/null').message);
});

test('open validates its own arguments', (t) => {
  t.throws(() => NativeKernel.open(''), { instanceOf: TypeError });
  t.throws(() => NativeKernel.open('/dev/null', { require: ['nope' as never] }), { instanceOf: TypeError });
  t.throws(() => NativeKernel.open('/dev/null', { eventQueueCap: 0 }), { instanceOf: RangeError });
});

// On /dev/null every ioctl fails with ENOTTY: a TypeError or RangeError
// therefore proves the call stopped before any system call.
test('bad arguments are TypeErrors or RangeErrors before any syscall; good ones reach the ioctl', async (t) => {
  const k = nullKernel();
  const host = parseAddress('192.0.2.1');
  const net = parsePrefix('192.0.2.0/24');
  try {
    await t.throwsAsync(k.add('x' as never), { instanceOf: TypeError });
    await t.throwsAsync(k.add([{ prefix: '192.0.2.1' } as never]), { instanceOf: TypeError });
    await t.throwsAsync(k.add([{ prefix: host, ttl: -1 }]), { instanceOf: RangeError });
    await t.throwsAsync(k.add([{ prefix: host, ttl: 2 ** 31 }]), { instanceOf: RangeError });
    await t.throwsAsync(k.add([{ prefix: host, ports: [0] }]), { instanceOf: RangeError });
    await t.throwsAsync(k.add([{ prefix: host, ports: [1, 2, 3, 4, 5, 6, 7, 8, 9] }]), { instanceOf: RangeError });
    await t.throwsAsync(k.add([{ prefix: host, pinned: 1 as never }]), { instanceOf: TypeError });
    await t.throwsAsync(k.add([{ prefix: host }], { onProgress: 3 as never }), { instanceOf: TypeError });
    await t.throwsAsync(k.del([net, 'x' as never]), { instanceOf: TypeError });
    await t.throwsAsync(k.allowAdd([null as never]), { instanceOf: TypeError });
    await t.throwsAsync(k.allowDel({} as never), { instanceOf: TypeError });
    await t.throwsAsync(k.filterAdd([net]), { instanceOf: TypeError });
    await t.throwsAsync(k.lookup(net), { instanceOf: TypeError });
    await t.throwsAsync(k.lookup(host, 0), { instanceOf: RangeError });
    await t.throwsAsync(k.lookup(host, 65536), { instanceOf: RangeError });
    await t.throwsAsync(k.setConfig({ maxEntries: 0 }), { instanceOf: RangeError });
    await t.throwsAsync(k.setConfig({ mode: 'off' as never }), { instanceOf: TypeError });
    await t.throwsAsync(k.setConfig({ hookPriority: 1 } as never), { instanceOf: TypeError });
    await t.throwsAsync(k.attach(''), { instanceOf: TypeError });
    await t.throwsAsync(k.attach('a-very-long-device-name'), { instanceOf: RangeError });
    await t.throwsAsync(k.flush({ scope: [] }), { instanceOf: TypeError });
    await t.throwsAsync(k.filterLoad({ data: new Uint8Array(65), nhashes: 3, seed: [1n, 2n], members: 0 }), { instanceOf: RangeError });
    await t.throwsAsync(k.filterLoad({ data: new Uint8Array(64), nhashes: 17, seed: [1n, 2n], members: 0 }), { instanceOf: RangeError });
    t.throws(() => k.dump({ hitSince: -1 }), { instanceOf: RangeError });

    // A bad record at the end of a multi-chunk input: nothing was sent.
    const many: KernelRule[] = [];
    for (let i = 0; i < 70000; i++) many.push({ prefix: host });
    many.push({ prefix: host, ttl: 1.5 });
    await t.throwsAsync(k.add(many), { instanceOf: RangeError, message: /rules\[70000\]\.ttl/ });

    // Valid calls get as far as the ioctl.
    const enotty = { code: 'ENOTTY', syscall: 'ioctl', path: '/dev/null' };
    await rejectsLike(t, k.add([{ prefix: host, ports: [80, 443], ttl: 60, pinned: true }]), enotty);
    await rejectsLike(t, k.del([net]), enotty);
    await rejectsLike(t, k.lookup(host, 80), enotty);
    await rejectsLike(t, k.stats(), enotty);
    await rejectsLike(t, k.getConfig(), enotty);
    await rejectsLike(t, k.setConfig({ gcInterval: 5 }), enotty);
    await rejectsLike(t, k.flush(), enotty);
    await rejectsLike(t, k.filterAdd([host]), enotty);
    await rejectsLike(t, k.filterLoad({ data: new Uint8Array(64), nhashes: 3, seed: [1n, 2n], members: 0 }), enotty);
    await rejectsLike(
      t,
      async () => {
        for await (const b of k.dump()) t.fail(`unexpected batch of ${b.length}`);
      },
      enotty,
    );
  } finally {
    await k.close();
  }
});

test('a batch error carries applied and badIndex relative to the whole input', async (t) => {
  const k = nullKernel();
  try {
    const rules: KernelRule[] = [];
    for (let i = 0; i < 3; i++) rules.push({ prefix: parseAddress(`198.51.100.${i}`) });
    const progress: number[] = [];
    const err = await t.throwsAsync(k.add(rules, { onProgress: (d) => progress.push(d) }));
    t.like(err, { code: 'ENOTTY', applied: 0 });
    t.false('badIndex' in (err ?? {}), 'no badIndex when no record was refused');
    t.deepEqual(progress, []);
  } finally {
    await k.close();
  }
});

test('an aborted signal stops a batch before its first chunk', async (t) => {
  const k = nullKernel();
  try {
    const ac = new AbortController();
    ac.abort();
    const err = await t.throwsAsync(k.add([{ prefix: parseAddress('192.0.2.9') }], { signal: ac.signal }));
    t.like(err, { name: 'AbortError', applied: 0 });
  } finally {
    await k.close();
  }
});

test('prepareBatch reuses the record buffers of large batches until releaseBatchBuffers(); batch() and small batches keep none', async (t) => {
  const b = loadBinding();
  // /dev/null: each ioctl fails (ENOTTY) after its worker ran, and the worker gives its buffer back either way.
  const dev = new b.Device('/dev/null');
  const big = 5000;
  const addrs = new Uint8Array(big * 16);
  const prefixLen = new Uint8Array(big).fill(128);
  try {
    const send = (n: number) => rejectsLike(t, dev.submitBatch(dev.prepareBatch(b.constants.BATCH_ADD, n, addrs, prefixLen)), { code: 'ENOTTY' });
    await send(10);
    t.is(dev.releaseBatchBuffers(), 0, 'a batch under 4096 records has a buffer of its own');
    await rejectsLike(t, dev.batch(b.constants.BATCH_ADD, big, addrs, prefixLen), { code: 'ENOTTY' });
    t.is(dev.releaseBatchBuffers(), 0, 'batch() does not keep its buffer');
    await send(big);
    await send(big);
    t.is(dev.releaseBatchBuffers(), 1, 'one buffer served two batches in turn');
    // Two in flight at once: both come back, and no more than two are kept.
    const both = [dev.prepareBatch(b.constants.BATCH_ADD, big, addrs, prefixLen), dev.prepareBatch(b.constants.BATCH_ADD, big, addrs, prefixLen)];
    const third = dev.prepareBatch(b.constants.BATCH_ADD, big, addrs, prefixLen);
    await Promise.all([...both, third].map((p) => rejectsLike(t, dev.submitBatch(p), { code: 'ENOTTY' })));
    t.is(dev.releaseBatchBuffers(), 2);
    t.is(dev.releaseBatchBuffers(), 0, 'released');
    // After the release, a batch still in flight frees its buffer instead of keeping it.
    const late = dev.submitBatch(dev.prepareBatch(b.constants.BATCH_ADD, big, addrs, prefixLen));
    t.is(dev.releaseBatchBuffers(), 0);
    await rejectsLike(t, late, { code: 'ENOTTY' });
    t.is(dev.releaseBatchBuffers(), 0, 'the late batch was not kept');
  } finally {
    dev.close();
  }
});

test('a closed kernel refuses calls with EBADF', async (t) => {
  const k = nullKernel();
  await k.close();
  await k.close();
  await rejectsLike(t, k.stats(), { code: 'EBADF', syscall: 'ioctl', path: '/dev/null' });
});

// ---------------------------------------------------------------------------
// The membership filter

interface Kat {
  seed: [bigint, bigint];
  addr: Uint8Array;
  nblocks: number;
  k: number;
  hash: bigint;
  block: number;
  bits: number[];
}

/** The vectors of kmod/selftest/filter_kat.h, read from the header itself. */
function readKats(): Kat[] {
  let text = readFileSync(path.join(root, 'kmod/selftest/filter_kat.h'), 'utf8');
  text = text.replace(/\/\*[\s\S]*?\*\//g, '');
  const body = /ffwall_filter_kats\[\]\s*=\s*\{([\s\S]*)\};/.exec(text)?.[1];
  if (body === undefined) throw new Error('filter_kat.h: no vector table');
  const v4 = body.replace(/FFWALL_KAT_V4\(([^)]*)\)/g, '{ 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, $1 }');
  const json = `[${v4}]`
    .replace(/\b(0x[0-9a-fA-F]+|\d+)(ULL|UL|U)?\b/g, '"$1"')
    .replace(/\{/g, '[')
    .replace(/\}/g, ']')
    .replace(/,\s*\]/g, ']');
  const rows = JSON.parse(json) as [[string, string], string[], string, string, string, string, string[]][];
  return rows.map(([seed, addr, nblocks, k, hash, block, bits]) => ({
    seed: [BigInt(seed[0]), BigInt(seed[1])],
    addr: Uint8Array.from(addr.map((x) => Number(x))),
    nblocks: Number(nblocks),
    k: Number(k),
    hash: BigInt(hash),
    block: Number(block),
    bits: bits.map((x) => Number(x)),
  }));
}

test('filter hash, block and bits match every known-answer vector of filter_kat.h', (t) => {
  const b = loadBinding();
  const kats = readKats();
  t.true(kats.length >= 4, `read ${kats.length} vectors`);
  for (const v of kats) {
    const p = b.filterPositions(v.addr, v.nblocks, v.k, v.seed[0], v.seed[1]);
    t.is(p.hash, v.hash);
    t.is(p.block, v.block);
    t.deepEqual([...p.bits], v.bits);
  }
});

test('filterBuild sets exactly the known-answer bits; filterHas finds the member', async (t) => {
  const b = loadBinding();
  for (const v of readKats()) {
    const size = v.nblocks * 64;
    const data = await b.filterBuild(v.addr, 1, size, v.k, v.seed[0], v.seed[1]);
    t.is(data.length, size);
    const want = new Set(v.bits.map((bit) => v.block * 512 + bit));
    const got = new Set<number>();
    for (let i = 0; i < data.length; i++) {
      const byte = data[i] ?? 0;
      if (byte === 0) continue;
      for (let j = 0; j < 8; j++) if (byte & (1 << j)) got.add(i * 8 + j);
    }
    t.deepEqual([...got].sort((x, y) => x - y), [...want].sort((x, y) => x - y));
    t.true(b.filterHas(data, v.k, v.seed[0], v.seed[1], v.addr));
    const other = Uint8Array.from(v.addr);
    other[15] = (other[15] ?? 0) ^ 1;
    t.false(b.filterHas(data, v.k, v.seed[0], v.seed[1], other));
  }
});

test('filterBuild over many members: every member is found, few non-members are', async (t) => {
  const b = loadBinding();
  const n = 20000;
  const addrs = new Uint8Array(n * 16);
  for (let i = 0; i < n; i++) {
    addrs.set([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, (i >> 16) & 255, (i >> 8) & 255, i & 255], i * 16);
  }
  const seed: [bigint, bigint] = [0x1234n, 0xfedcba9876543210n];
  const data = await b.filterBuild(addrs, n, 64 * 512, 7, seed[0], seed[1]);
  for (let i = 0; i < n; i++) t.true(b.filterHas(data, 7, seed[0], seed[1], addrs.subarray(i * 16, i * 16 + 16)) || t.fail(`member ${i}`));
  let fp = 0;
  const probe = new Uint8Array(16);
  probe.set([0x20, 0x01, 0x0d, 0xb8]);
  for (let i = 0; i < n; i++) {
    probe[14] = i >> 8;
    probe[15] = i & 255;
    probe[13] = 7;
    if (b.filterHas(data, 7, seed[0], seed[1], probe)) fp++;
  }
  t.true(fp < n / 20, `false positives ${fp} of ${n}`);
  t.throws(() => b.filterBuild(addrs, n + 1, 64, 7, 1n, 2n), { instanceOf: TypeError });
  t.throws(() => b.filterBuild(addrs, 1, 100, 7, 1n, 2n), { instanceOf: RangeError });
});

test('filterBuild into an existing filter, chunk by chunk, gives the one-shot filter', async (t) => {
  const b = loadBinding();
  const n = 5000;
  const size = 64 * 128;
  const addrs = new Uint8Array(n * 16);
  for (let i = 0; i < n; i++) addrs.set([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, i >> 8, i & 255], i * 16);
  const whole = await b.filterBuild(addrs, n, size, 6, 5n, 6n);
  const into = new Uint8Array(size);
  for (let off = 0; off < n; off += 1000) {
    const res = await b.filterBuild(addrs.subarray(off * 16, (off + 1000) * 16), 1000, size, 6, 5n, 6n, into);
    t.is(res.buffer, into.buffer, 'the result is the caller filter');
  }
  t.deepEqual(Buffer.from(into), Buffer.from(whole));
  t.true(whole.some((x) => x !== 0));
  t.throws(() => b.filterBuild(addrs, 1, size, 6, 5n, 6n, new Uint8Array(64)), { instanceOf: TypeError });
});

// ---------------------------------------------------------------------------
// The event reader over a FIFO (the device's read() returns whole records;
// the test writes records in the uapi layout: u16 type, u8 prefix_len, u8
// flags, u32 value, u64 time, u8 addr[16]).

function eventRecord(type: number, prefixLen: number, flags: number, value: number, time: number, addr: Uint8Array): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt16LE(type, 0);
  b.writeUInt8(prefixLen, 2);
  b.writeUInt8(flags, 3);
  b.writeUInt32LE(value, 4);
  b.writeBigUInt64LE(BigInt(time), 8);
  Buffer.from(addr).copy(b, 16);
  return b;
}

function fifo(): { path: string; dir: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-native-'));
  const p = path.join(dir, 'events');
  execFileSync('mkfifo', [p]);
  return { path: p, dir };
}

test('EventReader delivers whole records through uv_poll; pause, resume and close work', async (t) => {
  const b = loadBinding();
  const f = fifo();
  const batches: NativeEventBatch[] = [];
  let wake: (() => void) | undefined;
  const reader = new b.EventReader(f.path, (err, batch) => {
    if (err !== null) t.fail(String(err));
    if (batch !== undefined) batches.push(batch);
    wake?.();
  });
  const w = openSync(f.path, 'w');
  try {
    const a = parseAddress('192.0.2.7').bytes;
    const waitFor = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => (batches.reduce((s, x) => s + x.count, 0) >= n ? resolve() : undefined);
        wake = check;
        check();
      });
    writeSync(w, Buffer.concat([eventRecord(1, 128, 1, 5, 1000, a), eventRecord(4, 128, 0, 9, 1001, new Uint8Array(16))]));
    await waitFor(2);
    const first = batches[0];
    t.is(first?.type[0], 1);
    t.is(first?.prefixLen[0], 128);
    t.is(first?.flags[0], 1);
    t.is(first?.value[0], 5);
    t.is(first?.time[0], 1000);
    t.deepEqual(first?.addrs.subarray(0, 16), a);

    reader.pause();
    writeSync(w, eventRecord(2, 128, 0, 0, 1002, a));
    await new Promise((r) => setTimeout(r, 100));
    t.is(batches.reduce((s, x) => s + x.count, 0), 2, 'nothing is read while paused');
    reader.resume();
    await waitFor(3);
    t.false(reader.closed);
    reader.close();
    t.true(reader.closed);
    reader.close();
  } finally {
    closeSync(w);
    rmSync(f.dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------
// worker_threads: per-environment instance data, and the cleanup hooks that
// close a device and an event reader left open when the worker goes away.

test('the addon works in worker threads and cleans up when they exit or are terminated', async (t) => {
  const f = fifo();
  try {
    const src = `
      const { parentPort, workerData } = require('node:worker_threads');
      const b = require(workerData.addon);
      const out = {};
      try { new b.Device('/dev/null').version(); } catch (e) { out.err = { code: e.code, errno: e.errno, syscall: e.syscall, path: e.path }; }
      out.abi = b.ABI_VERSION;
      out.has = b.filterHas(new Uint8Array(64).fill(255), 3, 1n, 2n, new Uint8Array(16));
      globalThis.keepDevice = new b.Device('/dev/null');
      globalThis.keepReader = new b.EventReader(workerData.fifo, (err, batch) => {
        parentPort.postMessage({ event: batch ? batch.value[0] : String(err) });
      });
      parentPort.postMessage(out);
    `;
    const runOne = async (value: number) => {
      const worker = new Worker(src, { eval: true, workerData: { addon: addonPath(), fifo: f.path } });
      const messages: unknown[] = [];
      let gotEvent: (() => void) | undefined;
      const eventSeen = new Promise<void>((r) => (gotEvent = r));
      const online = new Promise<void>((resolve) => worker.once('message', () => resolve()));
      worker.on('message', (m: { event?: number }) => {
        messages.push(m);
        if (m.event !== undefined) gotEvent?.();
      });
      await online;
      const w = openSync(f.path, 'w');
      writeSync(w, eventRecord(1, 128, 0, value, 1, new Uint8Array(16)));
      await eventSeen;
      const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
      // The reader is still open and polling: only the cleanup hooks close it.
      await worker.terminate();
      const code = await Promise.race([exited, new Promise<number>((r) => setTimeout(() => r(-999), 20000))]);
      closeSync(w);
      return { code, messages };
    };
    const r1 = await runOne(77);
    t.is(r1.code, 1, 'a terminated worker exits with 1, not an abort');
    t.like(r1.messages[0], { err: { code: 'ENOTTY', errno: -25, syscall: 'ioctl', path: '/dev/null' }, abi: loadBinding().ABI_VERSION, has: true });
    t.like(r1.messages[1], { event: 77 });
    // A second worker in the same process has its own instance data.
    const r2 = await runOne(78);
    t.is(r2.code, 1);
    t.like(r2.messages[1], { event: 78 });

    // A worker that closes its reader and leaves a Device open exits by itself.
    const natural = new Worker(
      `const b = require(${JSON.stringify(addonPath())});
       globalThis.d = new b.Device('/dev/null');
       const r = new b.EventReader(${JSON.stringify(f.path)}, () => {});
       r.close();`,
      { eval: true },
    );
    t.is(await new Promise<number>((resolve) => natural.once('exit', resolve)), 0);
    // The main thread's addon still works.
    t.throws(() => new (loadBinding().Device)('/dev/null').version(), { code: 'ENOTTY' });
  } finally {
    rmSync(f.dir, { recursive: true, force: true });
  }
});
