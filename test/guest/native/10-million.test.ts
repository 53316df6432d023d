// SPDX-License-Identifier: MIT
//
// One million entries through NativeKernel while a 1 ms timer runs: the
// event loop keeps turning during the batch (the timer fires between every
// two chunks), progress arrives in order and ends at the total, STATS and a
// full DUMP see every entry.  Prints the add rate, the dump rate and the
// worst event-loop lag (the closing figures of issue 6).
import { execFileSync, spawnSync } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';

import test from 'ava';

import { IpPrefix } from '../../../src/lib/addr.js';
import type { KernelRule } from '../../../src/lib/kernel.js';
import { NativeKernel } from '../../../src/lib/kernel-native.js';

// The production build: its rates are the ones that matter.
const ko = process.env.FFWALL_KO_NODEBUG ?? process.env.FFWALL_KO ?? '';
const N = 1_000_000;
const CHUNK = 65536;

test.before(() => {
  execFileSync('insmod', [ko, 'max_entries=1048576']);
});

test.after.always(() => {
  spawnSync('rmmod', ['ffwall']);
});

/** 10.0.0.0 + i, as compact as a KernelRule can be: one object and one IpPrefix each. */
function buildRules(n: number): KernelRule[] {
  const rules = new Array<KernelRule>(n);
  const b = new Uint8Array(16);
  b[10] = 0xff;
  b[11] = 0xff;
  b[12] = 10;
  for (let i = 0; i < n; i++) {
    b[13] = (i >> 16) & 255;
    b[14] = (i >> 8) & 255;
    b[15] = i & 255;
    rules[i] = { prefix: new IpPrefix(b, 128) };
  }
  return rules;
}

test.serial('1M entries: add with the loop alive, progress in order, STATS and DUMP see them all', async (t) => {
  const kver = process.env.FFWALL_KVER ?? 'unknown';
  const k = NativeKernel.open('/dev/ffwall');
  try {
    let rules: KernelRule[] | undefined = buildRules(N);
    const before = await k.stats();

    let ticks = 0;
    let last = performance.now();
    let maxGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 1);
    const hist = monitorEventLoopDelay({ resolution: 1 });
    const progress: { done: number; total: number; ticks: number }[] = [];
    hist.enable();
    const t0 = performance.now();
    const ticksAtStart = ticks;
    last = t0;
    const r = await k.add(rules, { onProgress: (done, total) => progress.push({ done, total, ticks }) });
    const t1 = performance.now();
    hist.disable();
    clearInterval(timer);
    rules = undefined;

    t.deepEqual(r, { applied: N, changed: N });
    // Progress: one report per chunk, in order, ending at the total.
    t.is(progress.length, Math.ceil(N / CHUNK));
    progress.forEach((p, i) => {
      t.is(p.total, N);
      t.is(p.done, Math.min(N, (i + 1) * CHUNK));
    });
    t.is(progress.at(-1)?.done, N);
    // The loop turned during the batch: the timer fired many times, and
    // between any two chunks.
    const fired = ticks - ticksAtStart;
    t.true(fired >= 100, `the timer fired ${fired} times during the add`);
    for (let i = 1; i < progress.length; i++) {
      const a = progress[i - 1]?.ticks ?? 0;
      const b = progress[i]?.ticks ?? 0;
      t.true(b > a, `the timer fired between chunk ${i - 1} and chunk ${i}`);
    }

    const after = await k.stats();
    t.is(after.entries - before.entries, N);
    t.is(after.inserted - before.inserted, N);
    t.is(after.evicted - before.evicted, 0);

    // DUMP every entry once: a bitmap over 10.0.0.0/12 catches duplicates and strangers.
    const seen = new Uint8Array(N);
    let count = 0;
    let strangers = 0;
    let dups = 0;
    const d0 = performance.now();
    for await (const batch of k.dump()) {
      for (const e of batch) {
        count++;
        const b = e.prefix.bytes;
        const i = ((b[13] ?? 0) << 16) | ((b[14] ?? 0) << 8) | (b[15] ?? 0);
        if (e.kind !== 'exact' || b[12] !== 10 || i >= N || e.prefix.length !== 128) strangers++;
        else if (seen[i] === 1) dups++;
        else seen[i] = 1;
      }
    }
    const d1 = performance.now();
    t.is(count, N);
    t.is(strangers, 0);
    t.is(dups, 0);

    const addRate = Math.round(N / ((t1 - t0) / 1000));
    const dumpRate = Math.round(N / ((d1 - d0) / 1000));
    const worstLag = Math.max(hist.max / 1e6, maxGap);
    const line = `NATIVE-FIGURES kernel=${kver} add_rate=${addRate}/s add_ms=${Math.round(t1 - t0)} dump_rate=${dumpRate}/s dump_ms=${Math.round(d1 - d0)} worst_loop_lag_ms=${worstLag.toFixed(1)} (histogram max ${(hist.max / 1e6).toFixed(1)} ms, p99 ${(hist.percentile(99) / 1e6).toFixed(1)} ms, timer max gap ${maxGap.toFixed(1)} ms) timer_fired=${fired} rss_mib=${Math.round(process.memoryUsage().rss / 2 ** 20)}`;
    t.log(line);
    console.log(line);
    t.is(await k.flush(), N);
  } finally {
    await k.close();
  }
});
