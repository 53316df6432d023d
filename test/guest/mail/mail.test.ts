// SPDX-License-Identifier: MIT
//
// Issue 10's end-to-end test: a real Postfix (Debian's package, unpatched;
// test/guest/lib-postfix.sh) in the guest, `ffwall daemon` with the policy
// service and the log watcher following Postfix's log, and peers in their
// own network namespaces (test/guest/lib.sh's peers_setup) sending real
// SMTP with swaks:
//   0. the Postfix configuration passes `ffwall postfix check`;
//   1. peer A sends to unknown recipients until the unknown-user threshold
//      trips: the log watcher bans A on the SMTP ports;
//   2. A's next TCP connection to port 25 is dropped by the kernel (its SYN
//      is never answered) and the drop counter rises;
//   3. port 80 from A still passes;
//   4. peer B still delivers mail;
//   5. peer C, allowlisted, misbehaves past the threshold and is never
//      banned, and still delivers;
//   6. the module is reloaded (the daemon has /dev/ffwall open, so it is
//      stopped for that): the kernel is empty, the database still has the
//      ban, and the daemon's restore at its next start puts A back.  The
//      policy service is the backstop for a ban the kernel does not hold:
//      with A's kernel entry flushed (cold in the database) and the kernel's
//      membership filter emptied (so no MISS event re-promotes it on its
//      first SYN, which is what normally happens first), A reaches Postfix,
//      the policy service refuses it at RCPT and promotes the ban back into
//      the kernel, and the next SYN is dropped again.
// On failure the Postfix log and configuration and the daemon's log are
// copied to $FFWALL_OUT/artifacts/mail/.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import test from 'ava';

import { startDaemon, type RunningDaemon } from '../fixture.js';

import { openFfwall, type Ffwall } from '../../../src/lib/index.js';

const ko = process.env.FFWALL_KO ?? '';
const root = process.env.FFWALL_ROOT ?? process.cwd();
const tools = process.env.FFWALL_TOOLS ?? path.join(root, 'build', 'tools');
const outDir = process.env.FFWALL_OUT ?? '/tmp';
const run = path.join(root, 'bin', 'run.js');
const WORK = '/tmp/ffwall-mail-guest';
const SOCK = path.join(WORK, 'ffwall.sock');
const DB = path.join(WORK, 'db');
const CONFIG = path.join(WORK, 'ffwall.jsonc');
const DAEMON_LOG = path.join(WORK, 'daemon.log');
const MAIL_DIR = '/tmp/ffwall-mail';
const MAIL_LOG = '/var/log/ffwall-test/mail.log';
const POLICY_PORT = 10031;
const POLICY = `inet:127.0.0.1:${POLICY_PORT}`;
const POLICY_TEXT = 'Blocked by ffwall in the guest test';
const DOMAIN = 'mail.example.test';
const HOST = '10.88.0.1';
const THRESHOLD = 3;
/** A: the spammer; B: a good peer; C: allowlisted; D: a second spammer whose ban shows the watcher has read past C's lines. */
const PEERS = 4;
const [A, B, C, D] = [1, 2, 3, 4] as const;
const addr = (i: number): string => `10.88.0.${10 + i}`;
const ns = (i: number): string => `ffwp${i}`;
const SMTP_PORTS = [25, 465, 587];

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const libEnv = `export MAIL_DIR=${MAIL_DIR} MAIL_LOG=${MAIL_LOG} MAIL_POLICY=${POLICY} MAIL_LISTEN=${HOST} MAIL_DOMAIN=${DOMAIN}`;

/** Runs a function of lib.sh / lib-postfix.sh. */
function sh(fn: string): string {
  return execFileSync('bash', ['-c', `${libEnv}; source test/guest/lib.sh && source test/guest/lib-postfix.sh && ${fn}`], { cwd: root, encoding: 'utf8' });
}

