// SPDX-License-Identifier: MIT
//
// ffwall's real-kernel test harness, host side.
//
// It boots a Debian kernel under QEMU's software emulation (TCG; /dev/kvm
// cannot boot a stock kernel on these machines), shares the host's root
// read-only over 9p (the guest puts a tmpfs overlay on top, see test/vm/init),
// runs a job script from a second, writable 9p share, and reads back the
// result marker from the console plus the files the guest left in the share.
// A missing marker, a timeout or a panic is a failure, never a skip; so is
// any kernel complaint in the guest's log.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface VmJob {
  /** Kernel release, e.g. 6.1.0-56-amd64: /boot/vmlinuz-<kver> is booted. */
  kver: string;
  /** Directory the guest sees as /ffwall-out (created, emptied first). */
  outDir: string;
  /** Body of the job script, run by bash in the guest's chroot. */
  script: string;
  memoryMiB: number;
  timeoutSec: number;
  /** Size of a blank scratch disk attached as the first virtio disk, if any. */
  scratchDiskMiB?: number;
  /**
   * A prepared raw disk image (e.g. a ban database built on the host)
   * attached after the scratch disk, in snapshot mode: the guest may write
   * to it, the image on the host never changes.
   */
  diskImage?: string;
  /**
   * Run the vCPUs in one host thread (QEMU's `-accel tcg,thread=single`).
   * Multi-threaded TCG does not make the kernel's cross-modifying code safe:
   * a CPU can trap on an int3 that text_poke_bp() has already removed while
   * static keys flip (see the README's troubleshooting).  Suites that flip
   * them under load need this; it costs speed, not coverage.
   */
  singleThreadTcg?: boolean;
  /** Extra kernel command line. */
  cmdline?: string;
  /** Extra QEMU arguments, e.g. a TCG plugin (`-plugin`, see bench/README.md). */
  qemuExtraArgs?: string[];
  /**
   * Seconds from QEMU's start to the init script (default 150).  A guest
   * that has not reached it by then hung in the kernel's boot, before any
   * of our code ran: it is booted again, at most twice, and the retry is
   * logged.  Under TCG a stock 6.1 kernel has been seen to hang there.
   */
  bootTimeoutSec?: number;
  /** Called with each console line as it arrives. */
  onConsole?: (line: string) => void;
}

export interface VmResult {
  /** The job's exit status from the marker, or undefined without one. */
  rc: number | undefined;
  /** Why the run failed before or outside the job (timeout, panic, no marker). */
  failure: string | undefined;
  /** Kernel trouble found in the guest's log (dmesg and console). */
  kernelProblems: string[];
  consoleLog: string;
  durationMs: number;
}

/** Serializes guests across processes; see runVm. */
export const VM_LOCK = '/tmp/ffwall-vm.lock';

export const BOOTED_MARKER = 'FFWALL-VM-BOOTED';

export const RESULT_MARKER = /^FFWALL-VM-RESULT rc=(\d+)/m;

/*
 * What the guest's kernel must never print.  Matched case-sensitively: the
 * command line itself contains "oops=panic".
 */
const KERNEL_TROUBLE: RegExp[] = [
  /WARNING:/,
  /BUG:/,
  /Oops:/,
  /Call Trace:/,
  /Kernel panic/,
  /general protection fault/,
  /KFENCE:/,
  /still has objects/,
  /Objects remaining/,
  /kmem_cache_destroy .*: Slab cache still has objects/,
  /list_(add|del) corruption/,
  /soft lockup/,
  /rcu: INFO: rcu_\w+ (self-)?detected stall/,
  /hung_task|blocked for more than \d+ seconds/,
  /unregister_netdevice: waiting for/,
];

export function kernelProblems(log: string): string[] {
  const found: string[] = [];
  for (const line of log.split('\n')) {
    if (KERNEL_TROUBLE.some((re) => re.test(line))) found.push(line.trim());
  }
  return found;
}

const HERE = path.dirname(new URL(import.meta.url).pathname);

/** The project root: the directory holding package.json above this file. */
export function projectRoot(): string {
  let dir = HERE;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('harness: cannot find the project root');
    dir = parent;
  }
  return dir;
}

/** Kernels that can be booted and built for: an image in /boot plus headers. */
export function bootableKernels(): string[] {
  const list = spawnSync(path.join(projectRoot(), 'scripts', 'kbuild.sh'), ['--list'], { encoding: 'utf8' });
  if (list.status !== 0) return [];
  return list.stdout
    .split('\n')
    .filter((k) => k !== '' && existsSync(`/boot/vmlinuz-${k}`));
}

