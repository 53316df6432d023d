// SPDX-License-Identifier: MIT
//
// Human output of the commands: aligned tables, readable dates and
// durations, a progress bar that appears only on a TTY, and a streamed
// writer for NDJSON and exports that respects back-pressure.
import type { Writable } from 'node:stream';

import { formatDuration } from '../lib/duration.js';
import type { ChunkOptions } from '../lib/index.js';

/** Aligned columns; the last column is not padded.  Right-aligns columns named in @right. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], right: readonly number[] = []): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => {
        if (i === cells.length - 1 && !right.includes(i)) return c;
        const w = widths[i] ?? 0;
        return right.includes(i) ? c.padStart(w) : c.padEnd(w);
      })
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/** Two columns of "key  value" lines. */
export function keyValues(pairs: readonly (readonly [string, string])[]): string {
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(w + 1)}  ${v}`).join('\n');
}

/** A ban's ports: "25,465,587", or "all" for a whole-address ban. */
export function portList(ports: readonly number[]): string {
  return ports.length === 0 ? 'all' : ports.join(',');
}

/** "2026-11-29 12:00:00Z"; '-' for null. */
export function date(iso: string | null): string {
  if (iso === null) return '-';
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z`;
}

/** "in 6d23h" / "3h ago", rounded to two units; '-' for null. */
export function relative(iso: string | null, now = Date.now()): string {
  if (iso === null) return '-';
  const s = Math.round((Date.parse(iso) - now) / 1000);
  const d = short(Math.abs(s));
  return s >= 0 ? `in ${d}` : `${d} ago`;
}

/** A duration in at most two units: 6d23h, 5m, 12s. */
export function short(seconds: number): string {
  if (seconds < 1) return '0s';
  // The first two units formatDuration() would print (a million table rows call this).
  let rest = Math.round(seconds);
  let out = '';
  let parts = 0;
  for (let i = 0; i < UNITS.length && parts < 2; i++) {
    const [unit, size] = UNITS[i] as (typeof UNITS)[number];
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
      parts++;
    }
  }
  return out === '' ? formatDuration(seconds) : out;
}

const UNITS = [
  ['w', 604800],
  ['d', 86400],
  ['h', 3600],
  ['m', 60],
  ['s', 1],
] as const;

/** When a ban ends, for a table cell. */
export function expiry(iso: string | null): string {
  return iso === null ? 'never' : relative(iso);
}

/** 1234567 -> "1,234,567". */
export function num(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) return n.toLocaleString('en-US');
  if (n < 1000) return `${n}`;
  // Grouped by hand: toLocaleString is slow for a million table cells.
  const s = `${n}`;
  let out = s.slice(0, s.length % 3 || 3);
  for (let i = out.length; i < s.length; i += 3) out += `,${s.slice(i, i + 3)}`;
  return out;
}

/** 12345678 -> "11.8 MiB". */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i] ?? ''}`;
}

/** A progress bar on stderr, drawn only when stderr is a TTY and output is not JSON. */
export class Progress {
  readonly #on: boolean;
  readonly #label: string;
  #total: number;
  #last = 0;

  constructor(label: string, total: number, enabled: boolean) {
    this.#on = enabled && process.stderr.isTTY === true;
    this.#label = label;
    this.#total = total;
  }

  get enabled(): boolean {
    return this.#on;
  }

  set total(t: number) {
    this.#total = t;
  }

  update(done: number): void {
    if (!this.#on) return;
    const now = Date.now();
    if (done < this.#total && now - this.#last < 100) return;
    this.#last = now;
    const width = 30;
    const frac = this.#total > 0 ? Math.min(1, done / this.#total) : 0;
    const full = Math.round(frac * width);
    process.stderr.write(`\r${this.#label} [${'#'.repeat(full)}${'-'.repeat(width - full)}] ${num(done)}/${num(this.#total)} ${Math.floor(frac * 100)}%\u001b[K`);
  }

  stop(): void {
    if (this.#on) process.stderr.write('\r\u001b[K');
  }
}

/**
 * The chunk options of a listing written with writeOut(): each chunk is
 * written before the next is asked for (reuse), and --threads when given.
 */
export function chunkOptions(threads: number | undefined): ChunkOptions {
  return threads === undefined ? { reuse: true } : { reuse: true, threads };
}

/** Writes to a stream, waiting for 'drain' when it is full (flat memory at any size). */
export async function writeOut(out: Writable, chunk: string | Uint8Array): Promise<void> {
  if (out.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (): void => {
      out.off('drain', done);
      out.off('error', fail);
      resolve();
    };
    const fail = (err: Error): void => {
      out.off('drain', done);
      reject(err);
    };
    out.once('drain', done);
    out.once('error', fail);
  });
}