/** One SMTP session from peer @i with swaks; its exit status and transcript. */
function swaks(i: number, to: string, opts: { quitAfter?: string; timeout?: number } = {}): { code: number | null; out: string } {
  const args = ['netns', 'exec', ns(i), 'swaks', '--server', HOST, '--to', to, '--from', `sender@peer${i}.example`, '--helo', `peer${i}.example`, '--timeout', `${opts.timeout ?? 20}s`];
  if (opts.quitAfter !== undefined) args.push('--quit-after', opts.quitAfter);
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

/** Whether a TCP connection from peer @i to HOST:@port is answered (netprobe: 0 answered, 1 no answer within 1 s). */
function reaches(i: number, port: number): boolean {
  const r = spawnSync('ip', ['netns', 'exec', ns(i), path.join(tools, 'netprobe'), '-t', '1000', 'tcp', HOST, String(port)]);
  if (r.status !== 0 && r.status !== 1) throw new Error(`netprobe failed (${String(r.status)}): ${String(r.stderr)}`);
  return r.status === 0;
}

/** `ffwall ARGS` through the daemon's socket. */
function ffwall(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [run, ...args, '--transport', 'client', '--socket', SOCK], { encoding: 'utf8', cwd: '/' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function mailLog(): string {
  return existsSync(MAIL_LOG) ? readFileSync(MAIL_LOG, 'utf8') : '';
}

/** Lines of the mail log that match @re. */
function logLines(re: RegExp): string[] {
  return mailLog()
    .split('\n')
    .filter((l) => re.test(l));
}

function delivered(user: string): number {
  return Number(sh(`mail_delivered ${user}`).trim());
}


/** Waits until the daemon is ready and its policy service accepts connections. */
async function daemonReady(d: RunningDaemon): Promise<void> {
  await d.waitLog((l) => l.msg === 'ready', 120_000, 'ready');
  const end = Date.now() + 30_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: POLICY_PORT }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`the policy service does not listen on ${POLICY}`);
    await sleep(200);
  }
}

/** Polls @fn until it returns true (the log watcher and the daemon work asynchronously); false after @ms. */
async function eventually(fn: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > end) return false;
    await sleep(250);
  }
}

/** Unloads the module, waiting for the last holder (a process that just exited) to let go. */
async function unload(): Promise<void> {
  for (let i = 0; i < 50; i++) {
    if (!existsSync('/sys/module/ffwall')) return;
    if (spawnSync('rmmod', ['ffwall']).status === 0) return;
    await sleep(100);
  }
  throw new Error('rmmod ffwall: still in use');
}

let daemon: RunningDaemon | undefined;
let fw: Ffwall | undefined;
let failed = false;

async function client(): Promise<Ffwall> {
  fw ??= await openFfwall({ transport: 'client', socket: SOCK });
  return fw;
}

async function closeClient(): Promise<void> {
  await fw?.close();
  fw = undefined;
}

