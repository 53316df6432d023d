// SPDX-License-Identifier: MIT
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { BanStore } from '../../src/lib/db/index.js';
import { tempDir } from './db-helpers.js';

function run(path: string, rounds: number, keys: number): Promise<{ bans: number; hits: number }> {
  const script = fileURLToPath(new URL('./db-worker.js', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, path, String(rounds), String(keys)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as { bans: number; hits: number }) : reject(new Error(`worker exited ${String(code)}`))));
  });
}

test('two processes banning and counting hits on the same keys at once lose no update', async (t) => {
  const dir = tempDir();
  // As the daemon and the CLI open it (fsync at commit): noSync is unsafe with
  // several writing processes (StoreOptions.noSync; db-worker.ts).
  const init = BanStore.open({ path: dir.path });
  t.is(init.counts().total, 0);
  const rounds = 400;
  const keys = 5;
  const started = Date.now();
  const [a, b] = await Promise.all([run(dir.path, rounds, keys), run(dir.path, rounds, keys)]);
  t.log(`2 processes x ${rounds * keys} bans + ${rounds * keys} hit syncs in ${Date.now() - started} ms`);
  t.is(a.bans + b.bans, 2 * rounds * keys);
  // The parent sees the children's commits.
  init.refresh();
  let bans = 0;
  let hits = 0;
  for (let k = 0; k < keys; k++) {
    const r = init.get(`192.0.2.${k + 1}`);
    t.is(r?.banCount, 2 * rounds, `192.0.2.${k + 1} banCount`);
    t.is(r?.hitCount, 2 * rounds * 3, `192.0.2.${k + 1} hitCount`);
    bans += r?.banCount ?? 0;
    hits += r?.hitCount ?? 0;
  }
  t.is(bans, a.bans + b.bans);
  t.is(hits, a.hits + b.hits);
  t.deepEqual(init.counts(), { kernel: 0, cold: keys, expired: 0, total: keys });
  t.is(init.historyCount(), 2 * rounds * keys, 'one history event per ban, none lost');
  t.is([...init.history('192.0.2.1')].length, 2 * rounds);
  await init.close();
  dir.remove();
});
