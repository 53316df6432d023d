// SPDX-License-Identifier: MIT
//
// `npm test` after the build: every check and test suite of the project, run
// one after the other (never a host suite beside a guest: emulation starved
// of CPU prints RCU-stall traces that the kernel log scan rightly fails on),
// each one timed, and one closing line "N passed, N failed, N skipped".
//
//   node dist/test/runner.js [--only kmod|host|vm|bench]... [--kernel KVER]... [--suite NAME]...
//
// "bench" is the benchmarks' quick variant (`npm run bench -- --quick`, small
// sizes), run last so that the benchmarks cannot rot: it writes to
// build/bench-quick, never over the committed figures, and each result file
// is checked by bench/lib/check.ts (timing is reported, never asserted).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';

import { checkBenchResult, HOST_BENCHES } from '../bench/lib/check.js';

import { bootableKernels, projectRoot, runVm, tail } from './vm/harness.js';
import { parseTap, tapToTests, type TapTest } from './vm/tap.js';

interface SuiteConfig {
  memoryMiB: number;
  timeoutSec: number;
  /** "all": every kernel of the matrix; "newest": only the newest one. */
  kernels: 'all' | 'newest';
  scratchDiskMiB?: number;
  /** QEMU's single-threaded TCG; see VmJob.singleThreadTcg. */
  singleThreadTcg?: boolean;
  /**
   * A ban database of this many records, built on the host by
   * bench/scale-db.ts and attached as a disk (FFWALL_DATA_DISK in the guest).
   */
  dataDiskRecords?: number;
}

/** Builds (or reuses) the scale database image of @records records; its path. */
function dataDiskImage(records: number): string {
  const image = path.join(root, 'build', 'scale', `db-${records}.img`);
  const r = spawnSync(process.execPath, [path.join(root, 'dist', 'bench', 'scale-db.js'), '--records', String(records), '--out', image], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) throw new Error(`building the scale database (${records} records) failed`);
  return image;
}

const root = projectRoot();
const results: TapTest[] = [];
const timings: string[] = [];

function parseArgs(argv: string[]): { only: Set<string>; kernels: string[]; suites: string[] } {
  const only = new Set<string>();
  const kernels: string[] = [];
  const suites: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === '--only' && v !== undefined) only.add(v), i++;
    else if (a === '--kernel' && v !== undefined) kernels.push(v), i++;
    else if (a === '--suite' && v !== undefined) suites.push(v), i++;
    else {
      console.error(`runner: unknown argument '${a}'`);
      process.exit(2);
    }
  }
  return { only, kernels, suites };
}

function record(test: TapTest, detail?: string): void {
  results.push(test);
  const mark = test.skipped ? 'skip' : test.ok ? 'ok  ' : 'FAIL';
  console.log(`[${mark}] ${test.name}`);
  if (!test.ok && detail) console.log(detail.replace(/^/gm, '       '));
}

