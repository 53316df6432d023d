// SPDX-License-Identifier: MIT
//
// The drop-path benchmark (issue 11, item 1), host side: its plan and guest
// settings, and the analysis of what the guest (bench/guest/drop.sh) and the
// icount TCG plugin (tools/qemu-plugin/icount.c) recorded: medians with
// their spread, bootstrap CIs of the ratios, Mann-Whitney U tests, the
// instructions per packet, the targets of the issue, a Markdown section and
// SVG plots.  bench/run.ts drives it (`npm run bench -- --only drop`).
import { machineInfo, type Machine } from './lib/results.js';
import { bootstrapMedianRatio, mannWhitney, median, summarize, type Summary } from './lib/stats.js';
import { formatNumber, lineChart, type Series } from './lib/svg.js';

export interface DropPlan {
  variant: 'full' | 'quick' | 'custom';
  sizes: number[];
  /** Measured rounds per size and traffic (each peer once per round). */
  reps: number;
  /** Packets per burst. */
  pkts: number;
  /** Sizes of the prefix table (N prefixes; empty: not measured). */
  prefixSizes: number[];
  /** Rounds per size and traffic for the prefix table. */
  prefixReps: number;
  /** Cap on loading one nftables set, seconds. */
  nftCapSec: number;
  /** Cap on any other load, seconds. */
  loadCapSec: number;
  /** Cap on the whole guest run, seconds. */
  capSec: number;
}

export const DROP_PLAN: { full: DropPlan; quick: DropPlan } = {
  full: { variant: 'full', sizes: [1000, 100_000, 1_000_000], reps: 8, pkts: 30_000, prefixSizes: [1000, 100_000, 1_000_000], prefixReps: 5, nftCapSec: 300, loadCapSec: 400, capSec: 3000 },
  quick: { variant: 'quick', sizes: [1000, 10_000], reps: 4, pkts: 20_000, prefixSizes: [1000, 10_000], prefixReps: 3, nftCapSec: 120, loadCapSec: 120, capSec: 900 },
};

/** The plan with one command-line setting applied (--sizes, --reps, --pkts). */
export function dropPlan(plan: DropPlan, flag: string, value: string): DropPlan {
  const num = (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) === 0) throw new Error(`bench: ${flag} wants positive integers, got '${value}'`);
    return Number(v);
  };
  // --sizes and --reps apply to both tables (host addresses and prefixes).
  if (flag === '--sizes') return { ...plan, variant: 'custom', sizes: value.split(',').map(num), prefixSizes: value.split(',').map(num) };
  if (flag === '--reps') return { ...plan, variant: 'custom', reps: num(value), prefixReps: num(value) };
  if (flag === '--pkts') return { ...plan, variant: 'custom', pkts: num(value) };
  throw new Error(`bench: unknown drop setting ${flag}`);
}

export function dropGuestEnv(plan: DropPlan): string[] {
  return [
    `export FFWALL_DROP_SIZES='${plan.sizes.join(' ')}' FFWALL_DROP_REPS=${plan.reps} FFWALL_DROP_PKTS=${plan.pkts}`,
    `export FFWALL_DROP_PREFIX_SIZES='${(plan.prefixSizes ?? []).join(' ')}' FFWALL_DROP_PREFIX_REPS=${plan.prefixReps ?? plan.reps}`,
    `export FFWALL_DROP_NFT_CAP=${plan.nftCapSec} FFWALL_DROP_LOAD_CAP=${plan.loadCapSec}`,
  ];
}

export const PEERS = ['none', 'ffwall', 'nft', 'ipset', 'hook-netdev', 'hook-pre'] as const;
export type Peer = (typeof PEERS)[number];
export const PEER_NAMES: Record<Peer, string> = {
  none: 'no filter',
  ffwall: 'ffwall',
  nft: 'nft netdev set',
  ipset: 'ipset hash:ip + iptables raw',
  'hook-netdev': 'netdev ingress hook, no rule',
  'hook-pre': 'ip prerouting hook, no rule',
};

/** The prefix table's peers differ by their set type. */
export const PREFIX_PEER_NAMES: Record<Peer, string> = {
  ...PEER_NAMES,
  nft: 'nft netdev interval set',
  ipset: 'ipset hash:net + iptables raw',
};

