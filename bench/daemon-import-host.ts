// SPDX-License-Identifier: MIT
//
// Host harness of the bulk benchmark's "import through the daemon" row, for
// profiling (node --cpu-prof) where there is no ffwall.ko: a Daemon with its
// control socket, a fresh ban database and the safety rules of the default
// configuration (loopback and link-local off, as the guest run has them),
// over a kernel whose batch ioctl is a stub (bench/lib/stub-kernel.ts); in
// the same process, a client (openFfwall({transport: 'client'})) gives it a
// feed with blockFeed(), as `ffwall import --transport client` does.  Not a
// benchmark of its own (no kernel work, one process).
//
//   node dist/bench/daemon-import-host.js --file ADDRS [--direct]
//
// --direct: the same feed and database through the direct transport instead,
// for comparison.  Prints one JSON line: {seconds, bans, kernel_all_s}, both
// times from the blockFeed() call: seconds to its end (every record written),
// kernel_all_s to when the stub kernel had taken every ban.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { defaultConfig } from '../src/daemon/config.js';
import { Daemon } from '../src/daemon/daemon.js';
import { SafetyList } from '../src/daemon/safety.js';
import { openFfwall } from '../src/lib/ffwall.js';

import { stubKernel } from './lib/stub-kernel.js';

const argv = process.argv.slice(2);
const file = argv[argv.indexOf('--file') + 1];
if (!argv.includes('--file') || file === undefined) throw new Error('bench/daemon-import-host: --file is required');
const direct = argv.includes('--direct');
const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-daemon-import-'));
const stub = await stubKernel();
let t0 = 0;
let seconds = 0;
let bans: number;
if (direct) {
  const fw = await openFfwall({ kernel: stub.kernel, database: path.join(dir, 'db') });
  t0 = stub.now();
  bans = (await fw.blockFeed(file, { source: 'feed', sourceTag: 'bench', ttl: '30d' })).total;
  seconds = stub.now() - t0;
  await fw.close();
} else {
  const safetyConfig = { ...defaultConfig().safety, loopback: false, linkLocal: false };
  const safety = new SafetyList({ config: safetyConfig });
  const sock = path.join(dir, 'ffwall.sock');
  const d = new Daemon({ kernel: stub.kernel, db: path.join(dir, 'db'), control: { path: sock }, safety, intervals: { sync: 0, sweep: 0, prune: 0, safety: 0 }, serverVersion: 'bench' });
  await d.start();
  const fw = await openFfwall({ transport: 'client', socket: sock });
  t0 = stub.now();
  bans = (await fw.blockFeed(file, { source: 'feed', sourceTag: 'bench', ttl: '30d' })).total;
  seconds = stub.now() - t0;
  await fw.close();
  await d.stop();
}
stub.close();
const all = stub.reached(bans);
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ transport: direct ? 'direct' : 'client', seconds: Number(seconds.toFixed(3)), bans, kernel_all_s: all === null ? null : Number((all - t0).toFixed(3)) }));
