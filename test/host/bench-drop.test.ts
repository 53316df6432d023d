// SPDX-License-Identifier: MIT
//
// The drop benchmark's analysis (bench/drop.ts) on synthetic guest records:
// the icount plugin's marks are paired in order with the bursts, warm-ups are
// left out, overheads are taken against the no-filter baseline and against
// each filter's bare hook, the targets come out met or missed as the numbers
// say, and a nft load that hit its cap is reported as "did not finish".
import test from 'ava';

import { DROP_PLAN, dropDoc, dropMarkdown, dropPlan, dropSvg, parseIcount, type Peer } from '../../bench/drop.js';

test('parseIcount pairs begin/end marks in order and ignores stray lines', (t) => {
  const log = ['mark 1 100 1000', 'mark 2 150 1100', 'noise', 'mark 2 999 999', 'mark 1 200 2000', 'mark 2 260 2090', 'exit 1 2'].join('\n');
  t.deepEqual(parseIcount(log), [
    { kernel: 50, all: 100 },
    { kernel: 60, all: 90 },
  ]);
});

test('dropPlan applies settings and rejects bad values', (t) => {
  const p = dropPlan(DROP_PLAN.quick, '--sizes', '1000,5000');
  t.deepEqual(p.sizes, [1000, 5000]);
  t.is(p.variant, 'custom');
  t.throws(() => dropPlan(p, '--reps', '0'));
  t.throws(() => dropPlan(p, '--sizes', '1k'));
});

/** Records for one size: per peer, `reps` bursts of 1000 packets costing `insns[peer]` kernel instructions each. */
function records(size: number, insns: Partial<Record<Peer, number>>, reps: number): { records: Array<Record<string, unknown>>; icount: string } {
  const recs: Array<Record<string, unknown>> = [];
  const marks: string[] = [];
  let k = 0;
  for (const traffic of ['mix', 'miss']) {
    for (let r = 0; r <= reps; r++) {
      for (const [peer, cost] of Object.entries(insns)) {
        const jitter = (r % 3) - 1;
        recs.push({ kind: 'burst', size, traffic, peer, rep: r, warmup: r === 0, packets: 1000, usec: 1000 + (cost as number) / 10 + jitter });
        // Warm-ups cost wildly more: they must not count.
        const total = r === 0 ? 10_000_000 : ((cost as number) + jitter) * 1000;
        marks.push(`mark 1 ${k} ${k}`, `mark 2 ${k + total} ${k + total}`);
        k += total + 5;
      }
    }
  }
  return { records: recs, icount: marks.join('\n') };
}

test('dropDoc: overheads, own work above the hook, targets and growth', (t) => {
  const small = records(1000, { none: 4000, ffwall: 4300, nft: 4400, ipset: 5000, 'hook-netdev': 4200, 'hook-pre': 4100 }, 6);
  const large = records(1_000_000, { none: 4000, ffwall: 4330, nft: 4500, ipset: 4600, 'hook-netdev': 4200, 'hook-pre': 4100 }, 6);
  const plan = { ...DROP_PLAN.quick, sizes: [1000, 1_000_000] };
  const doc = dropDoc({ kernel: 'k', plan, records: [...small.records, ...large.records], icount: `${small.icount}\n${large.icount}` });
  t.true(doc.icount.available);
  const cell = doc.cells.find((c) => c.size === 1000 && c.traffic === 'miss');
  const ffwall = cell?.peers.find((p) => p.peer === 'ffwall');
  t.is(ffwall?.overheadInsns, 300);
  t.is(ffwall?.ownInsns, 100);
  t.is(cell?.peers.find((p) => p.peer === 'ipset')?.ownInsns, 900);
  const targets = doc.targets.map((x) => [x.what, x.size, x.met]);
  t.deepEqual(targets, [
    ['ffwall overhead <= nft netdev set lookup overhead', 1000, true],
    ['ffwall overhead <= half of ipset+iptables overhead', 1000, true],
    ['ffwall overhead <= nft netdev set lookup overhead', 1_000_000, true],
    ['ffwall overhead <= half of ipset+iptables overhead', 1_000_000, false],
    ['ffwall cost growth 1k -> 1M < 15%', undefined, true],
  ]);
  const md = dropMarkdown(doc);
  t.true(md.includes('**MISSED**'));
  t.true(dropSvg(doc).includes('<path'));
});

test('dropDoc: marks that do not match the bursts give no instruction counts', (t) => {
  const r = records(1000, { none: 4000, ffwall: 4300 }, 3);
  const doc = dropDoc({ kernel: 'k', plan: DROP_PLAN.quick, records: r.records, icount: 'mark 1 0 0\nmark 2 5 5' });
  t.false(doc.icount.available);
  t.is(doc.cells[0]?.peers[0]?.kinsn, null);
});

test('dropDoc: a nft load that hit its cap is "did not finish", not dropped', (t) => {
  const r = records(1000, { none: 4000, ffwall: 4300 }, 3);
  r.records.push({ kind: 'load', size: 1000, peer: 'nft', seconds: 120.2, dnf: true, cap_s: 120, loaded: 600 });
  const doc = dropDoc({ kernel: 'k', plan: { ...DROP_PLAN.quick, sizes: [1000] }, records: r.records, icount: r.icount });
  const nftTarget = doc.targets.find((x) => x.what.includes('nft'));
  t.is(nftTarget?.met, null);
  t.regex(nftTarget?.detail ?? '', /did not finish loading 1000 entries within its 120 s cap \(600 loaded\)/);
  t.regex(dropMarkdown(doc), /did not finish \(cap 120 s\)/);
  t.regex(dropSvg(doc), /DNF/);
});
