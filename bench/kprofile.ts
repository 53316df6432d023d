// SPDX-License-Identifier: MIT
//
// The kernel profile, host side: what the kprofile TCG plugin
// (tools/qemu-plugin/kprofile.c) counted during each marked run of
// bench/guest/kprofile.sh, attributed to the guest kernel's symbols (the
// guest's /proc/kallsyms after each run), as instructions per entry loaded.
// Instruction counts do not depend on emulation speed, so they say where a
// bulk load spends its work when guest `perf` cannot (issue 11: "the
// profile or reasoning behind" a missed target).  bench/run.ts drives it
// (`npm run bench -- --only kprofile`); it is not part of the whole run.
import { machineInfo, type Machine } from './lib/results.js';
import { formatNumber } from './lib/svg.js';

/** One marked interval of the plugin's log. */
export interface ProfileBlocks {
  seq: number;
  userInsns: number;
  /** Kernel block address (as a bigint: above 2^53) and instructions. */
  blocks: Array<{ addr: bigint; insns: number }>;
}

/** Parses the plugin's log: `begin SEQ USER`, `HEXADDR INSNS` lines, `end SEQ`. */
export function parseProfileLog(text: string): ProfileBlocks[] {
  const out: ProfileBlocks[] = [];
  let cur: ProfileBlocks | undefined;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'begin' && f.length === 3) {
      cur = { seq: Number(f[1]), userInsns: Number(f[2]), blocks: [] };
    } else if (f[0] === 'end' && cur !== undefined) {
      if (Number(f[1]) !== cur.seq) throw new Error(`kprofile: end ${f[1]} closes begin ${cur.seq}`);
      out.push(cur);
      cur = undefined;
    } else if (cur !== undefined && f.length === 2 && /^[0-9a-f]+$/.test(f[0] ?? '') && /^\d+$/.test(f[1] ?? '')) {
      cur.blocks.push({ addr: BigInt(`0x${f[0] ?? ''}`), insns: Number(f[1]) });
    }
  }
  return out;
}

export interface Symbol {
  addr: bigint;
  name: string;
  /** The module, for a module's symbol ("ffwall"), else undefined. */
  module?: string;
}

/** Parses /proc/kallsyms text lines (`ADDR TYPE NAME [MODULE]`), sorted by address. */
export function parseKallsyms(text: string): Symbol[] {
  const syms: Symbol[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)\s+\S\s+(\S+)(?:\s+\[(\S+)\])?/.exec(line);
    if (m === null) continue;
    const addr = BigInt(`0x${m[1] ?? ''}`);
    if (addr === 0n) continue;
    syms.push({ addr, name: m[2] ?? '?', ...(m[3] === undefined ? {} : { module: m[3] }) });
  }
  syms.sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
  return syms;
}

