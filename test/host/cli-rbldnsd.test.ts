// SPDX-License-Identifier: MIT
//
// `ffwall export --format rbldnsd` served by the real rbldnsd on loopback:
// a DNS query for a banned address (IPv4 and IPv6) is answered 127.0.0.2,
// one for a clean address gets no answer.  Needs the Debian packages
// rbldnsd and dnsutils (scripts/install-deps.sh installs them).
import { execFile, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';

import { daemon, ffwall, stop } from './cli-helpers.js';

const run = promisify(execFile);
const RBLDNSD = '/usr/sbin/rbldnsd';
const DIG = '/usr/bin/dig';

async function dig(port: number, name: string, type: 'A' | 'TXT'): Promise<string> {
  const { stdout } = await run(DIG, ['@127.0.0.1', '-p', String(port), name, type, '+short', '+time=2', '+tries=2']);
  return stdout.trim();
}

test('the rbldnsd export answers for a banned address and not for a clean one', async (t) => {
  if (!existsSync(RBLDNSD) || !existsSync(DIG)) {
    t.fail('rbldnsd or dig missing: run scripts/install-deps.sh (packages rbldnsd dnsutils)');
    return;
  }
  const d = await daemon();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-rbl-'));
  chmodSync(dir, 0o755);
  const port = 20000 + Math.floor(Math.random() * 20000);
  let child: ReturnType<typeof spawn> | undefined;
  try {
    await d.fw.block('192.0.2.7', { permanent: true });
    await d.fw.block('198.51.100.0/24', { permanent: true });
    await d.fw.block('2001:db8:1::/48', { permanent: true });
    const zone = path.join(dir, 'ffwall.zone');
    const e = await ffwall(['export', '--format', 'rbldnsd', '--output', zone, ...d.conn]);
    t.is(e.code, 0, e.stderr);
    t.is(e.stdout, `exported 3 bans to ${zone} (rbldnsd) [client]\n`);
    chmodSync(zone, 0o644);
    writeFileSync(path.join(dir, 'log'), '');
    const args = ['-n', '-q', '-b', `127.0.0.1/${port}`, '-w', dir, 'bl.ffwall.test:combined:ffwall.zone'];
    if (process.getuid?.() === 0) args.unshift('-u', 'nobody');
    child = spawn(RBLDNSD, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    // Ready when it answers.
    let ready = false;
    for (let i = 0; i < 50 && !ready; i++) {
      ready = (await dig(port, '7.2.0.192.bl.ffwall.test', 'A').catch(() => '')) !== '';
      if (!ready) await new Promise((r) => setTimeout(r, 100));
    }
    t.true(ready, `rbldnsd did not answer: ${err}`);
    t.is(await dig(port, '7.2.0.192.bl.ffwall.test', 'A'), '127.0.0.2');
    t.is(await dig(port, '7.2.0.192.bl.ffwall.test', 'TXT'), '"Listed by ffwall: 192.0.2.7"');
    t.is(await dig(port, '99.100.51.198.bl.ffwall.test', 'A'), '127.0.0.2');
    t.is(await dig(port, '8.2.0.192.bl.ffwall.test', 'A'), '', 'a clean address is not listed');
    // 2001:db8:1::5 in nibble form.
    const v6 = '5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2';
    t.is(await dig(port, `${v6}.bl.ffwall.test`, 'A'), '127.0.0.2');
    t.is(await dig(port, `${v6.replace(/1\.0\.0\.0\.8\.b\.d/, '2.0.0.0.8.b.d')}.bl.ffwall.test`, 'A'), '');
  } finally {
    child?.kill('SIGTERM');
    await stop(d);
    rmSync(dir, { recursive: true, force: true });
  }
});
