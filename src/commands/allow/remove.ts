// SPDX-License-Identifier: MIT
import { Args } from '@oclif/core';

import { checkTargets, FfwallCommand } from '../../cli/base.js';
import type { AllowResult } from '../../lib/index.js';

export default class AllowRemoveCommand extends FfwallCommand {
  static override summary = 'Remove allowlist entries (exactly these addresses or prefixes)';
  static override description =
    "The automatic safety entries (AUTO in `allow list`: loopback, link-local, the host's own addresses, the gateway, the resolvers, SSH sessions) are refused, and nothing is removed (exit 2): the daemon would put them back. Take one off explicitly with safety.override in the daemon's configuration (a prefix and a reason), then reload the daemon.";
  static override strict = false;
  static override examples = ['<%= config.bin %> allow remove 192.0.2.0/24', '<%= config.bin %> allow remove 203.0.113.5 --json'];
  static override args = { target: Args.string({ description: 'address or CIDR (more may follow)', required: true }) };

  async run(): Promise<{ transport: string; results: AllowResult[] }> {
    const { argv, flags } = await this.parse(AllowRemoveCommand);
    const targets = argv as string[];
    checkTargets(targets);
    const fw = await this.openFfwall(flags);
    const results = await fw.disallow(targets);
    for (const r of results) this.log(`${r.changed ? 'removed' : 'was not allowlisted:'} ${r.target} [${fw.transport}]`);
    return { transport: fw.transport, results };
  }
}
