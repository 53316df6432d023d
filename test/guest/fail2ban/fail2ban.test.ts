// SPDX-License-Identifier: MIT
//
// A real fail2ban (the Debian package, from the host's root) bans through the
// shipped action (packaging/fail2ban/action.d/ffwall.conf) and the real
// module: two jails with their own ports and bantimes; the banned peer's
// packets to the jail's ports are dropped while its other ports pass;
// stopping one jail (its actionstop) lifts only that jail's bans.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import { bin, ffwallDirect, ko, PEER, PEER_B, reaches, root, sh, type CliResult } from '../fixture.js';

import { fail2banAvailable, setupFail2ban, until, type F2b } from './f2b.js';


let dir = '';

const ffwall = (args: string[]): CliResult => ffwallDirect(path.join(dir, 'db'), args);
let f2b: F2b | undefined;


interface Rec {
  target: string;
  source: string;
  sourceTag: string;
  ports: number[];
  permanent: boolean;
  expiresAt: string | null;
  state: string;
}

function bans(): Rec[] {
  const r = ffwall(['list', '--json', '--source', 'fail2ban']);
  if (r.code !== 0) throw new Error(`ffwall list: ${r.stderr}`);
  return r.stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Rec)
    .sort((a, b) => a.target.localeCompare(b.target));
}

test.before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-f2b-guest-'));
  execFileSync('insmod', [ko]);
  sh('peer_setup');
});

test.after.always(async () => {
  if (f2b !== undefined) await f2b.client('stop');
  sh('peer_teardown');
  spawnSync('rmmod', ['ffwall']);
  rmSync(dir, { recursive: true, force: true });
});

test.serial('fail2ban bans through ffwall: jail tag, ports, bantime, real drops; stopping one jail lifts only its bans', async (t) => {
  if (!fail2banAvailable()) {
    t.fail('fail2ban is not installed (scripts/install-deps.sh installs it)');
    return;
  }
  t.is(ffwall(['attach', 'ffw0']).code, 0);
  t.true(reaches(PEER, 25) && reaches(PEER_B, 80), 'both peer addresses reach ports 25 and 80 before any ban');
  f2b = setupFail2ban(path.join(dir, 'f2b'), root, `${process.execPath} ${bin}`, `--transport direct --db ${path.join(dir, 'db')}`, [
    { name: 'mail', port: 'smtp,submissions,submission', bantime: 3600 },
    { name: 'web', port: 'http,https', bantime: -1 },
  ]);
  const s = await f2b.client('-x', 'start');
  t.is(s.code, 0, s.out);

  const start = Date.now();
  f2b.fail('mail', PEER, 2);
  f2b.fail('web', PEER_B, 2);
  t.true(await until(() => bans().length === 2, 240_000), `two bans; fail2ban log:\n${f2b.log()}`);
  const [mail, web] = bans();
  t.is(mail?.target, PEER);
  t.is(mail?.sourceTag, 'mail');
  t.deepEqual(mail?.ports, [25, 465, 587]);
  t.is(mail?.state, 'kernel');
  const ends = Date.parse(mail?.expiresAt ?? '');
  t.true(ends >= start + 3590_000 && ends <= Date.now() + 3600_000, `bantime 3600: expires ${mail?.expiresAt}`);
  t.is(web?.target, PEER_B);
  t.is(web?.sourceTag, 'web');
  t.deepEqual(web?.ports, [80, 443]);
  t.true(web?.permanent, 'bantime -1: permanent');
  t.is(web?.expiresAt, null);

  t.false(reaches(PEER, 25), 'jail mail: the peer is dropped on port 25');
  t.false(reaches(PEER, 587), 'and 587 (submission)');
  t.true(reaches(PEER, 80), 'its port 80 passes');
  t.false(reaches(PEER_B, 443), 'jail web: the other address is dropped on 443');
  t.true(reaches(PEER_B, 25), 'its port 25 passes');

  const sm = await f2b.client('stop', 'mail');
  t.is(sm.code, 0, sm.out);
  t.true(await until(() => bans().length === 1, 240_000), `stopping jail mail removes its ban; log:\n${f2b.log()}`);
  t.is(bans()[0]?.sourceTag, 'web', "jail web's ban remains");
  t.true(reaches(PEER, 25), 'the peer passes on 25 again');
  t.false(reaches(PEER_B, 80), 'the other jail still drops');

  const st = await f2b.client('stop');
  t.is(st.code, 0, st.out);
  f2b = undefined;
  t.deepEqual(bans(), [], 'stopping fail2ban removes every fail2ban ban');
  t.true(reaches(PEER_B, 80));
});
