// SPDX-License-Identifier: MIT
import { Command, Flags } from '@oclif/core';

import { ConfigFileError, DEFAULT_CONFIG_PATH, formatConfigError } from '../daemon/config.js';
import { SafetyList } from '../daemon/safety.js';

export { formatReport } from '../daemon/report.js';

export default class DaemonCommand extends Command {
  static override summary = 'Run the ffwall daemon in the foreground: restore or reconcile the kernel window, serve the control socket, follow kernel events';
  static override description =
    'Reads its configuration from --config (default /etc/ffwall/ffwall.jsonc; a missing default file means the defaults). ' +
    'Logs JSON lines (pino) to stdout. SIGHUP reloads the configuration (an invalid file keeps the running one); ' +
    'SIGTERM or SIGINT stops it cleanly (exit 0) and leaves the kernel table in place. Exit 2: the configuration is invalid.';
  static override flags = {
    config: Flags.string({ summary: 'The configuration file (JSON with comments).' }),
    db: Flags.string({ summary: 'Directory of the ban database (overrides database.path).' }),
    device: Flags.string({ summary: 'Path of the ffwall device (overrides device).' }),
    'print-safety': Flags.boolean({ summary: 'Print the automatic safety allowlist as this host gives it now, and exit.' }),
    'check-config': Flags.boolean({ summary: 'Check the configuration file and exit (0: valid, 2: invalid).' }),
    'fake-kernel': Flags.boolean({ summary: 'FOR TESTS ONLY: run over an in-memory fake kernel instead of /dev/ffwall.', hidden: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DaemonCommand);
    // Imported here, not above: the service brings in the database (lmdb),
    // pino and prom-client, which no other command needs (and the bundled
    // CLI, which holds every command, would otherwise load at each start).
    const { DaemonService } = await import('../daemon/daemon.js');
    const { FakeKernel } = await import('../lib/kernel-fake.js');
    const service = new DaemonService({
      configPath: flags.config ?? DEFAULT_CONFIG_PATH,
      configMissingOk: flags.config === undefined,
      ...(flags.db === undefined ? {} : { db: flags.db }),
      ...(flags.device === undefined ? {} : { device: flags.device }),
      ...(flags['fake-kernel'] ? { kernel: new FakeKernel() } : {}),
      serverVersion: this.config.version,
    });
    let cfg;
    try {
      cfg = await service.loadConfig();
    } catch (err) {
      if (err instanceof ConfigFileError) {
        this.logToStderr(`ffwall daemon: invalid configuration ${err.file}:`);
        for (const e of err.errors) this.logToStderr(`  ${formatConfigError(e)}`);
        this.exit(2);
      }
      throw err;
    }
    if (flags['check-config']) {
      this.log(`${flags.config ?? DEFAULT_CONFIG_PATH}: valid`);
      return;
    }
    if (flags['print-safety']) {
      const { lines, problems } = await new SafetyList({ config: cfg.safety }).print();
      for (const l of lines) this.log(l);
      for (const p of problems) this.logToStderr(`ffwall daemon: ${p}`);
      return;
    }
    await service.start();
    await service.done;
  }
}
