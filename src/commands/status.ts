// SPDX-License-Identifier: MIT
import { existsSync, readFileSync } from 'node:fs';

import { FfwallCommand, EXIT } from '../cli/base.js';
import { keyValues } from '../cli/format.js';
import { ClientTransport, type DeviceEntry } from '../lib/index.js';
import { deviceTable } from './stats.js';

export interface StatusReport {
  daemon: { socket: string; state: 'running' | 'not running' | 'refused' | 'no answer'; message: string | null };
  module: { loaded: boolean; version: string | null; abiVersion: number | null; mode: string | null; via: 'direct' | 'client' | null; message: string | null };
  devices: DeviceEntry[];
  database: { kernel: number; cold: number; expired: number; total: number } | null;
}

export default class StatusCommand extends FfwallCommand {
  static override summary = 'Is the daemon reachable, is the module loaded (which version), which devices are hooked';
  static override description = 'Exit status 0 when ffwall is usable (through the daemon or directly), 3 when neither the daemon nor the module can be reached.';
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --json'];

  async run(): Promise<StatusReport> {
    const { flags } = await this.parse(StatusCommand);
    const report: StatusReport = {
      daemon: { socket: flags.socket, state: 'not running', message: null },
      module: { loaded: existsSync('/sys/module/ffwall'), version: sysVersion(), abiVersion: null, mode: null, via: null, message: null },
      devices: [],
      database: null,
    };
    try {
      const c = await ClientTransport.connect(flags.socket, 2000);
      await c.close();
      report.daemon.state = 'running';
    } catch (err) {
      const cause = (err as { cause?: { code?: unknown } }).cause?.code;
      report.daemon.state = cause === 'EACCES' ? 'refused' : cause === 'ENOENT' || cause === 'ECONNREFUSED' ? 'not running' : 'no answer';
      report.daemon.message = (err as Error).message;
    }
    try {
      const transport = flags.transport === 'auto' && report.daemon.state !== 'running' ? 'direct' : flags.transport;
      const fw = await this.openFfwall({ ...flags, transport });
      const s = await fw.stats();
      report.module = { loaded: true, version: s.moduleVersion, abiVersion: s.abiVersion, mode: s.config.mode, via: fw.transport, message: null };
      report.devices = s.devices;
      report.database = s.database;
    } catch (err) {
      report.module.message = (err as Error).message;
    }
    this.log(
      keyValues([
        ['daemon', `${report.daemon.state} (${flags.socket})`],
        [
          'module',
          report.module.via !== null
            ? `ffwall.ko ${report.module.version ?? '?'}, ABI ${report.module.abiVersion ?? '?'}, mode ${report.module.mode ?? '?'} [${report.module.via}]`
            : report.module.loaded
              ? `loaded${report.module.version === null ? '' : ` (${report.module.version})`}, not reachable: ${report.module.message ?? ''}`
              : `not loaded (${report.module.message ?? 'ffwall module load, or modprobe ffwall'})`,
        ],
        ['database', report.database === null ? '-' : `${report.database.total} records (${report.database.kernel} in the kernel, ${report.database.cold} cold)`],
      ]),
    );
    if (report.module.via !== null) this.log(report.devices.length === 0 ? 'devices: none attached (ffwall attach <dev>)' : deviceTable(report.devices));
    if (report.module.via === null) {
      if (this.jsonEnabled()) this.logJson(report);
      this.exit(EXIT.unavailable);
    }
    return report;
  }
}

function sysVersion(): string | null {
  try {
    return readFileSync('/sys/module/ffwall/version', 'utf8').trim();
  } catch {
    return null;
  }
}
