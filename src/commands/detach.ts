// SPDX-License-Identifier: MIT
import { Args } from '@oclif/core';

import { FfwallCommand } from '../cli/base.js';
import type { DeviceEntry } from '../lib/index.js';

export default class DetachCommand extends FfwallCommand {
  static override summary = 'Unhook a network device (or *)';
  static override examples = ['<%= config.bin %> detach eth0', '<%= config.bin %> detach "*" --json'];
  static override args = { device: Args.string({ description: 'network device name, or * for every device', required: true }) };

  async run(): Promise<{ transport: string; device: string; devices: DeviceEntry[] }> {
    const { args, flags } = await this.parse(DetachCommand);
    const fw = await this.openFfwall(flags);
    const devices = await fw.detach(args.device);
    this.log(`detached ${args.device} [${fw.transport}]`);
    return { transport: fw.transport, device: args.device, devices };
  }
}
