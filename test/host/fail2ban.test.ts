// SPDX-License-Identifier: MIT
//
// The shipped fail2ban action (packaging/fail2ban/action.d/ffwall.conf) with
// a real fail2ban (the Debian package) on the host, against a "daemon": a
// ControlServer over a FakeKernel and a temporary database, reached by the
// CLI in client transport.  The guest suite test/guest/fail2ban does the
// same with the real module and real traffic.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import test from 'ava';

import type { BanRecordInfo } from '../../src/lib/index.js';
import { fail2banAvailable, setupFail2ban, until } from '../guest/fail2ban/f2b.js';
import { bin, daemon, root, stop } from './cli-helpers.js';

const available = fail2banAvailable() && process.getuid?.() === 0;

(available ? test : test.skip)('fail2ban bans through ffwall with the jail as tag, its ports and bantime; unban, stop of one jail, stop', async (t) => {
  const d = await daemon();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-f2b-'));
  const f2b = setupFail2ban(dir, root, `${process.execPath} ${bin}`, `--transport client --socket ${d.sock}`, [
    { name: 'mail', port: 'smtp,submissions,submission', bantime: 3600 },
    { name: 'web', port: 'http,https', bantime: -1 },
    { name: 'wide', port: '1000:2000', bantime: 600 },
    { name: 'every', bantime: 600, action: '%(banaction_allports)s' },
  ]);
  const records = async (): Promise<BanRecordInfo[]> => {
    const out: BanRecordInfo[] = [];
    for await (const r of d.fw.list({ source: 'fail2ban' })) out.push(r);
    return out.sort((a, b) => a.target.localeCompare(b.target));
  };
  const byTarget = async (): Promise<Map<string, BanRecordInfo>> => new Map((await records()).map((r) => [r.target, r]));
  try {
    await d.fw.block('192.0.2.99', { source: 'cli', ttl: '1h', reason: 'not fail2ban' });
    const s = await f2b.client('-x', 'start');
    t.is(s.code, 0, s.out);
    f2b.fail('mail', '192.0.2.10', 2);
    f2b.fail('mail', '192.0.2.11', 2);
    f2b.fail('web', '192.0.2.20', 2);
    f2b.fail('wide', '192.0.2.30', 2);
    f2b.fail('every', '192.0.2.40', 2);
    f2b.fail('mail', '192.0.2.50', 1); // one failure: under maxretry
    const all = await until(async () => (await records()).length === 5);
    t.true(all, `five bans appear; fail2ban log:\n${f2b.log()}`);
    const m = await byTarget();
    const mail = m.get('192.0.2.10');
    t.is(mail?.sourceTag, 'mail');
    t.deepEqual(mail?.ports, [25, 465, 587]);
    t.false(mail?.permanent);
    // bantime 3600 s: the ban ends within the hour (and not before 59 min).
    const left = Date.parse(mail?.expiresAt ?? '') - Date.now();
    t.true(left > 3500_000 && left <= 3600_000, `expires in ${left} ms`);
    t.regex(mail?.reason ?? '', /^fail2ban mail: 2 failures$/);
    const web = m.get('192.0.2.20');
    t.is(web?.sourceTag, 'web');
    t.deepEqual(web?.ports, [80, 443]);
    t.true(web?.permanent, 'bantime -1 is a permanent ban');
    t.is(web?.expiresAt, null);
    t.deepEqual(m.get('192.0.2.30')?.ports, [], 'a range of more than 8 ports: every port');
    t.is(m.get('192.0.2.30')?.sourceTag, 'wide');
    t.deepEqual(m.get('192.0.2.40')?.ports, [], 'banaction_allports: every port');
    t.false(m.has('192.0.2.50'));
    t.is((await d.fw.check('192.0.2.10', { port: 25 })).verdict, 'drop');
    t.is((await d.fw.check('192.0.2.10', { port: 80 })).verdict, 'pass');

    // actionunban: one address.
    const u = await f2b.client('set', 'mail', 'unbanip', '192.0.2.11');
    t.is(u.code, 0, u.out);
    t.true(await until(async () => !(await byTarget()).has('192.0.2.11')), `unbanip removes that address; log:\n${f2b.log()}`);
    t.true((await byTarget()).has('192.0.2.10'));

    // actionstop of one jail: only its bans go.
    const sm = await f2b.client('stop', 'mail');
    t.is(sm.code, 0, sm.out);
    t.true(await until(async () => !(await byTarget()).has('192.0.2.10')), 'stopping jail mail removes its bans');
    t.deepEqual([...(await byTarget()).keys()], ['192.0.2.20', '192.0.2.30', '192.0.2.40'], 'the other jails keep theirs');

    // The server's stop: every jail's bans, and nothing else.
    const st = await f2b.client('stop');
    t.is(st.code, 0, st.out);
    t.deepEqual(await records(), []);
    t.true((await d.fw.check('192.0.2.99')).blocked, 'a ban of another source is untouched');
  } finally {
    await f2b.client('stop');
    await stop(d);
    rmSync(dir, { recursive: true, force: true });
  }
});
