// SPDX-License-Identifier: MIT
//
// packaging/ffwall.service: the directives the daemon relies on, a clean
// `systemd-analyze verify`, and the sandbox's exposure score.  systemd-analyze
// comes with the systemd package, which scripts/install-deps.sh installs, so
// a missing tool fails the test (with the command that installs it).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import test, { type ExecutionContext } from 'ava';

const run = promisify(execFile);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const unitPath = path.join(root, 'packaging/ffwall.service');
const unit = readFileSync(unitPath, 'utf8');

/** Directive values of the unit, by key (a key may repeat). */
function directives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (m === null) continue;
    const list = out.get(m[1] ?? '') ?? [];
    list.push(m[2] ?? '');
    out.set(m[1] ?? '', list);
  }
  return out;
}

function analyzer(t: ExecutionContext): string | undefined {
  for (const dir of ['/usr/bin', '/bin']) {
    const p = path.join(dir, 'systemd-analyze');
    if (existsSync(p)) return p;
  }
  t.fail('systemd-analyze is missing: install the systemd package (scripts/install-deps.sh lists it; as root: apt-get install systemd)');
  return undefined;
}

/** The unit with ExecStart pointing at this checkout's bin/run.js, since /usr/bin/ffwall is not installed here. */
function testableCopy(text: string): { dir: string; file: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-unit-'));
  const file = path.join(dir, 'ffwall.service');
  writeFileSync(file, text.replace('ExecStart=/usr/bin/ffwall daemon', `ExecStart=${path.join(root, 'bin/run.js')} daemon`));
  return { dir, file };
}

async function verify(sa: string, file: string): Promise<{ code: number; stderr: string }> {
  try {
    const r = await run(sa, ['verify', '--man=no', file]);
    return { code: 0, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    return { code: e.code ?? 1, stderr: e.stderr ?? '' };
  }
}

test('the unit has the directives the daemon relies on', (t) => {
  const d = directives(unit);
  const one = (k: string): string | undefined => d.get(k)?.[0];
  t.is(one('Type'), 'notify');
  t.is(one('NotifyAccess'), 'main');
  t.regex(one('WatchdogSec') ?? '', /^[0-9]+s$/);
  t.is(one('ExecStartPre'), '+/sbin/modprobe ffwall');
  t.is(one('ExecStart'), '/usr/bin/ffwall daemon');
  t.is(one('ExecReload'), '/bin/kill -HUP $MAINPID');
  t.is(one('KillSignal'), 'SIGTERM');
  t.is(one('CapabilityBoundingSet'), 'CAP_NET_ADMIN CAP_CHOWN');
  t.is(d.get('AmbientCapabilities'), undefined, 'root needs none');
  t.is(one('ProtectSystem'), 'strict');
  t.is(one('ReadWritePaths'), '/var/lib/ffwall /run/ffwall');
  t.is(one('RuntimeDirectory'), 'ffwall');
  t.is(one('StateDirectory'), 'ffwall');
  t.is(one('RestrictAddressFamilies'), 'AF_UNIX AF_INET AF_INET6 AF_NETLINK');
  t.is(one('SystemCallFilter'), '@system-service');
  for (const k of ['ProtectHome', 'PrivateTmp', 'NoNewPrivileges', 'ProtectKernelModules', 'ProtectKernelTunables', 'ProtectControlGroups']) t.is(one(k), 'yes', k);
  t.is(d.get('MemoryDenyWriteExecute'), undefined, 'V8 needs W+X pages');
  t.is(d.get('PrivateDevices'), undefined, 'it would hide /dev/ffwall');
  t.regex(unit, /^# SPDX-License-Identifier: MIT$/m);
});

test('systemd-analyze verify accepts the unit without a warning', async (t) => {
  const sa = analyzer(t);
  if (sa === undefined) return;
  const { dir, file } = testableCopy(unit);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = await verify(sa, file);
  t.is(r.stderr.trim(), '');
  t.is(r.code, 0);
});

test('systemd-analyze verify would catch a broken unit (the check can fail)', async (t) => {
  const sa = analyzer(t);
  if (sa === undefined) return;
  const { dir, file } = testableCopy(unit.replace('WatchdogSec=30s', 'WatchdogSec=soon').replace('ProtectHome=yes', 'ProtectHom=yes'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = await verify(sa, file);
  t.regex(r.stderr, /Failed to parse sec value/);
  t.regex(r.stderr, /Unknown key 'ProtectHom'/);
});

test('the sandbox scores at most 3.5 in systemd-analyze security', async (t) => {
  const sa = analyzer(t);
  if (sa === undefined) return;
  const { dir, file } = testableCopy(unit);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const r = await run(sa, ['security', '--offline=yes', '--no-pager', file]).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  const m = /Overall exposure level for ffwall\.service: ([0-9.]+)/.exec(r.stdout);
  t.not(m, null, r.stdout.slice(-500));
  const score = Number(m?.[1]);
  t.log(`exposure ${score}`);
  t.true(score <= 3.5, `exposure ${score}`);
});
