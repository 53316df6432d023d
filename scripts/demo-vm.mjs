// SPDX-License-Identifier: MIT
// `npm run demo`: boot the given Debian kernel in a throwaway QEMU guest
// (software emulation, any machine), run scripts/demo-mail.sh there and
// stream its lines.  Exits with the guest's status.
import path from 'node:path';

import { projectRoot, runVm } from '../dist/test/vm/harness.js';

const kver = process.argv[2];
const root = projectRoot();
const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
const knobs = ['DEMO_GOOD', 'DEMO_BOTS', 'DEMO_SECONDS']
  .filter((k) => process.env[k] !== undefined && /^\d+$/.test(process.env[k] ?? ''))
  .map((k) => `export ${k}=${process.env[k]}`);
console.log(`ffwall demo: booting Linux ${kver} under QEMU (software emulation, about 10 s), then a Postfix, a botnet and ffwall (about 3 minutes in all)...`);
let inJob = false;
const res = await runVm({
  kver,
  outDir: path.join(root, 'build', 'vm', 'demo'),
  memoryMiB: 1024,
  timeoutSec: 600,
  script: [
    'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8',
    `export FFWALL_ROOT=${q(root)} FFWALL_KO=${q(path.join(root, 'build', 'kmod', kver, 'ffwall.ko'))}`,
    `export FFWALL_TOOLS=${q(path.join(root, 'build', 'tools'))}`,
    ...knobs,
    `exec bash ${q(path.join(root, 'scripts', 'demo-mail.sh'))}`,
    '',
  ].join('\n'),
  onConsole: (line) => {
    if (line.startsWith('ffwall-demo:')) inJob = true;
    if (!inJob || line.startsWith('FFWALL-VM-RESULT') || /^\[\s*\d+\.\d+\] /.test(line)) return;
    console.log(`  ${line.replace(/^(ffwall-)?demo: ?/, '')}`);
  },
});
if (res.failure !== undefined || res.rc !== 0) {
  console.error(`ffwall demo: the guest run failed: ${res.failure ?? `exit status ${res.rc}`}; console log: ${res.consoleLog}`);
  process.exit(1);
}
if (res.kernelProblems.length > 0) {
  console.error(`ffwall demo: the guest kernel complained:\n${res.kernelProblems.join('\n')}`);
  process.exit(1);
}
console.log(`ffwall demo: finished in ${(res.durationMs / 1000).toFixed(1)} s`);
