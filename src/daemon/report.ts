// SPDX-License-Identifier: MIT
//
// One line per restore/reconcile (the daemon's log message for a window report).
import type { WindowReport } from '../lib/window.js';

export function formatReport(r: WindowReport): string {
  const ms = (x: number): string => `${Math.round(x)} ms`;
  const f = r.filter;
  return (
    `${r.mode}: ${r.inKernel}/${r.maxEntries} entries and ${r.prefixesInKernel}/${r.maxPrefixes} prefixes in the kernel ` +
    `(loaded ${r.loaded + r.loadedPrefixes}, deleted ${r.deleted}, updated ${r.updated}), ${r.active} active bans, ${r.cold} cold, ${r.expired} expired now` +
    `${r.pinnedOverCap > 0 ? `, ${r.pinnedOverCap} pinned over the cap` : ''}${r.refused > 0 ? `, ${r.refused} refused by the kernel` : ''}; ` +
    `allowlist +${r.allowAdded}/-${r.allowRemoved}; filter ${f.members} members in ${f.bytes} bytes (k ${f.nhashes}, ~${(f.expectedFpr * 100).toFixed(2)}%${f.clamped ? ', clamped' : ''}); ` +
    `${ms(r.timings.total)} (load ${ms(r.timings.load)}, filter ${ms(r.timings.filter)})`
  );
}
