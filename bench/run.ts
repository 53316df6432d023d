// SPDX-License-Identifier: MIT
//
// `npm run bench`: boots the newest kernel of the matrix in a guest, runs
// each benchmark script of bench/guest/ there, and writes the results under
// bench/results/: one JSON file per benchmark (with the kernel, the machine
// and the date) and a Markdown summary.  Timing never decides a test; it is
// only reported here.
//
//   node dist/bench/run.js [--kernel KVER] [--only NAME] [--n ENTRIES] [--records DB-RECORDS]
//                          [--quick] [--sizes N,N,..] [--reps R] [--pkts P] [--report-only]
//                          [--out DIR] [--summary-only]
//
// --out writes the results somewhere else than bench/results/ (the CI's quick
// run writes to build/bench-quick, so that it never replaces the committed
// full-size figures).  --quick also shrinks the restore benchmark's database
// to 100,000 records unless --records is given.  --summary-only rewrites
// summary.md from the result files present, running nothing.
//
// The drop benchmark (bench/drop.ts) takes --sizes (default 1000,100000,
// 1000000), --reps and --pkts; --quick is its CI variant (1000,10000, fewer
// repetitions).  It runs the guest under the icount TCG plugin.
// --report-only analyses its last guest output again (same plan flags).
//
// Benchmarks that start from a ban database (restore) get one built on the
// host by bench/scale-db.ts, attached as a disk ($FFWALL_DATA_DISK).
import { spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { bootableKernels, projectRoot, runVm, tail } from '../test/vm/harness.js';
import { HOST_BENCHES } from './lib/check.js';
import { ingestSvg, policyLatencySvg, policyRateSvg } from './lib/host-plots.js';
import { memoryDoc, memoryMarkdown, memorySvg, type MemDoc } from './memory.js';
import { kprofileDoc, kprofileMarkdown, type ProfileDoc } from './kprofile.js';
import { DROP_PLAN, dropDoc, dropGuestEnv, dropMarkdown, dropPlan, dropSvg, dropTimeSvg, type DropDoc, type DropPlan } from './drop.js';

interface Args {
  kernel: string | undefined;
  only: string | undefined;
  n: number;
  /** Records of the ban database the restore benchmark starts from. */
  records: number;
  /** Small sizes (CI): host benchmarks get --quick, guest ones N=10,000 unless --n is given, the drop benchmark its quick plan. */
  quick: boolean;
  /** The drop benchmark's plan (sizes, repetitions, packets per burst). */
  drop: DropPlan;
  /** Re-analyse the drop benchmark's last guest output instead of running it. */
  reportOnly: boolean;
  /** Only rewrite summary.md from the result files present. */
  summaryOnly: boolean;
  /** Where the result files go. */
  out: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { kernel: undefined, only: undefined, n: 1_000_000, records: 10_000_000, quick: false, drop: { ...DROP_PLAN.full }, reportOnly: false, summaryOnly: false, out: '' };
  let nSet = false;
  let recordsSet = false;
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === '--summary-only') {
      args.summaryOnly = true;
      continue;
    }
    if (argv[i] === '--report-only') {
      args.reportOnly = true;
      continue;
    }
    if (argv[i] === '--quick') {
      args.quick = true;
      args.drop = { ...DROP_PLAN.quick };
      continue;
    }
    if (['--sizes', '--reps', '--pkts'].includes(argv[i] ?? '') && v !== undefined) {
      args.drop = dropPlan(args.drop, argv[i] as string, v);
      i++;
      continue;
    }
    if (argv[i] === '--kernel' && v !== undefined) (args.kernel = v), i++;
    else if (argv[i] === '--only' && v !== undefined) (args.only = v), i++;
    else if (argv[i] === '--n' && v !== undefined && /^\d+$/.test(v)) (args.n = Number(v)), (nSet = true), i++;
    else if (argv[i] === '--records' && v !== undefined && /^\d+$/.test(v)) (args.records = Number(v)), (recordsSet = true), i++;
    else if (argv[i] === '--out' && v !== undefined && v !== '') (args.out = path.resolve(v)), i++;
    else throw new Error(`bench: unknown argument '${argv[i]}'`);
  }
  if (args.quick && !nSet) args.n = 10_000;
  if (args.quick && !recordsSet) args.records = 100_000;
  return args;
}

