// SPDX-License-Identifier: MIT
//
// `ffwall list` and `ffwall export` of a large database, on the host (issue
// 9: "a 1M-entry table lists in seconds and memory stays flat").  The
// database is bench/scale-db.ts's (deterministic); build it once:
//
//   node dist/bench/list-host.js --db /tmp/db-1M --build 1000000
//   node dist/bench/list-host.js --db /tmp/db-1M [--out bench/results/list.json]
//
// Each case runs in a child process under /usr/bin/time -v (wall seconds,
// peak RSS), output to /dev/null:
//   - direct: the real `ffwall` command (bin/run.js --transport direct),
//     which reads the database alone (list and export do not open
//     /dev/ffwall, which the host does not have);
//   - library: the command's code path (Ffwall.listNdjson / the table pages
//     / Ffwall.listTargets for the plain export) over a FakeKernel and the
//     database, in one process, without oclif: it reports the split of its
//     RSS (the heap against the mapped database);
//   - socket: the real `ffwall` command (bin/run.js --transport client)
//     against a ControlServer over a FakeKernel and the database, served by
//     this process (the daemon's side), whose peak RSS is reported too.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { rows } from '../src/commands/list.js';
import { writeOut } from '../src/cli/format.js';
import { ControlServer, openFfwall, writeExport, type BanRecordInfo, type ExportFormat } from '../src/lib/index.js';
import { FakeKernel } from '../src/lib/kernel-fake.js';
import { buildScaleDb } from './scale-db.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const bin = path.join(root, 'bin', 'run.js');

interface Timed {
  seconds: number;
  /** User + system CPU seconds of the child (the figure that does not depend on the machine's other load). */
  cpuSeconds: number;
  maxRssMib: number;
  /** Direct cases: the RSS split at the end, MiB (anonymous: the heap; file: the mapped database). */
  rssAnonMib?: number;
  rssFileMib?: number;
  code: number;
}

/** Runs argv under /usr/bin/time -v with stdout to /dev/null. */
async function timed(argv: string[]): Promise<Timed> {
  const child = spawn('/usr/bin/time', ['-v', ...argv], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(err);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(err);
  if (rss === null || wall === null) throw new Error(`no figures from /usr/bin/time: ${err.slice(-2000)}`);
  const seconds = Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3]);
  const cpu = (what: string): number => Number(new RegExp(`${what} time \\(seconds\\): ([\\d.]+)`).exec(err)?.[1] ?? 0);
  if (code !== 0) throw new Error(`${argv.join(' ')} exited ${code}: ${err.slice(-2000)}`);
  const t: Timed = { seconds, cpuSeconds: Math.round((cpu('User') + cpu('System')) * 100) / 100, maxRssMib: Math.round(Number(rss[1]) / 1024), code };
  const anon = /RssAnon: (\d+)/.exec(err);
  const file = /RssFile: (\d+)/.exec(err);
  if (anon !== null) t.rssAnonMib = Math.round(Number(anon[1]) / 1024);
  if (file !== null) t.rssFileMib = Math.round(Number(file[1]) / 1024);
  return t;
}

