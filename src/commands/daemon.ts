// SPDX-License-Identifier: MIT
import { Command, Flags } from '@oclif/core';

import { Daemon, DEFAULT_DB_PATH } from '../daemon/daemon.js';
import { DEFAULT_DEVICE_PATH } from '../lib/device.js';
import type { WindowReport } from '../lib/window.js';

/** One line per restore/reconcile. */
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

export default class DaemonCommand extends Command {
  static override summary = 'Run the ffwall daemon in the foreground: restore or reconcile the kernel window, then follow kernel events';
  static override description = 'SIGTERM or SIGINT stops it cleanly (exit 0) and leaves the kernel table in place.';
  static override flags = {
    db: Flags.string({ summary: 'Directory of the ban database.', default: DEFAULT_DB_PATH }),
    device: Flags.string({ summary: 'Path of the ffwall device.', default: DEFAULT_DEVICE_PATH }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DaemonCommand);
    const daemon = new Daemon({ db: flags.db, device: flags.device });
    daemon.on('report', (r) => this.log(formatReport(r)));
    daemon.on('error', (err) => this.logToStderr(`ffwall daemon: ${err.message}`));
    let signalled = false;
    const stopped = new Promise<void>((resolve) => daemon.once('stopped', resolve));
    const onSignal = (sig: NodeJS.Signals): void => {
      if (signalled) {
        this.logToStderr(`ffwall daemon: ${sig} again, exiting without a clean stop`);
        process.exit(1);
      }
      signalled = true;
      this.logToStderr(`ffwall daemon: ${sig}, stopping`);
      // During the start, the stop waits until start() returns (below).
      if (daemon.state !== 'running') return;
      daemon.stop().catch((err: unknown) => {
        this.logToStderr(`ffwall daemon: stop failed: ${err instanceof Error ? err.message : String(err)}`);
        process.exit(1);
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
      await daemon.start();
      this.log('ready');
      if (signalled) await daemon.stop();
      await stopped;
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
    }
    this.log('stopped');
  }
}
