// SPDX-License-Identifier: MIT
import { Args } from '@oclif/core';

import { checkTargets, FfwallCommand } from '../cli/base.js';
import type { UnblockResult } from '../lib/index.js';

export default class UnblockCommand extends FfwallCommand {
  static override summary = 'Remove the bans of exactly these addresses or prefixes, from the kernel and the database';
  static override strict = false;
  static override examples = ['<%= config.bin %> unblock 192.0.2.7', '<%= config.bin %> unblock 2001:db8:1::/48 198.51.100.0/24 --json'];
  static override args = {
    target: Args.string({ description: 'address or CIDR (more may follow)', required: true }),
  };

  async run(): Promise<{ transport: string; results: UnblockResult[] }> {
    const { argv, flags } = await this.parse(UnblockCommand);
    const targets = argv as string[];
    checkTargets(targets);
    const fw = await this.openFfwall(flags);
    const results: UnblockResult[] = [];
    for (const t of targets) {
      const r = await fw.unblock(t);
      results.push(r);
      this.log(r.removed ? `unblocked ${r.target} [${fw.transport}]` : `${r.target} was not blocked [${fw.transport}]`);
    }
    return { transport: fw.transport, results };
  }
}
