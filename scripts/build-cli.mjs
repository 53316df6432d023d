#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// Bundles the CLI with esbuild into dist/cli/ (docs/DESIGN-cli.md says why):
// ffwall.js holds @oclif/core, plugin-help's `help` command and the start-up
// (src/cli/bundled.ts); commands/<id>.js each command of dist/src/commands;
// chunks/ the code they share (one @oclif/core for all), and what the library
// imports with import() (the database, the daemon's service), loaded only when
// used, as in the unbundled tree.  Run after tsc and scripts/oclif-manifest.mjs
// (`npm run build:ts` does both).
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { build } from 'esbuild';

import { byRequire, ESBUILD_BASE, REQUIRE_BANNER } from './esbuild-base.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const commandsDir = path.join(root, 'dist', 'src', 'commands');
const outdir = path.join(root, 'dist', 'cli');

/** Not bundled, each for a reason (loaded from node_modules when, and only when, used). */
const EXTERNAL = [
  // Native addons, worker files or both; only the database and the daemon use them (lazily).
  'lmdb',
  'pino',
  'prom-client',
  // oclif's TypeScript support (read-tsconfig, ts-path), switched off in the bundle.
  'typescript',
  'ts-node',
  'tsx',
  // oclif's checkNodeVersion, switched off below (package.json's engines is stricter).
  'semver',
];
/** A bundle above this pulled in something it should not have (typescript alone is 10 MB). */
const MAX_BYTES = 2_500_000;

/** Command modules and their ids, as oclif's "pattern" strategy names them (topic dirs joined by ':'; index names its dir). */
function commandFiles(dir, topics = []) {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => {
      if (e.isDirectory()) return commandFiles(path.join(dir, e.name), [...topics, e.name]);
      if (!e.name.endsWith('.js')) return [];
      const name = e.name.slice(0, -3);
      const id = [...topics, ...(name === 'index' ? [] : [name])].join(':');
      return [{ id, file: path.join(dir, e.name) }];
    });
}

const commands = commandFiles(commandsDir);
if (commands.length === 0) throw new Error('build-cli: no commands in dist/src/commands (run tsc first)');
const manifest = JSON.parse(readFileSync(path.join(root, 'oclif.manifest.json'), 'utf8'));
const expected = Object.keys(manifest.commands).sort().join(' ');
const found = commands.map((c) => c.id).sort().join(' ');
if (found !== expected) throw new Error(`build-cli: the commands found (${found}) differ from oclif.manifest.json's (${expected})`);

const rel = (file) => `./${path.relative(root, file).split(path.sep).join('/')}`;
const help = JSON.parse(readFileSync(path.join(root, 'node_modules', '@oclif', 'plugin-help', 'package.json'), 'utf8'));
const helpPjson = { name: help.name, version: help.version, oclif: help.oclif };
const entry = [
  "import { fileURLToPath } from 'node:url';",
  `import { runBundled } from ${JSON.stringify(rel(path.join(root, 'dist', 'src', 'cli', 'bundled.js')))};`,
  `export { commands as HELP } from '@oclif/plugin-help';`,
  'export function run(root) {',
  `  return runBundled({ root, bundleFile: fileURLToPath(import.meta.url), helpExport: 'HELP', helpPjson: ${JSON.stringify(helpPjson)} });`,
  '}',
].join('\n');

