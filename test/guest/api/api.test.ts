// SPDX-License-Identifier: MIT
//
// The public API against the real module, with real traffic from a peer
// namespace (test/guest/lib.sh's fixture):
//   - root blocks and unblocks through the direct transport, and packets are
//     dropped and pass accordingly;
//   - an unprivileged process on the direct transport gets ENOTPRIVILEGED,
//     whose message points at the daemon's socket;
//   - an unprivileged process in the socket's group blocks through the
//     client transport (the same calls), and the traffic is dropped;
//   - a process outside the group cannot connect.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

import test from 'ava';

import { ko, PEER, PEER_B, reaches, root, sh } from '../fixture.js';

import { ControlServer, NativeKernel, openFfwall, type Ffwall } from '../../../src/lib/index.js';

const SOCK_DIR = '/run/ffwall-api-test';
const SOCK = path.join(SOCK_DIR, 'ffwall.sock');
const NOBODY = 65534;
const OTHER_GID = 4242;

/**
 * Runs an ESM snippet as an unprivileged user and returns its JSON output.
 * Asynchronous: the control server lives in this process and must answer.
 */
async function asUser(uid: number, gid: number, body: string): Promise<unknown> {
  const script = `
    import { openFfwall } from ${JSON.stringify(path.join(root, 'dist/src/lib/index.js'))};
    const out = (v) => console.log(JSON.stringify(v));
    try { ${body} } catch (e) { out({ error: { code: e.code, message: e.message, name: e.name } }); }
  `;
  const child = spawn('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--inh-caps=-all', '--', process.execPath, '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (status !== 0) throw new Error(`child failed (${String(status)}): ${stderr}`);
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] ?? 'null');
}

let fw: Ffwall;
let server: ControlServer;

test.before(async () => {
  execFileSync('insmod', [ko]);
  sh('peer_setup');
  const k = await NativeKernel.open('/dev/ffwall');
  await k.attach('ffw0');
  await k.close();
  fw = await openFfwall({ transport: 'direct' });
  mkdirSync(SOCK_DIR, { recursive: true, mode: 0o755 });
  server = new ControlServer(fw, { path: SOCK, mode: 0o660, gid: NOBODY, serverVersion: 'test' });
  await server.start();
});

test.after.always(async () => {
  await server?.stop();
  await fw?.close();
  sh('peer_teardown');
  spawnSync('rmmod', ['ffwall']);
});

test.serial('root blocks through the direct transport: the peer is dropped, then passes again after unblock', async (t) => {
  t.is(fw.transport, 'direct');
  t.true(reaches(PEER, 80), 'the peer reaches port 80 before the ban');
  const res = await fw.block(PEER, { ttl: '1h', reason: 'api test' });
  t.true(res.created);
  t.is(res.target, PEER);
  t.false(reaches(PEER, 80), 'the banned peer is dropped');
  t.true(reaches(PEER_B, 80), 'the other peer address still passes');
  const c = await fw.check(PEER);
  t.true(c.blocked);
  t.is(c.match, 'exact');
  t.truthy(c.rule?.expiresAt);
  const ms = Date.parse(c.rule?.expiresAt ?? '') - Date.now();
  t.true(ms > 3500_000 && ms <= 3600_000 + 2000, `expiresAt is about 1h ahead (${ms} ms)`);
  t.true((c.rule?.hits ?? 0) >= 1, 'the dropped SYN counted as a hit');
  t.deepEqual(await fw.unblock(PEER), { target: PEER, removed: true });
  t.true(reaches(PEER, 80), 'unblocked, the peer passes');
});

test.serial('a port-scoped ban drops only those ports', async (t) => {
  await fw.block(PEER, { ports: [25, 587], ttl: '10m' });
  t.false(reaches(PEER, 25));
  t.true(reaches(PEER, 80));
  const c = await fw.check(PEER, { port: 25 });
  t.is(c.verdict, 'drop');
  t.is((await fw.check(PEER, { port: 80 })).verdict, 'pass');
  await fw.unblock(PEER);
});

test.serial('an allowlisted address is never blocked, and the error says why', async (t) => {
  await fw.allow('10.99.0.0/24', { reason: 'lab' });
  const err = await t.throwsAsync(fw.block(PEER, { ttl: '1h' }));
  t.is((err as Error & { code: string }).code, 'EALLOWLISTED');
  t.regex(err?.message ?? '', /allowlist \(by 10\.99\.0\.0\/24\)/);
  t.true(reaches(PEER, 80));
  await fw.disallow('10.99.0.0/24');
});

test.serial('an unprivileged process on the direct transport is pointed at the socket', async (t) => {
  const out = await asUser(NOBODY, NOBODY, `await openFfwall({ transport: 'direct' }); out({ opened: true });`) as { error?: { code: string; message: string } };
  t.is(out.error?.code, 'ENOTPRIVILEGED');
  t.regex(out.error?.message ?? '', /CAP_NET_ADMIN/);
  t.regex(out.error?.message ?? '', /ffwall daemon/);
  t.regex(out.error?.message ?? '', /transport: 'client'/);
});

test.serial('an unprivileged process in the socket group blocks through the daemon socket with the same calls', async (t) => {
  t.true(existsSync(SOCK));
  const out = await asUser(
    NOBODY,
    NOBODY,
    `const fw = await openFfwall({ socket: ${JSON.stringify(SOCK)} });
     const b = await fw.block(${JSON.stringify(PEER)}, { ports: [80], ttl: '5m', reason: 'from nobody' });
     const c = await fw.check(${JSON.stringify(PEER)}, { port: 80 });
     await fw.close();
     out({ transport: fw.transport, created: b.created, verdict: c.verdict });`,
  ) as { transport: string; created: boolean; verdict: string };
  t.deepEqual(out, { transport: 'client', created: true, verdict: 'drop' });
  t.false(reaches(PEER, 80), 'the ban made through the socket drops the peer');
  t.true(reaches(PEER_B, 80));
  await fw.unblock(PEER);
  t.true(reaches(PEER, 80));
});

test.serial('a process outside the socket group cannot connect', async (t) => {
  const out = await asUser(NOBODY, OTHER_GID, `await openFfwall({ transport: 'client', socket: ${JSON.stringify(SOCK)} }); out({ opened: true });`) as {
    error?: { code: string; message: string };
  };
  t.is(out.error?.code, 'ENODAEMON');
  t.regex(out.error?.message ?? '', /EACCES/);
});
