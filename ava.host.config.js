// SPDX-License-Identifier: MIT
// Host unit tests: compiled TypeScript in dist/, no kernel needed.
export default {
  files: ['dist/test/host/**/*.test.js'],
  workerThreads: false,
  timeout: '2m',
};
