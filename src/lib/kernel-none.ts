// SPDX-License-Identifier: MIT
//
// The kernel of an Ffwall opened with the database alone (openFfwall's
// `kernel: false`): no /dev/ffwall is opened, so the calls that only read
// the ban database work without the module (and without CAP_NET_ADMIN),
// and every call that needs the kernel fails with FfwallError ENOKERNEL,
// changing nothing.
import { FfwallError } from './errors.js';
import type {
  BatchResult,
  DeviceInfo,
  Kernel,
  KernelColumns,
  KernelConfig,
  KernelEntry,
  KernelEventStream,
  KernelStats,
  LookupResult,
  ModuleVersion,
} from './kernel.js';

/** The error of a kernel call on an Ffwall opened with the database alone. */
export function noKernelError(call: string): FfwallError {
  return new FfwallError('ENOKERNEL', `ffwall: ${call} needs the kernel module, and this instance was opened with the database alone (kernel: false)`);
}

export class NoKernel implements Kernel {
  readonly kind = 'none';

  version(): Promise<ModuleVersion> {
    return Promise.reject(noKernelError('version'));
  }

  getConfig(): Promise<KernelConfig> {
    return Promise.reject(noKernelError('getConfig'));
  }

  setConfig(): Promise<KernelConfig> {
    return Promise.reject(noKernelError('setConfig'));
  }

  attach(): Promise<void> {
    return Promise.reject(noKernelError('attach'));
  }

  detach(): Promise<void> {
    return Promise.reject(noKernelError('detach'));
  }

  devices(): Promise<DeviceInfo[]> {
    return Promise.reject(noKernelError('devices'));
  }

  add(): Promise<BatchResult> {
    return Promise.reject(noKernelError('add'));
  }

  del(): Promise<BatchResult> {
    return Promise.reject(noKernelError('del'));
  }

  lookup(): Promise<LookupResult> {
    return Promise.reject(noKernelError('lookup'));
  }

  async *dump(): AsyncIterable<KernelEntry[]> {
    throw noKernelError('dump');
  }

  async *dumpColumns(): AsyncIterable<KernelColumns> {
    throw noKernelError('dumpColumns');
  }

  flush(): Promise<number> {
    return Promise.reject(noKernelError('flush'));
  }

  reserve(): Promise<number> {
    return Promise.reject(noKernelError('reserve'));
  }

  stats(): Promise<KernelStats> {
    return Promise.reject(noKernelError('stats'));
  }

  allowAdd(): Promise<BatchResult> {
    return Promise.reject(noKernelError('allowAdd'));
  }

  allowDel(): Promise<BatchResult> {
    return Promise.reject(noKernelError('allowDel'));
  }

  async *allowDump(): AsyncIterable<KernelEntry[]> {
    throw noKernelError('allowDump');
  }

  filterLoad(): Promise<void> {
    return Promise.reject(noKernelError('filterLoad'));
  }

  filterAdd(): Promise<void> {
    return Promise.reject(noKernelError('filterAdd'));
  }

  events(): KernelEventStream {
    throw noKernelError('events');
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
