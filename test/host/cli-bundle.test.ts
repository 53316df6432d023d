// SPDX-License-Identifier: MIT
//
// The bundled CLI (dist/cli/, scripts/build-cli.mjs; docs/DESIGN-cli.md):
// bin/run.js runs it when it is built and not older than the tsc output, and
// nothing of node_modules/@oclif is loaded then; without it (a tree built by
// tsc alone, here a copy of the package without dist/cli) bin/run.js runs
// oclif from node_modules; and both give the same output, exit code and
// errors.  Which files a run loads is recorded by a preload: an ESM resolve
// hook plus require.cache at exit.
import { spawn } from 'node:child_process';
import { appendFileSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { daemon, stop, type Run } from './cli-helpers.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const work = mkdtempSync(path.join(os.tmpdir(), 'ffwall-bundle-'));
test.after.always(() => rmSync(work, { recursive: true, force: true }));

// The preload that lists what a run loads, one "esm <url>" or "cjs <file>" a line.
const hooks = path.join(work, 'hooks.mjs');
writeFileSync(
  hooks,
  `import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(log, 'esm ' + r.url + '\\n');
  return r;
}
`,
);
const preload = path.join(work, 'preload.mjs');
writeFileSync(
  preload,
  `import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
const log = process.env.FFWALL_TEST_LOADED;
register(${JSON.stringify(new URL(`file://${hooks}`).href)}, { data: { log } });
const cache = createRequire(import.meta.url).cache;
process.on('exit', () => appendFileSync(log, Object.keys(cache).map((f) => 'cjs ' + f + '\\n').join('')));
`,
);

interface Traced extends Run {
  /** Every module the run loaded: file paths (resolved, so real paths) and node: builtins. */
  loaded: string[];
}

let runs = 0;
async function run(tree: string, args: string[], trace = false): Promise<Traced> {
  const log = path.join(work, `loaded-${++runs}.txt`);
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (trace) {
    writeFileSync(log, '');
    env.FFWALL_TEST_LOADED = log;
    env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? ''} --import ${preload}`;
  }
  const child = spawn(process.execPath, [path.join(tree, 'bin', 'run.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (stderr += d));
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  const loaded = trace
    ? [...new Set(readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => l.slice(4)).map((u) => (u.startsWith('file:') ? fileURLToPath(u) : u)))]
    : [];
  return { code, stdout, stderr, loaded };
}

/**
 * A copy of the package whose dist/cli is a copy (or absent), its other parts
 * links to this checkout: bin/run.js must be a file of its own, since Node
 * runs a linked main file from where the link points.
 */
function tree(name: string, bundle: boolean): string {
  const dir = path.join(work, name);
  mkdirSync(path.join(dir, 'bin'), { recursive: true });
  mkdirSync(path.join(dir, 'dist'));
  copyFileSync(path.join(root, 'bin', 'run.js'), path.join(dir, 'bin', 'run.js'));
  for (const f of ['package.json', 'oclif.manifest.json']) copyFileSync(path.join(root, f), path.join(dir, f));
  for (const f of ['node_modules', 'build', 'src']) symlinkSync(path.join(root, f), path.join(dir, f));
  symlinkSync(path.join(root, 'dist', 'src'), path.join(dir, 'dist', 'src'));
  if (bundle) cpSync(path.join(root, 'dist', 'cli'), path.join(dir, 'dist', 'cli'), { recursive: true });
  return dir;
}

const fromOclif = (files: string[]): string[] => files.filter((f) => f.includes(`${path.sep}node_modules${path.sep}@oclif${path.sep}`));
const inside = (files: string[], dir: string): string[] => files.filter((f) => f.startsWith(path.join(root, dir) + path.sep));

const unbundled = tree('unbundled', false);

test('the checkout runs the bundle: no file of node_modules/@oclif, no command of dist/src, a handful of files', async (t) => {
  const r = await run(root, ['--version'], true);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /^ffwall\/\d+\.\d+\.\d+ /);
  t.true(r.loaded.includes(path.join(root, 'dist', 'cli', 'ffwall.js')), r.loaded.join('\n'));
  t.deepEqual(fromOclif(r.loaded), []);
  t.deepEqual(inside(r.loaded, 'dist/src'), []);
  const files = r.loaded.filter((f) => path.isAbsolute(f));
  t.true(files.length <= 10, `${files.length} files: ${files.join(' ')}`);

  // A command loads its own module from the bundle, still nothing of node_modules/@oclif.
  const s = await run(root, ['block', '--help'], true);
  t.is(s.code, 0, s.stderr);
  t.deepEqual(fromOclif(s.loaded), []);
  const b = await run(root, ['block', 'not-an-address', '--json'], true);
  t.is(b.code, 2, b.stderr);
  t.true(b.loaded.includes(path.join(root, 'dist', 'cli', 'commands', 'block.js')), b.loaded.join('\n'));
  t.deepEqual(fromOclif(b.loaded), []);
  t.deepEqual(inside(b.loaded, 'dist/src'), []);
  // plugin-help's help command is the bundle's too.
  const h = await run(root, ['help', 'block'], true);
  t.is(h.code, 0, h.stderr);
  t.deepEqual(fromOclif(h.loaded), []);
});

test('the bundle holds one @oclif/core', (t) => {
  const meta = JSON.parse(readFileSync(path.join(root, 'dist', 'cli-meta.json'), 'utf8')) as { inputs: Record<string, unknown> };
  const cores = new Set(Object.keys(meta.inputs).flatMap((f) => (f.includes('node_modules/@oclif/core/') ? [f.slice(0, f.indexOf('node_modules/@oclif/core/'))] : [])));
  t.is(cores.size, 1, [...cores].join(' '));
  t.true(Object.keys(meta.inputs).some((f) => f.includes('node_modules/@oclif/plugin-help/')));
  t.false(Object.keys(meta.inputs).some((f) => /node_modules\/(typescript|semver|lmdb|pino)\//.test(f)), 'the externals are not bundled');
});

test('without dist/cli, bin/run.js runs oclif from node_modules over dist/src/commands', async (t) => {
  const r = await run(unbundled, ['block', 'not-an-address', '--json'], true);
  t.is(r.code, 2, r.stderr);
  t.true(fromOclif(r.loaded).some((f) => f.endsWith(path.join('@oclif', 'core', 'lib', 'index.js'))), r.loaded.join('\n'));
  t.true(r.loaded.includes(path.join(root, 'dist', 'src', 'commands', 'block.js')));
  t.false(r.loaded.some((f) => f.includes(`${path.sep}dist${path.sep}cli${path.sep}`)));
});

test('a bundle older than the tsc output is not used (tsc run alone after a build)', async (t) => {
  const dir = tree('stale', true);
  const source = statSync(path.join(root, 'dist', 'src', 'cli', 'bundled.js')).mtime;
  const bundle = path.join(dir, 'dist', 'cli', 'ffwall.js');
  utimesSync(bundle, new Date(source.getTime() - 60_000), new Date(source.getTime() - 60_000));
  const stale = await run(dir, ['--version'], true);
  t.is(stale.code, 0, stale.stderr);
  t.true(fromOclif(stale.loaded).length > 0, 'oclif from node_modules');
  t.false(stale.loaded.includes(bundle));
  utimesSync(bundle, new Date(source.getTime() + 60_000), new Date(source.getTime() + 60_000));
  const fresh = await run(dir, ['--version'], true);
  t.is(fresh.code, 0, fresh.stderr);
  t.deepEqual(fromOclif(fresh.loaded), []);
  t.true(fresh.loaded.includes(bundle));
});

// Each case: the arguments, the exit code, and what the output must hold (besides being the same in both).
const cases: [string[], number, RegExp][] = [
  [['--version'], 0, /^ffwall\/\d/],
  [['--help'], 0, /TOPICS[\s\S]*allow[\s\S]*COMMANDS[\s\S]*block[\s\S]*help +Display help for ffwall/],
  [[], 0, /COMMANDS[\s\S]*unblock/],
  [['help', 'block'], 0, /USAGE\n {2}\$ ffwall block TARGET/],
  [['block', '--help'], 0, /USAGE\n {2}\$ ffwall block TARGET/],
  [['help', '--help'], 0, /VERSION[\s\S]*COMMANDS/],
  [['config'], 0, /\$ ffwall config COMMAND[\s\S]*config get +Read/],
  [['help', 'config', 'get'], 0, /\$ ffwall config get/],
  [['allow', 'list', '--help'], 0, /\$ ffwall allow list/],
  [['completion', 'bash'], 0, /"config get"\) words="[^"]*--json/],
  [['completion', 'fish'], 2, /Expected fish to be one of: bash, zsh/],
  [['nosuch'], 2, /command nosuch not found/],
  [['block'], 2, /Missing 1 required arg/],
  [['block', '192.0.2.1', '--bogus'], 2, /Nonexistent flag: --bogus/],
  [['block', 'not-an-address', '--json'], 2, /"exit": 2/],
  [['stats', '--json', '--transport', 'client', '--socket', '/nonexistent/ffwall.sock'], 3, /"exit": 3/],
];

for (const [args, code, expect] of cases) {
  test(`bundled and unbundled agree: ffwall ${args.join(' ') || '(no arguments)'}`, async (t) => {
    const [b, u] = await Promise.all([run(root, args), run(unbundled, args)]);
    t.is(b.code, code, b.stderr);
    t.regex(b.stdout + b.stderr, expect);
    t.is(u.code, b.code);
    t.is(u.stdout, b.stdout);
    t.is(u.stderr, b.stderr);
  });
}

test('bundled and unbundled agree on a --json command that succeeds, through a daemon', async (t) => {
  const d = await daemon();
  try {
    const add = await run(root, ['block', '192.0.2.9', '--reason', 'bundle test', '--json', ...d.conn]);
    t.is(add.code, 0, add.stderr);
    const args = ['show', '192.0.2.9', '--json', ...d.conn];
    const [b, u] = await Promise.all([run(root, args), run(unbundled, args)]);
    t.is(b.code, 0, b.stderr);
    const record = JSON.parse(b.stdout) as { target?: string; reason?: string };
    t.like(record, { target: '192.0.2.9' });
    t.is(u.code, 0, u.stderr);
    t.deepEqual(JSON.parse(u.stdout), record);
  } finally {
    await stop(d);
  }
});

test('the bundled daemon (a lazy chunk) finds the built-in Postfix patterns and bans from the log', async (t) => {
  const dir = path.join(work, 'daemon');
  mkdirSync(dir);
  const log = path.join(dir, 'mail.log');
  writeFileSync(log, '');
  writeFileSync(path.join(dir, 'resolv.conf'), '');
  const config = path.join(dir, 'ffwall.jsonc');
  writeFileSync(
    config,
    JSON.stringify({
      database: { path: path.join(dir, 'db') },
      socket: { path: path.join(dir, 'ffwall.sock') },
      safety: { resolvConf: path.join(dir, 'resolv.conf') },
      postfix: { log: { enabled: true, source: 'file', file: log } },
    }),
  );
  const child = spawn(process.execPath, [path.join(root, 'bin', 'run.js'), 'daemon', '--config', config, '--fake-kernel'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (out += d));
  const until = async (re: RegExp): Promise<void> => {
    for (const end = Date.now() + 20_000; !re.test(out); await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`no ${re}: ${out}`);
    }
  };
  try {
    await until(/"msg":"ready"/);
    appendFileSync(
      log,
      'Nov 29 14:00:00 mx postfix/smtpd[7]: NOQUEUE: reject: RCPT from unknown[198.51.100.7]: 554 5.7.1 Service unavailable; Client host [198.51.100.7] blocked using zen.spamhaus.org; from=<a@b.example> to=<c@example.org> proto=ESMTP helo=<x>\n',
    );
    await until(/offence threshold reached: banned/);
    t.regex(out, /"target":"198\.51\.100\.7"/);
    t.notRegex(out, /patterns file is missing/);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('close', r));
  }
});
