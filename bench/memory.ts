// SPDX-License-Identifier: MIT
//
// The memory benchmark (issue 11, item 2), host side: what the guest
// (bench/guest/memory.sh) recorded, as bytes per entry for each
// implementation, family and table size, the target of the issue (at most
// 64 bytes per IPv4 entry at 1M), a Markdown section and an SVG plot of
// bytes per entry against table size.  bench/run.ts drives it
// (`npm run bench -- --only memory`).
import { machineInfo, type Machine } from './lib/results.js';
import { formatNumber, lineChart, type Series } from './lib/svg.js';

export type Family = 'ipv4' | 'ipv6';

/** One line of the guest's memory.ndjson. */
export interface MemRecord {
  impl: string;
  family: Family;
  /** Entries asked for. */
  size: number;
  /** Entries in the table after the load. */
  entries: number;
  self_reported_bytes?: number;
  kernel_delta_kib: number;
  /** Slab + VmallocUsed + PageTables + KernelStack + Percpu delta (a lower bound). */
  parts_delta_kib?: number;
  slab_delta_kib?: number;
  load_seconds?: number;
  dnf?: boolean;
  cap_s?: number;
}

export interface MemRow extends MemRecord {
  /** self_reported_bytes / entries, when the implementation reports a size. */
  self_bytes_per_entry: number | null;
  /** kernel_delta_kib * 1024 / entries. */
  kernel_bytes_per_entry: number | null;
  /** parts_delta_kib * 1024 / entries. */
  parts_bytes_per_entry: number | null;
}

export interface MemTarget {
  what: string;
  met: boolean | null;
  detail: string;
}

export interface MemDoc {
  bench: 'memory';
  kernel: string;
  machine: Machine;
  date: string;
  /** The largest size measured (what FFWALL_BENCH_N was). */
  n: number;
  sizes: number[];
  method: string[];
  targets: MemTarget[];
  /** Flat rows (scalars only), so that a generic table renders them too. */
  results: MemRow[];
}

/** The short names used in tables and the plot. */
export function implName(impl: string): 'ffwall' | 'ipset' | 'nft' | string {
  if (impl.startsWith('ipset')) return 'ipset';
  if (impl.startsWith('nftables')) return 'nft';
  return impl;
}

export const TARGET_BYTES = 64;
export const TARGET_SIZE = 1_000_000;

const METHOD = [
  'QEMU TCG guest (software emulation), 3 GiB; each implementation loaded alone from a fresh state, with the same addresses (IPv4 spread over 1.0.0.0 and up, IPv6 in 2001:db8::/32), every entry with a timeout of one day and per-entry counters (ipset `timeout counters`, nft `flags timeout; counter`, ffwall TTL with its always-kept hits and last-hit time).',
  'Self-reported: ipset `ipset list -t` "Size in memory"; ffwall STATS `bytes` + `prefix_bytes` + `allow_bytes` + `filter_bytes` (every table of the module: the exact table\'s entries times the slab object size, its bucket array and the fixed port-set table; the prefix sets\' fixed bucket arrays, 512 KiB with the default limits; no filter is loaded here; not the module\'s code). nftables reports no size of its own.',
  'Kernel delta: MemTotal - MemFree - Buffers - Cached - AnonPages + Shmem, after `sync; echo 3 > /proc/sys/vm/drop_caches`, read before creating the set and after loading it (all input files written before the first reading, so tmpfs pages cancel out). It counts everything allocated: slab objects with their slack, vmalloc arrays, page tables, and for ffwall the module itself (loaded in between). It is noisy (a few MiB: free pages parked on per-CPU lists, deferred frees), so it means little below 100k entries.',
  'Parts delta: the change in what /proc/meminfo itemizes of the kernel\'s own memory, Slab + VmallocUsed + PageTables + KernelStack + Percpu, over the same interval. It misses allocations taken straight from the page allocator (kmalloc above 8 KiB, e.g. bucket arrays of 16 KiB to 4 MiB) and moves with reclaimable slab; the two deltas differ by a few MiB either way, so neither is exact.',
];

export function memoryDoc(input: { kernel: string; records: Array<Record<string, unknown>>; date?: Date }): MemDoc {
  const recs = input.records as unknown as MemRecord[];
  const results: MemRow[] = recs.map((r) => ({
    ...r,
    family: r.family ?? 'ipv4',
    size: r.size ?? r.entries,
    self_bytes_per_entry: r.self_reported_bytes !== undefined && r.entries > 0 ? r.self_reported_bytes / r.entries : null,
    kernel_bytes_per_entry: r.entries > 0 && r.dnf !== true ? (r.kernel_delta_kib * 1024) / r.entries : null,
    parts_bytes_per_entry: r.parts_delta_kib !== undefined && r.entries > 0 && r.dnf !== true ? (r.parts_delta_kib * 1024) / r.entries : null,
  }));
  const sizes = [...new Set(results.map((r) => r.size))].sort((a, b) => a - b);
  return {
    bench: 'memory',
    kernel: input.kernel,
    machine: machineInfo('qemu tcg'),
    date: (input.date ?? new Date()).toISOString(),
    n: sizes[sizes.length - 1] ?? 0,
    sizes,
    method: METHOD,
    targets: targetsOf(results),
    results,
  };
}

