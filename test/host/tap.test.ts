// SPDX-License-Identifier: MIT
import test from 'ava';

import { kernelProblems, RESULT_MARKER } from '../vm/harness.js';
import { parseTap, tapToTests } from '../vm/tap.js';

test('parseTap counts passes, failures and skips', (t) => {
  const r = parseTap(['TAP version 13', 'ok 1 - a', 'not ok 2 - b', 'ok 3 - c # SKIP no x', '  ---', '  ok 9 nested', '1..3'].join('\n'));
  t.is(r.planned, 3);
  t.deepEqual(
    r.tests.map((x) => [x.ok, x.skipped, x.name]),
    [
      [true, false, 'a'],
      [false, false, 'b'],
      [true, true, 'c'],
    ],
  );
});

test('tapToTests fails a stream that ran fewer tests than planned', (t) => {
  const tests = tapToTests('s', parseTap('1..3\nok 1 - a\n'));
  t.is(tests.filter((x) => !x.ok).length, 1);
  t.regex(tests.at(-1)?.name ?? '', /planned 3 tests but reported 1/);
});

test('tapToTests fails an empty stream and a bail out', (t) => {
  t.false(tapToTests('s', parseTap(''))[0]?.ok ?? true);
  t.true(tapToTests('s', parseTap('ok 1\nBail out! boom\n1..1')).some((x) => !x.ok && x.name.includes('Bail out')));
});

test('kernelProblems flags kernel trouble but not the command line', (t) => {
  const log = [
    'Kernel command line: console=ttyS0 panic=-1 oops=panic panic_on_warn=1',
    '[    3.1] ffwall: loaded',
    '[    4.2] WARNING: CPU: 0 PID: 1 at kmod/table.c:10 ffwall_x+0x1/0x2 [ffwall]',
    '[    4.3] kmem_cache_destroy ffwall_entry: Slab cache still has objects when called from ffwall_exit',
    '[    4.4] BUG: KFENCE: use-after-free read in ffwall_lookup',
  ].join('\n');
  const found = kernelProblems(log);
  t.is(found.length, 3);
  t.false(found.some((l) => l.includes('oops=panic')));
});

test('the result marker carries the exit status', (t) => {
  t.is(RESULT_MARKER.exec('x\nFFWALL-VM-RESULT rc=3\r\n')?.[1], '3');
  t.is(RESULT_MARKER.exec('FFWALL-VM-RESULT'), null);
});
