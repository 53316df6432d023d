// SPDX-License-Identifier: MIT
import { Args } from '@oclif/core';

import { FfwallCommand } from '../../cli/base.js';
import { keyValues } from '../../cli/format.js';
import type { ConfigInfo, ConfigPatch } from '../../lib/index.js';
import { CONFIG_KEYS } from './get.js';

export default class ConfigSetCommand extends FfwallCommand {
  static override summary = "Change the kernel module's settings: key=value pairs, all or none";
  static override strict = false;
  static override examples = ['<%= config.bin %> config set mode=monitor', '<%= config.bin %> config set maxEntries=2000000 gcInterval=30 --json'];
  static override args = { setting: Args.string({ description: 'key=value (maxEntries, mode, gcInterval); more may follow', required: true }) };

  async run(): Promise<ConfigInfo & { transport: string }> {
    const { argv, flags } = await this.parse(ConfigSetCommand);
    const patch = parseSettings(argv as string[]);
    const fw = await this.openFfwall(flags);
    const c = await fw.setConfig(patch);
    this.log(keyValues(CONFIG_KEYS.map((k) => [k, String(c[k])] as const)));
    return { ...c, transport: fw.transport };
  }
}

/** ["mode=monitor", "gcInterval=30"] -> a patch; a bad pair is a TypeError naming it. */
export function parseSettings(pairs: readonly string[]): ConfigPatch {
  const patch: ConfigPatch = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    const key = eq < 0 ? p : p.slice(0, eq);
    const value = eq < 0 ? '' : p.slice(eq + 1);
    if (eq < 0 || value === '') throw new TypeError(`"${p}": expected key=value, e.g. mode=monitor`);
    if (key === 'mode') {
      if (value !== 'enforce' && value !== 'monitor') throw new TypeError(`mode: "${value}" is not enforce or monitor`);
      patch.mode = value;
    } else if (key === 'maxEntries' || key === 'gcInterval') {
      if (!/^[0-9]+$/.test(value)) throw new TypeError(`${key}: "${value}" is not a number`);
      patch[key] = Number(value);
    } else if ((CONFIG_KEYS as readonly string[]).includes(key)) throw new TypeError(`${key} is read only (settable: maxEntries, mode, gcInterval)`);
    else throw new TypeError(`unknown setting "${key}" (settable: maxEntries, mode, gcInterval)`);
  }
  return patch;
}
