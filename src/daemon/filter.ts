// SPDX-License-Identifier: MIT
//
// The membership filter's drift.  A build (restore, reconcile, rebuild) sizes
// the filter for its members plus headroom (window.ts FILTER_HEADROOM).  The
// daemon then FILTER_ADDs each new active host ban, and a Bloom filter
// cannot remove: an expired or unbanned ban keeps its bits.  So both grow
// the filter's effective load.  The tracker estimates the rate from
// (members at build + added since) over the filter's size, and asks for a
// rebuild when
//   - the estimate passes the documented target rate (1%), or, for a filter
//     that was clamped to its maximum size at build, 1.25 x its rate then;
//   - removals since the build reach half the members (at least 1024): most
//     of the set is stale, every stale hit costs a MISS event and a lookup.
import type { FilterReport } from '../lib/window.js';
import { FILTER_TARGET_FPR, filterFpr } from '../lib/window.js';

export const FILTER_REMOVAL_SHARE = 0.5;
export const FILTER_REMOVAL_MIN = 1024;

export type RebuildReason = 'rate' | 'removals';

export interface FilterState {
  bytes: number;
  nhashes: number;
  /** Members at the last build. */
  built: number;
  added: number;
  removed: number;
  /** Estimated rate now. */
  fpr: number;
  /** The rate past which it is rebuilt. */
  limit: number;
}

export class FilterTracker {
  #bytes = 0;
  #nhashes = 0;
  #built = 0;
  #added = 0;
  #removed = 0;
  #limit = FILTER_TARGET_FPR;

  /** A new filter was loaded. */
  reset(f: FilterReport): void {
    this.#bytes = f.bytes;
    this.#nhashes = f.nhashes;
    this.#built = f.members;
    this.#added = 0;
    this.#removed = 0;
    this.#limit = Math.max(FILTER_TARGET_FPR, f.expectedFpr * 1.25);
  }

  added(n: number): void {
    this.#added += n;
  }

  removed(n: number): void {
    this.#removed += n;
  }

  get state(): FilterState {
    return {
      bytes: this.#bytes,
      nhashes: this.#nhashes,
      built: this.#built,
      added: this.#added,
      removed: this.#removed,
      fpr: this.#bytes === 0 ? 0 : filterFpr(this.#built + this.#added, this.#bytes, this.#nhashes),
      limit: this.#limit,
    };
  }

  /** Why the filter should be rebuilt now, or undefined. */
  rebuildReason(): RebuildReason | undefined {
    if (this.#bytes === 0) return undefined;
    const s = this.state;
    if (s.fpr > s.limit) return 'rate';
    if (this.#removed >= Math.max(FILTER_REMOVAL_MIN, FILTER_REMOVAL_SHARE * (this.#built + this.#added))) return 'removals';
    return undefined;
  }
}