export type Table = 'host' | 'prefix';
export const TABLE_NAMES: Record<Table, string> = { host: 'host addresses', prefix: 'prefixes (/24../27)' };
const peerName = (t: Table, p: Peer): string => (t === 'prefix' ? PREFIX_PEER_NAMES : PEER_NAMES)[p];
/** Records written before the prefix table existed have no table: host. */
const tableOf = (r: { table?: Table }): Table => r.table ?? 'host';

/** The hook each filter runs from: its cost above it is the filter's own work. */
export const HOOK_OF: Partial<Record<Peer, Peer>> = { ffwall: 'hook-netdev', nft: 'hook-netdev', ipset: 'hook-pre' };

export interface Burst {
  kind: 'burst';
  table?: Table;
  size: number;
  traffic: 'mix' | 'miss';
  peer: Peer;
  rep: number;
  warmup: boolean;
  packets: number;
  usec: number;
  ffwall_seen?: number;
  ffwall_dropped?: number;
  /** Guest kernel instructions between the burst's marks (icount plugin). */
  kernel_insns?: number;
  /** All guest instructions between the marks. */
  all_insns?: number;
}

export interface Load {
  kind: 'load';
  table?: Table;
  size: number;
  peer: Peer;
  seconds: number;
  dnf: boolean;
  cap_s?: number;
  loaded: number;
}

export interface Comparison {
  a: Peer;
  b: Peer;
  /** median(a)/median(b) of ns per packet, with its 95% bootstrap CI. */
  timeRatio: number;
  timeLo: number;
  timeHi: number;
  timeP: number;
  /** median(a)/median(b) of kernel instructions per packet, and its test. */
  insnRatio: number | null;
  insnP: number | null;
}

export interface Cell {
  table: Table;
  size: number;
  traffic: 'mix' | 'miss';
  peers: Array<{
    peer: Peer;
    ns: Summary;
    kinsn: Summary | null;
    /** Median cost minus the baseline's, per packet. */
    overheadNs: number;
    overheadInsns: number | null;
    /** Instructions above the bare hook the filter runs from (HOOK_OF), if measured. */
    ownInsns: number | null;
    /** ffwall's own counters: the fraction of the packets it dropped. */
    droppedFraction?: number;
  }>;
  comparisons: Comparison[];
}

export interface Target {
  table?: Table;
  what: string;
  size?: number;
  met: boolean | null;
  detail: string;
}

export interface DropDoc {
  bench: 'drop';
  kernel: string;
  machine: Machine;
  date: string;
  plan: DropPlan;
  method: string[];
  icount: { available: boolean; note: string };
  loads: Load[];
  cells: Cell[];
  targets: Target[];
  samples: Burst[];
}

/** Pairs the plugin's begin/end marks, in order. */
export function parseIcount(log: string): Array<{ kernel: number; all: number }> {
  const pairs: Array<{ kernel: number; all: number }> = [];
  let begin: { kernel: number; all: number } | undefined;
  for (const line of log.split('\n')) {
    const m = /^mark (\d+) (\d+) (\d+)$/.exec(line.trim());
    if (m === null) continue;
    const v = { kernel: Number(m[2]), all: Number(m[3]) };
    if (m[1] === '1') begin = v;
    else if (m[1] === '2' && begin !== undefined) {
      pairs.push({ kernel: v.kernel - begin.kernel, all: v.all - begin.all });
      begin = undefined;
    }
  }
  return pairs;
}

