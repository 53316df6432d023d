// SPDX-License-Identifier: MIT
//
// The first guest test: the module loads, creates /dev/ffwall 0600, answers
// VERSION through the addon, refuses a caller without CAP_NET_ADMIN, and
// unloads leaving no device behind.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

import test from 'ava';

import { Device, libraryAbiVersion } from '../../../src/lib/index.js';

const ko = process.env.FFWALL_KO ?? '';
const root = process.env.FFWALL_ROOT ?? process.cwd();

test.serial('ffwall.ko loads and creates /dev/ffwall as a 0600 character device', (t) => {
  t.false(existsSync('/sys/module/ffwall'), 'the module is not loaded before the test');
  execFileSync('insmod', [ko]);
  t.true(existsSync('/sys/module/ffwall'));
  const st = statSync('/dev/ffwall');
  t.true(st.isCharacterDevice());
  t.is(st.mode & 0o777, 0o600);
  t.is(st.uid, 0);
});

test.serial('VERSION answers with the ABI version of the uapi header, through the addon', (t) => {
  const dev = Device.open('/dev/ffwall');
  try {
    const v = dev.version();
    t.is(v.abiVersion, libraryAbiVersion());
    const header = readFileSync(path.join(root, 'kmod/uapi/ffwall.h'), 'utf8');
    const m = /#define FFWALL_ABI_VERSION\s+(\d+)/.exec(header);
    t.truthy(m);
    t.is(v.abiVersion, Number(m?.[1]));
    t.regex(v.moduleVersion, /^\d+\.\d+\.\d+/);
    t.is(typeof v.features, 'bigint');
  } finally {
    dev.close();
  }
});

test.serial('the CLI reports the loaded module', (t) => {
  const out = execFileSync('node', [path.join(root, 'bin/run.js'), 'module', 'version', '--json'], { encoding: 'utf8' });
  const json = JSON.parse(out) as { abiVersion: number; moduleVersion: string };
  t.is(json.abiVersion, libraryAbiVersion());
});

test.serial('a caller without CAP_NET_ADMIN gets EPERM', (t) => {
  // Root keeps its uid and the 0600 device opens, but the capability is gone
  // from the bounding set, so the ioctl itself must refuse.
  const script = `
    import { Device } from ${JSON.stringify(path.join(root, 'dist/src/lib/index.js'))};
    try { Device.open('/dev/ffwall'); console.log('NO-ERROR'); }
    catch (e) { console.log(JSON.stringify({ code: e.code, errno: e.errno, syscall: e.syscall, path: e.path })); }
  `;
  const r = spawnSync(
    'setpriv',
    ['--bounding-set=-net_admin', '--inh-caps=-net_admin', '--', 'node', '--input-type=module', '-e', script],
    { encoding: 'utf8' },
  );
  t.is(r.status, 0, r.stderr);
  const err = JSON.parse(r.stdout.trim()) as { code: string; errno: number; syscall: string; path: string };
  t.deepEqual(err, { code: 'EPERM', errno: -1, syscall: 'ioctl', path: '/dev/ffwall' });
  // Privileged callers still work afterwards.
  const dev = Device.open('/dev/ffwall');
  t.is(dev.version().abiVersion, libraryAbiVersion());
  dev.close();
});

test.serial('rmmod is refused while /dev/ffwall is open', (t) => {
  const dev = Device.open('/dev/ffwall');
  try {
    const r = spawnSync('rmmod', ['ffwall'], { encoding: 'utf8' });
    t.not(r.status, 0);
    t.true(existsSync('/dev/ffwall'));
  } finally {
    dev.close();
  }
});

test.serial('ffwall.ko unloads cleanly and /dev/ffwall goes away', (t) => {
  execFileSync('rmmod', ['ffwall']);
  t.false(existsSync('/sys/module/ffwall'));
  t.false(existsSync('/dev/ffwall'));
});
