// SPDX-License-Identifier: MIT
//
// The daemon's Prometheus metrics (prom-client 15) and the HTTP endpoint
// that serves them, GET /metrics on the configured address (loopback unless
// metrics.allowRemote).  Nothing listens unless the daemon starts a
// MetricsServer, which it does only when metrics.listen is set.
//
// Two kinds of figures:
//   - the kernel's and the database's state, read at scrape time from the
//     sources the daemon gives (setSources): kernel STATS and CONFIG, the
//     database's record counts by state;
//   - what the daemon itself counts as it works: events handled by type,
//     overflows, bans and unbans by source, control requests by op and
//     result, event-handling latency.
// Label values come from closed sets (unknown values are counted as
// "other"), so a client cannot grow the label space.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import { BAN_SOURCES, BAN_STATES, type BanSource, type BanState } from '../lib/db/types.js';
import type { KernelConfig, KernelEventType, KernelStats } from '../lib/kernel.js';
import { OFFENCE_KINDS, type OffenceKind } from '../lib/offences.js';

import { isLoopbackHost } from './config.js';
import { POLICY_RESULTS, type PolicyResult } from './policy.js';

export const EVENT_TYPES: readonly KernelEventType[] = ['evicted', 'expired', 'miss', 'overflow'];
export const CONTROL_OPS = [
  'block', 'blockMany', 'unblock', 'unblockMany', 'check', 'allow', 'disallow', 'status', 'subscribe', 'unsubscribe',
  'list', 'show', 'stats', 'allowList', 'attach', 'detach', 'devices', 'getConfig', 'setConfig', 'flush', 'unblockSource', 'hits',
  'report', 'kernelList', 'invalid',
] as const;
/** Control results counted by name; any other error code is "error". */
export const CONTROL_RESULTS = ['ok', 'EPROTO', 'EALLOWLISTED', 'ENOSPC', 'invalid', 'error'] as const;

const ORIGINS = ['postfix', 'haraka', 'fail2ban', 'other'] as const;
const PROMOTION_RESULTS = ['promoted', 'in-kernel', 'expired', 'EEXIST', 'ENOSPC', 'stopping', 'error'] as const;

export interface MetricsSources {
  /** Kernel STATS and CONFIG; a failure is counted in ffwall_kernel_scrape_errors_total. */
  kernel?: () => Promise<{ stats: KernelStats; config: Pick<KernelConfig, 'maxEntries'> }>;
  /** Database records by state. */
  database?: () => Promise<Record<BanState, number>> | Record<BanState, number>;
}

export interface DaemonMetricsOptions {
  /** Node's process_* and nodejs_* metrics; default true. */
  defaultMetrics?: boolean;
}

function oneOf<T extends string>(value: string, allowed: readonly T[], other: T): T {
  return (allowed as readonly string[]).includes(value) ? (value as T) : other;
}

/** A counter mirroring an absolute kernel total (set at scrape time). */
function mirror(c: Counter<string>, value: number, labels?: Record<string, string>): void {
  if (labels === undefined) {
    c.reset();
    c.inc(value);
  } else {
    c.remove(labels);
    c.inc(labels, value);
  }
}

/** The registry and every metric; the constructor registers them and does nothing else. */
export class DaemonMetrics {
  readonly registry = new Registry();
  #sources: MetricsSources = {};

  readonly kernelEntries: Gauge;
  readonly kernelCapacity: Gauge;
  readonly kernelPinned: Gauge;
  readonly kernelBytes: Gauge;
  readonly kernelMemory: Gauge<'table'>;
  readonly kernelDrops: Counter<'reason'>;
  readonly kernelPassedAllow: Counter;
  readonly kernelMonitorHits: Counter;
  readonly kernelEvictions: Counter;
  readonly kernelExpired: Counter;
  readonly filterProbes: Counter;
  readonly filterHits: Counter;
  readonly kernelEventsLost: Counter;
  readonly kernelScrapeErrors: Counter;
  readonly events: Counter<'type'>;
  readonly overflows: Counter;
  readonly eventsLost: Counter;
  readonly dbRecords: Gauge<'state'>;
  readonly bans: Counter<'source'>;
  readonly unbans: Counter<'source'>;
  readonly controlRequests: Counter<'op' | 'result'>;
  readonly eventLatency: Histogram<'type'>;
  readonly policyRequests: Counter<'result'>;
  readonly policyProtocolErrors: Counter;
  readonly policyPromotions: Counter<'result'>;
  readonly offences: Counter<'kind' | 'origin'>;
  readonly offenceBans: Counter<'kind'>;
  readonly offenceRefused: Counter<'kind'>;
  readonly offenceDropped: Counter;

