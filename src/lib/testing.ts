// SPDX-License-Identifier: MIT
//
// `import { FakeKernel } from 'ffwall/testing'`: the in-memory Kernel with
// the module's semantics (exact and prefix tables, ports, TTLs, CLOCK
// eviction, events, the allowlist), for an application's own tests of its
// ffwall integration without ffwall.ko:
//
//   const fw = await openFfwall({ kernel: new FakeKernel(), database: false });
//
// A separate entry so that the package's main entry does not carry it; in
// the bundle (dist/lib) both entries share one copy of the library's
// classes, so a FakeKernel given to openFfwall() of 'ffwall' passes its
// instanceof checks.
export { FakeKernel, type FakeKernelOptions, type FakePacket } from './kernel-fake.js';
