// SPDX-License-Identifier: MIT
//
// Hit sync: the kernel counts packets per entry; the database keeps each
// ban's hit count and last hit.  One cycle DUMPs only the entries hit at or
// after the previous cycle's kernel time (DUMP's hit_since filter), never
// the whole table, and applies them to the store one DUMP batch (at most
// 8192 entries) per write transaction.  Counters are absolute (the store
// keeps the difference from the last value seen), so an entry reported by
// two cycles (hit in the boundary second) is counted once.  The kernel's
// times are CLOCK_BOOTTIME seconds: converted to wall-clock ms with the
// offset measured at the start of the cycle.
import type { BanStore } from '../lib/db/store.js';
import type { HitUpdate } from '../lib/db/types.js';
import type { Kernel } from '../lib/kernel.js';

export interface HitSyncReport {
  /** The hit_since of this cycle (kernel seconds). */
  since: number;
  /** The hit_since of the next cycle: the kernel's time when this one began. */
  next: number;
  /** Entries the DUMP returned (hit since `since`). */
  entries: number;
  /** Records updated. */
  applied: number;
  /** Kernel entries without a record (bans made without the database). */
  missing: number;
  /** DUMP batches, one store transaction each. */
  batches: number;
  ms: number;
}

/**
 * One sync cycle.  @since: kernel seconds (1 on the first cycle after a
 * start: every entry ever hit, once); @now: the wall clock in ms.
 */
export async function syncHits(kernel: Kernel, store: BanStore, since: number, now: () => number = Date.now): Promise<HitSyncReport> {
  const t0 = performance.now();
  const kernelNow = (await kernel.stats()).now;
  const offsetMs = now() - kernelNow * 1000;
  // DUMP takes whole seconds; the kernel's clock may carry a fraction.
  const report: HitSyncReport = { since, next: Math.max(1, Math.floor(kernelNow)), entries: 0, applied: 0, missing: 0, batches: 0, ms: 0 };
  for await (const batch of kernel.dump({ hitSince: Math.max(1, Math.floor(since)) })) {
    const updates: HitUpdate[] = [];
    for (const e of batch) {
      if (e.kind === 'allow' || e.lastHit === 0) continue;
      updates.push({ prefix: e.prefix, kernelHits: e.hits, lastHit: e.lastHit * 1000 + offsetMs });
    }
    report.entries += updates.length;
    if (updates.length === 0) continue;
    const r = store.applyHits(updates);
    report.applied += r.applied;
    report.missing += r.missing.length;
    report.batches++;
  }
  report.ms = performance.now() - t0;
  return report;
}