function timed<T>(label: string, fn: () => T): T {
  const t0 = Date.now();
  const r = fn();
  timings.push(`${label}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`--- ${label}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return r;
}

async function timedAsync<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const r = await fn();
  timings.push(`${label}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`--- ${label}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return r;
}

/** Runs a command as one test: it passes when the command exits 0. */
function commandTest(name: string, cmd: string, args: string[]): boolean {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  const ok = r.status === 0;
  record({ ok, skipped: false, name }, `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-40).join('\n'));
  return ok;
}

function kmodChecks(kernels: string[]): void {
  timed('kernel module builds', () => {
    for (const k of kernels) {
      commandTest(`kmod: ffwall.ko builds for ${k} with W=1 and sparse, no warnings`, 'scripts/kbuild.sh', [
        '--kver', k, '--strict',
      ]);
      commandTest(`kmod: ffwall.ko (DEBUG, selftests) builds for ${k} with W=1 and sparse`, 'scripts/kbuild.sh', [
        '--kver', k, '--strict', '--debug',
      ]);
    }
    if (existsSync(path.join(root, 'scripts', 'checkpatch.sh'))) {
      commandTest('kmod: checkpatch.pl --strict is clean over kmod/', 'scripts/checkpatch.sh', []);
    }
    commandTest('tools: the C test tools build with -Wall -Wextra -Werror', 'scripts/build-tools.sh', []);
    if (process.getuid?.() === 0) {
      commandTest(`dkms: dkms.conf builds ffwall.ko for ${kernels.join(' and ')}`, 'scripts/dkms-check.sh', []);
    } else {
      record({ ok: true, skipped: true, name: 'dkms: dkms build needs root (scripts/dkms-check.sh) # SKIP not root' });
    }
  });
}

function hostTests(): void {
  timed('host: type check and unit tests', () => {
    commandTest('host: TypeScript strict type check (tsc --noEmit)', 'node_modules/.bin/tsc', [
      '-p', 'tsconfig.json', '--noEmit',
    ]);
    const r = spawnSync('node_modules/.bin/ava', ['--config', 'ava.host.config.js', '--tap'], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    const tests = tapToTests('host', parseTap(r.stdout ?? ''));
    for (const t of tests) record(t);
    if (r.status !== 0 && tests.every((t) => t.ok)) {
      record({ ok: false, skipped: false, name: `host: ava exited ${r.status}` }, (r.stderr ?? '').slice(-4000));
    }
  });
}

function guestSuites(filter: string[]): Array<{ name: string; config: SuiteConfig }> {
  const dir = path.join(root, 'test', 'guest');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((n) => statSync(path.join(dir, n)).isDirectory() && existsSync(path.join(dir, n, 'suite.json')))
    .filter((n) => filter.length === 0 || filter.includes(n))
    .sort()
    .map((name) => ({
      name,
      config: JSON.parse(readFileSync(path.join(dir, name, 'suite.json'), 'utf8')) as SuiteConfig,
    }));
}

function jobScript(kver: string, suite: string, scratch: boolean, dataDisk = false): string {
  const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    '# Written by test/runner.ts; runs in the guest.',
    'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    'export HOME=/root LANG=C.UTF-8',
    `export FFWALL_ROOT=${q(root)}`,
    `export FFWALL_KVER=${q(kver)}`,
    `export FFWALL_KO=${q(path.join(root, 'build', 'kmod', `${kver}-debug`, 'ffwall.ko'))}`,
    `export FFWALL_KO_NODEBUG=${q(path.join(root, 'build', 'kmod', kver, 'ffwall.ko'))}`,
    `export FFWALL_TOOLS=${q(path.join(root, 'build', 'tools'))}`,
    'export FFWALL_OUT=/ffwall-out',
    `export FFWALL_SUITE=${q(suite)}`,
    // Knobs of the guest suites pass through, e.g. a stress seed to replay.
    ...Object.entries(process.env)
      .filter(([k, v]) => /^FFWALL_STRESS_[A-Z_]+$/.test(k) && v !== undefined)
      .map(([k, v]) => `export ${k}=${q(v ?? '')}`),
    ...(scratch
      ? [
          'modprobe virtio_blk && mkfs.ext4 -q -F /dev/vda && mkdir -p /scratch && mount /dev/vda /scratch ||',
          '  { echo "job: cannot prepare the scratch disk"; exit 254; }',
          'export FFWALL_SCRATCH=/scratch',
        ]
      : []),
    ...(dataDisk ? ['modprobe virtio_blk', `export FFWALL_DATA_DISK=${scratch ? '/dev/vdb' : '/dev/vda'}`] : []),
    `exec bash ${q(path.join(root, 'test', 'vm', 'guest-run.sh'))} ${q(suite)}`,
    '',
  ].join('\n');
}

async function vmTests(kernels: string[], suiteFilter: string[]): Promise<void> {
  const suites = guestSuites(suiteFilter);
  if (suites.length === 0) {
    record({ ok: false, skipped: false, name: 'vm: no guest suites found under test/guest/' });
    return;
  }
  for (const kver of kernels) {
    const kfence = existsSync(`/boot/config-${kver}`) && /^CONFIG_KFENCE=y$/m.test(readFileSync(`/boot/config-${kver}`, 'utf8'));
    for (const { name, config } of suites) {
      if (config.kernels === 'newest' && kver !== kernels[kernels.length - 1]) continue;
      const label = `vm ${kver} ${name}`;
      await timedAsync(label, async () => {
        const outDir = path.join(root, 'build', 'vm', kver, name);
        const diskImage = config.dataDiskRecords === undefined ? undefined : dataDiskImage(config.dataDiskRecords);
        const res = await runVm({
          kver,
          outDir,
          script: jobScript(kver, name, config.scratchDiskMiB !== undefined, diskImage !== undefined),
          ...(diskImage === undefined ? {} : { diskImage }),
          memoryMiB: config.memoryMiB,
          timeoutSec: config.timeoutSec,
          ...(config.scratchDiskMiB !== undefined ? { scratchDiskMiB: config.scratchDiskMiB } : {}),
          ...(config.singleThreadTcg === true ? { singleThreadTcg: true } : {}),
          ...(kfence ? { cmdline: 'kfence.sample_interval=100' } : {}),
          ...(process.env.FFWALL_VM_VERBOSE ? { onConsole: (l: string) => console.log(`  | ${l}`) } : {}),
        });
        const consoleTail = `console log: ${res.consoleLog}\n${tail(res.consoleLog, 60)}`;
        const tapDir = path.join(outDir, 'tap');
        const tapFiles = existsSync(tapDir) ? readdirSync(tapDir).sort() : [];
        let reported = 0;
        for (const f of tapFiles) {
          const tests = tapToTests(`${label}/${f.replace(/\.tap$/, '')}`, parseTap(readFileSync(path.join(tapDir, f), 'utf8')));
          for (const t of tests) record(t);
          reported += tests.length;
        }
        record({ ok: res.failure === undefined, skipped: false, name: `${label}: the guest ran to its result marker` }, `${res.failure ?? ''}\n${consoleTail}`);
        // The job's own status: a guest script that failed before or outside
        // its TAP output must not pass for want of failing tests.
        record(
          { ok: res.rc === 0 && reported > 0, skipped: false, name: `${label}: the suite exited 0 and reported its tests` },
          `exit status ${res.rc ?? 'unknown'}, ${reported} tests reported\n${consoleTail}`,
        );
        record(
          { ok: res.kernelProblems.length === 0, skipped: false, name: `${label}: the kernel log has no WARNING/BUG/Oops/Call Trace/leak` },
          `${res.kernelProblems.slice(0, 20).join('\n')}\n${consoleTail}`,
        );
      });
    }
  }
}

/** The quick benchmark run and a check of every result file it must write. */
function benchQuick(): void {
  timed('bench: quick variant (npm run bench -- --quick)', () => {
    const out = path.join(root, 'build', 'bench-quick');
    rmSync(out, { recursive: true, force: true });
    const since = new Date();
    // The bench needs the module and the test tools, which the kmod part
    // builds; alone (--only bench) it builds them itself.
    if (!commandTest('bench: the module (all kernels) and the tools are built', 'bash', ['-c', 'scripts/kbuild.sh --all >/dev/null && scripts/build-tools.sh'])) return;
    // Its progress streams to the console; a failure's detail is printed there.
    const r = spawnSync(process.execPath, [path.join(root, 'dist', 'bench', 'run.js'), '--quick', '--out', out], { cwd: root, stdio: 'inherit' });
    record(
      { ok: r.status === 0, skipped: false, name: 'bench: `npm run bench -- --quick` exits 0' },
      `exit ${r.status ?? r.signal ?? 'unknown'}; its output is above`,
    );
    const guest = readdirSync(path.join(root, 'bench', 'guest')).filter((f) => f.endsWith('.sh')).map((f) => f.replace(/\.sh$/, ''));
    for (const name of [...HOST_BENCHES, ...guest]) {
      const file = path.join(out, `${name}.json`);
      let problems: string[];
      try {
        problems = checkBenchResult(name, JSON.parse(readFileSync(file, 'utf8')) as unknown, since, { guest: guest.includes(name) });
      } catch (e) {
        problems = [`no readable ${path.relative(root, file)}: ${(e as Error).message}`];
      }
      record({ ok: problems.length === 0, skipped: false, name: `bench: quick ${name} wrote sound results` }, problems.join('\n'));
    }
    const summary = path.join(out, 'summary.md');
    record({ ok: existsSync(summary) && statSync(summary).size > 0, skipped: false, name: 'bench: quick run wrote its Markdown summary' });
  });
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const want = (part: string): boolean => args.only.size === 0 || args.only.has(part);
  let kernels = bootableKernels();
  if (args.kernels.length > 0) kernels = kernels.filter((k) => args.kernels.includes(k));
  if (kernels.length === 0) {
    record({ ok: false, skipped: false, name: 'kernel matrix: no Debian kernel with an image and headers (scripts/install-deps.sh)' });
  } else {
    console.log(`kernel matrix: ${kernels.join(', ')}`);
  }
  if (want('kmod')) kmodChecks(kernels);
  if (want('host')) hostTests();
  if (want('vm') && kernels.length > 0) await vmTests(kernels, args.suites);
  if (want('bench') && kernels.length > 0 && args.suites.length === 0) benchQuick();

  const passed = results.filter((t) => t.ok && !t.skipped).length;
  const failed = results.filter((t) => !t.ok).length;
  const skipped = results.filter((t) => t.skipped).length;
  console.log('\nTimes:');
  for (const t of timings) console.log(`  ${t}`);
  const failures = results.filter((t) => !t.ok);
  if (failures.length > 0) {
    console.log('\nFailed:');
    for (const t of failures) console.log(`  ${t.name}`);
  }
  console.log(`\n${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
  process.exitCode = failed > 0 ? 1 : 0;
}

await main();
