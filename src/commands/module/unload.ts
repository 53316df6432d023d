// SPDX-License-Identifier: MIT
import { existsSync } from 'node:fs';

import { Command } from '@oclif/core';

import { FfwallError } from '../../lib/index.js';
import { moduleCatch, runTool } from '../../cli/module.js';

export default class ModuleUnloadCommand extends Command {
  static override summary = 'Unload ffwall.ko (rmmod): every ban leaves the kernel, the database keeps them';
  static override description = 'Stop the daemon first: it holds /dev/ffwall open. Needs root.';
  static override enableJsonFlag = true;
  static override examples = ['<%= config.bin %> module unload'];

  async run(): Promise<{ loaded: false }> {
    await this.parse(ModuleUnloadCommand);
    if (!existsSync('/sys/module/ffwall')) throw new FfwallError('ENOMODULE', 'ffwall: the ffwall module is not loaded');
    runTool('rmmod', ['ffwall']);
    this.log('unloaded ffwall');
    return { loaded: false };
  }

  protected override async catch(err: Error): Promise<unknown> {
    return moduleCatch(this, err);
  }
}
