// SPDX-License-Identifier: MIT
//
// A NativeKernel whose batch ioctl is a stub that accepts every record, for
// host harnesses that profile the library or the daemon where there is no
// ffwall.ko (bench/bulk-host.ts, bench/daemon-import-host.ts).  The addon's
// own conversion of each chunk into kernel records still runs (a Device on
// /dev/null prepares batches like the real one); only the ioctl is stubbed.
import type { KernelEvent, KernelEventStream } from '../../src/lib/kernel.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';
import { NativeKernel } from '../../src/lib/kernel-native.js';
import { loadBinding, type NativeBatchArgs } from '../../src/lib/native.js';

export interface StubKernel {
  kernel: NativeKernel;
  /** Records the stub has taken so far. */
  entries(): number;
  /** [records taken, seconds since the stub was made] after each batch. */
  marks: [number, number][];
  /** Seconds since the stub was made. */
  now(): number;
  /** Seconds (since the stub was made) at which it had taken at least @n records; null if never. */
  reached(n: number): number | null;
  close(): void;
}

export async function stubKernel(): Promise<StubKernel> {
  // Every counter of an empty module (a FakeKernel's), for stats().
  const fake = new FakeKernel({});
  const zeroStats = await fake.stats();
  await fake.close();
  const t0 = process.hrtime.bigint();
  let entries = 0;
  const marks: [number, number][] = [];
  const took = (count: number): { applied: number; changed: number } => {
    entries += count;
    marks.push([entries, Number(process.hrtime.bigint() - t0) / 1e9]);
    return { applied: count, changed: count };
  };
  const converter = loadBinding();
  const nullDevice = new converter.Device('/dev/null');
  const device = {
    batch: async (_op: number, count: number) => took(count),
    prepareBatch: (...args: NativeBatchArgs) => ({ prepared: nullDevice.prepareBatch(...args), count: args[1] }),
    submitBatch: async (b: { count: number }) => took(b.count),
    reserve: async () => 1 << 20,
    releaseBatchBuffers: () => nullDevice.releaseBatchBuffers(),
    // An empty table and allowlist (blockFeed() with a database reads the allowlist first).
    dump: async () => ({ count: 0, cursor: converter.constants.DUMP_END }),
    stats: () => ({ ...zeroStats, now: 1000, entries }),
    // What the daemon's window asks at its start, answered as by an empty module of 2M entries.
    version: () => ({ abiVersion: converter.constants.ABI_VERSION, features: 0n, moduleVersion: 'stub' }),
    getConfig: () => ({
      maxEntries: 2_000_000,
      mode: converter.constants.MODE_ENFORCE,
      gcInterval: 10,
      hookPriority: 0,
      maxPrefixes: 65_536,
      maxAllow: 4096,
      filterMaxBytes: 1 << 24,
    }),
    listDevices: () => [],
    filterLoad: async () => undefined,
    filterAdd: async () => undefined,
    close: () => undefined,
  };
  type Ctor = new (b: unknown, d: unknown, path: string, cap: number, slice: number) => NativeKernel;
  const kernel = new (NativeKernel as unknown as Ctor)(converter, device, '/dev/null', 4096, 4);
  // No events (the daemon reads them): a stream that stays open, empty, until closed.
  kernel.events = (): KernelEventStream => idleEvents();
  return {
    kernel,
    entries: () => entries,
    marks,
    now: () => Number(process.hrtime.bigint() - t0) / 1e9,
    reached(n) {
      const m = marks.find(([e]) => e >= n);
      return m === undefined ? null : Number(m[1].toFixed(3));
    },
    close: () => nullDevice.close(),
  };
}

/** An event stream that yields nothing and ends when closed. */
function idleEvents(): KernelEventStream {
  let closed = false;
  let wake: (() => void) | undefined;
  return {
    get closed() {
      return closed;
    },
    close() {
      closed = true;
      wake?.();
    },
    async *[Symbol.asyncIterator](): AsyncGenerator<KernelEvent> {
      while (!closed) await new Promise<void>((resolve) => (wake = resolve));
    },
  };
}
