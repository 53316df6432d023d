// SPDX-License-Identifier: MIT
// `npm start` on a host that cannot load modules: boot the given Debian
// kernel in a throwaway QEMU guest, run scripts/demo-guest.sh there and
// stream its output.  Exits with the guest's status.
import path from 'node:path';


import { projectRoot, runVm } from '../dist/test/vm/harness.js';

const kver = process.argv[2];
const root = projectRoot();
const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;
console.log(`ffwall: booting Linux ${kver} under QEMU (software emulation, about 10 s)...`);
let inJob = false;
const res = await runVm({
  kver,
  outDir: path.join(root, 'build', 'vm', 'start'),
  memoryMiB: 512,
  timeoutSec: 300,
  script: [
    'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8',
    `export FFWALL_ROOT=${q(root)} FFWALL_KO=${q(path.join(root, 'build', 'kmod', kver, 'ffwall.ko'))}`,
    `export FFWALL_TOOLS=${q(path.join(root, 'build', 'tools'))}`,
    `exec bash ${q(path.join(root, 'scripts', 'demo-guest.sh'))}`,
    '',
  ].join('\n'),
  onConsole: (line) => {
    if (line.startsWith('ffwall-demo:')) inJob = true;
    // The job's own lines, and the kernel's notices (not its boot chatter).
    if (!inJob || line.startsWith('FFWALL-VM-RESULT') || /^\[\s*\d+\.\d+\] (reboot|IPv6|ffw0|eth0)/.test(line)) return;
    console.log(`  guest| ${line}`);
  },
});
if (res.failure !== undefined || res.rc !== 0) {
  console.error(`ffwall: the guest run failed: ${res.failure ?? `exit status ${res.rc}`}; console log: ${res.consoleLog}`);
  process.exit(1);
}
if (res.kernelProblems.length > 0) {
  console.error(`ffwall: the guest kernel complained:\n${res.kernelProblems.join('\n')}`);
  process.exit(1);
}
console.log(`ffwall: guest run finished cleanly in ${(res.durationMs / 1000).toFixed(1)} s`);