/** The child of a direct case: what the command does, over a FakeKernel. */
async function child(db: string, what: string): Promise<void> {
  const fw = await openFfwall({ kernel: new FakeKernel(), database: db });
  const out = process.stdout;
  if (what === 'list-json') {
    for await (const chunk of fw.listNdjson({}, { reuse: true })) await writeOut(out, chunk);
  } else if (what === 'list-human') {
    let page: BanRecordInfo[] = [];
    for await (const r of fw.list({})) {
      page.push(r);
      if (page.length >= 1000) {
        await writeOut(out, `${rows(page)}\n`);
        page = [];
      }
    }
    if (page.length > 0) await writeOut(out, `${rows(page)}\n`);
  } else if (what === 'export-plain') {
    // The command's plain path: the header, then the targets from the stored keys.
    await writeOut(out, `# ffwall export, ${new Date().toISOString()}\n`);
    for await (const chunk of fw.listTargets({ state: ['kernel', 'cold'] }, { reuse: true })) await writeOut(out, chunk);
  } else if (what.startsWith('export-')) {
    const format = what.slice('export-'.length) as ExportFormat;
    await writeExport(format, () => fw.list({ state: ['kernel', 'cold'] }), (c) => writeOut(out, c), {});
  } else throw new Error(`unknown case ${what}`);
  // The split of the RSS at the end: anonymous (the heap: what "flat memory" is about) and file-backed (the mapped database pages).
  const status = readFileSync('/proc/self/status', 'utf8');
  for (const k of ['RssAnon', 'RssFile']) process.stderr.write(`${k}: ${/(\d+) kB/.exec(status.split('\n').find((l) => l.startsWith(`${k}:`)) ?? '')?.[1] ?? 0}\n`);
  await fw.close();
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i < 0 ? undefined : argv[i + 1];
  };
  const db = arg('--db') ?? path.join(tmpdir(), 'ffwall-list-1M');
  if (arg('--child') !== undefined) return child(db, arg('--child') ?? '');
  const build = arg('--build');
  if (build !== undefined) {
    rmSync(db, { recursive: true, force: true });
    const m = await buildScaleDb(Number(build), db, (s) => console.error(s));
    console.error(JSON.stringify(m));
    return;
  }
  if (!existsSync(db)) throw new Error(`${db}: no database; build it with --build N`);
  const self = fileURLToPath(import.meta.url);
  const results: Array<Record<string, unknown>> = [];
  const n = 1_000_000;
  const record = (c: string, transport: string, t: Timed & { runs?: number[] }, extra: Record<string, unknown> = {}): void => {
    const rows = c.startsWith('export') ? 950_000 : n;
    const row = { case: c, transport, seconds: t.seconds, recordsPerSecond: Math.round(rows / t.seconds), cpuSeconds: t.cpuSeconds, maxRssMib: t.maxRssMib, rssAnonMib: t.rssAnonMib, rssFileMib: t.rssFileMib, runs: t.runs, loadAverage: loadavg()[0], ...extra };
    console.error(JSON.stringify(row));
    results.push(row);
  };
  const cases = (arg('--cases') ?? 'list-json,list-human,export-plain').split(',');
  // The machine is shared: each case runs --repeat times (default 3); the fastest run is the figure, every wall time is kept.
  const repeat = Number(arg('--repeat') ?? 3);
  const best = async (argv: string[]): Promise<Timed & { runs: number[] }> => {
    const all: Timed[] = [];
    for (let i = 0; i < repeat; i++) all.push(await timed(argv));
    const fastest = all.reduce((a, b) => (b.seconds < a.seconds ? b : a));
    return { ...fastest, runs: all.map((x) => x.seconds) };
  };

  const startup = await timed([process.execPath, bin, '--version']);
  console.error(`oclif start-up (ffwall --version): ${startup.seconds} s`);

  const cli: Record<string, string[]> = {
    'list-json': ['list', '--json'],
    'list-human': ['list'],
    'export-plain': ['export'],
  };
  const missing = path.join(tmpdir(), 'ffwall-list-bench-no-device');
  for (const c of cases) {
    const args = cli[c];
    if (args !== undefined) record(c, 'direct', await best([process.execPath, bin, ...args, '--transport', 'direct', '--device', missing, '--db', db]));
  }
  for (const c of cases) record(c, 'library', await best([process.execPath, self, '--db', db, '--child', c]));

  // Through the socket: this process serves it.
  const dir = mkdtempSync(path.join(tmpdir(), 'ffwall-list-bench-'));
  const sock = path.join(dir, 'ffwall.sock');
  const fw = await openFfwall({ kernel: new FakeKernel(), database: db });
  const server = new ControlServer(fw, { path: sock });
  await server.start();
  try {
    const conn = ['--transport', 'client', '--socket', sock];
    for (const c of cases) {
      const args = cli[c];
      if (args === undefined) continue;
      const t = await best([process.execPath, bin, ...args, ...conn]);
      const u = process.resourceUsage();
      record(c, 'socket', t, { serverMaxRssMib: Math.round(u.maxRSS / 1024), serverCpuSecondsSoFar: Math.round((u.userCPUTime + u.systemCPUTime) / 10_000) / 100 });
    }
  } finally {
    await server.stop();
    await fw.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const out = arg('--out');
  if (out !== undefined) {
    const doc = {
      bench: 'list',
      machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryBytes: totalmem(), emulation: 'none (host)' },
      date: new Date().toISOString(),
      node: process.version,
      records: n,
      database: 'bench/scale-db.ts, 1,000,000 records (90% IPv4 hosts, 10% IPv6 /64s; 950,000 active), ~1 GB LMDB',
      method:
        'bench/list-host.ts: each case in a child process under /usr/bin/time -v, stdout to /dev/null, page cache warm, run 3 times on a machine shared with other jobs (loadAverage: the 1-minute load when the case ended): seconds/cpuSeconds/maxRssMib are the fastest run, runs lists every wall time. direct: the real `ffwall` command with --transport direct, reading the database alone (list and export do not open /dev/ffwall, which the host does not have). library: the command\'s code path (Ffwall.listNdjson, the 1000-row table pages, Ffwall.listTargets for the plain export) over a FakeKernel in one process, without oclif (rssAnonMib: its heap; rssFileMib: the mapped database). socket: the real `ffwall` command with --transport client against a ControlServer over a FakeKernel served by the bench process (serverMaxRssMib: its peak RSS so far, which includes the database pages it mapped). records/s counts 1,000,000 rows for list and the 950,000 active for export.',
      oclifStartupSeconds: startup.seconds,
      results,
    };
    writeFileSync(out, `${JSON.stringify(doc, null, 2)}\n`);
  }
}

await main();