test.before(async () => {
  for (const tool of ['postfix', 'swaks', 'busybox']) {
    if (spawnSync('bash', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is not installed on the host (scripts/install-deps.sh installs it)`);
  }
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  writeFileSync(path.join(WORK, 'resolv.conf'), 'nameserver 10.88.0.53\n');
  execFileSync('insmod', [ko]);
  sh(`peers_setup ${PEERS}`);
  sh('mail_setup && mail_start && http_start 10.88.0.1');
  const devices = Array.from({ length: PEERS }, (_, i) => ns(i + 1));
  const config = {
    database: { path: DB },
    socket: { path: SOCK },
    kernel: { devices },
    // The sweep also FILTER_ADDs new bans and may rebuild the membership filter: step 6 empties
    // the filter on purpose, and a sweep during the test would fill it again.
    sync: { interval: '1s', sweepInterval: '1h' },
    safety: { resolvConf: path.join(WORK, 'resolv.conf') },
    log: { level: 'debug' },
    offences: { ttl: '1h', kinds: { 'unknown-user': { threshold: THRESHOLD, window: '10m' } } },
    postfix: {
      policy: { listen: POLICY, action: 'reject', text: POLICY_TEXT },
      log: { enabled: true, source: 'file', file: MAIL_LOG },
    },
  };
  writeFileSync(CONFIG, `// ffwall's mail guest test\n${JSON.stringify(config, null, 2)}\n`);
  daemon = startDaemon(CONFIG, { logFile: DAEMON_LOG });
  await daemonReady(daemon);
});

test.afterEach.always((t) => {
  if (!t.passed) failed = true;
});

test.after.always(async () => {
  await closeClient();
  await daemon?.stop();
  if (failed) {
    const dir = path.join(outDir, 'artifacts', 'mail');
    mkdirSync(dir, { recursive: true });
    for (const [from, to] of [
      [MAIL_LOG, 'mail.log'],
      [DAEMON_LOG, 'daemon.log'],
      [CONFIG, 'ffwall.jsonc'],
      [path.join(MAIL_DIR, 'conf', 'main.cf'), 'main.cf'],
      [path.join(MAIL_DIR, 'conf', 'master.cf'), 'master.cf'],
    ] as const) {
      if (existsSync(from)) copyFileSync(from, path.join(dir, to));
    }
    console.log(`mail suite: logs copied to ${dir}`);
  }
  spawnSync('bash', ['-c', `${libEnv}; source test/guest/lib.sh && source test/guest/lib-postfix.sh && http_stop; mail_stop; peers_teardown ${PEERS}`], { cwd: root });
  await unload().catch(() => undefined);
});

test.serial("0. the guest's Postfix configuration passes `ffwall postfix check` against the daemon's configuration", (t) => {
  const r = spawnSync(process.execPath, [run, 'postfix', 'check', '--config-dir', path.join(MAIL_DIR, 'conf'), '--config', CONFIG, '--json'], { encoding: 'utf8' });
  t.is(r.status, 0, `${r.stdout}${r.stderr}`);
  const checks = (JSON.parse(r.stdout) as { checks: { id: string; status: string; message: string }[] }).checks;
  t.log(checks.map((c) => `${c.status} ${c.id}`).join(', '));
  t.deepEqual(
    checks.filter((c) => c.status !== 'ok').map((c) => `${c.status} ${c.id}: ${c.message}`),
    [],
    'every check ok',
  );
  t.true(checks.some((c) => c.id === 'log-watcher'), 'the log watcher was checked');
});

test.serial('1. peer A sends to unknown recipients until the threshold trips: the log watcher bans A on the SMTP ports', async (t) => {
  t.true(reaches(A, 25), 'A reaches port 25 before');
  for (let n = 1; n <= THRESHOLD; n++) {
    const r = swaks(A, `nobody${n}@${DOMAIN}`, { quitAfter: 'RCPT' });
    t.is(r.code, 24, `swaks: RCPT refused (exit 24): ${r.out}`);
    t.regex(r.out, /<\*\* +550 5\.1\.1 .*User unknown in local recipient table/);
  }
  const f = await client();
  t.true(await eventually(async () => (await f.check(addr(A), { port: 25 })).blocked, 30_000), 'A is banned');
  // Exactly THRESHOLD rejections were logged for A, and nothing else was sent: the ban came from them.
  t.is(logLines(new RegExp(`reject: RCPT from unknown\\[${addr(A).replace(/\./g, '\\.')}\\]: 550 5\\.1\\.1`)).length, THRESHOLD);
  const c = ffwall(['check', addr(A), '--port', '25', '--json']);
  t.is(c.code, 0, c.stderr);
  const check = JSON.parse(c.stdout) as { blocked: boolean; inKernel: boolean; match: string; rule: { ports: number[] } | null };
  t.true(check.blocked);
  t.true(check.inKernel, 'in the kernel');
  t.is(check.match, 'exact');
  t.deepEqual(check.rule?.ports, SMTP_PORTS);
  const l = ffwall(['list', '--json']);
  t.is(l.code, 0, l.stderr);
  const bans = l.stdout
    .trim()
    .split('\n')
    .filter((x) => x !== '')
    .map((x) => JSON.parse(x) as { target: string; state: string; source: string; ports: number[] });
  const ban = bans.find((b) => b.target === addr(A));
  t.log(`A's ban: ${JSON.stringify(ban)}`);
  t.is(ban?.state, 'kernel');
  t.is(ban?.source, 'logwatch');
  t.deepEqual(ban?.ports, SMTP_PORTS);
  t.deepEqual(
    bans.map((b) => b.target),
    [addr(A)],
    'nobody else is banned',
  );
});

test.serial("2. A's next connection to port 25 is dropped by the kernel: the SYN is never answered, the drop counter rises", async (t) => {
  const f = await client();
  const before = (await f.stats()).kernel.dropped;
  const connectsBefore = logLines(new RegExp(`connect from unknown\\[${addr(A).replace(/\./g, '\\.')}\\]`)).length;
  t.false(reaches(A, 25), 'no answer to the SYN');
  const r = swaks(A, `alice@${DOMAIN}`, { timeout: 3 });
  t.is(r.code, 2, `swaks cannot connect (exit 2): ${r.out}`);
  const after = (await f.stats()).kernel.dropped;
  t.log(`kernel drops: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
  t.true(after.total >= before.total + 2, 'the SYNs were dropped by ffwall');
  t.true(after.ports >= before.ports + 2, 'by a port-scoped ban');
  t.is(logLines(new RegExp(`connect from unknown\\[${addr(A).replace(/\./g, '\\.')}\\]`)).length, connectsBefore, 'Postfix never saw the connections');
});

test.serial('3. port 80 from A still passes', (t) => {
  t.true(reaches(A, 80), 'the SYN to port 80 is answered');
  // An HTTP GET from A's namespace (busybox's static wget crashes in its resolver, curl may be absent: node it is).
  const get = `fetch('http://${HOST}/', { signal: AbortSignal.timeout(10000) }).then(async (r) => process.stdout.write(await r.text()), (e) => { console.error(e); process.exit(1); })`;
  const r = spawnSync('ip', ['netns', 'exec', ns(A), process.execPath, '-e', get], { encoding: 'utf8' });
  t.is(r.status, 0, `${String(r.error ?? '')} ${r.stderr}`);
  t.is(r.stdout, 'ffwall test page\n');
});

test.serial('4. peer B still delivers mail', async (t) => {
  const n = delivered('alice');
  const r = swaks(B, `alice@${DOMAIN}`);
  t.is(r.code, 0, r.out);
  t.notThrows(() => sh(`mail_wait_delivered alice ${n + 1} 60`), 'the message arrives in the mailbox');
  t.regex(readFileSync(path.join(MAIL_DIR, 'mbox', 'alice'), 'utf8'), new RegExp(`Received: from peer${B}\\.example \\(unknown \\[${addr(B).replace(/\./g, '\\.')}\\]\\)`));
  t.false((await (await client()).check(addr(B), { port: 25 })).blocked);
});

test.serial('5. peer C, allowlisted, misbehaves past the threshold and is never banned; it still delivers', async (t) => {
  const a = ffwall(['allow', 'add', addr(C), '--reason', 'partner relay (guest test)']);
  t.is(a.code, 0, a.stderr);
  for (let n = 1; n <= THRESHOLD + 1; n++) {
    const r = swaks(C, `ghost${n}@${DOMAIN}`, { quitAfter: 'RCPT' });
    t.is(r.code, 24, r.out);
  }
  // The log watcher reads the log in order: once D, which misbehaves after C, is banned, C's lines were read.
  for (let n = 1; n <= THRESHOLD; n++) t.is(swaks(D, `phantom${n}@${DOMAIN}`, { quitAfter: 'RCPT' }).code, 24);
  const f = await client();
  t.true(await eventually(async () => (await f.check(addr(D), { port: 25 })).blocked, 30_000), 'D, after C, is banned');
  const c = await f.check(addr(C), { port: 25 });
  t.false(c.blocked, JSON.stringify(c));
  t.is(c.match, 'allow');
  t.is(c.record, null, 'no ban record for C');
  t.true(reaches(C, 25));
  const n = delivered('bob');
  const r = swaks(C, `bob@${DOMAIN}`);
  t.is(r.code, 0, r.out);
  t.notThrows(() => sh(`mail_wait_delivered bob ${n + 1} 60`));
});

test.serial('6. after a module reload the daemon restores the ban; a ban the kernel lost is refused by the policy service and promoted back', async (t) => {
  await closeClient();
  t.is(await daemon?.stop(), 0, 'the daemon stops (it holds /dev/ffwall)');
  await unload();
  execFileSync('insmod', [ko]);
  // The kernel is empty; the database still holds the ban.
  const direct = await openFfwall({ transport: 'direct', database: DB });
  const empty = await direct.check(addr(A), { port: 25 });
  t.false(empty.inKernel, 'the reload emptied the kernel');
  t.true(empty.blocked, 'the database still has the ban');
  await direct.close();

  daemon = startDaemon(CONFIG, { logFile: DAEMON_LOG });
  await daemonReady(daemon);
  const f = await client();
  t.true((await f.check(addr(A), { port: 25 })).inKernel, "the daemon's restore put A back into the kernel");
  t.false(reaches(A, 25), 'so its SYN is dropped again');

  // Make the kernel lose A without the daemon's other paths noticing: flush the bans (cold in
  // the database) and empty the membership filter, so that A's first SYN raises no MISS.
  const fl = ffwall(['flush', '--yes', '--json']);
  t.is(fl.code, 0, fl.stderr);
  const lost = await f.check(addr(A), { port: 25 });
  t.false(lost.inKernel, 'flushed from the kernel');
  t.true(lost.blocked, 'still an active (cold) ban in the database');
  const filt = spawnSync(path.join(tools, 'ffwall-filter'), ['load', '-n', '1024'], { input: '', encoding: 'utf8' });
  t.is(filt.status, 0, `an empty membership filter: ${filt.stderr}`);
  t.true(reaches(A, 80), 'A passes on another port, and its SYN raised no MISS that would promote it');
  t.false((await f.check(addr(A), { port: 25 })).inKernel);

  const n = delivered('alice');
  const r = swaks(A, `alice@${DOMAIN}`, { quitAfter: 'RCPT', timeout: 5 });
  t.log(`swaks from A after the flush:\n${r.out}`);
  t.regex(r.out, /^ -> RCPT TO:<alice@mail\.example\.test>$/m, 'A reached Postfix and got as far as RCPT');
  t.regex(r.out, new RegExp(`^<\\*\\* +554 5\\.7\\.1 .*${POLICY_TEXT}`, 'm'), 'refused by the policy service at RCPT');
  t.true(logLines(new RegExp(`reject: RCPT from unknown\\[${addr(A).replace(/\./g, '\\.')}\\]: 554 5\\.7\\.1 .*${POLICY_TEXT}`)).length >= 1, "in Postfix's log");
  t.true(await eventually(async () => (await f.check(addr(A), { port: 25 })).inKernel, 10_000), 'the policy service promoted the ban back into the kernel');
  t.false(reaches(A, 25), 'the next SYN is dropped');
  await sleep(1000);
  t.is(delivered('alice'), n, 'nothing was delivered for A');
});
