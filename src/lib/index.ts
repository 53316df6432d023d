// SPDX-License-Identifier: MIT
//
// ffwall's embeddable library: the public API.
export { AbiMismatchError, DEFAULT_DEVICE_PATH, Device, libraryAbiVersion } from './device.js';
export { AddressError, IpPrefix, parseAddress, parsePrefix, toAddress, toPrefix, tryParsePrefix } from './addr.js';
export * from './kernel.js';
export { NativeKernel, MissingFeatureError, type NativeKernelOptions } from './kernel-native.js';
