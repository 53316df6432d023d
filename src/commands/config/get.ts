// SPDX-License-Identifier: MIT
import { Args } from '@oclif/core';

import { FfwallCommand } from '../../cli/base.js';
import { keyValues } from '../../cli/format.js';
import type { ConfigInfo } from '../../lib/index.js';

export const CONFIG_KEYS = ['maxEntries', 'mode', 'gcInterval', 'hookPriority', 'maxPrefixes', 'maxAllow', 'filterMaxBytes'] as const;

export default class ConfigGetCommand extends FfwallCommand {
  static override summary = "Read the kernel module's settings (all, or one key)";
  static override description = 'Settable: maxEntries, mode (enforce|monitor), gcInterval (seconds). Read only: hookPriority, maxPrefixes, maxAllow, filterMaxBytes.';
  static override examples = ['<%= config.bin %> config get', '<%= config.bin %> config get mode', '<%= config.bin %> config get --json'];
  static override args = { key: Args.string({ description: 'one setting', options: [...CONFIG_KEYS] }) };

  async run(): Promise<ConfigInfo & { transport: string }> {
    const { args, flags } = await this.parse(ConfigGetCommand);
    const fw = await this.openFfwall(flags);
    const c = await fw.getConfig();
    if (args.key !== undefined) this.log(String(c[args.key as keyof ConfigInfo]));
    else this.log(keyValues(CONFIG_KEYS.map((k) => [k, String(c[k])] as const)));
    return { ...c, transport: fw.transport };
  }
}