function targetsOf(rows: MemRow[]): MemTarget[] {
  const what = `ffwall <= ${TARGET_BYTES} bytes per IPv4 entry at ${formatNumber(TARGET_SIZE)} entries`;
  const v4 = rows.filter((r) => implName(r.impl) === 'ffwall' && r.family === 'ipv4' && r.dnf !== true);
  const at = v4.find((r) => r.size === TARGET_SIZE);
  if (at === undefined) {
    const largest = v4.sort((a, b) => b.size - a.size)[0];
    return [
      {
        what,
        met: null,
        detail:
          largest === undefined
            ? 'ffwall IPv4 not measured'
            : `not measured at ${formatNumber(TARGET_SIZE)} (largest size ${formatNumber(largest.size)}: STATS ${f1(largest.self_bytes_per_entry)}, kernel delta ${f1(largest.kernel_bytes_per_entry)} bytes/entry)`,
      },
    ];
  }
  const s = at.self_bytes_per_entry;
  const k = at.kernel_bytes_per_entry;
  const p = at.parts_bytes_per_entry;
  // Judged on both kernel-side measures (neither is exact): met only if
  // every one available is within the target.  STATS is given beside them.
  const measured = [k, p].filter((v): v is number => v !== null);
  const met = measured.length === 0 ? (s === null ? null : s <= TARGET_BYTES) : measured.every((v) => v <= TARGET_BYTES);
  return [{ what, met, detail: `system-wide delta ${f1(k)}, itemized delta ${f1(p)}, STATS ${f1(s)} bytes/entry (judged on the two kernel deltas: met only if both are within)` }];
}

const f1 = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(1));
const FAM: Record<Family, string> = { ipv4: 'IPv4', ipv6: 'IPv6' };

export function memoryMarkdown(doc: MemDoc): string {
  const L: string[] = [`## memory per entry (${doc.kernel}, ${doc.date.slice(0, 10)})`, ''];
  L.push(...doc.method.map((m) => `- ${m}`), '');
  L.push('### Target', '');
  for (const t of doc.targets) L.push(`- ${t.what}: **${t.met === null ? 'NOT MEASURED' : t.met ? 'met' : 'MISSED'}** (${t.detail})`);
  L.push('', '| family | entries | implementation | self-reported bytes | bytes/entry (self) | kernel delta KiB | bytes/entry (kernel delta) | parts delta KiB | bytes/entry (parts) | load s | note |');
  L.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  const rows = [...doc.results].sort((a, b) => a.family.localeCompare(b.family) || a.size - b.size);
  for (const r of rows) {
    const note = r.dnf === true ? `did not finish (cap ${r.cap_s ?? '?'} s, ${formatNumber(r.entries)} loaded)` : r.entries !== r.size ? `${r.entries} distinct` : '';
    L.push(
      `| ${FAM[r.family]} | ${formatNumber(r.size)} | ${r.impl} | ${r.self_reported_bytes ?? '-'} | ${f1(r.self_bytes_per_entry)} | ${r.kernel_delta_kib} | ${f1(r.kernel_bytes_per_entry)} | ${r.parts_delta_kib ?? '-'} | ${f1(r.parts_bytes_per_entry)} | ${r.load_seconds?.toFixed(1) ?? '-'} | ${note} |`,
    );
  }
  L.push('', 'Plot: `memory.svg` (bytes per entry against table size; solid IPv4, dashed IPv6).', '');
  return L.join('\n');
}

const COLOR: Record<string, [string, string]> = {
  ffwall: ['#1f77b4', '#7fb2d9'],
  ipset: ['#d62728', '#ee9394'],
  nft: ['#2ca02c', '#95d095'],
};

/** Bytes per entry against table size: the kernel delta of each implementation, and the self-reported sizes. */
export function memorySvg(doc: MemDoc): string {
  const series: Series[] = [];
  for (const impl of ['ffwall', 'ipset', 'nft']) {
    for (const fam of ['ipv4', 'ipv6'] as const) {
      const rows = doc.results.filter((r) => implName(r.impl) === impl && r.family === fam).sort((a, b) => a.size - b.size);
      const colors = COLOR[impl] ?? ['#7f7f7f', '#bbbbbb'];
      const kernel = rows.filter((r) => r.kernel_bytes_per_entry !== null).map((r) => ({ x: r.size, y: r.kernel_bytes_per_entry as number }));
      if (kernel.length > 0) series.push({ name: `${impl} ${FAM[fam]} kernel delta`, points: kernel, color: colors[0], dashed: fam === 'ipv6' });
      const self = rows.filter((r) => r.self_bytes_per_entry !== null).map((r) => ({ x: r.size, y: r.self_bytes_per_entry as number }));
      if (self.length > 0) series.push({ name: `${impl} ${FAM[fam]} self-reported`, points: self, color: colors[1], dashed: fam === 'ipv6' });
    }
  }
  return lineChart(series, {
    title: `Kernel memory per entry, timeout + counters (${doc.kernel}, emulated)`,
    xLabel: 'entries in the table',
    yLabel: 'bytes per entry',
    xLog: true,
    yFromZero: true,
    width: 800,
    height: 460,
    hlines: [{ y: TARGET_BYTES, label: `target: ffwall <= ${TARGET_BYTES} bytes per IPv4 entry at 1M` }],
  });
}
