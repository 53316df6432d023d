// SPDX-License-Identifier: MIT
//
// What the CI's quick benchmark run asserts about each result file, so that
// the benchmarks cannot rot: the file was written by this run, it names its
// kernel (guest benchmarks), machine and date, it holds results, and the
// work it timed did what it claims (every peer loaded its entries, ffwall
// dropped the banned half of the mixed traffic, the policy service refused
// the banned clients and let the others pass, every ingested ban reached the
// kernel).  Timing is never asserted: the figures are only reported.

/** The benchmarks that run on the host (bench/<name>.ts); the others are bench/guest/<name>.sh. */
export const HOST_BENCHES = ['policy', 'ingest'] as const;

type Json = Record<string, unknown>;

const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const rows = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObj) : []);

/** Problems with one benchmark's result document; empty when it is sound. */
export function checkBenchResult(name: string, doc: unknown, since: Date, opts: { guest: boolean }): string[] {
  const bad: string[] = [];
  if (!isObj(doc)) return ['the result file is not a JSON object'];
  if (doc.bench !== name) bad.push(`"bench" is ${JSON.stringify(doc.bench)}, not "${name}"`);
  const date = typeof doc.date === 'string' ? new Date(doc.date) : undefined;
  if (date === undefined || Number.isNaN(date.getTime())) bad.push('no valid "date"');
  else if (date.getTime() < since.getTime() - 1000) bad.push(`written at ${doc.date as string}, before this run began (${since.toISOString()})`);
  if (!isObj(doc.machine)) bad.push('no "machine"');
  if (opts.guest && (typeof doc.kernel !== 'string' || doc.kernel === '')) bad.push('no "kernel"');
  const results = rows(doc.results);
  const cells = rows(doc.cells);
  if (results.length === 0 && cells.length === 0) bad.push('no results');
  for (const r of results) {
    if (typeof r.error === 'string') bad.push(`a result reports an error: ${r.error}`);
  }
  bad.push(...(SPECIFIC[name]?.(doc) ?? []));
  return bad;
}