/** Builds (or reuses) the initramfs for a kernel; cached by content. */
export function initramfsFor(kver: string): string {
  const root = projectRoot();
  const script = path.join(root, 'test', 'vm', 'initramfs.sh');
  const init = path.join(root, 'test', 'vm', 'init');
  const key = createHash('sha256')
    .update(readFileSync(script))
    .update(readFileSync(init))
    .update(kver)
    .digest('hex')
    .slice(0, 12);
  const dir = path.join(root, 'build', 'vm');
  mkdirSync(dir, { recursive: true });
  const out = path.join(dir, `initramfs-${kver}-${key}.cpio.gz`);
  if (!existsSync(out)) {
    const r = spawnSync('bash', [script, kver, out], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error(`harness: building the initramfs for ${kver} failed`);
  }
  return out;
}

function qemuArgs(job: VmJob, initrd: string, scratch: string | undefined): string[] {
  const append = [
    'console=ttyS0',
    'panic=-1',
    'oops=panic',
    'panic_on_warn=1',
    'softlockup_panic=1',
    // Info and above on the console: a boot that hangs shows where.
    'loglevel=7',
    'mitigations=off',
    job.cmdline ?? '',
  ]
    .filter((s) => s !== '')
    .join(' ');
  const args = [
    '-machine', 'q35',
    '-accel', job.singleThreadTcg === true ? 'tcg,thread=single' : 'tcg',
    '-cpu', 'max',
    '-m', `${job.memoryMiB}M`,
    '-smp', '2',
    '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
    '-kernel', `/boot/vmlinuz-${job.kver}`,
    '-initrd', initrd,
    '-append', append,
    '-serial', 'stdio',
    '-monitor', 'none',
    '-device', 'virtio-rng-pci',
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${job.outDir},mount_tag=out,security_model=none`,
  ];
  if (scratch !== undefined) args.push('-drive', `file=${scratch},if=virtio,format=raw,cache=unsafe`);
  if (job.diskImage !== undefined) args.push('-drive', `file=${job.diskImage},if=virtio,format=raw,snapshot=on,cache=unsafe`);
  if (job.qemuExtraArgs !== undefined) args.push(...job.qemuExtraArgs);
  return args;
}

/** Output directories whose lock this process holds (until it ends). */
const heldDirs = new Set<string>();

/**
 * Takes flock(1) on @file for the rest of this process's life: a holder
 * process keeps it until its stdin reaches EOF, which it does when this
 * process ends, however it ends.  Resolves once the lock is held.  Neither
 * the holder nor its pipes keep this process alive.
 */
export async function holdLockUntilExit(file: string, waitSec = 7200): Promise<void> {
  const holder = spawn('flock', ['-w', String(waitSec), file, 'sh', '-c', 'echo held; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    holder.stdout.once('data', () => resolve());
    holder.once('error', reject);
    holder.once('exit', (code) => reject(new Error(`harness: flock ${file} exited ${code ?? 'on a signal'} before holding it`)));
  });
  holder.removeAllListeners('exit');
  holder.stdout.destroy();
  holder.unref();
  (holder.stdin as unknown as { unref(): void }).unref();
}

/** Boots the kernel, runs the job and collects what happened. */
export async function runVm(job: VmJob): Promise<VmResult> {
  // The output directory is emptied first.  A second run of the same job
  // from another process (two test runs in one tree) waits here, and not
  // only for the guest lock, so that it cannot empty the directory that a
  // running guest writes to or that its caller reads afterwards.
  const dir = path.resolve(job.outDir);
  if (!heldDirs.has(dir)) {
    mkdirSync(path.dirname(dir), { recursive: true });
    await holdLockUntilExit(`${dir}.lock`);
    heldDirs.add(dir);
  }
  rmSync(job.outDir, { recursive: true, force: true });
  mkdirSync(job.outDir, { recursive: true });
  writeFileSync(path.join(job.outDir, 'job.sh'), job.script, { mode: 0o755 });
  for (let attempt = 1; ; attempt++) {
    const res = await runVmOnce(job);
    if (res !== 'boot-hang') return res;
    if (attempt === 3) {
      return {
        rc: undefined,
        failure: `the kernel did not reach the init script (hung for ${job.bootTimeoutSec ?? 150} s or panicked in its own boot), three times`,
        kernelProblems: [],
        consoleLog: path.join(job.outDir, 'console.log'),
        durationMs: 0,
      };
    }
    console.log(`harness: ${job.kver} hung or panicked before the init script (attempt ${attempt}); booting again`);
  }
}

async function runVmOnce(job: VmJob): Promise<VmResult | 'boot-hang'> {
  const started = Date.now();
  const consoleLog = path.join(job.outDir, 'console.log');

  let scratch: string | undefined;
  if (job.scratchDiskMiB !== undefined) {
    scratch = path.join(path.dirname(job.outDir), `${path.basename(job.outDir)}-scratch.img`);
    rmSync(scratch, { force: true });
    writeFileSync(scratch, '');
    spawnSync('truncate', ['-s', `${job.scratchDiskMiB}M`, scratch]);
  }

  const initrd = initramfsFor(job.kver);
  // One guest at a time on this machine: emulation starved of CPU prints
  // RCU-stall traces that the log scan rightly fails on.  flock(1) queues
  // concurrent runs (several developers' trees, a benchmark); the timeout
  // starts when QEMU does, at its first output.
  const qemu = spawn('flock', ['-w', '7200', VM_LOCK, 'qemu-system-x86_64', ...qemuArgs(job, initrd, scratch)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so that a kill reaches QEMU under flock.
    detached: true,
  });
  const killGuest = (): void => {
    try {
      if (qemu.pid !== undefined) process.kill(-qemu.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  };
  process.on('exit', killGuest);
  const log = createWriteStream(consoleLog);
  let text = '';
  let partial = '';
  let timer: NodeJS.Timeout | undefined;
  let bootTimer: NodeJS.Timeout | undefined;
  let timedOut = false;
  let booted = false;
  let bootHang = false;
  const onData = (chunk: Buffer): void => {
    timer ??= setTimeout(() => {
      timedOut = true;
      killGuest();
    }, job.timeoutSec * 1000);
    bootTimer ??= setTimeout(() => {
      if (booted) return;
      bootHang = true;
      killGuest();
    }, (job.bootTimeoutSec ?? 150) * 1000);
    const s = chunk.toString('utf8');
    log.write(s);
    text += s;
    booted ||= text.includes(BOOTED_MARKER);
    partial += s;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) job.onConsole?.(line.replace(/\r$/, ''));
  };
  qemu.stdout.on('data', onData);
  qemu.stderr.on('data', onData);

  const exit = await new Promise<{ code: number | null; error?: Error }>((resolve) => {
    qemu.on('error', (error) => resolve({ code: null, error }));
    qemu.on('close', (code) => resolve({ code }));
  });
  if (timer !== undefined) clearTimeout(timer);
  if (bootTimer !== undefined) clearTimeout(bootTimer);
  process.off('exit', killGuest);
  await new Promise<void>((resolve) => log.end(resolve));
  if (scratch !== undefined) rmSync(scratch, { force: true });

  // A stock kernel that panics before the init script ran (seen under
  // TCG: an oops in early initcalls, before any of our code) is a failed
  // boot, retried like a hang.  After the init script, a panic is a failure.
  const bootPanic = !booted && /Kernel panic/.test(text) && !/ffwall/.test(text);
  if (bootHang || bootPanic) {
    // Keep the failed boot's console for the record, beside the next one's.
    renameSync(consoleLog, `${consoleLog}.${bootHang ? 'hung' : 'panic'}-${Date.now()}`);
    return 'boot-hang';
  }
  const marker = RESULT_MARKER.exec(text);
  const rc = marker?.[1] !== undefined ? Number(marker[1]) : undefined;
  let failure: string | undefined;
  if (exit.error) failure = `cannot start qemu: ${exit.error.message}`;
  else if (timedOut) failure = `timed out after ${job.timeoutSec} s`;
  else if (/Kernel panic/.test(text)) failure = 'the guest kernel panicked';
  else if (rc === undefined) failure = `no result marker (qemu exit ${exit.code})`;
  else if (rc === 255) failure = 'the guest init failed before the job ran';

  const dmesgFile = path.join(job.outDir, 'dmesg.txt');
  const dmesg = existsSync(dmesgFile) ? readFileSync(dmesgFile, 'utf8') : '';
  const problems = [...new Set([...kernelProblems(dmesg), ...kernelProblems(text)])];
  return { rc, failure, kernelProblems: problems, consoleLog, durationMs: Date.now() - started };
}

/** The last lines of a file, for failure reports. */
export function tail(file: string, lines: number): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
}
