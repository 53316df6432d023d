// SPDX-License-Identifier: MIT
//
// `ffwall daemon` as a service (issue 8), on the host: the real command runs
// as a child process over the fake kernel (--fake-kernel, tests only):
// configuration errors exit 2 naming the keys; SIGHUP with a bad file keeps
// the running configuration and with a good one applies it; the sd_notify
// datagrams (READY, RELOADING, STATUS, STOPPING) arrive from the daemon's
// PID on a test NOTIFY_SOCKET; SIGTERM exits 0.  In process, DaemonService's
// reload() does the same.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { DaemonService } from '../../src/daemon/daemon.js';
import { NotifyReceiver, type ReceivedDatagram } from '../../src/daemon/notify.js';
import { openFfwall } from '../../src/lib/ffwall.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const run = path.join(root, 'bin', 'run.js');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tmp(): { dir: string; done(): void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-svc-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

function config(dir: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    database: { path: path.join(dir, 'db') },
    socket: { path: path.join(dir, 'ffwall.sock') },
    sync: { interval: 1, sweepInterval: 1 },
    safety: { resolvConf: path.join(dir, 'resolv.conf') },
    ...extra,
  });
}

test('config errors: exit 2, every bad key named with its reason', (t) => {
  const { dir, done } = tmp();
  const file = path.join(dir, 'bad.jsonc');
  writeFileSync(file, '{\n  // comment\n  "socket": { "mode": "0666" },\n  "sync": { "interval": -1 },\n  "metrics": { "listen": "0.0.0.0:9725" },\n  "nope": 1\n}\n');
  const r = spawnSync(process.execPath, [run, 'daemon', '--config', file, '--fake-kernel'], { encoding: 'utf8' });
  t.is(r.status, 2, r.stderr);
  for (const key of ['socket.mode', 'sync.interval', 'metrics.listen', 'nope']) t.regex(r.stderr, new RegExp(key.replace('.', '\\.')), `names ${key}`);
  const missing = spawnSync(process.execPath, [run, 'daemon', '--config', path.join(dir, 'absent.jsonc'), '--check-config'], { encoding: 'utf8' });
  t.is(missing.status, 2, 'an explicit file that is missing is an error');
  t.regex(missing.stderr, /ENOENT/);
  const good = path.join(dir, 'good.jsonc');
  writeFileSync(good, config(dir));
  const ok = spawnSync(process.execPath, [run, 'daemon', '--config', good, '--check-config'], { encoding: 'utf8' });
  t.is(ok.status, 0, ok.stderr);
  done();
});

interface Child {
  child: ChildProcessWithoutNullStreams;
  logs: Record<string, unknown>[];
  waitLog(pred: (l: Record<string, unknown>) => boolean, what: string, ms?: number): Promise<Record<string, unknown>>;
}

function startChild(file: string, env: Record<string, string>): Child {
  const child = spawn(process.execPath, [run, 'daemon', '--config', file, '--fake-kernel'], { env: { ...process.env, ...env } });
  const logs: Record<string, unknown>[] = [];
  let buf = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const l of parts) logs.push(JSON.parse(l) as Record<string, unknown>);
  });
  return {
    child,
    logs,
    async waitLog(pred, what, ms = 15_000) {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const l = logs.find(pred);
        if (l !== undefined) return l;
        if (child.exitCode !== null) throw new Error(`exited (${child.exitCode}) before ${what}: ${stderr}`);
        await sleep(20);
      }
      throw new Error(`no ${what}: ${logs.map((l) => String(l.msg)).join(' | ')} ${stderr}`);
    },
  };
}

async function nextWith(r: NotifyReceiver, field: string, ms = 15_000): Promise<ReceivedDatagram> {
  const end = Date.now() + ms;
  for (;;) {
    const d = await r.next(Math.max(1, end - Date.now()));
    if (d.fields[field] !== undefined) return d;
  }
}

