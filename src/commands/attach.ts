// SPDX-License-Identifier: MIT
import { Args } from '@oclif/core';

import { FfwallCommand } from '../cli/base.js';
import type { DeviceEntry } from '../lib/index.js';

export default class AttachCommand extends FfwallCommand {
  static override summary = 'Hook a network device (or * for every device): ffwall drops banned sources on it';
  static override examples = ['<%= config.bin %> attach eth0', '<%= config.bin %> attach "*" --json'];
  static override args = { device: Args.string({ description: 'network device name, or * for every device', required: true }) };

  async run(): Promise<{ transport: string; device: string; devices: DeviceEntry[] }> {
    const { args, flags } = await this.parse(AttachCommand);
    const fw = await this.openFfwall(flags);
    const devices = await fw.attach(args.device);
    this.log(`attached ${args.device} [${fw.transport}]`);
    return { transport: fw.transport, device: args.device, devices };
  }
}
