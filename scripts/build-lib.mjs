#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// Bundles the library's entry (dist/src/lib/index.js, what `import 'ffwall'`
// and require('ffwall').load() give) with esbuild into dist/lib/: index.js,
// testing.js ('ffwall/testing': FakeKernel) and the chunks they import, plus one chunk per import() of the library (the
// ban database, the daemon's pieces), still loaded only when used.  The npm
// dependencies (lmdb, msgpackr, ...) stay imports from node_modules, shared
// with the host application.  Why: a process that imports the library pays
// for Node's module loader once per file; 17 files took 0.5 s to import under
// emulation against 0.38 s for the bundle (114M against 58M instructions on
// the host; docs/DESIGN-cli.md, "The library's bundle").  Run after tsc
// (`npm run build:ts` does).
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

import { ESBUILD_BASE } from './esbuild-base.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entry = path.join(root, 'dist', 'src', 'lib', 'index.js');
// 'ffwall/testing' (FakeKernel): its own entry, sharing the library's chunks.
const testingEntry = path.join(root, 'dist', 'src', 'lib', 'testing.js');
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
  entryPoints: { index: entry, testing: testingEntry },
  ...ESBUILD_BASE,
  outdir,
  // Every npm package stays external: the application shares them, and the
  // native ones (lmdb) must be loaded from their own directories.
  packages: 'external',
});
const outputs = Object.entries(result.metafile.outputs);
const bytes = outputs.reduce((n, [, o]) => n + o.bytes, 0);
if (bytes > MAX_BYTES) throw new Error(`build-lib: the bundle is ${bytes} bytes (above ${MAX_BYTES}): what pulled that in?`);
// Only the library's own sources: nothing of the CLI, the daemon or node_modules.
const foreign = Object.keys(result.metafile.inputs).filter((f) => !f.startsWith('dist/src/lib/'));
if (foreign.length > 0) throw new Error(`build-lib: the bundle holds files from outside the library: ${foreign.join(', ')}`);
writeFileSync(path.join(root, 'dist', 'lib-meta.json'), JSON.stringify(result.metafile));
const files = readdirSync(outdir, { recursive: true }).filter((f) => String(f).endsWith('.js')).length;
console.error(`build-lib: ${files} files in dist/lib (${(bytes / 1024).toFixed(0)} KB; index.js ${(statSync(path.join(outdir, 'index.js')).size / 1024).toFixed(0)} KB)`);
