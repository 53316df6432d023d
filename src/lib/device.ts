// SPDX-License-Identifier: MIT
//
// /dev/ffwall from Node: open, check the module's ABI, query it.  A thin
// synchronous handle for `ffwall module version`; the full interface is
// NativeKernel (kernel-native.ts).
import type { ModuleVersion } from './kernel.js';
import { loadBinding, type NativeDevice } from './native.js';

export const DEFAULT_DEVICE_PATH = '/dev/ffwall';

export type { ModuleVersion } from './kernel.js';

/** Thrown when the loaded module speaks an ABI this library does not know. */
export class AbiMismatchError extends Error {
  readonly code = 'EFFWALLABI';
  constructor(
    readonly moduleAbi: number,
    readonly libraryAbi: number,
  ) {
    super(
      `ffwall.ko speaks ABI version ${moduleAbi}, but this library speaks ABI version ${libraryAbi}; ` +
        (moduleAbi > libraryAbi
          ? 'upgrade the ffwall package (and rebuild its addon with `npm run build:addon`)'
          : 'rebuild and reload the module from this package (`npm run build:kmod`, then reload ffwall.ko)'),
    );
    this.name = 'AbiMismatchError';
  }
}

export class Device {
  readonly #native: NativeDevice;

  private constructor(native: NativeDevice) {
    this.#native = native;
  }

  /**
   * Opens the device and refuses a module whose ABI version differs from the
   * one this library was built against.
   */
  static open(path: string = DEFAULT_DEVICE_PATH): Device {
    if (typeof path !== 'string' || path.length === 0) {
      throw new TypeError('ffwall: device path must be a non-empty string');
    }
    const binding = loadBinding();
    const dev = new Device(new binding.Device(path));
    try {
      const v = dev.version();
      if (v.abiVersion !== binding.ABI_VERSION) throw new AbiMismatchError(v.abiVersion, binding.ABI_VERSION);
    } catch (err) {
      dev.close();
      throw err;
    }
    return dev;
  }

  get path(): string {
    return this.#native.path;
  }

  version(): ModuleVersion {
    const v = this.#native.version();
    return { abiVersion: v.abiVersion, features: v.features, moduleVersion: v.moduleVersion };
  }

  close(): void {
    this.#native.close();
  }
}

/** The ABI version this library was built against. */
export function libraryAbiVersion(): number {
  return loadBinding().ABI_VERSION;
}