const root = projectRoot();
const args = parseArgs(process.argv.slice(2));
const kernels = bootableKernels();
const kver = args.kernel ?? kernels[kernels.length - 1];
if (kver === undefined || !kernels.includes(kver)) {
  console.error(`bench: kernel ${kver ?? '(none)'} is not bootable here; have: ${kernels.join(', ') || 'none'}`);
  process.exit(1);
}
// Guest scripts that the whole run leaves out (they run when named with
// --only, and in the quick variant, so that they cannot rot): the kernel
// profile, an analysis tool rather than one of the issue's measures, stays
// out of the whole run's 45 minutes.
const ON_REQUEST = new Set(['kprofile']);
const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const benches = readdirSync(path.join(root, 'bench', 'guest'))
  .filter((f) => f.endsWith('.sh'))
  .map((f) => f.replace(/\.sh$/, ''))
  .filter((b) => !args.summaryOnly && (args.only === undefined ? args.quick || !ON_REQUEST.has(b) : b === args.only));
const resultsDir = args.out === '' ? path.join(root, 'bench', 'results') : args.out;
mkdirSync(resultsDir, { recursive: true });
let failedHost = false;
const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryBytes: totalmem(), emulation: 'qemu tcg' };

// Host benchmarks (no guest): each script writes its own bench/results/<name>.json.
// The server side is pinned to one core (taskset -c 1) when the machine has two.
for (const bench of HOST_BENCHES.filter((b) => !args.summaryOnly && (args.only === undefined || b === args.only))) {
  console.log(`bench: ${bench} (host)`);
  const script = [path.join(root, 'dist', 'bench', `${bench}.js`), '--out', path.join(resultsDir, `${bench}.json`), ...(args.quick ? ['--quick'] : [])];
  const pin = cpus().length > 1 && spawnSync('taskset', ['-V']).status === 0;
  const r = spawnSync(pin ? 'taskset' : process.execPath, pin ? ['-c', '1', process.execPath, ...script] : script, { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`bench: ${bench} failed (exit ${r.status ?? r.signal})`);
    failedHost = true;
  } else {
    // Redraw the bench's plots from its result file.
    const doc = JSON.parse(readFileSync(path.join(resultsDir, `${bench}.json`), 'utf8')) as Parameters<typeof ingestSvg>[0];
    const plots: Array<[string, string]> =
      bench === 'policy' ? [['policy-latency.svg', policyLatencySvg(doc)], ['policy-rate.svg', policyRateSvg(doc)]] : [['ingest.svg', ingestSvg(doc)]];
    for (const [f, svg] of plots) writeFileSync(path.join(resultsDir, f), svg);
    console.log(`bench: wrote ${path.relative(root, resultsDir)}/${bench}.json and ${plots.map(([f]) => f).join(', ')}`);
  }
}

/** Benchmarks that need the host-built ban database. */
const DATA_DISK_BENCHES = new Set(['restore', 'bulk']);