const SPECIFIC: Record<string, (doc: Json) => string[]> = {
  drop(doc) {
    const bad: string[] = [];
    for (const l of rows(doc.loads)) {
      if (l.peer === 'ffwall' && (l.dnf === true || l.loaded !== l.size)) {
        bad.push(`ffwall loaded ${String(l.loaded)} of ${String(l.size)} entries (${String(l.table ?? 'host')} table)`);
      }
    }
    const cells = rows(doc.cells);
    if (cells.length === 0) bad.push('no measured cells');
    for (const c of cells) {
      const ff = rows(c.peers).find((p) => p.peer === 'ffwall');
      if (ff === undefined) {
        bad.push(`no ffwall figures at ${String(c.size)} (${String(c.table ?? 'host')}, ${String(c.traffic)})`);
        continue;
      }
      const f = ff.droppedFraction;
      if (typeof f !== 'number') continue;
      // Host addresses, mix: half of the sources are banned; prefixes, mix:
      // about 23% of the sources fall inside one (bench/README.md); miss: none.
      const table = c.table === 'prefix' ? 'prefix' : 'host';
      const [lo, hi] = c.traffic === 'miss' ? [0, 0.005] : table === 'prefix' ? [0.15, 0.32] : [0.45, 0.55];
      if (c.traffic !== 'mix' && c.traffic !== 'miss') continue;
      if (f < lo || f > hi) {
        bad.push(`ffwall dropped ${(f * 100).toFixed(1)}% of the ${table} table's ${String(c.traffic)} traffic at ${String(c.size)}, expected ${lo * 100}-${hi * 100}%`);
      }
    }
    return bad;
  },
  policy(doc) {
    const bad: string[] = [];
    for (const r of rows(doc.results)) {
      const label = `${String(r.transport)} ${String(r.clients)} clients`;
      if (typeof r.requests !== 'number' || r.requests <= 0) bad.push(`${label}: no requests answered`);
      if (r.reject === 0) bad.push(`${label}: no banned client was refused`);
      if (r.dunno === 0) bad.push(`${label}: no clean client was let through`);
      if (typeof r.other === 'number' && r.other > 0) bad.push(`${label}: ${r.other} unexpected answers`);
    }
    return bad;
  },
  bulk(doc) {
    // Each step's check row follows it: a step that finished must have put
    // (or listed) every entry; a capped one is reported, not judged.
    const bad: string[] = [];
    const n = doc.n;
    let step: Json | undefined;
    for (const r of rows(doc.results)) {
      if (typeof r.op === 'string') {
        step = r;
        if (r.status !== 'ok' && !(typeof r.status === 'string' && r.status.startsWith('did not finish'))) bad.push(`${String(r.impl)}: ${String(r.status)}`);
        continue;
      }
      if (typeof r.check !== 'string' || step?.status !== 'ok' || typeof n !== 'number') continue;
      const got = [r.kernel_entries, r.entries, r.rows].find((v): v is number => typeof v === 'number');
      const lines = typeof r.lines === 'number' ? r.lines : undefined;
      if (got !== undefined && got !== n) bad.push(`${r.check}: ${got}, expected ${n}`);
      if (lines !== undefined && lines < n) bad.push(`${r.check}: ${lines} lines for ${n} entries`);
      // After one RESERVE of n, the load itself never resizes the hash.
      if (typeof r.resizes === 'number' && r.resizes !== 1) bad.push(`${r.check}: ${r.resizes} resizes, expected 1`);
    }
    return bad;
  },
  memory(doc) {
    // ffwall must have taken every entry, and report its memory, in each family and size.
    const bad: string[] = [];
    const ff = rows(doc.results).filter((r) => r.impl === 'ffwall');
    if (ff.length === 0) bad.push('no ffwall rows');
    for (const r of ff) {
      const label = `ffwall ${String(r.family ?? 'ipv4')} ${String(r.size ?? r.entries)}`;
      if (r.dnf === true) bad.push(`${label}: did not finish loading`);
      if (typeof r.size === 'number' && r.entries !== r.size) bad.push(`${label}: ${String(r.entries)} entries loaded`);
      if (typeof r.self_reported_bytes !== 'number' || r.self_reported_bytes <= 0) bad.push(`${label}: no STATS bytes`);
    }
    return bad;
  },
  kprofile(doc) {
    // Every marked run finished and was counted; the ffwall loads put every
    // entry in the table and spent instructions in the module's own code
    // (its symbols resolved); for the C tool, whose start-up is small, the
    // insert is among the top symbols even at the quick variant's 10,000
    // entries (the library's Node start-up can push it under 0.5% there).
    const bad: string[] = [];
    for (const r of rows(doc.results)) {
      const label = String(r.label);
      if (r.status !== 'ok') bad.push(`${label}: ${String(r.status)}`);
      if (typeof r.kernelInsns !== 'number' || r.kernelInsns <= 0) bad.push(`${label}: no kernel instructions counted`);
      if (!label.startsWith('ffwallctl') && label !== 'library blockFeed (database false)') continue;
      if (r.kernelEntries !== r.entries) bad.push(`${label}: ${String(r.kernelEntries)} entries in the table, expected ${String(r.entries)}`);
      if (typeof r.ffwallPerEntry !== 'number' || r.ffwallPerEntry <= 0) bad.push(`${label}: no instructions in ffwall.ko`);
      if (label.startsWith('ffwallctl') && !rows(r.top).some((t) => t.symbol === 'ffwall_table_add [ffwall]')) bad.push(`${label}: ffwall_table_add is not among the top symbols`);
    }
    return bad;
  },
  ingest(doc) {
    const bad: string[] = [];
    for (const r of rows(doc.results)) {
      if (typeof r.bans === 'number' && typeof r.kernel_entries_after === 'number' && r.kernel_entries_after < r.bans) {
        bad.push(`${String(r.path)} batch ${String(r.batch)}: ${r.kernel_entries_after} of ${r.bans} bans reached the kernel`);
      }
    }
    return bad;
  },
};
