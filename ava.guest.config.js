// SPDX-License-Identifier: MIT
// Guest tests: run inside the QEMU guest by test/vm/guest-run.sh, one file at
// a time (they load and unload the module), with room for slow emulation.
export default {
  files: ['dist/test/guest/**/*.test.js'],
  workerThreads: false,
  concurrency: 1,
  serial: true,
  timeout: '10m',
};