const METHOD = [
  'QEMU TCG guest (software emulation, -accel tcg,thread=single, 2 vCPUs); pktgen injects 60-byte UDP packets straight into the receive path of a dummy device (xmit_mode netif_receive), random IPv4 sources, one kernel thread.',
  'Table: N addresses from 10.0.0.0 upward, the same for every peer. Traffic "mix": sources over 2N addresses, half in the table; "miss": sources only outside the table (the lookup alone, without the work a drop saves later in the stack). Passing packets end at the route lookup (not local, forwarding off), the same for every peer.',
  'Peers: no filter; ffwall.ko hooked on the device; nftables netdev ingress chain on the device with `ip saddr @ban drop` (set loaded by `nft -f` in 50k chunks, time-capped); ipset hash:ip matched by `iptables -t raw -A PREROUTING -m set` (Debian iptables, nf_tables backend). References: a netdev ingress chain with no rule (hook-netdev) and an ip prerouting chain at the raw priority with no rule (hook-pre), the price of the hooks alone. One peer active at a time; tables left loaded, hooks removed in between.',
  'Prefix table (after the host sizes): N IPv4 prefixes, prefix j at 10.0.0.0 + 256 j with length /24, /25, /26, /27 in turn (four lengths in use), loaded as ffwall prefix entries, into an nftables set with `flags interval` (250k-element chunks) and an ipset hash:net; traffic "mix" over the 2N /24 slots (about 23% of the sources inside a prefix), "miss" over the N slots past the table. ffwall and hash:net probe one hash per prefix length in use; nft walks its interval structure.',
  'Per size and traffic: one warm-up burst per peer, then rounds of one burst per peer, each round starting one peer further along (A B C D, B C D A, ...). ns/packet = pktgen elapsed time / packets.',
  'Instructions: the icount TCG plugin counts guest instructions at kernel addresses between two magic no-ops that tools/qemu-plugin/pktgen-burst executes around each burst; per packet, they are independent of time (only timer interrupts during the burst add a little).',
  'Statistics: medians with quartiles; ratios of medians with a 95% percentile bootstrap CI (2000 resamples); two-sided Mann-Whitney U test (normal approximation), "significant" at p < 0.05. Overhead = peer median minus no-filter median.',
];

function cellOf(table: Table, size: number, traffic: 'mix' | 'miss', bursts: Burst[]): Cell | undefined {
  const measured = bursts.filter((b) => tableOf(b) === table && b.size === size && b.traffic === traffic && !b.warmup);
  if (measured.length === 0) return undefined;
  const ns = (p: Peer): number[] => measured.filter((b) => b.peer === p).map((b) => (b.usec * 1000) / b.packets);
  const ki = (p: Peer): number[] =>
    measured.filter((b) => b.peer === p && b.kernel_insns !== undefined).map((b) => (b.kernel_insns as number) / b.packets);
  const present = PEERS.filter((p) => ns(p).length > 0);
  const baseNs = median(ns('none'));
  const baseKi = ki('none').length > 0 ? median(ki('none')) : null;
  const peers = present.map((p) => {
    const kis = ki(p);
    const ffw = measured.filter((b) => b.peer === p && b.ffwall_seen !== undefined && b.ffwall_seen > 0);
    const entry: Cell['peers'][number] = {
      peer: p,
      ns: summarize(ns(p)),
      kinsn: kis.length > 0 ? summarize(kis) : null,
      overheadNs: median(ns(p)) - baseNs,
      overheadInsns: kis.length > 0 && baseKi !== null ? median(kis) - baseKi : null,
      ownInsns: null,
    };
    const hook = HOOK_OF[p];
    const hk = hook === undefined ? [] : ki(hook);
    if (kis.length > 0 && hk.length > 0) entry.ownInsns = median(kis) - median(hk);
    if (ffw.length > 0) {
      entry.droppedFraction = ffw.reduce((s, b) => s + (b.ffwall_dropped ?? 0), 0) / ffw.reduce((s, b) => s + (b.ffwall_seen ?? 0), 0);
    }
    return entry;
  });
  const pairs: Array<[Peer, Peer]> = [
    ['ffwall', 'none'],
    ['nft', 'none'],
    ['ipset', 'none'],
    ['ffwall', 'nft'],
    ['ffwall', 'ipset'],
    ['nft', 'ipset'],
    ['hook-netdev', 'none'],
    ['hook-pre', 'none'],
  ];
  const comparisons = pairs
    .filter(([a, b]) => present.includes(a) && present.includes(b))
    .map(([a, b]): Comparison => {
      const ci = bootstrapMedianRatio(ns(a), ns(b));
      const ka = ki(a);
      const kb = ki(b);
      const haveK = ka.length > 0 && kb.length > 0;
      return {
        a,
        b,
        timeRatio: ci.ratio,
        timeLo: ci.lo,
        timeHi: ci.hi,
        timeP: mannWhitney(ns(a), ns(b)).p,
        insnRatio: haveK ? median(ka) / median(kb) : null,
        insnP: haveK ? mannWhitney(ka, kb).p : null,
      };
    });
  return { table, size, traffic, peers, comparisons };
}

