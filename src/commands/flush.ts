// SPDX-License-Identifier: MIT
import { Flags } from '@oclif/core';

import { FfwallCommand } from '../cli/base.js';
import { num } from '../cli/format.js';
import type { FlushResult, FlushTable } from '../lib/index.js';

export default class FlushCommand extends FfwallCommand {
  static override summary = "Empty the kernel's tables (asks for --yes)";
  static override description =
    "By default the bans (exact and prefix) leave the kernel and the database keeps them as cold bans (the daemon loads them back as they are hit). With --database the database's active bans go too. --scope allow empties the allowlist (with --database, also the database's), except the daemon's automatic safety entries, which go back into the kernel at once.";
  static override examples = [
    '<%= config.bin %> flush --yes',
    '<%= config.bin %> flush --yes --scope prefix',
    '<%= config.bin %> flush --yes --scope exact --scope prefix --database --json',
  ];
  static override flags = {
    yes: Flags.boolean({ summary: 'Really flush.' }),
    scope: Flags.option({ options: ['exact', 'prefix', 'allow', 'all'] as const, multiple: true, summary: 'Tables to empty (default exact and prefix; all = the three).' })(),
    database: Flags.boolean({ summary: "Also remove the database's records (not only the kernel's entries)." }),
  };

  async run(): Promise<FlushResult & { transport: string; scope: FlushTable[] }> {
    const { flags } = await this.parse(FlushCommand);
    if (!flags.yes) throw new TypeError('flush empties the kernel tables: add --yes to confirm');
    const scope: FlushTable[] = [...new Set((flags.scope ?? ['exact', 'prefix']).flatMap((s) => (s === 'all' ? (['exact', 'prefix', 'allow'] as const) : [s])))];
    const fw = await this.openFfwall(flags);
    const r = await fw.flush({ scope, database: flags.database });
    this.log(
      `flushed ${scope.join(', ')}: ${num(r.kernel)} kernel entries removed` +
        (flags.database ? `, ${num(r.database)} database records removed` : r.cold > 0 ? `, ${num(r.cold)} bans kept cold in the database` : '') +
        ` [${fw.transport}]`,
    );
    return { ...r, transport: fw.transport, scope };
  }
}
