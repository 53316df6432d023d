// SPDX-License-Identifier: MIT
import { Args } from '@oclif/core';

import { checkTargets, FfwallCommand } from '../cli/base.js';
import { date, expiry, keyValues, num, portList, table } from '../cli/format.js';
import type { ShowResult } from '../lib/index.js';

export default class ShowCommand extends FfwallCommand {
  static override summary = 'Show one ban record of the database (exactly this address or prefix) and its history';
  static override description = 'Exit status 0 also when there is no record; read "record" in --json (null when none). For what a packet gets, see `ffwall check`.';
  static override examples = ['<%= config.bin %> show 192.0.2.7', '<%= config.bin %> show 198.51.100.0/24 --json'];
  static override args = { target: Args.string({ description: 'address or CIDR', required: true }) };

  async run(): Promise<ShowResult & { transport: string }> {
    const { args, flags } = await this.parse(ShowCommand);
    checkTargets([args.target]);
    const fw = await this.openFfwall(flags);
    const s = await fw.show(args.target);
    const r = s.record;
    if (r === null) this.log(`${s.target}: no record [${fw.transport}]`);
    else {
      this.log(
        keyValues([
          ['target', r.target],
          ['state', r.state],
          ['ports', portList(r.ports)],
          ['source', r.sourceTag === '' ? r.source : `${r.source}/${r.sourceTag}`],
          ['reason', r.reason === '' ? '-' : r.reason],
          ['first seen', date(r.firstSeenAt)],
          ['last seen', date(r.lastSeenAt)],
          ['expires', r.expiresAt === null ? 'never (permanent)' : `${date(r.expiresAt)} (${expiry(r.expiresAt)})`],
          ['hits', `${num(r.hitCount)}${r.lastHitAt === null ? '' : `, last ${date(r.lastHitAt)}`}`],
          ['bans', num(r.banCount)],
          ['flags', [r.pinned ? 'pinned' : '', r.monitor ? 'monitor' : '', r.permanent ? 'permanent' : ''].filter((x) => x !== '').join(',') || '-'],
        ]),
      );
    }
    if (s.allowedBy !== null) this.log(`allowlisted by ${s.allowedBy}`);
    if (s.history.length > 0) {
      this.log('');
      this.log(table(['TIME', 'EVENT', 'DETAILS'], s.history.map((h) => [date(h.at), h.type, details(h.details)])));
    }
    return { ...s, transport: fw.transport };
  }
}

function details(d: Record<string, unknown>): string {
  return Object.entries(d)
    .filter(([, v]) => v !== undefined && v !== '' && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}
