// SPDX-License-Identifier: MIT
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { BanStore } from '../../src/lib/db/index.js';
import { tempDir } from './db-helpers.js';

test('kill -9 in the middle of a 1M bulk ban loses no committed batch and half-applies none', async (t) => {
  const dir = tempDir();
  const script = fileURLToPath(new URL('./db-bulk-worker.js', import.meta.url));
  const child = spawn(process.execPath, [script, dir.path, '1000000'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let reported = 0;
  let buf = '';
  const killedAt = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const m of buf.matchAll(/committed (\d+)\n/g)) reported = Math.max(reported, Number(m[1]));
      if (reported >= 50_000 && child.exitCode === null && !child.killed) {
        child.kill('SIGKILL');
        resolve(reported);
      }
    });
    child.on('exit', () => resolve(reported));
    child.on('error', reject);
  });
  await new Promise((r) => (child.exitCode === null && child.signalCode === null ? child.on('exit', r) : r(null)));
  t.is(child.signalCode, 'SIGKILL');
  t.false(buf.includes('done'), 'killed before the end');
  const store = BanStore.open({ path: dir.path });
  const c = store.counts();
  t.log(`killed after ${killedAt} reported; ${c.total} records after reopening`);
  t.true(c.total >= killedAt, 'every reported batch is there');
  t.is(c.total % 10_000, 0, 'whole batches only');
  t.true(c.total < 1_000_000);
  t.is(store.historyCount(), c.total, 'history and records committed together');
  t.is([...store.activePrefixes()].length, c.total, 'the hot index agrees with the records');
  // Resuming the same input is safe: the committed part is refreshed, the rest created.
  const r = await store.bulkBan(
    (function* () {
      for (let i = 0; i < c.total + 10; i++) yield { prefix: `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`, source: 'feed' as const, tag: 'crash' };
    })(),
  );
  t.is(r.refreshed, c.total);
  t.is(r.created, 10);
  await store.close();
  dir.remove();
});
