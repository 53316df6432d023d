// SPDX-License-Identifier: MIT
//
// `ffwall top` in a real terminal: tmux runs it against a ControlServer over
// a FakeKernel while this test sends packets; the pane shows the busiest
// source first, and q ends it.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

import test from 'ava';

import { parseAddress } from '../../src/lib/index.js';
import { bin, daemon, ffwall, shapeErrors, stop, type Spec } from './cli-helpers.js';
import { SCHEMAS } from './cli-schemas.js';

const run = promisify(execFile);
const TMUX = '/usr/bin/tmux';

async function tmux(...args: string[]): Promise<string> {
  return (await run(TMUX, args)).stdout;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('top refreshes in a terminal, ranks the sources dropped most, and quits on q', async (t) => {
  if (!existsSync(TMUX)) {
    t.fail('tmux missing: run scripts/install-deps.sh');
    return;
  }
  const d = await daemon();
  const session = `ffwall-top-${process.pid}`;
  const traffic = setInterval(() => {
    for (let i = 0; i < 30; i++) d.kernel.packet({ src: parseAddress('192.0.2.7'), proto: 'tcp', dport: 25 });
    for (let i = 0; i < 3; i++) d.kernel.packet({ src: parseAddress('198.51.100.9'), proto: 'tcp', dport: 25 });
    d.kernel.advance(1);
  }, 100);
  try {
    await d.fw.block('192.0.2.7', { permanent: true });
    await d.fw.block('198.51.100.0/24', { permanent: true });
    await d.fw.block('203.0.113.1', { permanent: true });
    const cmd = `${process.execPath} ${bin} top --interval 1 ${d.conn.join(' ')}; echo "top exited $?"; sleep 30`;
    await tmux('new-session', '-d', '-s', session, '-x', '120', '-y', '30', cmd);
    let pane = '';
    for (let i = 0; i < 60; i++) {
      await sleep(250);
      pane = await tmux('capture-pane', '-p', '-t', session);
      if (/192\.0\.2\.7[\s\S]*198\.51\.100\.0\/24/.test(pane)) break;
    }
    t.regex(pane, /^ffwall top: sources dropped most, every 1s, .* \[client\] +q: quit$/m);
    t.regex(pane, /^SOURCE +PKTS\/S +PKTS +SINCE START +PORTS +EXPIRES$/m);
    const rows = pane.split('\n').filter((l) => /^\d|^[0-9a-f:]+\//.test(l));
    t.regex(rows[0] ?? '', /^192\.0\.2\.7 +[0-9.]+ +\d+ +[0-9,]+ +all +never$/, pane);
    t.regex(rows[1] ?? '', /^198\.51\.100\.0\/24 /, pane);
    t.false(pane.includes('203.0.113.1'), 'a source without drops is not shown');
    // It refreshes: the running total grows.
    const total = (): number => Number((/^192\.0\.2\.7 +\S+ +\S+ +([0-9,]+)/m.exec(pane)?.[1] ?? '0').replace(/,/g, ''));
    const first = total();
    await sleep(2500);
    pane = await tmux('capture-pane', '-p', '-t', session);
    t.true(total() > first, `the total grew: ${first} -> ${total()}`);
    await tmux('send-keys', '-t', session, 'q');
    for (let i = 0; i < 40 && !/top exited/.test(pane); i++) {
      await sleep(100);
      pane = await tmux('capture-pane', '-p', '-t', session);
    }
    t.regex(pane, /top exited 0/);
  } finally {
    clearInterval(traffic);
    await tmux('kill-session', '-t', session).catch(() => undefined);
    await stop(d);
  }
});

test('top --json takes samples and returns the last one', async (t) => {
  const d = await daemon();
  const traffic = setInterval(() => {
    d.kernel.packet({ src: parseAddress('192.0.2.7'), proto: 'tcp', dport: 25 });
    d.kernel.advance(1);
  }, 50);
  try {
    await d.fw.block('192.0.2.7', { ports: [25], permanent: true });
    const r = await ffwall(['top', '--interval', '1', '--iterations', '2', '--json', ...d.conn]);
    t.is(r.code, 0, r.stderr);
    const frame = JSON.parse(r.stdout) as { rows: { target: string; delta: number }[] };
    t.deepEqual(shapeErrors(frame, SCHEMAS.top as Spec), []);
    t.is(frame.rows[0]?.target, '192.0.2.7');
    t.true((frame.rows[0]?.delta ?? 0) > 0);
  } finally {
    clearInterval(traffic);
    await stop(d);
  }
});
