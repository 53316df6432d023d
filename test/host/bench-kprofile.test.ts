// SPDX-License-Identifier: MIT
//
// The kernel profile's analysis (bench/kprofile.ts) on a synthetic plugin log
// and kallsyms: intervals are parsed by their begin/end lines, blocks land
// on the symbol at or below their address (a module's symbols named with the
// module), instructions are summed per symbol and divided by the entries,
// and the CI check (bench/lib/check.ts) flags a run that lost entries or
// never reached the module.
import test from 'ava';

import { kprofileDoc, kprofileMarkdown, parseKallsyms, parseProfileLog, symbolAt } from '../../bench/kprofile.js';
import { checkBenchResult } from '../../bench/lib/check.js';

const KALLSYMS = [
  'ffffffff81000000 T _stext',
  'ffffffff81100000 T hsiphash_1u32',
  'ffffffff81100200 t clear_page_erms',
  'ffffffffc0001000 t ffwall_table_add\t[ffwall]',
  'ffffffffc0001400 t ffwall_table_parse_rule\t[ffwall]',
  '0000000000000000 t hidden_symbol',
].join('\n');

const LOG = [
  'begin 1 500',
  'ffffffff81100010 3000', // hsiphash_1u32
  'ffffffff81100220 1000', // clear_page_erms
  'ffffffffc0001000 4000', // ffwall_table_add
  'ffffffffc0001010 2000', // ffwall_table_add, another block
  'ffffffffc0001400 40', // ffwall_table_parse_rule (under 0.5%: left out of top)
  'ffffffff80000000 5', // below every symbol
  'end 1',
  'begin 2 70',
  'ffffffff81100010 10',
  'end 2',
  'exit 2',
].join('\n');

test('parseProfileLog reads each marked interval and ignores stray lines', (t) => {
  const p = parseProfileLog(`noise\n${LOG}\nffffffff81100010 99`);
  t.is(p.length, 2);
  t.is(p[0]?.seq, 1);
  t.is(p[0]?.userInsns, 500);
  t.is(p[0]?.blocks.length, 6);
  t.is(p[0]?.blocks[2]?.addr, 0xffffffffc0001000n);
  t.is(p[1]?.blocks.length, 1);
  t.throws(() => parseProfileLog('begin 3 0\nend 4'), { message: /end 4 closes begin 3/ });
});

test('symbolAt finds the symbol at or below an address, with its module', (t) => {
  const syms = parseKallsyms(KALLSYMS);
  t.is(syms.length, 5, 'the zero-address symbol is dropped');
  t.is(symbolAt(syms, 0xffffffff81100000n)?.name, 'hsiphash_1u32');
  t.is(symbolAt(syms, 0xffffffff811001ffn)?.name, 'hsiphash_1u32');
  t.is(symbolAt(syms, 0xffffffff81100200n)?.name, 'clear_page_erms');
  const add = symbolAt(syms, 0xffffffffc00013ffn);
  t.is(add?.name, 'ffwall_table_add');
  t.is(add?.module, 'ffwall');
  t.is(symbolAt(syms, 0xffffffff80000000n), undefined);
});

test('kprofileDoc sums blocks per symbol, per entry, and names the module', (t) => {
  const records = [
    { seq: 1, label: 'ffwallctl add-seq', entries: 100, rc: 0, kernel_entries: 100 },
    { seq: 2, label: 'node -e 0 (start-up floor)', entries: 100, rc: 0, kernel_entries: 100 },
    { done: true },
  ];
  const doc = kprofileDoc({ kernel: '6.12', records, log: LOG, kallsyms: () => KALLSYMS });
  t.is(doc.results.length, 2);
  const r = doc.results[0];
  if (r === undefined) return t.fail('no first run');
  t.is(r.kernelInsns, 10045);
  t.is(r.kernelPerEntry, 100.45);
  t.is(r.userPerEntry, 5);
  t.is(r.ffwallPerEntry, 60.4);
  t.deepEqual(
    r.top.map((x) => [x.symbol, x.insns]),
    [
      ['ffwall_table_add [ffwall]', 6000],
      ['hsiphash_1u32', 3000],
      ['clear_page_erms', 1000],
    ],
  );
  t.is(r.top[0]?.perEntry, 60);
  t.true(Math.abs((r.top[0]?.share ?? 0) - 6000 / 10045) < 1e-12);
  const md = kprofileMarkdown(doc);
  t.regex(md, /\| ffwallctl add-seq \| 100 \| 100 \| 60 \| 5 \| ok \|/);
  t.regex(md, /\| `ffwall_table_add \[ffwall\]` \| 60\.0 \| 59\.7% \|/);
  t.deepEqual(checkBenchResult('kprofile', doc, new Date(0), { guest: true }), []);
});

test('kprofileDoc fails loudly when a run has no plugin interval', (t) => {
  t.throws(() => kprofileDoc({ kernel: '6.12', records: [{ seq: 3, label: 'x', entries: 1, rc: 0 }], log: LOG, kallsyms: () => KALLSYMS }), {
    message: /no plugin interval for run 3/,
  });
});

test('the CI check flags lost entries, a failed run and a run that missed the module', (t) => {
  const records = [
    { seq: 1, label: 'ffwallctl add-seq', entries: 100, rc: 0, kernel_entries: 90 },
    { seq: 2, label: 'library blockFeed (database false)', entries: 100, rc: 1, kernel_entries: 100 },
  ];
  const doc = kprofileDoc({ kernel: '6.12', records, log: LOG, kallsyms: () => KALLSYMS });
  const bad = checkBenchResult('kprofile', doc, new Date(0), { guest: true });
  t.true(bad.some((b) => /ffwallctl add-seq: 90 entries in the table, expected 100/.test(b)));
  t.true(bad.some((b) => /library blockFeed \(database false\): failed \(exit 1\)/.test(b)));
  t.true(bad.some((b) => /library blockFeed \(database false\): no instructions in ffwall.ko/.test(b)));
  // The library's run is not asked for the insert among the top symbols (its start-up can hide it).
  t.false(bad.some((b) => /library blockFeed \(database false\): ffwall_table_add/.test(b)));
  const cut = { ...doc, results: doc.results.map((r) => ({ ...r, top: r.top.filter((x) => x.symbol !== 'ffwall_table_add [ffwall]') })) };
  t.true(checkBenchResult('kprofile', cut, new Date(0), { guest: true }).some((b) => /ffwallctl add-seq: ffwall_table_add is not among the top symbols/.test(b)));
});
