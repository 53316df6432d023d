// SPDX-License-Identifier: MIT
import { FfwallCommand } from '../../cli/base.js';
import { date, table } from '../../cli/format.js';
import type { AllowEntryInfo } from '../../lib/index.js';

export default class AllowListCommand extends FfwallCommand {
  static override summary = 'List the allowlist, the automatic safety entries included';
  static override description =
    "AUTO names the kind of an entry the daemon's automatic safety list put there (loopback, link-local, host, gateway, resolver, ssh); `allow remove` refuses those. To let one be banned, add it to safety.override in the daemon's configuration, with a reason, and reload: through the daemon, the entries so overridden are listed too (KERNEL no, REASON 'overridden by safety.override ...').";
  static override examples = ['<%= config.bin %> allow list', '<%= config.bin %> allow list --json'];

  async run(): Promise<{ transport: string; entries: AllowEntryInfo[] }> {
    const { flags } = await this.parse(AllowListCommand);
    const fw = await this.openFfwall(flags);
    const entries = await fw.allowList();
    if (entries.length === 0) this.log(`the allowlist is empty [${fw.transport}]`);
    else {
      const reason = (e: AllowEntryInfo): string => (e.overridden === null ? e.reason : `overridden by safety.override ${e.overridden} (${e.reason})`);
      this.log(table(['TARGET', 'ADDED', 'KERNEL', 'AUTO', 'REASON'], entries.map((e) => [e.target, date(e.addedAt), e.inKernel ? 'yes' : 'no', e.automatic ?? '', reason(e)])));
    }
    return { transport: fw.transport, entries };
  }
}
