// SPDX-License-Identifier: MIT
// Build the N-API addon with node-gyp against this Node's own headers, so
// that no network access is needed.  Runs at `npm install` and `npm run build`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nodedir = path.dirname(path.dirname(process.execPath));
const header = path.join(nodedir, 'include', 'node', 'node_api.h');
if (!existsSync(header)) {
  console.error(`build-addon: Node's headers are missing (${header}).`);
  console.error('build-addon: install them with: apt-get install nodejs (NodeSource) or libnode-dev');
  process.exit(1);
}
const require = createRequire(import.meta.url);
let gyp;
try {
  gyp = require.resolve('node-gyp/bin/node-gyp.js');
} catch {
  console.error('build-addon: node-gyp is not installed; run `npm ci` first.');
  process.exit(1);
}
// configure + build, never `rebuild`: rebuild wipes build/, which also holds
// the kernel module builds (build/kmod/).
for (const step of ['configure', 'build']) {
  const r = spawnSync(process.execPath, [gyp, step, `--nodedir=${nodedir}`, '--loglevel=warn'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) {
    console.error(`build-addon: node-gyp ${step} failed`);
    process.exit(r.status ?? 1);
  }
}