let failed = failedHost;
for (const bench of benches) {
  const outDir = path.join(root, 'build', 'vm', 'bench', bench);
  console.log(`bench: ${bench} under ${kver} (N=${args.n})`);
  let diskImage: string | undefined;
  let diskRecords = args.records;
  if (DATA_DISK_BENCHES.has(bench)) {
    // bulk (helper 'bulk'): the database that `ffwall import` of its N addresses leaves
    // (scale-db --plain), for the listing rows without waiting for the import.
    const plain = bench === 'bulk';
    const records = plain ? args.n : args.records;
    diskRecords = records;
    diskImage = path.join(root, 'build', 'scale', plain ? `bulk-${records}.img` : `db-${records}.img`);
    const b = spawnSync(process.execPath, [path.join(root, 'dist', 'bench', 'scale-db.js'), ...(plain ? ['--plain'] : []), '--records', String(records), '--out', diskImage], { stdio: 'inherit' });
    if (b.status !== 0) {
      console.error(`bench: building the ${records}-record database failed`);
      failed = true;
      continue;
    }
  }
  const isDrop = bench === 'drop';
  // --report-only: analyse the drop benchmark's last guest output again
  // (build/vm/bench/drop), without a guest run.
  const res = isDrop && args.reportOnly ? { failure: undefined, rc: 0, consoleLog: path.join(outDir, 'console.log') } : await runVm({
    kver,
    outDir,
    ...(diskImage === undefined ? {} : { diskImage }),
    memoryMiB: 3072,
    timeoutSec: isDrop ? args.drop.capSec : 3600,
    // The drop benchmark counts instructions with the icount plugin, whose
    // counters need the vCPUs to run in one host thread.
    // So does the kernel profile, with the kprofile plugin.
    ...(isDrop || bench === 'kprofile'
      ? { singleThreadTcg: true, qemuExtraArgs: ['-plugin', `${path.join(root, 'build', 'tools', `${isDrop ? 'icount' : 'kprofile'}.so`)},out=${path.join(outDir, `${isDrop ? 'icount' : 'kprofile'}.log`)}`] }
      : {}),
    script: [
      'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8',
      `export FFWALL_ROOT=${q(root)} FFWALL_KVER=${q(kver)} FFWALL_OUT=/ffwall-out FFWALL_BENCH_N=${args.n}`,
      `export FFWALL_KO=${q(path.join(root, 'build', 'kmod', kver, 'ffwall.ko'))} FFWALL_TOOLS=${q(path.join(root, 'build', 'tools'))}`,
      ...(diskImage === undefined ? [] : ['modprobe virtio_blk', 'export FFWALL_DATA_DISK=/dev/vda']),
      // Time caps of the guest steps (bench/guest/bulk.sh), when given on the host.
      ...['FFWALL_BENCH_CAP', 'FFWALL_BENCH_NFT_CAP'].filter((k) => /^\d+$/.test(process.env[k] ?? '')).map((k) => `export ${k}=${process.env[k] ?? ''}`),
      // bulk (helper 'bulk'): the step groups to run (bench/guest/bulk.sh), when given on the host.
      ...(/^[a-z ]+$/.test(process.env.FFWALL_BULK_STEPS ?? '') ? [`export FFWALL_BULK_STEPS=${q(process.env.FFWALL_BULK_STEPS ?? '')}`] : []),
      ...(isDrop ? dropGuestEnv(args.drop) : []),
      // restore: the full run times the window restore only; the reconcile
      // phase (a second start over the whole table, not what the issue asks
      // for, and over its cap at 1M under TCG) runs in the quick variant so
      // that it cannot rot (bench/README.md).
      ...(bench === 'restore' ? [`export FFWALL_RESTORE_PHASES=${q(args.quick ? 'restore reconcile' : 'restore')}`] : []),
      `cd ${q(root)} && exec bash bench/guest/${bench}.sh`,
      '',
    ].join('\n'),
    onConsole: (line) => {
      if (line.startsWith('{')) console.log(`  ${line}`);
    },
  });
  const ndjson = path.join(outDir, `${bench}.ndjson`);
  if (res.failure !== undefined || res.rc !== 0 || !existsSync(ndjson)) {
    console.error(`bench: ${bench} failed: ${res.failure ?? `exit ${res.rc}`}\n${tail(res.consoleLog, 30)}`);
    failed = true;
    continue;
  }
  const results = readFileSync(ndjson, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  if (isDrop) {
    const icountLog = path.join(outDir, 'icount.log');
    const doc = dropDoc({ kernel: kver, plan: args.drop, records: results, icount: existsSync(icountLog) ? readFileSync(icountLog, 'utf8') : '', date: statSync(ndjson).mtime });
    writeFileSync(path.join(resultsDir, 'drop.json'), `${JSON.stringify(doc, null, 2)}\n`);
    writeFileSync(path.join(resultsDir, 'drop.svg'), dropSvg(doc));
    writeFileSync(path.join(resultsDir, 'drop-time.svg'), dropTimeSvg(doc));
    // benchmem: the prefix table's plot (ipset hash:net, nft interval set, ffwall prefixes).
    if (doc.cells.some((c) => c.table === 'prefix')) writeFileSync(path.join(resultsDir, 'drop-prefix.svg'), dropSvg(doc, 'prefix'));
    console.log(`bench: wrote ${path.join(resultsDir, 'drop.json')}, drop.svg, drop-time.svg (and drop-prefix.svg)`);
    continue;
  }
  // --- memory benchmark (bench/memory.ts): bytes per entry, target, plot. ---
  if (bench === 'memory') {
    const mdoc = memoryDoc({ kernel: kver, records: results, date: statSync(ndjson).mtime });
    writeFileSync(path.join(resultsDir, 'memory.json'), `${JSON.stringify(mdoc, null, 2)}\n`);
    writeFileSync(path.join(resultsDir, 'memory.svg'), memorySvg(mdoc));
    console.log(`bench: wrote ${path.join(resultsDir, 'memory.json')} and memory.svg`);
    continue;
  }
  // --- end of the memory benchmark's spot. ---
  // The kernel profile (bench/kprofile.ts): the plugin's counts per symbol.
  if (bench === 'kprofile') {
    const log = path.join(outDir, 'kprofile.log');
    const pdoc = kprofileDoc({ kernel: kver, records: results, log: existsSync(log) ? readFileSync(log, 'utf8') : '', kallsyms: (seq) => readFileSync(path.join(outDir, `kallsyms.${seq}`), 'utf8'), date: statSync(ndjson).mtime });
    writeFileSync(path.join(resultsDir, 'kprofile.json'), `${JSON.stringify(pdoc, null, 2)}\n`);
    console.log(kprofileMarkdown(pdoc));
    console.log(`bench: wrote ${path.join(resultsDir, 'kprofile.json')}`);
    continue;
  }
  const doc = { bench, kernel: kver, machine, date: new Date().toISOString(), n: args.n, ...(diskImage === undefined ? {} : { records: diskRecords }), results };
  writeFileSync(path.join(resultsDir, `${bench}.json`), `${JSON.stringify(doc, null, 2)}\n`);
  console.log(`bench: wrote ${path.join(resultsDir, `${bench}.json`)}`);
}

// The Markdown summary covers every result file present.
const lines = ['<!-- SPDX-License-Identifier: MIT -->', '# Benchmark results', '', 'Written by `npm run bench`; see bench/README.md for how to read them.', ''];
for (const f of readdirSync(resultsDir).filter((x) => x.endsWith('.json')).sort()) {
  const doc = JSON.parse(readFileSync(path.join(resultsDir, f), 'utf8')) as {
    bench: string;
    kernel?: string;
    date: string;
    results: Array<Record<string, unknown>>;
  };
  if (doc.bench === 'drop') {
    lines.push(dropMarkdown(doc as unknown as DropDoc));
    continue;
  }
  if (doc.bench === 'memory') {
    lines.push(memoryMarkdown(doc as unknown as MemDoc));
    continue;
  }
  if (doc.bench === 'kprofile') {
    lines.push(kprofileMarkdown(doc as unknown as ProfileDoc));
    continue;
  }
  lines.push(`## ${doc.bench} (${doc.kernel ?? 'host'}, ${doc.date.slice(0, 10)})`, '');
  // Raw samples (arrays, objects) stay in the JSON; the table shows the scalars.
  const cols = [...new Set(doc.results.flatMap((r) => Object.keys(r).filter((k) => typeof r[k] !== 'object' || r[k] === null)))];
  lines.push(`| ${cols.join(' | ')} |`, `| ${cols.map(() => '---').join(' | ')} |`);
  for (const r of doc.results) lines.push(`| ${cols.map((c) => String(r[c] ?? '')).join(' | ')} |`);
  lines.push('');
}
writeFileSync(path.join(resultsDir, 'summary.md'), `${lines.join('\n')}\n`);
process.exitCode = failed ? 1 : 0;