  constructor(options: DaemonMetricsOptions = {}) {
    const registers = [this.registry];
    this.kernelEntries = new Gauge({ name: 'ffwall_kernel_entries', help: 'Entries in the kernel table (exact and prefix).', registers });
    this.kernelCapacity = new Gauge({ name: 'ffwall_kernel_capacity', help: "The kernel table's max_entries.", registers });
    this.kernelPinned = new Gauge({ name: 'ffwall_kernel_pinned_entries', help: 'Pinned entries in the kernel table.', registers });
    this.kernelBytes = new Gauge({ name: 'ffwall_kernel_bytes', help: 'Kernel memory of the exact table, bytes.', registers });
    this.kernelMemory = new Gauge({ name: 'ffwall_kernel_memory_bytes', help: "The module's memory by table (exact, prefix, allow, filter), bytes.", labelNames: ['table'], registers });
    this.kernelDrops = new Counter({ name: 'ffwall_kernel_drops_total', help: 'Packets dropped by the kernel, by the kind of entry that matched.', labelNames: ['reason'], registers });
    this.kernelPassedAllow = new Counter({ name: 'ffwall_kernel_allow_passed_total', help: 'Packets passed by the allowlist.', registers });
    this.kernelMonitorHits = new Counter({ name: 'ffwall_kernel_monitor_hits_total', help: 'Matches counted but passed (monitor).', registers });
    this.kernelEvictions = new Counter({ name: 'ffwall_kernel_evictions_total', help: 'Entries evicted by the capacity cap.', registers });
    this.kernelExpired = new Counter({ name: 'ffwall_kernel_expired_total', help: 'Entries expired in the kernel.', registers });
    this.filterProbes = new Counter({ name: 'ffwall_kernel_filter_probes_total', help: 'Membership filter probes (table misses that start a flow).', registers });
    this.filterHits = new Counter({ name: 'ffwall_kernel_filter_hits_total', help: 'Membership filter hits (MISS events raised).', registers });
    this.kernelEventsLost = new Counter({
      name: 'ffwall_kernel_events_lost_total',
      help: "Event records the module dropped on full rings, summed over every reader's ring (STATS events_lost; other readers than the daemon count too).",
      registers,
    });
    this.kernelScrapeErrors = new Counter({ name: 'ffwall_kernel_scrape_errors_total', help: 'Scrapes whose kernel STATS failed.', registers });
    this.events = new Counter({ name: 'ffwall_events_total', help: 'Kernel events handled by the daemon, by type.', labelNames: ['type'], registers });
    this.overflows = new Counter({ name: 'ffwall_event_overflows_total', help: 'OVERFLOW events (each triggers a reconcile).', registers });
    this.eventsLost = new Counter({ name: 'ffwall_events_lost_total', help: "Event records the daemon's own reader lost: the sum of the counts its OVERFLOW records carry.", registers });
    this.dbRecords = new Gauge({ name: 'ffwall_db_records', help: 'Ban database records by state.', labelNames: ['state'], registers });
    this.bans = new Counter({ name: 'ffwall_bans_total', help: 'Bans made, by source.', labelNames: ['source'], registers });
    this.unbans = new Counter({ name: 'ffwall_unbans_total', help: 'Bans removed, by source.', labelNames: ['source'], registers });
    this.controlRequests = new Counter({ name: 'ffwall_control_requests_total', help: 'Control socket requests by op and result.', labelNames: ['op', 'result'], registers });
    this.eventLatency = new Histogram({
      name: 'ffwall_event_handling_seconds',
      help: 'Time from reading a kernel event to having handled it.',
      labelNames: ['type'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers,
    });
    this.policyRequests = new Counter({ name: 'ffwall_policy_requests_total', help: 'Postfix policy requests answered, by result (reject, defer, 521, dunno, allowlisted, monitor, noclient, error).', labelNames: ['result'], registers });
    this.policyProtocolErrors = new Counter({ name: 'ffwall_policy_protocol_errors_total', help: 'Malformed policy requests (not answered; the connection was closed).', registers });
    this.policyPromotions = new Counter({ name: 'ffwall_policy_promotions_total', help: 'Bans met by the policy service that the kernel lacked, by outcome (promoted, or why not).', labelNames: ['result'], registers });
    this.offences = new Counter({ name: 'ffwall_offences_total', help: 'Offences reported, by kind and origin (postfix, haraka, fail2ban, other).', labelNames: ['kind', 'origin'], registers });
    this.offenceBans = new Counter({ name: 'ffwall_offence_bans_total', help: 'Bans made because an offence threshold tripped, by kind.', labelNames: ['kind'], registers });
    this.offenceRefused = new Counter({ name: 'ffwall_offence_refused_total', help: 'Tripped thresholds whose ban was refused (allowlisted, safety), by kind.', labelNames: ['kind'], registers });
    for (const r of POLICY_RESULTS) this.policyRequests.inc({ result: r }, 0);
    this.offenceDropped = new Counter({ name: 'ffwall_offences_dropped_total', help: 'Offences from the log watcher dropped because the daemon\'s offence queue was full.', registers });
    for (const k of OFFENCE_KINDS) this.offenceBans.inc({ kind: k }, 0);
    for (const t of EVENT_TYPES) this.events.inc({ type: t }, 0);
    for (const s of BAN_SOURCES) {
      this.bans.inc({ source: s }, 0);
      this.unbans.inc({ source: s }, 0);
    }
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Where scrape-time figures come from. */
  setSources(sources: MetricsSources): void {
    this.#sources = sources;
  }

  /** One kernel event handled, in @seconds; an OVERFLOW's @lost: the records it says were lost before it. */
  event(type: KernelEventType, seconds?: number, lost = 0): void {
    const t = oneOf(type, EVENT_TYPES, 'overflow');
    this.events.inc({ type: t });
    if (t === 'overflow') {
      this.overflows.inc();
      if (lost > 0) this.eventsLost.inc(lost);
    }
    if (seconds !== undefined) this.eventLatency.observe({ type: t }, seconds);
  }

  ban(source: BanSource, n = 1): void {
    this.bans.inc({ source: oneOf(source, BAN_SOURCES, 'api') }, n);
  }

  unban(source: BanSource, n = 1): void {
    this.unbans.inc({ source: oneOf(source, BAN_SOURCES, 'api') }, n);
  }

  policyRequest(result: PolicyResult): void {
    this.policyRequests.inc({ result: oneOf(result, POLICY_RESULTS, 'error') });
  }

  policyProtocolError(): void {
    this.policyProtocolErrors.inc();
  }

  policyPromotion(result: string): void {
    this.policyPromotions.inc({ result: oneOf(result, PROMOTION_RESULTS, 'error') });
  }

  /** One offence counted, and whether it banned or was refused. */
  offence(kind: OffenceKind, origin: string, outcome: { banned: boolean; refused: boolean }): void {
    const k = oneOf(kind, OFFENCE_KINDS, 'other');
    this.offences.inc({ kind: k, origin: oneOf(origin, ORIGINS, 'other') });
    if (outcome.banned) this.offenceBans.inc({ kind: k });
    if (outcome.refused) this.offenceRefused.inc({ kind: k });
  }

  /** @result: 'ok', an error code, or 'invalid' for bad arguments. */
  controlRequest(op: string, result: string): void {
    this.controlRequests.inc({ op: oneOf(op, CONTROL_OPS, 'invalid'), result: oneOf(result, CONTROL_RESULTS, 'error') });
  }

  /** Mirrors kernel STATS and CONFIG into the gauges and counters. */
  setKernel(stats: KernelStats, config: Pick<KernelConfig, 'maxEntries'>): void {
    this.kernelEntries.set(stats.entries + stats.prefixes);
    this.kernelCapacity.set(config.maxEntries);
    this.kernelPinned.set(stats.pinned);
    this.kernelBytes.set(stats.bytes);
    this.kernelMemory.set({ table: 'exact' }, stats.bytes);
    this.kernelMemory.set({ table: 'prefix' }, stats.prefixBytes);
    this.kernelMemory.set({ table: 'allow' }, stats.allowBytes);
    this.kernelMemory.set({ table: 'filter' }, stats.filterBytes);
    mirror(this.kernelDrops, stats.droppedExact, { reason: 'exact' });
    mirror(this.kernelDrops, stats.droppedPorts, { reason: 'ports' });
    mirror(this.kernelDrops, stats.droppedPrefix, { reason: 'prefix' });
    mirror(this.kernelPassedAllow, stats.passedAllow);
    mirror(this.kernelMonitorHits, stats.monitorHits);
    mirror(this.kernelEvictions, stats.evicted);
    mirror(this.kernelExpired, stats.expired);
    mirror(this.filterProbes, stats.filterProbes);
    mirror(this.filterHits, stats.filterHits);
    mirror(this.kernelEventsLost, stats.eventsLost);
  }

  setDatabase(counts: Record<BanState, number>): void {
    for (const s of BAN_STATES) this.dbRecords.set({ state: s }, counts[s]);
  }

  /** Reads the sources, then renders the text format. */
  async scrape(): Promise<string> {
    const { kernel, database } = this.#sources;
    if (kernel !== undefined) {
      try {
        const k = await kernel();
        this.setKernel(k.stats, k.config);
      } catch {
        this.kernelScrapeErrors.inc();
      }
    }
    if (database !== undefined) this.setDatabase(await database());
    return this.registry.metrics();
  }
}

export interface MetricsServerOptions {
  host: string;
  /** 0: any free port (tests). */
  port: number;
  /** Needed for a non-loopback host (config metrics.allowRemote). */
  allowRemote?: boolean;
}

/** GET /metrics over HTTP.  start() listens, stop() closes every connection. */
export class MetricsServer {
  readonly #metrics: DaemonMetrics;
  readonly #opts: MetricsServerOptions;
  #server: http.Server | undefined;
  /** Called when a scrape fails (for a rate-limited log line). */
  onError: ((err: Error) => void) | undefined;

  constructor(metrics: DaemonMetrics, options: MetricsServerOptions) {
    this.#metrics = metrics;
    this.#opts = options;
  }

  /** The bound address once started. */
  get address(): { host: string; port: number } | undefined {
    const a = this.#server?.address() as AddressInfo | null | undefined;
    return a === null || a === undefined ? undefined : { host: a.address, port: a.port };
  }

  async start(): Promise<{ host: string; port: number }> {
    if (this.#server !== undefined) throw new Error('MetricsServer: already started');
    const { host, port } = this.#opts;
    if (!isLoopbackHost(host) && this.#opts.allowRemote !== true) throw new Error(`MetricsServer: ${host} is not a loopback address; set metrics.allowRemote: true to allow it`);
    const server = http.createServer((req, res) => this.#handle(req, res));
    server.keepAliveTimeout = 5000;
    server.headersTimeout = 10000;
    server.requestTimeout = 10000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    return this.address as { host: string; port: number };
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = (req.url ?? '/').split('?')[0];
    if (url !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    this.#metrics
      .scrape()
      .then((text) => {
        res.writeHead(200, { 'content-type': this.#metrics.registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      })
      .catch((err: Error) => {
        this.onError?.(err);
        res.writeHead(500, { 'content-type': 'text/plain' }).end('scrape failed\n');
      });
  }
}
