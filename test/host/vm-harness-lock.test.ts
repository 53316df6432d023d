// SPDX-License-Identifier: MIT
//
// The VM harness's output-directory lock (test/vm/harness.ts
// holdLockUntilExit()): a second process waits until the first has ended,
// and a process that holds it still ends on its own.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

const harness = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../vm/harness.js');
const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-harness-lock-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** Runs @code as an ES module in a child: its stdout, and whether it exited 0. */
function run(code: string): { done: Promise<{ out: string; code: number | null }>; firstLine: Promise<string> } {
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout.setEncoding('utf8');
  let out = '';
  let gotLine: (s: string) => void = () => undefined;
  const firstLine = new Promise<string>((resolve) => (gotLine = resolve));
  child.stdout.on('data', (d: string) => {
    out += d;
    if (out.includes('\n')) gotLine(out.split('\n')[0] ?? '');
  });
  const done = new Promise<{ out: string; code: number | null }>((resolve) => child.on('close', (c) => resolve({ out, code: c })));
  return { done, firstLine };
}

test('holdLockUntilExit: a second process holds the lock only after the first has ended', async (t) => {
  const lock = path.join(dir, 'out.lock');
  const marker = path.join(dir, 'first-ended');
  const first = run(`
    import { writeFileSync } from 'node:fs';
    import { holdLockUntilExit } from ${JSON.stringify(harness)};
    await holdLockUntilExit(${JSON.stringify(lock)}, 60);
    console.log('held');
    await new Promise((r) => setTimeout(r, 700));
    process.on('exit', () => writeFileSync(${JSON.stringify(marker)}, 'x'));
  `);
  t.is(await first.firstLine, 'held');
  const second = run(`
    import { existsSync } from 'node:fs';
    import { holdLockUntilExit } from ${JSON.stringify(harness)};
    await holdLockUntilExit(${JSON.stringify(lock)}, 60);
    console.log(existsSync(${JSON.stringify(marker)}) ? 'after the first' : 'while the first ran');
  `);
  const [a, b] = await Promise.all([first.done, second.done]);
  // Each ended by itself: the holder and its pipes kept neither alive.
  t.is(a.code, 0);
  t.is(b.code, 0);
  t.true(existsSync(marker));
  t.is(b.out.trim(), 'after the first');
});
