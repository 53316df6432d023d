#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// The bundled CLI (dist/cli/ffwall.js: oclif and every command in one module,
// built by `npm run build:ts`) when it is there and at least as new as the
// tsc output it was built from; otherwise oclif from node_modules over the
// commands in dist/src/commands (a tree built by tsc alone).  Both behave
// the same; the bundle starts faster (docs/DESIGN-cli.md).
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = new URL('../dist/cli/ffwall.js', import.meta.url);
const built = statSync(bundle, { throwIfNoEntry: false });
const source = statSync(new URL('../dist/src/cli/bundled.js', import.meta.url), { throwIfNoEntry: false });
if (built !== undefined && source !== undefined && built.mtimeMs >= source.mtimeMs) {
  const { run } = await import(bundle.href);
  await run(fileURLToPath(new URL('..', import.meta.url)));
} else {
  const { execute } = await import('@oclif/core');
  await execute({ dir: import.meta.url });
}
