// SPDX-License-Identifier: MIT
import { existsSync } from 'node:fs';

import { Command, Flags } from '@oclif/core';

import { moduleCatch, modulePath, runTool } from '../../cli/module.js';
import { FfwallError } from '../../lib/index.js';

export default class ModuleLoadCommand extends Command {
  static override summary = 'Load ffwall.ko built from this source tree (build/kmod/<kver>/ffwall.ko), for hosts without DKMS';
  static override description = 'Runs insmod; needs root. Build the module first with `ffwall module build`. With DKMS, use `modprobe ffwall` instead.';
  static override enableJsonFlag = true;
  static override examples = ['<%= config.bin %> module load', '<%= config.bin %> module load --debug --param max_entries=2000000'];
  static override flags = {
    kver: Flags.string({ summary: 'Kernel version (default: the running kernel).' }),
    debug: Flags.boolean({ summary: 'The debug build (build/kmod/<kver>-debug).' }),
    param: Flags.string({ summary: 'A module parameter, name=value (repeatable).', multiple: true }),
  };

  async run(): Promise<{ module: string; loaded: true }> {
    const { flags } = await this.parse(ModuleLoadCommand);
    const ko = modulePath(this.config.root, flags.kver, flags.debug);
    if (!existsSync(ko)) throw new FfwallError('ENOMODULE', `ffwall: ${ko} does not exist; build it with \`ffwall module build${flags.debug ? ' --debug' : ''}\``);
    for (const p of flags.param ?? []) if (!/^[a-z_][a-z0-9_]*=[^\s]+$/.test(p)) throw new TypeError(`--param: "${p}" is not name=value`);
    if (existsSync('/sys/module/ffwall')) throw new FfwallError('EEXIST', 'ffwall: the ffwall module is already loaded (ffwall module unload first)');
    runTool('insmod', [ko, ...(flags.param ?? [])]);
    this.log(`loaded ${ko}`);
    return { module: ko, loaded: true };
  }

  protected override async catch(err: Error): Promise<unknown> {
    return moduleCatch(this, err);
  }
}

