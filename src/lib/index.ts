// SPDX-License-Identifier: MIT
//
// ffwall's embeddable library: the public API.
export { AbiMismatchError, DEFAULT_DEVICE_PATH, Device, libraryAbiVersion, type ModuleVersion } from './device.js';
