// SPDX-License-Identifier: MIT
import { Args, Flags } from '@oclif/core';

import { checkTargets, FfwallCommand } from '../../cli/base.js';
import type { AllowResult } from '../../lib/index.js';

export default class AllowAddCommand extends FfwallCommand {
  static override summary = 'Add addresses or prefixes to the allowlist: they always pass, and cannot be blocked';
  static override strict = false;
  static override examples = [
    '<%= config.bin %> allow add 192.0.2.0/24 --reason office',
    '<%= config.bin %> allow add 2001:db8:1::/48 203.0.113.5 --json',
  ];
  static override args = { target: Args.string({ description: 'address or CIDR (more may follow)', required: true }) };
  static override flags = { reason: Flags.string({ summary: 'Why (kept in the database).' }) };

  async run(): Promise<{ transport: string; results: AllowResult[] }> {
    const { argv, flags } = await this.parse(AllowAddCommand);
    const targets = argv as string[];
    checkTargets(targets);
    const fw = await this.openFfwall(flags);
    const results = await fw.allow(targets, flags.reason === undefined ? {} : { reason: flags.reason });
    for (const r of results) this.log(`${r.changed ? 'allowed' : 'already allowed'} ${r.target} [${fw.transport}]`);
    return { transport: fw.transport, results };
  }
}
