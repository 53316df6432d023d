// SPDX-License-Identifier: MIT
import { Flags } from '@oclif/core';

import { FfwallCommand } from '../cli/base.js';
import { expiry, num, portList, table } from '../cli/format.js';
import type { BanInfo, Ffwall } from '../lib/index.js';

export interface TopRow {
  target: string;
  /** Packets counted since the previous sample. */
  delta: number;
  /** delta per second. */
  rate: number;
  /** Packets counted since top started. */
  total: number;
  /** The kernel's counter of the entry. */
  hits: number;
  ports: number[];
  expiresAt: string | null;
}

export interface TopFrame {
  transport: string;
  at: string;
  interval: number;
  rows: TopRow[];
}

/** Samples the kernel's hit counters (DUMP with hit_since) and turns them into deltas. */
export class HitSampler {
  readonly #fw: Ffwall;
  readonly #last = new Map<string, number>();
  readonly #totals = new Map<string, number>();
  #since = 0;
  #at = 0;

  constructor(fw: Ffwall) {
    this.#fw = fw;
  }

  /** The first sample: every ban's counter, the baseline of the deltas. */
  async start(): Promise<void> {
    const h = await this.#fw.hits(0);
    for (const e of h.entries) this.#last.set(e.target, e.hits);
    this.#since = h.kernelNow;
    this.#at = Date.parse(h.at);
  }

  /** The next sample: only entries hit since the last one. */
  async sample(limit: number): Promise<{ at: string; rows: TopRow[]; seconds: number }> {
    const h = await this.#fw.hits(this.#since);
    const at = Date.parse(h.at);
    const seconds = Math.max(1, (at - this.#at) / 1000);
    const rows: TopRow[] = [];
    const seen: BanInfo[] = h.entries;
    for (const e of seen) {
      const before = this.#last.get(e.target);
      // A counter below the last one: the entry was replaced; it counts from 0.
      const delta = before === undefined || e.hits < before ? e.hits : e.hits - before;
      this.#last.set(e.target, e.hits);
      if (delta === 0) continue;
      const total = (this.#totals.get(e.target) ?? 0) + delta;
      this.#totals.set(e.target, total);
      rows.push({ target: e.target, delta, rate: delta / seconds, total, hits: e.hits, ports: e.ports, expiresAt: e.expiresAt });
    }
    this.#since = h.kernelNow;
    this.#at = at;
    rows.sort((a, b) => b.delta - a.delta || b.total - a.total || a.target.localeCompare(b.target));
    return { at: h.at, rows: rows.slice(0, limit), seconds };
  }
}

export default class TopCommand extends FfwallCommand {
  static override summary = 'A live view of the sources dropped most, refreshed until q or Ctrl-C';
  static override description =
    'Samples the kernel every --interval seconds (DUMP of the entries hit since the last sample) and ranks the bans by the packets they dropped meanwhile. Not on a terminal, or with --json, it takes --iterations samples (default 1 after the baseline) and prints the last one.';
  static override examples = ['<%= config.bin %> top', '<%= config.bin %> top --interval 5 --rows 40', '<%= config.bin %> top --json --interval 1 --iterations 1'];
  static override flags = {
    interval: Flags.integer({ summary: 'Seconds between samples.', default: 2, min: 1, max: 3600 }),
    rows: Flags.integer({ summary: 'Sources shown.', default: 20, min: 1, max: 1000 }),
    iterations: Flags.integer({ summary: 'Stop after this many samples (default: until q on a terminal, else 1).', min: 1 }),
  };

  async run(): Promise<TopFrame> {
    const { flags } = await this.parse(TopCommand);
    const fw = await this.openFfwall(flags);
    const live = process.stdout.isTTY === true && !this.jsonEnabled();
    const iterations = flags.iterations ?? (live ? Infinity : 1);
    const sampler = new HitSampler(fw);
    await sampler.start();
    let quit = false;
    let wake: (() => void) | undefined;
    const stop = (): void => {
      quit = true;
      wake?.();
    };
    const stdin = process.stdin;
    const onKey = (d: Buffer): void => {
      const k = d.toString();
      if (k === 'q' || k === 'Q' || k === '\u0003' || k === '\u001b') stop();
    };
    if (live && stdin.isTTY === true) {
      stdin.setRawMode(true);
      stdin.resume();
      stdin.on('data', onKey);
    }
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    let frame: TopFrame = { transport: fw.transport, at: new Date().toISOString(), interval: flags.interval, rows: [] };
    try {
      if (live) process.stdout.write('\u001b[?25l\u001b[H\u001b[2J' + header(fw.transport, flags.interval, frame.at) + '\n\nwaiting for the first sample...\n');
      for (let i = 0; i < iterations && !quit; i++) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, flags.interval * 1000);
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        if (quit) break;
        const s = await sampler.sample(flags.rows);
        frame = { transport: fw.transport, at: s.at, interval: flags.interval, rows: s.rows };
        const body = `${header(fw.transport, flags.interval, s.at)}\n\n${render(frame.rows)}\n`;
        if (live) process.stdout.write(`\u001b[H\u001b[2J${body}`);
        else if (!this.jsonEnabled() && i === iterations - 1) process.stdout.write(body);
      }
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      if (live && stdin.isTTY === true) {
        stdin.off('data', onKey);
        stdin.setRawMode(false);
        stdin.pause();
      }
      if (live) process.stdout.write('\u001b[?25h');
    }
    return frame;
  }
}

function header(transport: string, interval: number, at: string): string {
  return `ffwall top: sources dropped most, every ${interval}s, ${at.slice(0, 19).replace('T', ' ')}Z [${transport}]   q: quit`;
}

export function render(rows: readonly TopRow[]): string {
  if (rows.length === 0) return 'no drops since the last sample';
  return table(
    ['SOURCE', 'PKTS/S', 'PKTS', 'SINCE START', 'PORTS', 'EXPIRES'],
    rows.map((r) => [r.target, r.rate.toFixed(1), num(r.delta), num(r.total), portList(r.ports), expiry(r.expiresAt)]),
    [1, 2, 3],
  );
}
