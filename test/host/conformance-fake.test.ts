// SPDX-License-Identifier: MIT
//
// The conformance suite (test/conformance/kernel-suite.ts) against the
// FakeKernel, on its fake clock: advance() is instant.
import test from 'ava';

import { FakeKernel } from '../../src/lib/kernel-fake.js';
import { registerKernelSuite } from '../conformance/kernel-suite.js';

registerKernelSuite(test, {
  name: 'fake',
  device: 'ffw0',
  async open() {
    const kernel = new FakeKernel({ gcInterval: 1, netdevs: { lo: 1, ffw0: 7 } });
    return {
      kernel,
      async advance(seconds: number) {
        kernel.advance(seconds);
      },
      async packet(p) {
        return kernel.packet({ ...p, device: 'ffw0' });
      },
      async close() {
        await kernel.close();
      },
    };
  },
});
