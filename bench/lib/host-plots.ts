// SPDX-License-Identifier: MIT
//
// Plots of the host benchmarks' results: the policy service's latency and
// throughput against the number of concurrent clients, and the ingestion
// rate against the batch size.  Drawn from the result documents alone, so
// `npm run bench` redraws them after each run.
import { lineChart, type Series } from './svg.js';

interface PolicyRow {
  transport: string;
  clients: number;
  mode: string;
  rps: number;
  p50_ms: number;
  p99_ms: number;
}

interface IngestRow {
  path: string;
  batch: number;
  bans_per_s: number;
}

const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function policyRows(doc: { results?: unknown }): PolicyRow[] {
  const rows = Array.isArray(doc.results) ? (doc.results as Array<Record<string, unknown>>) : [];
  return rows.filter((r): r is Record<string, unknown> & PolicyRow =>
    typeof r.transport === 'string' && r.mode === 'closed' && num(r.clients) && num(r.rps) && num(r.p50_ms) && num(r.p99_ms));
}

/** The policy service's p50 and p99 latency against concurrent clients (closed loop). */
export function policyLatencySvg(doc: { results?: unknown; targets?: { p99_ms?: number } }): string {
  const rows = policyRows(doc);
  const series: Series[] = [];
  for (const t of [...new Set(rows.map((r) => r.transport))].sort()) {
    const mine = rows.filter((r) => r.transport === t);
    series.push({ name: `${t} p99`, points: mine.map((r) => ({ x: r.clients, y: r.p99_ms })) });
    series.push({ name: `${t} p50`, points: mine.map((r) => ({ x: r.clients, y: r.p50_ms })) });
  }
  const target = doc.targets?.p99_ms;
  if (num(target) && rows.length > 0) {
    const xs = rows.map((r) => r.clients);
    series.push({ name: `target p99 ${target} ms`, points: [{ x: Math.min(...xs), y: target }, { x: Math.max(...xs), y: target }] });
  }
  return lineChart(series, { title: 'Policy service latency (host, server on one core)', xLabel: 'concurrent clients', yLabel: 'ms per request', xLog: true });
}

/** The policy service's requests per second against concurrent clients (closed loop). */
export function policyRateSvg(doc: { results?: unknown; targets?: { rps?: number } }): string {
  const rows = policyRows(doc);
  const series: Series[] = [...new Set(rows.map((r) => r.transport))].sort().map((t) => ({
    name: t,
    points: rows.filter((r) => r.transport === t).map((r) => ({ x: r.clients, y: r.rps })),
  }));
  const target = doc.targets?.rps;
  if (num(target) && rows.length > 0) {
    const xs = rows.map((r) => r.clients);
    series.push({ name: `target ${target}/s`, points: [{ x: Math.min(...xs), y: target }, { x: Math.max(...xs), y: target }] });
  }
  return lineChart(series, { title: 'Policy service throughput (host, server on one core)', xLabel: 'concurrent clients', yLabel: 'requests per second', xLog: true });
}

/** Durable bans per second against the batch size, per path. */
export function ingestSvg(doc: { results?: unknown }): string {
  const rows = (Array.isArray(doc.results) ? (doc.results as Array<Record<string, unknown>>) : []).filter(
    (r): r is Record<string, unknown> & IngestRow => typeof r.path === 'string' && num(r.batch) && num(r.bans_per_s),
  );
  const series: Series[] = [...new Set(rows.map((r) => r.path))].sort().map((p) => ({
    name: p,
    points: rows.filter((r) => r.path === p).map((r) => ({ x: r.batch, y: r.bans_per_s })),
  }));
  return lineChart(series, { title: 'Ingestion: durable bans per second (host)', xLabel: 'bans per batch', yLabel: 'bans per second', xLog: true });
}
