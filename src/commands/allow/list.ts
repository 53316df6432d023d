// SPDX-License-Identifier: MIT
import { FfwallCommand } from '../../cli/base.js';
import { date, table } from '../../cli/format.js';
import type { AllowEntryInfo } from '../../lib/index.js';

export default class AllowListCommand extends FfwallCommand {
  static override summary = 'List the allowlist';
  static override examples = ['<%= config.bin %> allow list', '<%= config.bin %> allow list --json'];

  async run(): Promise<{ transport: string; entries: AllowEntryInfo[] }> {
    const { flags } = await this.parse(AllowListCommand);
    const fw = await this.openFfwall(flags);
    const entries = await fw.allowList();
    if (entries.length === 0) this.log(`the allowlist is empty [${fw.transport}]`);
    else this.log(table(['TARGET', 'ADDED', 'KERNEL', 'REASON'], entries.map((e) => [e.target, date(e.addedAt), e.inKernel ? 'yes' : 'no', e.reason])));
    return { transport: fw.transport, entries };
  }
}
