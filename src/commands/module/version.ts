// SPDX-License-Identifier: MIT
import { Command, Flags } from '@oclif/core';

import { DEFAULT_DEVICE_PATH, Device, type ModuleVersion } from '../../lib/index.js';

export interface ModuleVersionResult {
  device: string;
  abiVersion: number;
  moduleVersion: string;
  /** Feature bits as a hex string (a u64 does not fit a JSON number). */
  features: string;
}

export default class ModuleVersionCommand extends Command {
  static override summary = 'Report the version and ABI of the loaded ffwall.ko';
  static override enableJsonFlag = true;
  static override flags = {
    device: Flags.string({ summary: 'Path of the ffwall device.', default: DEFAULT_DEVICE_PATH }),
  };

  async run(): Promise<ModuleVersionResult> {
    const { flags } = await this.parse(ModuleVersionCommand);
    const dev = Device.open(flags.device);
    let v: ModuleVersion;
    try {
      v = dev.version();
    } finally {
      dev.close();
    }
    const result: ModuleVersionResult = {
      device: flags.device,
      abiVersion: v.abiVersion,
      moduleVersion: v.moduleVersion,
      features: `0x${v.features.toString(16)}`,
    };
    this.log(`ffwall.ko ${v.moduleVersion}, ABI ${v.abiVersion}, features ${result.features} (${flags.device})`);
    return result;
  }
}
