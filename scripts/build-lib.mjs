#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// Bundles the library's entry (dist/src/lib/index.js, what `import 'ffwall'`
// and require('ffwall').load() give) with esbuild into one file,
// dist/lib/index.js.  What the library loads with import() (the ban
// database) is inlined and evaluated only when first imported.  The npm
// dependencies (lmdb, msgpackr, ...) stay imports from node_modules, shared
// with the host application; Node's built-ins, and lmdb, are loaded with
// require() (esbuild-base.mjs says why).  Why a bundle: a process that
// imports the library pays Node's module loader once per file, and ES
// imports of the built-ins run their lazy getters (docs/DESIGN-cli.md, "The
// library's bundle", has the figures).  Run after tsc (`npm run build:ts`
// does).
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

import { REQUIRE_NAMESPACE, byRequire, ESBUILD_BASE, REQUIRE_BANNER } from './esbuild-base.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entry = path.join(root, 'dist', 'src', 'lib', 'index.js');
const outdir = path.join(root, 'dist', 'lib');
/** Above this the bundle pulled in something it should not have (a dependency, the CLI). */
const MAX_BYTES = 600_000;

try {
  statSync(entry);
} catch {
  throw new Error('build-lib: dist/src/lib/index.js is missing (run tsc first)');
}
rmSync(outdir, { recursive: true, force: true });
const result = await build({
  // scan-worker.js: the worker of a listing walked by several threads, found beside index.js.
  entryPoints: { index: entry, 'scan-worker': path.join(root, 'dist', 'src', 'lib', 'db', 'scan-worker.js') },
  ...ESBUILD_BASE,
  // One file: what the library loads with import() (the ban database) is
  // inlined, evaluated only when first imported.  Under emulation each file
  // the ES loader reads cost about 20 ms, over 9p, more than parsing the
  // database's code in the one file: split into 8 files the import took
  // 0.26-0.34 s in the guest, 0.21-0.24 s with 5, and 0.17-0.18 s as one.
  splitting: false,
  outdir,
  // Every npm package stays external: the application shares them, and the
  // native ones (lmdb) must be loaded from their own directories.
  packages: 'external',
  // Node's built-ins, and lmdb (which only the inlined database uses), with require() (esbuild-base.mjs says why).
  plugins: [byRequire('node', /^node:/), byRequire('lmdb', /^lmdb$/)],
  banner: REQUIRE_BANNER,
});
const outputs = Object.entries(result.metafile.outputs);
const bytes = outputs.reduce((n, [, o]) => n + o.bytes, 0);
if (bytes > MAX_BYTES) throw new Error(`build-lib: the bundle is ${bytes} bytes (above ${MAX_BYTES}): what pulled that in?`);
// Only the library's own sources: nothing of the CLI, the daemon or node_modules.
const foreign = Object.keys(result.metafile.inputs).filter((f) => !f.startsWith('dist/src/lib/') && !f.startsWith(`${REQUIRE_NAMESPACE}-`));
if (foreign.length > 0) throw new Error(`build-lib: the bundle holds files from outside the library: ${foreign.join(', ')}`);
writeFileSync(path.join(root, 'dist', 'lib-meta.json'), JSON.stringify(result.metafile));
const files = readdirSync(outdir, { recursive: true }).filter((f) => String(f).endsWith('.js')).length;
console.error(`build-lib: ${files} files in dist/lib (${(bytes / 1024).toFixed(0)} KB; index.js ${(statSync(path.join(outdir, 'index.js')).size / 1024).toFixed(0)} KB)`);
