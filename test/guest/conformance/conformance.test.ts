// SPDX-License-Identifier: MIT
//
// The conformance suite (test/conformance/kernel-suite.ts) against the real
// module through NativeKernel, in the guest.  Every test gets a fresh module
// (rmmod, insmod $FFWALL_KO gc_interval=1), so counters, the filter and the
// attach list start empty.  advance() sleeps; packet() sends one packet from
// the peer namespace of test/guest/lib.sh (peer_setup) with the netprobe
// tool and reports whether it got through ffw0.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import test from 'ava';

import type { Kernel } from '../../../src/lib/kernel.js';
import { NativeKernel } from '../../../src/lib/kernel-native.js';
import { registerKernelSuite, type TargetPacket } from '../../conformance/kernel-suite.js';

const root = process.env.FFWALL_ROOT ?? process.cwd();
const ko = process.env.FFWALL_KO ?? '';
const tools = process.env.FFWALL_TOOLS ?? path.join(root, 'build', 'tools');
const libsh = path.join(root, 'test/guest/lib.sh');

function sh(script: string): void {
  execFileSync('bash', ['-c', `source ${JSON.stringify(libsh)}; ${script}`], { stdio: 'inherit' });
}

async function unload(): Promise<void> {
  // A file closed a moment ago may still hold the module for a grace period.
  for (let i = 0; existsSync('/sys/module/ffwall'); i++) {
    try {
      execFileSync('rmmod', ['ffwall'], { stdio: 'pipe' });
    } catch (err) {
      if (i >= 50) throw err;
      await sleep(100);
    }
  }
}

async function openNative(): Promise<Kernel> {
  return NativeKernel.open('/dev/ffwall');
}

function probe(p: TargetPacket): Promise<'drop' | 'pass'> {
  const v6 = p.src.family === 6;
  const dst = v6 ? 'fd99::1' : '10.99.0.1';
  const args = ['netns', 'exec', 'peer', path.join(tools, 'netprobe'), '-s', p.src.toString(), '-t', '800'];
  if (p.proto === 'icmp') args.push('ping', dst);
  else args.push(p.proto, dst, String(p.dport ?? 9));
  return new Promise((resolve, reject) => {
    execFile('ip', args, (err, _stdout, stderr) => {
      const status = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      if (status === 0) resolve('pass');
      else if (status === 1) resolve('drop');
      else reject(new Error(`netprobe ${args.slice(4).join(' ')} exited ${status}: ${stderr}`));
    });
  });
}

test.before(async () => {
  if (ko === '') throw new Error('FFWALL_KO is not set: run this file in the guest (npm test -- --only vm --suite conformance)');
  await unload();
  sh('peer_teardown; peer_setup');
});

test.after.always(async () => {
  await unload();
  sh('peer_teardown');
});

registerKernelSuite(test, {
  name: 'native',
  device: 'ffw0',
  async open() {
    await unload();
    execFileSync('insmod', [ko, 'gc_interval=1']);
    const kernel = await openNative();
    return {
      kernel,
      async advance(seconds: number) {
        await sleep(seconds * 1000 + 100);
      },
      packet: probe,
      async close() {
        await kernel.close();
      },
    };
  },
});