/** The symbol at or below @addr (binary search), or undefined below the first. */
export function symbolAt(syms: Symbol[], addr: bigint): Symbol | undefined {
  let lo = 0;
  let hi = syms.length - 1;
  let best: Symbol | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const s = syms[mid];
    if (s === undefined) break;
    if (s.addr <= addr) {
      best = s;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return best;
}

export interface SymbolRow {
  symbol: string;
  insns: number;
  perEntry: number;
  share: number;
}

export interface ProfileRun {
  seq: number;
  label: string;
  entries: number;
  status: string;
  kernelInsns: number;
  userInsns: number;
  kernelPerEntry: number;
  userPerEntry: number;
  /** Symbols above 0.5% of the kernel's instructions, most first. */
  top: SymbolRow[];
  /** Instructions in the ffwall module's own functions, per entry. */
  ffwallPerEntry: number;
  /** Entries in ffwall's table after the run (null when the module was not loaded). */
  kernelEntries: number | null;
}

export interface ProfileDoc {
  bench: 'kprofile';
  kernel: string;
  machine: Machine;
  date: string;
  method: string;
  /** One per marked run, in the guest's order. */
  results: ProfileRun[];
}

export const KPROFILE_METHOD =
  'Instructions at kernel addresses counted by the kprofile TCG plugin between two marks around each command (tools/qemu-plugin/mark runs it; the interval includes its fork, exec and exit), attributed per translation block to the symbol at or below the block\'s address in the guest\'s /proc/kallsyms. Exact counts, independent of time; instructions are not cycles (under TCG a memory access or a rep string step costs more than an add).';

/** One run's rows: blocks summed per symbol. */
export function profileRun(meta: { seq: number; label: string; entries: number; rc: number; kernelEntries?: number | null }, blocks: ProfileBlocks, syms: Symbol[]): ProfileRun {
  const bySym = new Map<string, number>();
  let total = 0;
  let ffwall = 0;
  for (const b of blocks.blocks) {
    const s = symbolAt(syms, b.addr);
    const name = s === undefined ? '(unknown)' : s.module === undefined ? s.name : `${s.name} [${s.module}]`;
    bySym.set(name, (bySym.get(name) ?? 0) + b.insns);
    total += b.insns;
    if (s?.module === 'ffwall') ffwall += b.insns;
  }
  const per = (x: number): number => (meta.entries > 0 ? x / meta.entries : 0);
  const top = [...bySym]
    .filter(([, n]) => n >= total * 0.005)
    .sort((a, b) => b[1] - a[1])
    .map(([symbol, insns]) => ({ symbol, insns, perEntry: per(insns), share: total > 0 ? insns / total : 0 }));
  return {
    seq: meta.seq,
    label: meta.label,
    entries: meta.entries,
    status: meta.rc === 0 ? 'ok' : `failed (exit ${meta.rc})`,
    kernelInsns: total,
    userInsns: blocks.userInsns,
    kernelPerEntry: per(total),
    userPerEntry: per(blocks.userInsns),
    top,
    ffwallPerEntry: per(ffwall),
    kernelEntries: meta.kernelEntries ?? null,
  };
}

/**
 * The whole document from the guest's outputs: the ndjson lines (one per
 * marked run, with its seq), the plugin's log, and kallsyms text per seq.
 */
export function kprofileDoc(input: { kernel: string; records: Array<Record<string, unknown>>; log: string; kallsyms: (seq: number) => string; date?: Date }): ProfileDoc {
  const intervals = new Map(parseProfileLog(input.log).map((p) => [p.seq, p]));
  const runs: ProfileRun[] = [];
  for (const r of input.records) {
    if (typeof r.seq !== 'number' || typeof r.label !== 'string') continue;
    const blocks = intervals.get(r.seq);
    if (blocks === undefined) throw new Error(`kprofile: no plugin interval for run ${r.seq} (${r.label}); was QEMU started with the kprofile plugin?`);
    const meta = {
      seq: r.seq,
      label: r.label,
      entries: typeof r.entries === 'number' ? r.entries : 0,
      rc: typeof r.rc === 'number' ? r.rc : -1,
      kernelEntries: typeof r.kernel_entries === 'number' ? r.kernel_entries : null,
    };
    runs.push(profileRun(meta, blocks, parseKallsyms(input.kallsyms(r.seq))));
  }
  return {
    bench: 'kprofile',
    kernel: input.kernel,
    machine: machineInfo('qemu tcg (thread=single) + kprofile plugin'),
    date: (input.date ?? new Date()).toISOString(),
    method: KPROFILE_METHOD,
    results: runs,
  };
}

export function kprofileMarkdown(doc: ProfileDoc, topN = 15): string {
  const L: string[] = [`## Kernel profile of the bulk loads (${doc.kernel}, ${doc.date.slice(0, 10)})`, '', doc.method, ''];
  L.push('| run | entries | kernel insns/entry | of which ffwall.ko | user insns/entry | status |', '|---|---|---|---|---|---|');
  for (const r of doc.results) L.push(`| ${r.label} | ${formatNumber(r.entries)} | ${r.kernelPerEntry.toFixed(0)} | ${r.ffwallPerEntry.toFixed(0)} | ${r.userPerEntry.toFixed(0)} | ${r.status} |`);
  L.push('');
  for (const r of doc.results) {
    L.push(`### ${r.label}`, '', '| symbol | insns/entry | share |', '|---|---|---|');
    for (const t of r.top.slice(0, topN)) L.push(`| \`${t.symbol}\` | ${t.perEntry.toFixed(1)} | ${(t.share * 100).toFixed(1)}% |`);
    L.push('');
  }
  return L.join('\n');
}
