// SPDX-License-Identifier: MIT
import { FfwallCommand } from '../cli/base.js';
import type { DeviceEntry } from '../lib/index.js';
import { deviceTable } from './stats.js';

export default class DevicesCommand extends FfwallCommand {
  static override summary = 'List the attached network devices and whether each is hooked';
  static override examples = ['<%= config.bin %> devices', '<%= config.bin %> devices --json'];

  async run(): Promise<{ transport: string; devices: DeviceEntry[] }> {
    const { flags } = await this.parse(DevicesCommand);
    const fw = await this.openFfwall(flags);
    const devices = await fw.devices();
    this.log(devices.length === 0 ? `no device attached (ffwall attach <dev>) [${fw.transport}]` : deviceTable(devices));
    return { transport: fw.transport, devices };
  }
}
