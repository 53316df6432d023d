// SPDX-License-Identifier: MIT
//
// A kernel entry as the API gives it (BanInfo), and the NDJSON lines of a
// whole DUMP written straight from the addon's columns (`ffwall list
// --kernel --json`): the same text as JSON.stringify(banInfo(entry)), with
// no entry object, IpPrefix or Date per line.
import type { BanInfo } from './api.js';
import type { KernelColumns, KernelEntry } from './kernel.js';
import { isoFormatter, keyTarget } from './record-json.js';

/** A CLOCK_BOOTTIME time as an ISO wall-clock time (@offsetMs: wall minus kernel clock); null for 0 (never). */
function iso(bootSeconds: number, offsetMs: number): string | null {
  return bootSeconds === 0 ? null : new Date(bootSeconds * 1000 + offsetMs).toISOString();
}

export function banInfo(e: KernelEntry, offsetMs: number): BanInfo {
  return {
    target: e.prefix.toString(),
    kind: e.kind === 'exact' ? 'exact' : 'prefix',
    ports: [...e.ports],
    pinned: e.pinned,
    monitor: e.monitor,
    expiresAt: iso(e.expires, offsetMs),
    hits: e.hits,
    lastHitAt: iso(e.lastHit, offsetMs),
  };
}

/** Writes NDJSON lines of BanInfo from DUMP columns; one per transport call, its ISO formatter's cache kept across batches. */
export class KernelLineWriter {
  readonly #offsetMs: number;
  readonly #iso = isoFormatter();
  readonly #key = new Uint8Array(17);

  constructor(offsetMs: number) {
    this.#offsetMs = offsetMs;
  }

  /**
   * The lines of the ban entries of @c (allowlist entries skipped), at most
   * @max of them: the text and how many lines it holds.
   */
  lines(c: KernelColumns, max: number): { text: string; count: number } {
    let text = '';
    let count = 0;
    const key = this.#key;
    for (let i = 0; i < c.count && count < max; i++) {
      const kind = c.kind[i];
      if (kind !== 1 && kind !== 2) continue;
      key.set(c.addrs.subarray(i * 16, i * 16 + 16), 0);
      key[16] = c.prefixLen[i] ?? 128;
      let ports = '';
      const np = c.nports[i] ?? 0;
      for (let p = 0; p < np; p++) ports += p === 0 ? `${c.ports[i * 8 + p]}` : `,${c.ports[i * 8 + p]}`;
      const flags = c.flags[i] ?? 0;
      const expires = c.expires[i] ?? 0;
      const lastHit = c.lastHit[i] ?? 0;
      text +=
        `{"target":"${keyTarget(key)}","kind":"${kind === 1 ? 'exact' : 'prefix'}","ports":[${ports}],` +
        `"pinned":${(flags & c.flagPinned) !== 0},"monitor":${(flags & c.flagMonitor) !== 0},` +
        `"expiresAt":${expires === 0 ? 'null' : `"${this.#iso(expires * 1000 + this.#offsetMs)}"`},"hits":${c.hits[i] ?? 0},` +
        `"lastHitAt":${lastHit === 0 ? 'null' : `"${this.#iso(lastHit * 1000 + this.#offsetMs)}"`}}\n`;
      count++;
    }
    return { text, count };
  }
}
