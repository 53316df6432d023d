// SPDX-License-Identifier: MIT
//
// The thin commands of issue 7 (block, unblock, check) through the daemon's
// socket, served here by a ControlServer over a FakeKernel and a temporary
// ban database: output, --json, and the exit-code policy (0 ok, 1 failure,
// 2 bad input, 3 daemon or module unavailable).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { ControlServer, openFfwall, parseAddress, type Ffwall } from '../../src/lib/index.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const bin = path.join(root, 'bin', 'run.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function ffwall(args: string[]): Promise<Run> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (stderr += d));
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  return { code, stdout, stderr };
}

interface Daemon {
  dir: string;
  sock: string;
  kernel: FakeKernel;
  fw: Ffwall;
  server: ControlServer;
}

async function daemon(): Promise<Daemon> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-cli-'));
  const sock = path.join(dir, 'ffwall.sock');
  const kernel = new FakeKernel();
  const fw = await openFfwall({ kernel, database: path.join(dir, 'db'), databaseOptions: { noSync: true } });
  const server = new ControlServer(fw, { path: sock });
  await server.start();
  return { dir, sock, kernel, fw, server };
}

async function stop(d: Daemon): Promise<void> {
  await d.server.stop();
  await d.fw.close();
  rmSync(d.dir, { recursive: true, force: true });
}

test('block, check and unblock through the daemon socket', async (t) => {
  const d = await daemon();
  try {
    const conn = ['--transport', 'client', '--socket', d.sock];
    const b = await ffwall(['block', '192.0.2.7', '--port', '25,465,587', '--ttl', '7d', '--reason', 'unknown users', ...conn]);
    t.is(b.code, 0, b.stderr);
    t.regex(b.stdout, /^created 192\.0\.2\.7: ports 25,465,587, until 20\d\d-.* \[client\]$/m);
    t.is((await d.kernel.lookup(parseAddress('192.0.2.7'), 25)).verdict, 'drop');

    const c = await ffwall(['check', '192.0.2.7', '--port', '25', '--json', ...conn]);
    t.is(c.code, 0, c.stderr);
    const json = JSON.parse(c.stdout) as { blocked: boolean; verdict: string; match: string; transport: string; record: { reason: string; source: string } };
    t.true(json.blocked);
    t.is(json.verdict, 'drop');
    t.is(json.match, 'exact');
    t.is(json.transport, 'client');
    t.is(json.record.reason, 'unknown users');
    t.is(json.record.source, 'cli');

    const human = await ffwall(['check', '192.0.2.7', ...conn]);
    t.regex(human.stdout, /^blocked: 192\.0\.2\.7: exact ban 192\.0\.2\.7 \(ports 25,465,587;/m);
    t.regex(human.stdout, /record: 192\.0\.2\.7, kernel, source cli, banned 1x/);

    const u = await ffwall(['unblock', '192.0.2.7', '--json', ...conn]);
    t.is(u.code, 0);
    t.deepEqual((JSON.parse(u.stdout) as { results: unknown[] }).results, [{ target: '192.0.2.7', removed: true }]);
    const c2 = await ffwall(['check', '192.0.2.7', ...conn]);
    t.regex(c2.stdout, /^passes: 192\.0\.2\.7: no ban/m);
  } finally {
    await stop(d);
  }
});

test('bad input exits 2 and changes nothing', async (t) => {
  const d = await daemon();
  try {
    const conn = ['--transport', 'client', '--socket', d.sock];
    const cases: Array<[string[], RegExp]> = [
      [['block', '010.1.1.1', ...conn], /leading zero/],
      [['block', '192.0.2.7/24', ...conn], /did you mean 192\.0\.2\.0\/24/],
      [['block', '192.0.2.1', '192.0.2.999', ...conn], /argument 2: invalid address/],
      [['block', '192.0.2.1', '--ttl', '7x', ...conn], /invalid duration/],
      [['block', '192.0.2.1', '--port', 'no-such-service', ...conn], /unknown service "no-such-service"/],
      [['block', '192.0.2.1', '--ttl', '1h', '--permanent', ...conn], /cannot also be provided|--permanent/],
      [['check', '192.0.2.0/24', ...conn], /single address/],
      [['check', '192.0.2.1', '--port', '70000', ...conn], /70000|less than or equal/],
      [['unblock', 'nope', ...conn], /invalid address/],
    ];
    for (const [args, re] of cases) {
      const r = await ffwall(args);
      t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      t.regex(r.stderr, re, args.join(' '));
    }
    t.is((await d.kernel.stats()).entries, 0, 'nothing was added');
    // --json reports the error as JSON too.
    const j = await ffwall(['block', '1.2.3', '--json', ...conn]);
    t.is(j.code, 2);
    const err = JSON.parse(j.stdout) as { error: { code: string; exit: number } };
    t.is(err.error.code, 'EFFWALLADDR');
    t.is(err.error.exit, 2);
  } finally {
    await stop(d);
  }
});

test('an allowlisted address is refused with exit 1 and a clear message', async (t) => {
  const d = await daemon();
  try {
    await d.fw.allow('192.0.2.0/24', { reason: 'office' });
    const r = await ffwall(['block', '192.0.2.9', '--transport', 'client', '--socket', d.sock]);
    t.is(r.code, 1);
    t.regex(r.stderr, /192\.0\.2\.9 is on the allowlist \(by 192\.0\.2\.0\/24\)/);
  } finally {
    await stop(d);
  }
});

test('no daemon and no module exits 3 and says so', async (t) => {
  const r = await ffwall(['check', '192.0.2.1', '--transport', 'client', '--socket', '/nonexistent/ffwall.sock']);
  t.is(r.code, 3);
  t.regex(r.stderr, /cannot connect to the daemon/);
  const r2 = await ffwall(['block', '192.0.2.1', '--socket', '/nonexistent/ffwall.sock', '--device', '/nonexistent/ffwall']);
  t.is(r2.code, 3);
  t.regex(r2.stderr, /module is not loaded/);
});
