// SPDX-License-Identifier: MIT
//
// The start of the bundled CLI (dist/cli/, built by scripts/build-cli.mjs):
// one @oclif/core and plugin-help's `help` command in dist/cli/ffwall.js, each
// command in dist/cli/commands/ sharing that @oclif/core, so the CLI starts
// without resolving and compiling ~150 files of node_modules, and still loads
// only the command it runs.  oclif is told so through its own options
// (docs/DESIGN-cli.md):
// - the plugins are given, so oclif looks for none in node_modules
//   (plugin-help from there would load a second @oclif/core);
// - the root plugin is package.json's, its commands directory dist/cli/commands
//   instead of dist/src/commands; oclif.manifest.json (which names no file)
//   describes both;
// - plugin-help is a plugin of its own as before, its one command found by the
//   "explicit" strategy: the bundle's HELP export;
// - no TypeScript path lookup: the bundle is compiled code.
// bin/run.js falls back to the unbundled tree when the bundle is missing.
import { readFileSync } from 'node:fs';
import path from 'node:path';

import { execute, Plugin, settings, type Interfaces } from '@oclif/core';

export interface BundleInfo {
  /** The package's root (package.json, oclif.manifest.json). */
  root: string;
  /** The bundle's main file, which exports the help command as `helpExport`. */
  bundleFile: string;
  helpExport: string;
  /** plugin-help's package.json (name, version, oclif), as bundled. */
  helpPjson: Interfaces.PJSON;
}

/** Resolves when the command is done; exit codes and errors are oclif's, as with execute({dir}). */
export async function runBundled(info: BundleInfo): Promise<unknown> {
  const { root } = info;
  settings.enableAutoTranspile = false;
  const rel = (file: string): string => `./${path.relative(root, file).split(path.sep).join('/')}`;

  const pjson = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as Interfaces.PJSON;
  pjson.oclif = { ...pjson.oclif, commands: rel(path.join(path.dirname(info.bundleFile), 'commands')) };
  const main = new Plugin({ root, isRoot: true, pjson });

  // isRoot only makes oclif take this root and pjson as given (no search of node_modules).
  const helpPjson: Interfaces.PJSON = { ...info.helpPjson, oclif: { ...info.helpPjson.oclif, commands: { strategy: 'explicit', target: rel(info.bundleFile), identifier: info.helpExport } } };
  const help = new Plugin({ root, isRoot: true, type: 'core', pjson: helpPjson, ignoreManifest: true });

  await Promise.all([main.load(), help.load()]);
  return execute({
    loadOptions: {
      root,
      plugins: new Map([
        [main.name, main],
        [help.name, help],
      ]),
    },
  });
}
