// SPDX-License-Identifier: MIT
import { Args, Flags } from '@oclif/core';

import { checkTargets, FfwallCommand } from '../cli/base.js';
import type { BanSource, BlockOptions, BlockResult } from '../lib/index.js';
import { BAN_SOURCES } from '../lib/db/types.js';
import { parsePortSpec, type PortSpec } from '../lib/ports.js';

export default class BlockCommand extends FfwallCommand {
  static override summary = 'Block addresses or CIDR prefixes, in the kernel and the ban database';
  static override description =
    'Without --ttl or --permanent, the duration follows the escalation rule: 24h for a first offence, doubling for each earlier ban of the same address, up to 180 days. The whole list is checked before anything changes.';
  static override strict = false;
  static override examples = [
    '<%= config.bin %> block 192.0.2.7 --port 25,465,587 --ttl 7d --reason "unknown users"',
    '<%= config.bin %> block 2001:db8:1::/48 --permanent --pin',
    '<%= config.bin %> block 198.51.100.0/24 --monitor --json',
    '<%= config.bin %> block 203.0.113.5 --port smtp,submissions,submission --ttl 600 --source fail2ban --tag postfix',
  ];
  static override args = {
    target: Args.string({ description: 'address or CIDR (more may follow)', required: true }),
  };
  static override flags = {
    port: Flags.string({
      summary: 'Block only these destination ports (at most 8): numbers, /etc/services names or ranges, comma-separated.',
      description: 'e.g. 25,465,587 or smtp,submissions,submission or 1000:1003. A range from 0 or 1 to 65535 means every port.',
    }),
    'port-overflow': Flags.option({
      options: ['refuse', 'all'] as const,
      default: 'refuse' as const,
      summary: 'When --port names more than 8 ports: refuse (exit 2), or block every port with a warning (what fail2ban uses).',
    })(),
    ttl: Flags.string({ summary: 'How long: 90s, 15m, 24h, 7d, 2w, 1d12h or seconds.', exclusive: ['permanent'] }),
    permanent: Flags.boolean({ summary: 'Never expires.', exclusive: ['ttl'] }),
    pin: Flags.boolean({ summary: 'The kernel never evicts it to make room.' }),
    monitor: Flags.boolean({ summary: 'Count matching packets, do not drop them.' }),
    reason: Flags.string({ summary: 'Why (kept in the database).' }),
    source: Flags.option({ options: BAN_SOURCES, default: 'cli' as const, summary: 'Who decided the ban.' })(),
    tag: Flags.string({ summary: 'A finer source tag, e.g. a fail2ban jail (`unblock --source fail2ban --tag JAIL` removes exactly its bans).' }),
    force: Flags.boolean({ summary: "Through the daemon: allow a prefix shorter than the safety minimum (/16 IPv4, /32 IPv6)." }),
  };

  async run(): Promise<{ transport: string; results: BlockResult[] }> {
    const { argv, flags } = await this.parse(BlockCommand);
    const targets = argv as string[];
    const options: BlockOptions = { source: flags.source as BanSource, pin: flags.pin, monitor: flags.monitor, permanent: flags.permanent };
    if (flags.port !== undefined) {
      const spec = parsePortSpec(flags.port, { what: '--port', overflow: flags['port-overflow'] });
      if (spec.widened !== null) this.warn(spec.widened);
      if (!spec.all) options.ports = spec.ports;
    }
    if (flags.ttl !== undefined) options.ttl = flags.ttl;
    if (flags.reason !== undefined) options.reason = flags.reason;
    if (flags.tag !== undefined) options.sourceTag = flags.tag;
    if (flags.force) options.force = true;
    // Every target is checked before anything changes (the options are
    // checked by the first block, before it changes anything).
    checkTargets(targets);
    const fw = await this.openFfwall(flags);
    const results: BlockResult[] = [];
    for (const t of targets) results.push(await fw.block(t, options));
    for (const r of results) {
      const until = r.expiresAt === null ? 'permanently' : `until ${r.expiresAt}`;
      const ports = r.ports.length === 0 ? 'all ports' : `ports ${r.ports.join(',')}`;
      const where = r.inKernel ? '' : ' (database only: the kernel is full of pinned entries)';
      this.log(`${r.action} ${r.target}: ${ports}, ${until}${r.durationFrom === 'escalated' ? ' (escalated)' : ''}${where} [${fw.transport}]`);
      for (const a of r.also) this.log(`  also banned ${a} (IPv6 aggregation)`);
    }
    return { transport: fw.transport, results };
  }
}

/**
 * "25,465,587", "smtp,submission", "1000:1003" -> the ports; [] for every
 * port ("0:65535").  More than 8 ports is a RangeError (src/lib/ports.ts).
 */
export function parsePortList(text: string): number[] {
  const spec: PortSpec = parsePortSpec(text, { what: '--port' });
  return spec.ports;
}
