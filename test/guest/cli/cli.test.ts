// SPDX-License-Identifier: MIT
//
// The `ffwall` command line against the real module, with real traffic from
// the peer namespace (test/guest/lib.sh's fixture): block from the CLI, the
// peer's packets are dropped, the drops show in `ffwall stats`, unblock and
// they pass again; a feed imported from standard input is removed by its
// name; status reports the module and the device.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { ffwallDirect, ko, PEER, PEER_B, reaches, sh, type CliResult } from '../fixture.js';


let dir = '';

const ffwall = (args: string[], input = ''): CliResult => ffwallDirect(path.join(dir, 'db'), args, input);


test.before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-cli-guest-'));
  execFileSync('insmod', [ko]);
  sh('peer_setup');
});

test.after.always(() => {
  sh('peer_teardown');
  spawnSync('rmmod', ['ffwall']);
  rmSync(dir, { recursive: true, force: true });
});

test.serial('block from the CLI drops the peer, stats counts the drops, unblock lets it pass', (t) => {
  const a = ffwall(['attach', 'ffw0']);
  t.is(a.code, 0, a.stderr);
  t.is(a.stdout, 'attached ffw0 [direct]\n');
  t.true(reaches(PEER, 80), 'the peer reaches port 80 before the ban');
  const before = JSON.parse(ffwall(['stats', '--json']).stdout) as { kernel: { dropped: { total: number } } };
  const b = ffwall(['block', PEER, '--ttl', '1h', '--reason', 'cli guest test']);
  t.is(b.code, 0, b.stderr);
  t.regex(b.stdout, /^created 10\.99\.0\.2: all ports, until .* \[direct\]$/m);
  t.false(reaches(PEER, 80), 'the banned peer is dropped');
  t.false(reaches(PEER, 25), 'on every port');
  t.true(reaches(PEER_B, 80), 'the other peer address passes');
  const s = JSON.parse(ffwall(['stats', '--json']).stdout) as { kernel: { dropped: { total: number; exact: number } }; devices: { name: string; hooked: boolean }[] };
  t.true(s.kernel.dropped.total >= before.kernel.dropped.total + 2, `drops counted: ${before.kernel.dropped.total} -> ${s.kernel.dropped.total}`);
  t.true(s.devices.some((d) => d.name === 'ffw0' && d.hooked));
  const human = ffwall(['stats']).stdout;
  t.regex(human, /^dropped: +[1-9][0-9,]* \(exact [1-9]/m);
  const l = ffwall(['list', '--json']).stdout.trim().split('\n').map((x) => JSON.parse(x) as { target: string; state: string; hitCount: number });
  t.deepEqual(l.map((r) => [r.target, r.state]), [[PEER, 'kernel']]);
  // The module's own table (a DUMP), with the drops counted as the entry's hits.
  const k = ffwall(['list', '--kernel', '--json']);
  t.is(k.code, 0, k.stderr);
  const ke = k.stdout.trim().split('\n').map((x) => JSON.parse(x) as { target: string; kind: string; hits: number; lastHitAt: string | null; expiresAt: string | null });
  t.deepEqual(ke.map((e) => [e.target, e.kind]), [[PEER, 'exact']]);
  t.true((ke[0]?.hits ?? 0) >= 2, `hits ${ke[0]?.hits}`);
  t.not(ke[0]?.lastHitAt, null);
  const left = Date.parse(ke[0]?.expiresAt ?? '') - Date.now();
  t.true(left > 3000e3 && left <= 3602e3, `expires in ${left} ms`);
  t.regex(ffwall(['list', '--kernel']).stdout, /^10\.99\.0\.2 +exact +all +in [0-9dhms]+ +[1-9]\d* +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/m);
  const c = ffwall(['check', PEER]);
  t.regex(c.stdout, /^blocked: 10\.99\.0\.2: exact ban 10\.99\.0\.2 \(all ports; until .*; [1-9]\d* hits\)/m);
  const u = ffwall(['unblock', PEER]);
  t.is(u.stdout, `unblocked ${PEER} [direct]\n`);
  t.true(reaches(PEER, 80), 'unblocked, the peer passes again');
});

test.serial('a feed from standard input blocks, and unblock --source removes exactly it', (t) => {
  const i = ffwall(['import', '-', '--name', 'lab-feed', '--format', 'drop'], `; lab\n${PEER_B}/32 ; LAB1\n`);
  t.is(i.code, 0, i.stderr);
  t.is(i.stdout, 'imported 1 entry of lab-feed (1 new) from 2 lines [direct]\n');
  t.false(reaches(PEER_B, 80));
  t.true(reaches(PEER, 80));
  const u = ffwall(['unblock', '--source', 'lab-feed']);
  t.is(u.stdout, 'removed 1 ban of feed/lab-feed (1 from the kernel) [direct]\n');
  t.true(reaches(PEER_B, 80));
});

test.serial('a plain feed with the database: every entry in the kernel, a permanent ban it refreshes without a duration stays permanent', (t) => {
  // 198.18.0.0/24 is a benchmarking network no test sends to; PEER_B is the one that is reached.
  t.is(ffwall(['block', '198.18.0.7', '--permanent', '--reason', 'by hand']).code, 0);
  const feed = `${PEER_B}\n198.18.0.7\n198.18.0.0/28\n198.18.0.9\n`;
  // No --ttl: an explicit one would end the permanent ban (an explicit duration wins); the default does not.
  const i = ffwall(['import', '-', '--name', 'plain-feed'], feed);
  t.is(i.code, 0, i.stderr);
  t.is(i.stdout, 'imported 4 entries of plain-feed (3 new) from 4 lines [direct]\n');
  t.false(reaches(PEER_B, 80), 'the feed\'s address is dropped');
  const k = ffwall(['list', '--kernel', '--json']);
  t.is(k.code, 0, k.stderr);
  const rows = k.stdout.trim().split('\n').map((x) => JSON.parse(x) as { target: string; expiresAt: string | null });
  const by = new Map(rows.map((r) => [r.target, r.expiresAt]));
  for (const target of [PEER_B, '198.18.0.9', '198.18.0.0/28']) {
    const left = Date.parse(by.get(target) ?? '') - Date.now();
    t.true(left > 500e3, `${target} expires in ${left} ms`);
  }
  t.true(by.has('198.18.0.7'), 'the permanent ban is in the kernel');
  t.is(by.get('198.18.0.7'), null, 'and still permanent there');
  const u = ffwall(['unblock', '--source', 'plain-feed']);
  t.is(u.code, 0, u.stderr);
  t.true(reaches(PEER_B, 80));
  t.is(ffwall(['unblock', '198.18.0.7']).code, 0);
});

test.serial('status and devices report the module and the hooked device; detach stops filtering', (t) => {
  const s = ffwall(['status']);
  t.is(s.code, 0, s.stderr);
  t.regex(s.stdout, /^module: +ffwall\.ko \d+\.\d+\.\d+, ABI \d+, mode enforce \[direct\]$/m);
  t.regex(s.stdout, /^ffw0 +\d+ +yes +yes$/m);
  ffwall(['block', PEER, '--ttl', '10m']);
  t.false(reaches(PEER, 80));
  t.is(ffwall(['detach', 'ffw0']).code, 0);
  t.true(reaches(PEER, 80), 'a detached device is not filtered');
  t.is(ffwall(['devices']).stdout, 'no device attached (ffwall attach <dev>) [direct]\n');
});
