// SPDX-License-Identifier: MIT
import { spawn } from 'node:child_process';
import path from 'node:path';

import { Command, Flags } from '@oclif/core';

import { FfwallError } from '../../lib/index.js';
import { moduleCatch } from '../../cli/module.js';

export default class ModuleBuildCommand extends Command {
  static override summary = 'Build ffwall.ko from this source tree for the running kernel (or --kver / --all), with scripts/kbuild.sh';
  static override description = 'Needs the kernel headers (apt-get install linux-headers-amd64). The module lands in build/kmod/<kver>/ffwall.ko; load it with `ffwall module load`.';
  static override enableJsonFlag = true;
  static override examples = ['<%= config.bin %> module build', '<%= config.bin %> module build --kver 6.1.0-56-amd64 --debug', '<%= config.bin %> module build --all --json'];
  static override flags = {
    kver: Flags.string({ summary: 'Build for this kernel version.', exclusive: ['all'] }),
    all: Flags.boolean({ summary: 'Build for every kernel with headers installed.' }),
    debug: Flags.boolean({ summary: 'Debug build (selftests at load).' }),
  };

  async run(): Promise<{ modules: string[] }> {
    const { flags } = await this.parse(ModuleBuildCommand);
    const args: string[] = [];
    if (flags.kver !== undefined) args.push('--kver', flags.kver);
    if (flags.all) args.push('--all');
    if (flags.debug) args.push('--debug');
    const script = path.join(this.config.root, 'scripts', 'kbuild.sh');
    const child = spawn(script, args, { stdio: ['ignore', 'pipe', this.jsonEnabled() ? 'pipe' : 'inherit'] });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c) => resolve(c ?? 1));
    });
    if (code !== 0) throw new FfwallError(code === 2 ? 'EINVAL' : 'EFAILED', `ffwall: scripts/kbuild.sh failed (exit ${code})${err === '' ? '' : `: ${err.trim().split('\n').slice(-3).join(' / ')}`}`);
    const modules = out.split('\n').filter((l) => l.endsWith('.ko'));
    for (const m of modules) this.log(`built ${m}`);
    return { modules };
  }

  protected override async catch(err: Error): Promise<unknown> {
    return moduleCatch(this, err);
  }
}
