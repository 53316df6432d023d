// SPDX-License-Identifier: MIT
import { Command, Flags } from '@oclif/core';

import { EXIT } from '../../cli/base.js';
import { moduleCatch } from '../../cli/module.js';
import { DEFAULT_CONFIG_PATH, formatConfigError, loadConfig, parsePolicyListen } from '../../daemon/config.js';
import { checkPostfix, type PostfixCheckReport } from '../../lib/postfix/check.js';

export default class PostfixCheckCommand extends Command {
  static override summary = "Check a live Postfix configuration against ffwall's snippets (policy service, its place, the log)";
  static override description =
    'Reads main.cf and master.cf through postconf (-c --config-dir), and the policy listener and log watcher settings from the daemon\'s configuration file. ' +
    'One line per check: ok, warn or fail, with a fix. Exit 0 when no check fails (warnings allowed), 1 when one fails or postconf cannot run, 2 on bad usage ' +
    '(a --config-dir without main.cf, an invalid ffwall configuration). See docs/postfix.md.';
  static override enableJsonFlag = true;
  static override examples = ['<%= config.bin %> postfix check', '<%= config.bin %> postfix check --config-dir /etc/postfix-out --json'];
  static override flags = {
    'config-dir': Flags.string({ summary: "Postfix's configuration directory (postconf -c).", default: '/etc/postfix' }),
    config: Flags.string({ summary: "ffwall's daemon configuration file (for postfix.policy.listen and postfix.log).", default: DEFAULT_CONFIG_PATH }),
    listen: Flags.string({ summary: 'Check against this policy listener (unix:/path or inet:host:port) instead of the configuration file\'s.' }),
  };

  async run(): Promise<PostfixCheckReport> {
    const { flags } = await this.parse(PostfixCheckCommand);
    const r = await loadConfig(flags.config, { missingOk: flags.config === DEFAULT_CONFIG_PATH });
    if (!r.ok) throw new TypeError(`--config: invalid configuration ${flags.config}: ${r.errors.map((e) => formatConfigError(e)).join('; ')}`);
    let listen = r.config.postfix.policy.listen;
    if (flags.listen !== undefined) {
      const l = parsePolicyListen(flags.listen);
      if (typeof l === 'string') throw new TypeError(`--listen: ${l}`);
      listen = l;
    }
    const report = await checkPostfix({ configDir: flags['config-dir'], policyListen: listen, log: r.config.postfix.log, ffwallConfig: flags.config });
    const width = Math.max(...report.checks.map((c) => c.id.length));
    for (const c of report.checks) {
      this.log(`${c.status.padEnd(4)}  ${c.id.padEnd(width)}  ${c.message}`);
      if (c.fix !== null) this.log(`      ${' '.repeat(width)}  fix: ${c.fix}`);
    }
    this.log(`${report.counts.ok} ok, ${report.counts.warn} warn, ${report.counts.fail} fail`);
    if (!report.ok) process.exitCode = EXIT.failure;
    return report;
  }

  protected override async catch(err: Error): Promise<unknown> {
    return moduleCatch(this, err);
  }
}
