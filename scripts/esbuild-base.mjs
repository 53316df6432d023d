// SPDX-License-Identifier: MIT
//
// The esbuild options that the CLI's bundle (scripts/build-cli.mjs) and the
// library's (scripts/build-lib.mjs) share: ESM for Node 20, split into
// chunks so that what the code loads with import() stays a separate file,
// loaded only when used, and a metafile for the scripts' checks.
export const ESBUILD_BASE = {
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
};