function targetsOf(table: Table, allCells: Cell[], allLoads: Load[], sizes: number[]): Target[] {
  const targets: Target[] = [];
  const cells = allCells.filter((c) => c.table === table);
  const loads = allLoads.filter((l) => tableOf(l) === table);
  if (sizes.length === 0) return targets;
  const ov = (c: Cell, p: Peer): Cell['peers'][number] | undefined => c.peers.find((x) => x.peer === p);
  for (const size of sizes) {
    const c = cells.find((x) => x.size === size && x.traffic === 'miss');
    const nftLoad = loads.find((l) => l.size === size && l.peer === 'nft');
    const f = c === undefined ? undefined : ov(c, 'ffwall');
    const n = c === undefined ? undefined : ov(c, 'nft');
    const i = c === undefined ? undefined : ov(c, 'ipset');
    const metric = (e: Cell['peers'][number] | undefined): number | undefined => e?.overheadInsns ?? e?.overheadNs;
    const unit = f?.overheadInsns !== null && f?.overheadInsns !== undefined ? 'instructions/packet' : 'ns/packet';
    if (n === undefined) {
      targets.push({
        table,
        what: 'ffwall overhead <= nft netdev set lookup overhead',
        size,
        met: null,
        detail: nftLoad?.dnf === true ? `nft did not finish loading ${size} entries within its ${nftLoad.cap_s ?? '?'} s cap (${nftLoad.loaded} loaded)` : 'nft not measured',
      });
    } else {
      const fv = metric(f) ?? Number.NaN;
      const nv = metric(n) ?? Number.NaN;
      targets.push({ table, what: 'ffwall overhead <= nft netdev set lookup overhead', size, met: fv <= nv, detail: `${fv.toFixed(0)} vs ${nv.toFixed(0)} ${unit} (miss traffic)` });
    }
    if (i !== undefined) {
      const fv = metric(f) ?? Number.NaN;
      const iv = metric(i) ?? Number.NaN;
      const own = f?.ownInsns !== null && f?.ownInsns !== undefined && i.ownInsns !== null
        ? `; above their hooks: ffwall ${f.ownInsns.toFixed(0)} vs ipset ${i.ownInsns.toFixed(0)} instructions/packet`
        : '';
      targets.push({ table, what: 'ffwall overhead <= half of ipset+iptables overhead', size, met: fv <= iv / 2, detail: `${fv.toFixed(0)} vs ${iv.toFixed(0)} ${unit}, half = ${(iv / 2).toFixed(0)} (miss traffic)${own}` });
    }
  }
  const lo = Math.min(...sizes);
  const hi = Math.max(...sizes);
  const at = (s: number): Cell['peers'][number] | undefined => {
    const c = cells.find((x) => x.size === s && x.traffic === 'miss');
    return c === undefined ? undefined : ov(c, 'ffwall');
  };
  const a = at(lo);
  const b = at(hi);
  if (a !== undefined && b !== undefined && lo !== hi) {
    const useInsn = a.overheadInsns !== null && b.overheadInsns !== null;
    const va = useInsn ? (a.overheadInsns as number) : a.overheadNs;
    const vb = useInsn ? (b.overheadInsns as number) : b.overheadNs;
    const growth = vb / va - 1;
    const totalA = useInsn ? (a.kinsn as Summary).median : a.ns.median;
    const totalB = useInsn ? (b.kinsn as Summary).median : b.ns.median;
    targets.push({
      table,
      what: `ffwall cost growth ${formatNumber(lo)} -> ${formatNumber(hi)} < 15%`,
      met: growth < 0.15,
      detail: `its overhead ${va.toFixed(0)} -> ${vb.toFixed(0)} ${useInsn ? 'instructions' : 'ns'}/packet (${(growth * 100).toFixed(1)}%); whole receive path ${totalA.toFixed(0)} -> ${totalB.toFixed(0)} (${((totalB / totalA - 1) * 100).toFixed(1)}%)${hi < 1_000_000 ? `; measured up to ${formatNumber(hi)} only` : ''}`,
    });
  }
  return targets;
}

