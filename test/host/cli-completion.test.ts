// SPDX-License-Identifier: MIT
//
// `ffwall completion bash`: the generated script completes topics,
// subcommands and flags in a real bash.
import { execFileSync } from 'node:child_process';

import test from 'ava';

import { bin, ffwall } from './cli-helpers.js';

test('bash completion completes commands, subcommands and flags', async (t) => {
  const script = `
source <(${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} completion bash)
c() { COMP_WORDS=("$@"); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _ffwall; echo "\${COMPREPLY[*]}"; }
c ffwall al
c ffwall allow ""
c ffwall list --st
c ffwall block 192.0.2.7 --p
c ffwall module ""
`;
  const out = execFileSync('bash', ['-c', script], { encoding: 'utf8' }).split('\n');
  t.deepEqual(out.slice(0, 5), ['allow', 'add list remove', '--state', '--permanent --pin --port --port-overflow', 'build load unload version']);
  const z = await ffwall(['completion', 'zsh']);
  t.is(z.code, 0);
  t.regex(z.stdout, /^#compdef ffwall$/m);
  t.is((await ffwall(['completion', 'fish'])).code, 2);
});
