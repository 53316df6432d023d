// SPDX-License-Identifier: MIT
import { Args, Flags } from '@oclif/core';

import { checkTargets, FfwallCommand } from '../cli/base.js';
import { BAN_SOURCES } from '../lib/db/types.js';
import type { BanSource, UnblockResult, UnblockSourceResult } from '../lib/index.js';

export default class UnblockCommand extends FfwallCommand {
  static override summary = 'Remove the bans of exactly these addresses or prefixes, or of one source, from the kernel and the database';
  static override description =
    '--source NAME removes every ban of one source: a feed or a jail (its tag, e.g. the name given to `ffwall import --name`), or one of the sources cli, api, policy, logwatch, feed, haraka, fail2ban (with --tag for one tag of it: `--source fail2ban --tag sshd` removes the bans of the fail2ban jail sshd, and only them).';
  static override strict = false;
  static override examples = [
    '<%= config.bin %> unblock 192.0.2.7',
    '<%= config.bin %> unblock 2001:db8:1::/48 198.51.100.0/24 --json',
    '<%= config.bin %> unblock --source spamhaus-drop',
    '<%= config.bin %> unblock --source logwatch --tag postfix-sasl',
    '<%= config.bin %> unblock --source fail2ban --tag sshd',
  ];
  static override args = {
    target: Args.string({ description: 'address or CIDR (more may follow)' }),
  };
  static override flags = {
    source: Flags.string({ summary: 'Remove every ban of this feed name (or of this source: cli, api, policy, logwatch, feed, haraka, fail2ban).' }),
    tag: Flags.string({ summary: 'With a source: only bans of this tag.', dependsOn: ['source'] }),
  };

  async run(): Promise<{ transport: string; results: UnblockResult[] } | ({ transport: string } & UnblockSourceResult)> {
    const { argv, flags } = await this.parse(UnblockCommand);
    const targets = argv as string[];
    if (flags.source !== undefined) {
      if (targets.length > 0) throw new TypeError('give either addresses or --source, not both');
      const sources: readonly string[] = BAN_SOURCES;
      // A source's own name, or a feed's (a tag of source 'feed').
      const [source, tag] = sources.includes(flags.source) ? [flags.source as BanSource, flags.tag] : (['feed', flags.source] as const);
      if (flags.tag !== undefined && !sources.includes(flags.source)) throw new TypeError(`--tag needs --source ${BAN_SOURCES.join('|')}; "${flags.source}" is a feed name already`);
      const fw = await this.openFfwall(flags);
      const r = await fw.unblockSource(source, tag);
      this.log(`removed ${r.removed} ${r.removed === 1 ? 'ban' : 'bans'} of ${r.source}${r.tag === null ? '' : `/${r.tag}`} (${r.kernel} from the kernel) [${fw.transport}]`);
      return { transport: fw.transport, ...r };
    }
    if (targets.length === 0) throw new TypeError('give the addresses to unblock, or --source NAME');
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