const virtualEntry = {
  name: 'ffwall-cli-entry',
  setup(b) {
    b.onResolve({ filter: /^ffwall-cli-entry$/ }, () => ({ path: 'ffwall-cli-entry', namespace: 'ffwall-cli-entry' }));
    b.onLoad({ filter: /.*/, namespace: 'ffwall-cli-entry' }, () => ({ contents: entry, resolveDir: root, loader: 'js' }));
  },
};
// oclif sorts a plugin's commands with localeCompare(), whose first call in a
// process builds ICU's collator: 5-9 ms of the CLI's 80 ms start on the host
// (about 0.15 s in the emulated guest of the benchmarks), for every command.
// The bundle's copy compares code units instead: for our ids (lower-case
// words joined by ':') the order is the same, which the build checks.
const LOCALE_SORT = '.sort((a, b) => a.id.localeCompare(b.id))';
const ordinalIds = Object.keys(manifest.commands).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
const localeIds = Object.keys(manifest.commands).sort((a, b) => a.localeCompare(b));
if (ordinalIds.join(' ') !== localeIds.join(' ')) throw new Error(`build-cli: command ids sort differently by code units and by locale (${ordinalIds.join(' ')}); drop ordinalCommandSort`);
const ordinalCommandSort = {
  name: 'ffwall-ordinal-command-sort',
  setup(b) {
    b.onLoad({ filter: /@oclif[\\/]core[\\/]lib[\\/]config[\\/]plugin\.js$/ }, (a) => {
      const src = readFileSync(a.path, 'utf8');
      const copies = src.split(LOCALE_SORT).length - 1;
      if (copies !== 1) throw new Error(`build-cli: ${a.path} has ${copies} copies of ${LOCALE_SORT}, not 1 (another @oclif/core? see ordinalCommandSort)`);
      return { contents: src.replace(LOCALE_SORT, '.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))'), loader: 'js' };
    });
  },
};
const entryPoints = { ffwall: 'ffwall-cli-entry' };
for (const c of commands) entryPoints[path.join('commands', path.relative(commandsDir, c.file)).slice(0, -3)] = c.file;
// The worker of a listing walked by several threads (src/lib/db/scan-parallel.ts): found next
// to the chunk that starts it, so it is a chunk of a name the code knows.
const SCAN_WORKER = path.join('chunks', 'scan-worker');
entryPoints[SCAN_WORKER] = path.join(root, 'dist', 'src', 'lib', 'db', 'scan-worker.js');

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints,
  ...ESBUILD_BASE,
  // lmdb by require(): its CommonJS build is one file (with msgpackr's, 25 files loaded
  // against 40 as ES modules; 57 against 73 ms to load it and open a database on the host).
  plugins: [virtualEntry, ordinalCommandSort, byRequire('lmdb', /^lmdb$/)],
  outdir,
  external: EXTERNAL,
  // oclif's CommonJS modules call require() (node builtins, require.resolve): give the ESM output one.
  banner: REQUIRE_BANNER,
  // oclif's own switch: its Node version check reads @oclif/core's package.json next to its files, which the bundle is not.
  define: { 'process.env.OCLIF_DISABLE_ENGINE_WARNING': '"1"' },
});

// The inputs of each output, for a look at what the bundle holds (esbuild's analyzer reads it).
writeFileSync(path.join(root, 'dist', 'cli-meta.json'), JSON.stringify(result.metafile));
const outputs = Object.entries(result.metafile.outputs);
const bytes = outputs.reduce((n, [, o]) => n + o.bytes, 0);
if (bytes > MAX_BYTES) throw new Error(`build-cli: the bundle is ${bytes} bytes (above ${MAX_BYTES}): what pulled that in?`);
// One copy of @oclif/core: every input of it from the same directory.
const coreDir = 'node_modules/@oclif/core/';
const coreCopies = new Set(Object.keys(result.metafile.inputs).flatMap((f) => (f.includes(coreDir) ? [f.slice(0, f.indexOf(coreDir))] : [])));
if (coreCopies.size !== 1) throw new Error(`build-cli: ${coreCopies.size} copies of @oclif/core in the bundle: ${[...coreCopies].join(', ')}`);
// The code that starts the listing workers must sit beside scan-worker.js (it looks there).
const starter = outputs.filter(([, o]) => Object.keys(o.inputs).some((f) => f.endsWith('dist/src/lib/db/scan-parallel.js')) && !('entryPoint' in o && o.entryPoint.endsWith('scan-worker.js')));
const workerOut = path.join('dist', 'cli', `${SCAN_WORKER}.js`);
if (!outputs.some(([f]) => f === workerOut)) throw new Error(`build-cli: ${workerOut} is missing`);
for (const [f] of starter) if (path.dirname(f) !== path.dirname(workerOut)) throw new Error(`build-cli: ${f} starts listing workers but is not beside ${workerOut}`);
const main = statSync(path.join(outdir, 'ffwall.js')).size;
console.error(`build-cli: ${commands.length} commands + help, ${outputs.length} files in dist/cli (${(bytes / 1024).toFixed(0)} KB; ffwall.js ${(main / 1024).toFixed(0)} KB)`);