export function dropDoc(input: { kernel: string; plan: DropPlan; records: Array<Record<string, unknown>>; icount: string; date?: Date }): DropDoc {
  const bursts = input.records.filter((r) => r.kind === 'burst') as unknown as Burst[];
  const loads = input.records.filter((r) => r.kind === 'load') as unknown as Load[];
  const pairs = parseIcount(input.icount);
  let icount: DropDoc['icount'];
  if (pairs.length === bursts.length && bursts.length > 0) {
    bursts.forEach((b, k) => {
      const p = pairs[k] as { kernel: number; all: number };
      b.kernel_insns = p.kernel;
      b.all_insns = p.all;
    });
    icount = { available: true, note: `${pairs.length} bursts counted by the icount plugin` };
  } else {
    icount = { available: false, note: `icount marks (${pairs.length}) do not match the bursts (${bursts.length}): no instruction counts` };
  }
  const sizesOf = (t: Table): number[] => [...new Set(bursts.filter((b) => tableOf(b) === t).map((b) => b.size))].sort((a, b) => a - b);
  const cells = (['host', 'prefix'] as const).flatMap((table) =>
    sizesOf(table).flatMap((s) => (['mix', 'miss'] as const).map((t) => cellOf(table, s, t, bursts))).filter((c): c is Cell => c !== undefined),
  );
  return {
    bench: 'drop',
    kernel: input.kernel,
    machine: machineInfo('qemu tcg (thread=single) + icount plugin'),
    date: (input.date ?? new Date()).toISOString(),
    plan: input.plan,
    method: METHOD,
    icount,
    loads,
    cells,
    targets: [
      ...targetsOf('host', cells, loads, input.plan.sizes.filter((s) => sizesOf('host').includes(s))),
      ...targetsOf('prefix', cells, loads, (input.plan.prefixSizes ?? []).filter((s) => sizesOf('prefix').includes(s))),
    ],
    samples: bursts,
  };
}

const f0 = (v: number): string => (Number.isFinite(v) ? v.toFixed(0) : '-');
const f2 = (v: number): string => (Number.isFinite(v) ? v.toFixed(2) : '-');
const pv = (p: number | null): string => (p === null || !Number.isFinite(p) ? '-' : p < 0.001 ? '<0.001' : p.toFixed(3));
const sig = (p: number | null): string => (p !== null && p < 0.05 ? 'yes' : 'no');

