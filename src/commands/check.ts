// SPDX-License-Identifier: MIT
import { Args, Flags } from '@oclif/core';

import { FfwallCommand } from '../cli/base.js';
import type { CheckResult } from '../lib/index.js';

export default class CheckCommand extends FfwallCommand {
  static override summary = "What a packet from an address gets: the kernel's verdict, the rule that decided, and the database record";
  static override description = 'Exit status 0 whether or not the address is blocked; read "blocked" (or the first word of the output).';
  static override examples = ['<%= config.bin %> check 192.0.2.7', '<%= config.bin %> check 192.0.2.7 --port 25 --json'];
  static override args = {
    address: Args.string({ description: 'one address', required: true }),
  };
  static override flags = {
    port: Flags.integer({ summary: 'Judge a packet to this destination port.', min: 1, max: 65535 }),
  };

  async run(): Promise<CheckResult & { transport: string }> {
    const { args, flags } = await this.parse(CheckCommand);
    const fw = await this.openFfwall(flags);
    const r = await fw.check(args.address, flags.port === undefined ? {} : { port: flags.port });
    const to = r.port === null ? '' : ` to port ${r.port}`;
    let why: string;
    if (r.match === 'allow') why = `allowlisted by ${r.rule?.target ?? '?'}`;
    else if (r.rule !== null) {
      const ports = r.rule.ports.length === 0 ? 'all ports' : `ports ${r.rule.ports.join(',')}`;
      why = `${r.match} ban ${r.rule.target} (${ports}; ${r.rule.expiresAt === null ? 'no expiry' : `until ${r.rule.expiresAt}`}; ${r.rule.hits} hits)`;
    } else if (r.blocked) why = 'not in the kernel now; the database bans it (the daemon loads it back at its next packet)';
    else why = 'no ban';
    this.log(`${r.blocked ? 'blocked' : 'passes'}: ${r.address}${to}: ${why} [${fw.transport}]`);
    const rec = r.record;
    if (rec !== null) {
      this.log(
        `  record: ${rec.target}, ${rec.state}, source ${rec.source}${rec.sourceTag === '' ? '' : `/${rec.sourceTag}`}, banned ${rec.banCount}x since ${rec.firstSeenAt}, ` +
          `last ${rec.lastSeenAt}, ${rec.hitCount} hits${rec.reason === '' ? '' : `, reason: ${rec.reason}`}`,
      );
    }
    return { ...r, transport: fw.transport };
  }
}
