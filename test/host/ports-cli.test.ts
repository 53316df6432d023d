// SPDX-License-Identifier: MIT
//
// `ffwall block --port` with service names, ranges and --port-overflow, run
// as a child process against a ControlServer over a FakeKernel.
import test from 'ava';

import { systemServiceTable } from '../../src/lib/ports.js';
import { daemon, ffwall, stop } from './cli-helpers.js';

const haveServices = systemServiceTable().has('submission');

test('block --port takes service names and ranges; every-port ranges and --port-overflow all ban every port', async (t) => {
  if (!haveServices) {
    t.pass('no /etc/services on this machine');
    return;
  }
  const d = await daemon();
  try {
    const c = d.conn;
    let r = await ffwall(['block', '192.0.2.1', '--port', 'smtp,submissions,submission', '--ttl', '600', ...c]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /ports 25,465,587/);
    t.deepEqual((await d.fw.check('192.0.2.1', { port: 465 })).blocked, true);
    t.deepEqual((await d.fw.check('192.0.2.1', { port: 80 })).blocked, false);

    r = await ffwall(['block', '192.0.2.2', '--port', '1000:1002,ssh', ...c]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /ports 22,1000,1001,1002/);

    // fail2ban's default "port = 0:65535": every port, no warning.
    r = await ffwall(['block', '192.0.2.3', '--port', '0:65535', ...c]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /192\.0\.2\.3: all ports/);
    t.notRegex(r.stderr, /Warning/);

    // A wide range is refused by default, and nothing changes.
    r = await ffwall(['block', '192.0.2.4', '--port', '1000:2000', ...c]);
    t.is(r.code, 2);
    t.regex(r.stderr, /more than 8 ports/);
    t.false((await d.fw.check('192.0.2.4')).blocked);

    // With --port-overflow all: every port, and a warning.
    r = await ffwall(['block', '192.0.2.4', '--port', '1000:2000', '--port-overflow', 'all', ...c]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /192\.0\.2\.4: all ports/);
    t.regex(r.stderr, /blocking every port instead/);
    t.true((await d.fw.check('192.0.2.4', { port: 80 })).blocked);

    // An unknown service name: a usage error naming it, nothing changes.
    r = await ffwall(['block', '192.0.2.5', '--port', 'smtp,no-such-service', ...c]);
    t.is(r.code, 2);
    t.regex(r.stderr, /unknown service "no-such-service"/);
    t.false((await d.fw.check('192.0.2.5')).blocked);
  } finally {
    await stop(d);
  }
});