export function dropMarkdown(doc: DropDoc): string {
  const L: string[] = [`## drop path (${doc.kernel}, ${doc.date.slice(0, 10)}, ${doc.plan.variant} variant)`, ''];
  L.push('Emulated figures (QEMU TCG): instruction counts are exact for the emulated CPU, but emulation does not model caches, so the cost of cache misses in a large table is not in these numbers.', '');
  L.push(...doc.method.map((m) => `- ${m}`), '');
  L.push(`Sizes ${doc.plan.sizes.map(formatNumber).join(', ')}; ${doc.plan.reps} rounds of ${formatNumber(doc.plan.pkts)}-packet bursts per size and traffic. ${doc.icount.note}.`, '');
  L.push('### Targets', '');
  for (const t of doc.targets) {
    const verdict = t.met === null ? 'NOT MEASURED' : t.met ? 'met' : 'MISSED';
    L.push(`- ${t.table === 'prefix' ? '[prefix table] ' : ''}${t.what}${t.size === undefined ? '' : ` at ${formatNumber(t.size)}`}: **${verdict}** (${t.detail})`);
  }
  L.push('', ...whyLines(doc, 'host'), '', ...whyLines(doc, 'prefix'), '');
  L.push('### Loads', '', '| table | size | peer | seconds | loaded | note |', '| --- | --- | --- | --- | --- | --- |');
  for (const l of doc.loads) L.push(`| ${tableOf(l)} | ${formatNumber(l.size)} | ${peerName(tableOf(l), l.peer)} | ${l.seconds.toFixed(1)} | ${l.loaded} | ${l.dnf ? `did not finish (cap ${l.cap_s ?? '?'} s)` : ''} |`);
  L.push('');
  for (const c of doc.cells) {
    L.push(`### ${TABLE_NAMES[c.table]}: ${formatNumber(c.size)} entries, ${c.traffic} traffic`, '');
    L.push('| peer | ns/packet median [q1-q3] | kernel insns/packet median [q1-q3] | overhead vs none: ns | overhead: insns | insns above its bare hook | ffwall dropped |', '| --- | --- | --- | --- | --- | --- | --- |');
    for (const p of c.peers) {
      const k = p.kinsn === null ? '-' : `${f0(p.kinsn.median)} [${f0(p.kinsn.q1)}-${f0(p.kinsn.q3)}]`;
      L.push(`| ${peerName(c.table, p.peer)} | ${f0(p.ns.median)} [${f0(p.ns.q1)}-${f0(p.ns.q3)}] | ${k} | ${f0(p.overheadNs)} | ${p.overheadInsns === null ? '-' : f0(p.overheadInsns)} | ${p.ownInsns === null ? '' : f0(p.ownInsns)} | ${p.droppedFraction === undefined ? '' : `${(p.droppedFraction * 100).toFixed(1)}%`} |`);
    }
    L.push('', '| ratio | time (95% CI) | time p | significant | insns ratio | insns p |', '| --- | --- | --- | --- | --- | --- |');
    for (const r of c.comparisons) {
      L.push(`| ${r.a} / ${r.b} | ${f2(r.timeRatio)} (${f2(r.timeLo)}-${f2(r.timeHi)}) | ${pv(r.timeP)} | ${sig(r.timeP)} | ${r.insnRatio === null ? '-' : r.insnRatio.toFixed(3)} | ${pv(r.insnP)} |`);
    }
    L.push('');
  }
  L.push('Plots: `drop.svg` (host addresses) and `drop-prefix.svg` (prefixes): each filter\'s instructions per packet above the baseline, miss traffic, against table size; `drop-time.svg` (host addresses, ns per packet, mix traffic, quartile bars).', '');
  return L.join('\n');
}

/** The decomposition behind the targets, from the largest size's miss traffic. */
function whyLines(doc: DropDoc, table: Table): string[] {
  const miss = doc.cells.filter((c) => c.table === table && c.traffic === 'miss').sort((a, b) => b.size - a.size)[0];
  if (miss === undefined || !doc.icount.available) return [];
  const get = (p: Peer): Cell['peers'][number] | undefined => miss.peers.find((x) => x.peer === p);
  const f = get('ffwall');
  const n = get('nft');
  const i = get('ipset');
  const hn = get('hook-netdev');
  const hp = get('hook-pre');
  if (f?.overheadInsns == null || hn?.overheadInsns == null || i?.overheadInsns == null || hp?.overheadInsns == null) return [];
  const lines = [
    `${table === 'prefix' ? '[prefix table] ' : ''}Where the instructions go (${formatNumber(miss.size)} ${table === 'prefix' ? 'prefixes' : 'entries'}, miss traffic, per packet above no filter): ` +
      `a netdev ingress chain with no rule costs ${f0(hn.overheadInsns)} (the ingress hook plus nftables' chain entry; ffwall's plain netfilter hook skips the latter, so its own work, above that reference, is at least ${f0(f.ownInsns ?? Number.NaN)} of its ${f0(f.overheadInsns)})` +
      (n?.overheadInsns == null ? '' : `; nft costs ${f0(n.overheadInsns)}, ${f0(n.ownInsns ?? Number.NaN)} above the empty chain`) +
      `. An ip prerouting chain with no rule at the raw priority costs ${f0(hp.overheadInsns)}; ${table === 'prefix' ? 'ipset hash:net' : 'ipset'}+iptables (nf_tables backend, so the same kind of chain) costs ${f0(i.overheadInsns)}, ${f0(i.ownInsns ?? Number.NaN)} above it.`,
  ];
  if (table === 'prefix' && f.overheadInsns > i.overheadInsns / 2) {
    lines.push(
      '',
      `So the "half of ipset+iptables" target is missed for prefixes: ffwall's overhead is ${((f.overheadInsns / i.overheadInsns) * 100).toFixed(0)}% of ipset hash:net+iptables', and its own work above the empty-chain reference is ${((f.ownInsns ?? Number.NaN) / (i.ownInsns ?? Number.NaN) * 100).toFixed(0)}% of hash:net's. ` +
        'Why (kmod/hook.c, kmod/prefix.c): a packet that misses runs the exact-table lookup (one keyed hsiphash of the 4-byte IPv4 address), then one keyed hsiphash (of one word: the masked address and a marker bit for the length) and one chain per prefix length in use, four here. hash:net also probes once per length in use, with jhash over a 4-byte key, which is cheaper than SipHash-1-3. ' +
        (n?.overheadInsns != null && f.overheadInsns <= n.overheadInsns ? 'Against nft\'s interval set ffwall is cheaper. ' : '') +
        'Meeting the target would need a cheaper per-length probe (a non-keyed hash on the IPv4 path, or one probe for all lengths through a per-/16 bitmap of the lengths present).',
    );
  } else if (f.overheadInsns > i.overheadInsns / 2) {
    lines.push(
      '',
      `So the "half of ipset+iptables" target is missed: ffwall's overhead is ${((f.overheadInsns / i.overheadInsns) * 100).toFixed(0)}% of ipset+iptables', and a large part of it is the price of being called at netdev ingress at all, which nft pays too. ` +
        `Above the empty-chain references, ffwall's work is at least ${((f.ownInsns ?? Number.NaN) / (i.ownInsns ?? Number.NaN) * 100).toFixed(0)}% of ipset's (a lower bound on the share: ffwall's reference overstates the cost of its hook). ` +
        'In mix traffic ffwall and nft also save the IP layer\'s work for the dropped half (their overhead is negative there), while ipset drops after ip_rcv. ' +
        'Meeting the target on totals would need a cheaper entry into the packet path than a netfilter netdev hook, or still less work in the hook function (kmod/hook.c: one hsiphash of the IPv4 address and one chain on a miss).',
    );
  }
  return lines;
}