test('the command over the fake kernel: READY, SIGHUP bad file (kept) and good file (applied), STOPPING, exit 0', async (t) => {
  const { dir, done } = tmp();
  const file = path.join(dir, 'ffwall.jsonc');
  const sock = path.join(dir, 'ffwall.sock');
  writeFileSync(file, config(dir));
  const receiver = new NotifyReceiver(path.join(dir, 'notify.sock'));
  receiver.bind();
  const c = startChild(file, { NOTIFY_SOCKET: receiver.socketPath });
  try {
    const ready = await nextWith(receiver, 'READY');
    t.is(ready.pid, c.child.pid ?? -1, 'from the daemon itself');
    t.regex(ready.fields.STATUS ?? '', /bans in the kernel/);
    await c.waitLog((l) => l.msg === 'ready', 'ready');
    t.true(c.logs.every((l) => typeof l.level === 'string' && typeof l.time === 'string'), 'pino JSON lines');
    t.is(statSync(sock).mode & 0o777, 0o660);

    const fw = await openFfwall({ transport: 'client', socket: sock });
    t.true((await fw.block('198.51.100.77', { ttl: 60 })).created);

    // A bad file: logged, the old configuration stays, the socket keeps serving.
    writeFileSync(file, '{ "socket": { "mode": "0600" }, "log": { "level": "loud" } }');
    c.child.kill('SIGHUP');
    const bad = await c.waitLog((l) => String(l.msg).startsWith('reload: the configuration file is invalid'), 'the invalid reload');
    t.regex(JSON.stringify(bad.errors), /log\.level/);
    t.truthy(await nextWith(receiver, 'RELOADING'));
    const after = await nextWith(receiver, 'READY');
    t.regex(after.fields.STATUS ?? '', /reload failed/);
    t.is(statSync(sock).mode & 0o777, 0o660, 'the mode of the running configuration');
    t.true((await fw.check('198.51.100.77')).blocked, 'still serving');

    // A good file: applied.
    writeFileSync(file, config(dir, { socket: { path: sock, mode: '0600' }, log: { level: 'debug' } }));
    c.child.kill('SIGHUP');
    const good = await c.waitLog((l) => l.msg === 'configuration reloaded', 'the good reload');
    t.true((good.changed as string[]).includes('socket.mode'));
    t.is(statSync(sock).mode & 0o777, 0o600);
    await c.waitLog((l) => l.msg === 'hit sync', 'a debug line (the new level)', 5000);
    await fw.close();

    while (receiver.poll() !== undefined);
    const exited = new Promise<number | null>((r) => c.child.once('exit', (code) => r(code)));
    c.child.kill('SIGTERM');
    t.truthy(await nextWith(receiver, 'STOPPING'));
    t.is(await exited, 0);
    t.truthy(c.logs.find((l) => l.msg === 'stopped'));
    t.throws(() => statSync(sock), undefined, 'the socket file is removed');
  } finally {
    if (c.child.exitCode === null) c.child.kill('SIGKILL');
    receiver.close();
    done();
  }
});

test('DaemonService in process: reload() keeps the old configuration on a bad file, applies a good one', async (t) => {
  const { dir, done } = tmp();
  const file = path.join(dir, 'ffwall.jsonc');
  writeFileSync(file, config(dir, { escalation: { baseTtl: '1h' } }));
  const lines: Record<string, unknown>[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  const kernel = new FakeKernel();
  const svc = new DaemonService({ configPath: file, kernel, logDestination: dest, env: {}, signals: false });
  await svc.start();
  t.is(svc.daemon.store.escalation.baseTtl, 3600);
  writeFileSync(file, '{ "escalation": { "baseTtl": "forever" } }');
  t.false(await svc.reload());
  t.is(svc.config.escalation.baseTtl, 3600);
  t.is(svc.daemon.store.escalation.baseTtl, 3600);
  writeFileSync(file, config(dir, { escalation: { baseTtl: '2h' } }));
  t.true(await svc.reload());
  t.is(svc.daemon.store.escalation.baseTtl, 7200);
  await svc.stop();
  await svc.done;
  t.is(svc.daemon.state, 'stopped');
  t.truthy(lines.find((l) => l.msg === 'configuration reloaded'));
  await kernel.close();
  done();
});
