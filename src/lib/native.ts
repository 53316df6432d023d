// SPDX-License-Identifier: MIT
//
// The only file that loads the native addon.  Its typings are private: the
// public types of the library live in device.ts and index.ts.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface NativeVersion {
  abiVersion: number;
  features: bigint;
  moduleVersion: string;
}

export interface NativeDevice {
  readonly fd: number;
  readonly path: string;
  version(): NativeVersion;
  close(): void;
}

export interface NativeBinding {
  Device: new (path: string) => NativeDevice;
  ABI_VERSION: number;
  DEVICE_NAME: string;
}

let binding: NativeBinding | undefined;

/** Locates the built addon: build/Release/ffwall.node at the package root. */
export function addonPath(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'build', 'Release', 'ffwall.node');
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error('ffwall: the native addon is not built (build/Release/ffwall.node); run `npm run build:addon`');
}

export function loadBinding(): NativeBinding {
  if (binding === undefined) {
    const require = createRequire(import.meta.url);
    binding = require(addonPath()) as NativeBinding;
  }
  return binding;
}