function series(doc: DropDoc, table: Table, traffic: 'mix' | 'miss', pick: (p: Cell['peers'][number]) => { y: number; lo?: number; hi?: number } | null, withBaseline: boolean): Series[] {
  const out: Series[] = [];
  for (const peer of PEERS) {
    if (peer === 'none' && !withBaseline) continue;
    if (peer.startsWith('hook-') && withBaseline) continue;
    const points: Series['points'] = [];
    for (const c of doc.cells.filter((x) => x.table === table && x.traffic === traffic)) {
      const e = c.peers.find((x) => x.peer === peer);
      if (e !== undefined) {
        const v = pick(e);
        if (v !== null) points.push({ x: c.size, ...v });
      } else if (peer === 'nft' && doc.loads.some((l) => tableOf(l) === table && l.size === c.size && l.peer === 'nft' && l.dnf)) {
        const last = points[points.length - 1];
        points.push({ x: c.size, y: last?.y ?? 0, dnf: true });
      }
    }
    if (points.length > 0) out.push({ name: peerName(table, peer), points });
  }
  return out;
}

/** Instructions per packet above the baseline, against table size (host addresses, or the prefix table). */
export function dropSvg(doc: DropDoc, table: Table = 'host'): string {
  const useInsn = doc.icount.available;
  return lineChart(
    series(doc, table, 'miss', (e) => (useInsn ? (e.overheadInsns === null ? null : { y: e.overheadInsns }) : { y: e.overheadNs }), false),
    {
      title: `Drop path${table === 'prefix' ? ', prefixes /24../27' : ''}: filter cost per packet (${doc.kernel}, emulated)`,
      xLabel: 'entries in the table',
      yLabel: useInsn ? 'kernel instructions/packet above no filter' : 'ns/packet above no filter',
      xLog: true,
      yFromZero: true,
    },
  );
}

/** ns per packet with quartiles, mix traffic, against table size. */
export function dropTimeSvg(doc: DropDoc): string {
  return lineChart(
    series(doc, 'host', 'mix', (e) => ({ y: e.ns.median, lo: e.ns.q1, hi: e.ns.q3 }), true),
    { title: `Drop path: receive cost per packet, half blocked (${doc.kernel}, emulated)`, xLabel: 'entries in the table', yLabel: 'ns/packet (median, quartiles)', xLog: true },
  );
}
