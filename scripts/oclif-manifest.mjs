#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// Writes oclif.manifest.json (the commands, their flags and help) after
// `tsc`, as `oclif manifest` would: oclif then finds a command without
// importing every command module first.  Done with @oclif/core's own Plugin
// loader, so the `oclif` development tool (whose current major needs Node 22
// and pulls in a large dependency tree) is not needed.  The file is
// generated, never committed (.gitignore); `npm run build:ts` rewrites it.
//
// It names no file (no relativePath, isESM): oclif then loads a command from
// its commands directory, dist/src/commands for the unbundled tree and
// dist/cli/commands for the bundle (src/cli/bundled.ts), so that one manifest
// serves both.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Plugin } from '@oclif/core';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const plugin = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true });
await plugin.load();
const commands = Object.keys(plugin.manifest.commands ?? {});
for (const id of commands) {
  delete plugin.manifest.commands[id].relativePath;
  delete plugin.manifest.commands[id].isESM;
}
if (commands.length === 0) throw new Error('oclif-manifest: no commands found (run tsc first)');
writeFileSync(path.join(root, 'oclif.manifest.json'), `${JSON.stringify(plugin.manifest, null, 2)}\n`);
console.error(`oclif-manifest: ${commands.length} commands`);
