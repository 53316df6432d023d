// SPDX-License-Identifier: MIT
//
// The esbuild options that the CLI's bundle (scripts/build-cli.mjs) and the
// library's (scripts/build-lib.mjs) share: ESM for Node 20, split into
// chunks so that what the code loads with import() stays a separate file,
// loaded only when used, a metafile for the scripts' checks, and a require()
// for the ESM output (REQUIRE_BANNER).  Both bundles load lmdb with require()
// (byRequire()); the library's loads Node's built-ins that way too, the
// CLI's does not: oclif loads most of them anyway, and there the plugin
// measured 1% more instructions (`--version`, `export`, `block --help`).

/** The namespace (a prefix) of the small modules that stand for require()d modules in the bundles (byRequire()). */
export const REQUIRE_NAMESPACE = 'ffwall-require';

/**
 * Imports of the modules that @filter matches, turned into require() calls.
 * Each becomes a one-line CommonJS module here, free of side effects (an
 * import nothing uses is dropped), whose require() is REQUIRE_BANNER's; the
 * sources keep their ordinary imports.  Two reasons to want it:
 * - Node's built-ins: an ES import of node:fs makes its module namespace,
 *   which reads every export and so runs fs's lazy getters (ReadStream loads
 *   all of the streams, promises fs/promises).  Importing node:fs alone cost
 *   30M instructions, and the built-ins 41M of the library bundle's 73M
 *   (callgrind on the host, with fixed hash and random seeds); require()
 *   hands back the object and runs nothing.
 * - A package that a lazily evaluated part of a one-file bundle uses (lmdb,
 *   for the ban database): an ES import would be hoisted to the top of the
 *   file and load the package with it; a require() runs when that part does.
 */
export function byRequire(name, filter) {
  const namespace = `${REQUIRE_NAMESPACE}-${name}`;
  return {
    name: `ffwall-by-require-${name}`,
    setup(b) {
      b.onResolve({ filter }, (a) => (a.namespace === namespace ? { path: a.path, external: true } : { path: a.path, namespace, sideEffects: false }));
      b.onLoad({ filter: /.*/, namespace }, (a) => ({ contents: `module.exports = require(${JSON.stringify(a.path)});`, loader: 'js' }));
    },
  };
}

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

/** A require() for the ESM output: that of byRequire()'s modules, and of the CommonJS modules bundled in (oclif's). */
export const REQUIRE_BANNER = { js: "import { createRequire as __ffwallCreateRequire } from 'node:module';\nconst require = __ffwallCreateRequire(import.meta.url);" };
