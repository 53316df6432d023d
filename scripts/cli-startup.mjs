#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// The CLI's start-up time: the median wall time of N runs (default 20) of
// `node bin/run.js --version`, `block --help` and `status --json` (which fails
// without the module: start-up all the same), against `node -e 0` as the
// floor.  Each run is a fresh process, timed from spawn to exit, after one
// warm-up run that is not counted.  Given other checkouts, runs each case in
// each in turn, so that a busy machine slows them alike:
//   node scripts/cli-startup.mjs [runs] [checkout...]
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.argv[2] ?? 20);
const roots = process.argv.length > 3 ? process.argv.slice(3).map((r) => path.resolve(r)) : [here];
const cases = [
  ['node -e 0', ['-e', '0']],
  ['--version', ['bin/run.js', '--version']],
  ['block --help', ['bin/run.js', 'block', '--help']],
  ['status --json', ['bin/run.js', 'status', '--json']],
];

function once(cwd, args) {
  const t0 = process.hrtime.bigint();
  spawnSync(process.execPath, args, { cwd, stdio: 'ignore' });
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2;
};

for (const [name, args] of cases) {
  const times = roots.map(() => []);
  for (const r of roots) once(r, args);
  for (let i = 0; i < runs; i++) roots.forEach((r, j) => times[j].push(once(r, args)));
  roots.forEach((r, j) => {
    const t = times[j];
    const label = roots.length > 1 ? `  ${r}` : '';
    console.log(`${name.padEnd(14)} median ${median(t).toFixed(1)} ms  (min ${Math.min(...t).toFixed(1)}, max ${Math.max(...t).toFixed(1)}, ${runs} runs)${label}`);
  });
}
