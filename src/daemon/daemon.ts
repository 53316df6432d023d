// SPDX-License-Identifier: MIT
//
// The daemon's wiring, in one place.  Daemon.start() opens the kernel
// (NativeKernel over /dev/ffwall, or an injected Kernel) and the ban
// database, writes the automatic safety allowlist into the database, brings
// the kernel window back (restore or reconcile, which mirrors the allowlist
// into the kernel), serves the control socket, then follows the kernel's
// event stream and runs its periodic work:
//   MISS     -> window.promote(): the ban goes back into the kernel;
//   EVICTED  -> the record is cold (database only), batched;
//   EXPIRED  -> the record expires in the database, or turns cold when the
//               database's ban outlives the kernel TTL;
//   OVERFLOW -> events were lost: reconcile at once (one at a time, and one
//               more at most queued behind it);
//   sync     -> hit counts and last hits into the database (sync.ts);
//   sweep    -> expired bans out of the database and the kernel, new host
//               bans into the membership filter, a rebuild of the filter
//               when it drifted (filter.ts), history pruning;
//   control  -> an Ffwall over DaemonTransport (transport.ts) served by
//               ControlServer: safety checks before a ban, FILTER_ADD after.
// stop() closes everything and leaves the kernel table in place.  Nothing
// here logs: the daemon emits typed events and the command logs them
// (rate-limited where they can come per packet or per connection).
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { chmod, chown } from 'node:fs/promises';
import path from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';

import type { IpPrefix } from '../lib/addr.js';
import { ControlServer } from '../lib/control.js';
import { BanStore } from '../lib/db/store.js';
import { BAN_SOURCES, type BanSource, type StoreOptions } from '../lib/db/types.js';
import { DEFAULT_DEVICE_PATH } from '../lib/device.js';
import { FfwallError } from '../lib/errors.js';
import { DEFAULT_DATABASE, Ffwall } from '../lib/ffwall.js';
import type { Kernel, KernelConfigPatch, KernelEvent, KernelEventStream, KernelMode, PackedFilterAdd } from '../lib/kernel.js';
import { KeySet } from '../lib/keyset.js';
import type { Offence, OffenceConfig, OffenceSource, ReportRequest, ReportResult } from '../lib/offences.js';
import { PostfixLogWatcher } from '../lib/postfix/logwatch.js';
import { PrefixRanges, type PackedPrefixBytes } from '../lib/prefix-ranges.js';
import { AUTO_REASON_PREFIX, DirectTransport } from '../lib/transport-direct.js';
import { KernelWindow, ruleOf, type FilterReport, type PromoteResult, type WindowOptions, type WindowReport } from '../lib/window.js';
import type { DestinationStream } from 'pino';

import { ConfigManager, DEFAULT_CONFIG_PATH, formatConfigError, storeOptionsOf, type DaemonConfig } from './config.js';
import { FilterTracker, type FilterState, type RebuildReason } from './filter.js';
import { createLogger, LogLimiter, setLogLevel, type Logger } from './log.js';
import { CONTROL_RESULTS, DaemonMetrics, MetricsServer } from './metrics.js';
import { Notifier } from './notify.js';
import { PolicyServer, type PolicyJudgement, type PolicyRequestEvent, type PolicyServerOptions } from './policy.js';
import { formatReport } from './report.js';
import { SafetyList } from './safety.js';
import { syncHits, type HitSyncReport } from './sync.js';
import { DaemonTransport, type BanTargets, type SafetyEntryLike, type SafetySource } from './transport.js';

/** Reason prefix of the allowlist entries the daemon manages (the automatic safety list). */
export const SAFETY_REASON_PREFIX = AUTO_REASON_PREFIX;
/** EVICTED events applied per database transaction at most. */
const EVICT_BATCH = 4096;
/** Prefixes per FILTER_ADD / DEL call of the periodic work. */
const CHUNK = 65536;
/** History events pruned between two turns of the event loop (one transaction). */
const PRUNE_STEP = 10_000;
/** Expired bans per transaction of the sweep (a bulk ban's batch size). */
const SWEEP_CHUNK = 10_000;
/** History events the sweep reads between two turns of the event loop (about 20 ms on the host). */
const YIELD_EVERY = 10_000;

export interface ControlOptions {
  path: string;
  /** Default 0o660. */
  mode?: number;
  /** The socket's group id; default: left as created. */
  gid?: number;
  maxConnections?: number;
}

/** Seconds; 0 turns the timer off (the work can still be run by calling the method). */
export interface DaemonIntervals {
  /** Hit sync; default 30. */
  sync?: number;
  /** Expiry sweep and filter upkeep; default 60. */
  sweep?: number;
  /** History pruning; default 3600. */
  prune?: number;
  /** Re-reading of the safety list (addresses, gateways, resolvers); default 300. */
  safety?: number;
}

/** The kernel's settings the daemon applies at start and reload. */
export interface KernelSetup {
  maxEntries?: number;
  mode?: KernelMode;
  gcInterval?: number;
  /**
   * Devices to attach ("*": every device).  At reload, new ones are
   * attached, and those the previous configuration named but this one does
   * not are detached (devices attached by hand, `ffwall attach`, stay).
   */
  devices?: readonly string[];
}

export interface DaemonOptions {
  /** The database directory; default /var/lib/ffwall/bans.lmdb. */
  db?: string;
  /** The ffwall device; default /dev/ffwall. Ignored when `kernel` is given. */
  device?: string;
  /** Use this kernel (e.g. a FakeKernel) instead of opening the device; the daemon does not close it. */
  kernel?: Kernel;
  /** Use this store instead of opening `db`; the daemon does not close it. */
  store?: BanStore;
  /** More options of the store it opens (escalation, aggregation, history, noSync, now). */
  storeOptions?: Omit<StoreOptions, 'path'>;
  /** Options of the kernel window (clock, progress, filter builder). */
  window?: WindowOptions;
  /** Serve the control socket; default none. */
  control?: ControlOptions;
  /** Version the control socket announces. */
  serverVersion?: string;
  intervals?: DaemonIntervals;
  /** The automatic safety list; none: no safety checks and no automatic allowlist. */
  safety?: SafetySource;
  /** Wall clock, ms; default the window's clock, else Date.now. */
  now?: () => number;
  /** Kernel settings applied before the window starts. */
  kernelSetup?: KernelSetup;
  /** The offence tracker's rules (default: defaultOffenceConfig()). */
  offences?: OffenceConfig;
  /** Serve the Postfix policy delegation service; default none. */
  policy?: PolicyOptions;
  /** Producers of offences (the Postfix log watcher): started after the window, stopped first; their offences go into the tracker. */
  offenceSources?: OffenceSource[];
  /** At most this many of their offences wait to be counted; default OFFENCE_QUEUE_MAX. */
  offenceQueueMax?: number;
}

/** The policy service's settings (the daemon supplies the judge). */
export type PolicyOptions = Omit<PolicyServerOptions, 'judge'>;

/** The SMTP ports a ban must block for the policy service to refuse a client. */
export const SMTP_PORTS: readonly number[] = [25, 465, 587];

/** What reload() may change while running. */
export interface DaemonReload {
  intervals?: DaemonIntervals;
  control?: { mode?: number; gid?: number };
  store?: Pick<StoreOptions, 'escalation' | 'aggregation' | 'history'>;
  /** The safety list to use from now on (its configuration changed). */
  safety?: SafetySource;
  /** A new capacity reconciles the window. */
  kernelSetup?: KernelSetup;
  offences?: OffenceConfig;
  /** The policy service from now on (null: none); a new listen address, mode, group or connection limit restarts its listener. */
  policy?: PolicyOptions | null;
  /** Replace the offence sources (the Postfix log watcher's settings changed): the old ones stop, these start. */
  offenceSources?: OffenceSource[];
}

export interface SweepReport {
  /** Bans the sweep expired. */
  expired: number;
  /** Of those, entries deleted from the kernel. */
  deletedFromKernel: number;
  /** Host bans FILTER_ADDed (bans made since the last sweep, by any process). */
  filterAdded: number;
  /** Host bans gone (unban, expiry) since the last sweep. */
  filterRemoved: number;
  /** Set when the filter was rebuilt. */
  rebuilt?: { reason: RebuildReason; filter: FilterReport };
  /** Bans (created or revived) and unbans since the last sweep, by source, from the history (every process). */
  bans: Record<string, number>;
  unbans: Record<string, number>;
  /**
   * Set when a batch of bans was running (an import through the socket):
   * the filter upkeep waited for the next sweep, which then finds the
   * batch's hosts in the filter already.
   */
  filterDeferred?: boolean;
  ms: number;
}

export interface SafetyReport {
  entries: SafetyEntryLike[];
  /** Entries safety.override takes off the list ("prefix (kind: reason) overridden by ..."). */
  overridden: string[];
  /** Allowlist entries added and removed (database and kernel). */
  added: string[];
  removed: string[];
}

/** What the daemon tells its embedder (the command: logs, metrics, sd_notify). */
export interface DaemonEventMap {
  /** Restore or reconcile finished (at start, after an overflow, or on demand). */
  report: [WindowReport];
  /** Start finished: the window is back, the socket serves, events are being read. */
  ready: [];
  /** Every kernel event, before it is handled. */
  kernelEvent: [KernelEvent];
  /** A kernel event was handled, in @seconds; @lost: an OVERFLOW's count of records lost before it (else 0). */
  handled: [{ type: KernelEvent['type']; seconds: number; lost: number }];
  /** A MISS was handled. */
  promote: [PromoteResult & { address: IpPrefix }];
  /** An EVICTED or EXPIRED event changed (or confirmed) a record's state. */
  state: [{ prefix: IpPrefix; event: 'evicted' | 'expired'; state: 'kernel' | 'cold' | 'expired' | 'unknown' }];
  sync: [HitSyncReport];
  sweep: [SweepReport];
  pruned: [number];
  /** The automatic safety list was (re)applied to the allowlist. */
  safety: [SafetyReport];
  /** A ban through the socket was refused by the safety rules. */
  refused: [{ target: string; code: string; reasons: string[] }];
  /** One control request and its result ('ok' or an error code). */
  request: [{ op: string; result: string }];
  /** A protocol error on the control socket (per connection: log it rate-limited). */
  protocolError: [string];
  /** An offence was counted (from a client of the socket, an embedder or an offence source) and what came of it. */
  offence: [{ offence: ReportRequest; result: ReportResult }];
  /** One policy request answered. */
  policy: [PolicyRequestEvent];
  /** A malformed policy request: no answer, the connection closed (per connection: log it rate-limited). */
  policyProtocolError: [string];
  /** A ban the policy service met was put back into the kernel (or could not be). */
  policyPromote: [{ address: string; target: string; promoted: boolean; reason?: string }];
  /** An offence source failed (the daemon goes on). */
  offenceSourceError: [Error];
  /** An offence from a source was dropped: the queue was full (OFFENCE_QUEUE_MAX). */
  offenceDropped: [Offence];
  /** reload() applied a new configuration. */
  reloaded: [];
  /** The configured devices changed the attach list (at start or reload). */
  devices: [{ attached: string[]; detached: string[] }];
  /** A failure while handling an event or in periodic work; the daemon goes on. */
  error: [Error];
  /** stop() finished. */
  stopped: [];
}

/** At most this many offences from the sources wait to be counted (about 200 bytes each). */
export const OFFENCE_QUEUE_MAX = 100_000;
/** At most this many of them are being counted (and maybe banned) at once. */
export const OFFENCE_CONCURRENCY = 8;

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';
type TimerName = keyof Required<DaemonIntervals>;

const DEFAULT_INTERVALS: Required<DaemonIntervals> = { sync: 30, sweep: 60, prune: 3600, safety: 300 };

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

export class Daemon extends EventEmitter<DaemonEventMap> {
  readonly options: DaemonOptions;
  #state: State = 'new';
  #kernel: Kernel | undefined;
  #store: BanStore | undefined;
  #window: KernelWindow | undefined;
  #stream: KernelEventStream | undefined;
  #loop: Promise<void> | undefined;
  #ownKernel = false;
  #ownStore = false;
  /** One window operation at a time (reconcile, promote, sync, sweep). */
  #busy: Promise<unknown> = Promise.resolve();
  #starting: Promise<WindowReport> | undefined;
  #reconciling: Promise<WindowReport> | undefined;
  #reconcileQueued: Promise<WindowReport> | undefined;
  #fw: Ffwall | undefined;
  #control: ControlServer | undefined;
  #intervals: Required<DaemonIntervals> = { ...DEFAULT_INTERVALS };
  readonly #timers = new Map<TimerName, NodeJS.Timeout>();
  readonly #filter = new FilterTracker();
  #safety: SafetySource | undefined;
  /** hit_since of the next sync (kernel seconds); 1 at start: every entry ever hit. */
  #hitSince = 1;
  /** History time (ms) up to which new bans went into the filter. */
  #historyCursor = 0;
  /** Host bans the socket path FILTER_ADDed since the last sweep (the sweep skips them); a feed may put a million here. */
  readonly #recentlyAdded = new KeySet();
  /** Batches of bans running (DaemonTransportHooks.batch): the sweep's filter upkeep waits while there are any. */
  #batches = 0;
  #evictPending: IpPrefix[] = [];
  #evictScheduled = false;
  #controlMode: number | undefined;
  #controlGid: number | undefined;
  #transport: DaemonTransport | undefined;
  #policy: PolicyServer | undefined;
  #policyOptions: PolicyOptions | undefined;
  /** Record keys being promoted by the policy path. */
  readonly #promoting = new Set<string>();
  #kernelModeCache: { mode: KernelMode; at: number } | undefined;
  #sources: OffenceSource[] = [];
  #offenceQueue: Offence[] = [];
  #offenceHead = 0;
  #offencesRunning = 0;
  #offencesSettled: (() => void)[] = [];
  #eventsLost = 0;
  /** The devices the configuration in force names (kernelSetup.devices): what a reload may detach. */
  #configDevices: readonly string[] = [];

  /** Does no work: start() does. */
  constructor(options: DaemonOptions = {}) {
    super();
    this.options = options;
  }

  get state(): State {
    return this.#state;
  }

  get kernel(): Kernel {
    if (this.#kernel === undefined) throw new Error('Daemon: not started');
    return this.#kernel;
  }

  get store(): BanStore {
    if (this.#store === undefined) throw new Error('Daemon: not started');
    return this.#store;
  }

  get window(): KernelWindow {
    if (this.#window === undefined) throw new Error('Daemon: not started');
    return this.#window;
  }

  /** The Ffwall the control socket serves (a DirectTransport over the daemon's kernel and store). */
  get ffwall(): Ffwall {
    if (this.#fw === undefined) throw new Error('Daemon: not started');
    return this.#fw;
  }

  /** The membership filter's estimated state (members at build, added, removed, rate). */
  get filter(): FilterState {
    return this.#filter.state;
  }

  get intervals(): Readonly<Required<DaemonIntervals>> {
    return this.#intervals;
  }

  /** The automatic safety list in force (empty without one). */
  safetyEntries(): SafetyEntryLike[] {
    return this.#safety?.entries() ?? [];
  }

  #now(): number {
    return (this.options.now ?? this.options.window?.now ?? Date.now)();
  }

  /** Opens the kernel and the database, restores or reconciles the window, serves the socket, then reads events. Returns the window's report. */
  async start(): Promise<WindowReport> {
    if (this.#state !== 'new') throw new Error(`Daemon: cannot start when ${this.#state}`);
    this.#state = 'starting';
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<WindowReport> {
    try {
      const o = this.options;
      this.#intervals = { ...DEFAULT_INTERVALS, ...o.intervals };
      this.#safety = o.safety;
      this.#controlMode = o.control?.mode;
      this.#controlGid = o.control?.gid;
      if (o.kernel !== undefined) this.#kernel = o.kernel;
      else {
        const { NativeKernel } = await import('../lib/kernel-native.js');
        this.#kernel = NativeKernel.open(o.device ?? DEFAULT_DEVICE_PATH);
        this.#ownKernel = true;
      }
      if (o.store !== undefined) this.#store = o.store;
      else {
        const dbPath = o.db ?? DEFAULT_DATABASE;
        mkdirSync(path.dirname(dbPath), { recursive: true, mode: 0o750 });
        this.#store = BanStore.open({ ...o.storeOptions, path: dbPath });
        this.#ownStore = true;
      }
      if (o.kernelSetup !== undefined) await this.#setupKernel(o.kernelSetup);
      this.#window = new KernelWindow(this.#kernel, this.#store, o.window ?? {});
      // The safety list joins the database's allowlist first: the window mirrors it into the kernel.
      if (this.#safety !== undefined) await this.#applySafety(false);
      this.#historyCursor = this.#now();
      // The stream opens first, so that nothing that happens during the restore is missed.
      this.#stream = this.#kernel.events();
      const report = await this.#exclusive(() => this.window.start());
      this.#filter.reset(report.filter);
      this.emit('report', report);
      const direct = new DirectTransport(this.#kernel, { store: this.#store, owns: false });
      this.#transport = new DaemonTransport(
        direct,
        {
          beforeBan: (reqs) => this.#beforeBan(reqs),
          afterBan: (targets) => this.#afterBan(targets),
          batch: (run) => this.#batch(run),
          request: (op, result) => this.emit('request', { op, result }),
          offence: (offence, result) => this.emit('offence', { offence, result }),
          overridden: () => this.#safety?.overridden?.() ?? [],
        },
        { ...(o.offences === undefined ? {} : { offences: o.offences }), now: () => this.#now() },
      );
      this.#fw = new Ffwall(this.#transport);
      if (o.control !== undefined) {
        const c = o.control;
        mkdirSync(path.dirname(c.path), { recursive: true, mode: 0o755 });
        this.#control = new ControlServer(this.#fw, {
          path: c.path,
          mode: c.mode ?? 0o660,
          ...(c.gid === undefined ? {} : { gid: c.gid }),
          ...(c.maxConnections === undefined ? {} : { maxConnections: c.maxConnections }),
          serverVersion: o.serverVersion ?? '0',
        });
        this.#control.onProtocolError = (reason) => this.emit('protocolError', reason);
        await this.#control.start();
      }
      if (o.policy !== undefined) await this.#startPolicy(o.policy);
      this.#loop = this.#readEvents(this.#stream);
      this.#state = 'running';
      for (const name of Object.keys(DEFAULT_INTERVALS) as TimerName[]) this.#arm(name);
      await this.#startSources(o.offenceSources ?? []);
      this.emit('ready');
      return report;
    } catch (err) {
      await this.#closeAll();
      this.#state = 'stopped';
      throw err;
    }
  }

  // ---- periodic work ----

  #arm(name: TimerName): void {
    const old = this.#timers.get(name);
    if (old !== undefined) clearTimeout(old);
    this.#timers.delete(name);
    const seconds = this.#intervals[name];
    if (this.#state !== 'running' || !(seconds > 0)) return;
    const t = setTimeout(() => {
      this.#timers.delete(name);
      void this.#tick(name).finally(() => this.#arm(name));
    }, seconds * 1000);
    this.#timers.set(name, t);
  }

  async #tick(name: TimerName): Promise<void> {
    if (this.#state !== 'running') return;
    try {
      if (name === 'sync') await this.syncHits();
      else if (name === 'sweep') await this.sweep();
      else if (name === 'prune') await this.pruneHistory();
      else await this.refreshSafety();
    } catch (err) {
      if (this.#state === 'running') this.emit('error', asError(err));
    }
  }

  /** One hit sync (DUMP hit_since the last one). */
  async syncHits(): Promise<HitSyncReport> {
    const r = await this.#exclusive(() => syncHits(this.kernel, this.store, this.#hitSince, () => this.#now()));
    this.#hitSince = r.next;
    this.emit('sync', r);
    return r;
  }

  /**
   * The expiry sweep (expired bans leave the database's active set and the
   * kernel), then the filter upkeep: host bans made since the last sweep,
   * by any process, are FILTER_ADDed; bans gone are counted; a drifted
   * filter is rebuilt.
   */
  async sweep(): Promise<SweepReport> {
    const r = await this.#exclusive(() => this.#sweep());
    this.emit('sweep', r);
    return r;
  }

  async #sweep(): Promise<SweepReport> {
    const t0 = performance.now();
    const report: SweepReport = { expired: 0, deletedFromKernel: 0, filterAdded: 0, filterRemoved: 0, bans: {}, unbans: {}, ms: 0 };
    const now = this.#now();
    const store = this.store;
    const kernel = this.kernel;
    // A feed's bans expire together: SWEEP_CHUNK per transaction, and a turn
    // of the event loop between two (a chunk of 65,536 held it 1.2-1.6 s on
    // the host, 10,000 0.13-0.28 s).
    for (;;) {
      const r = store.sweep(now, SWEEP_CHUNK);
      report.expired += r.expired.length;
      const del = r.expired.filter((e) => e.wasInKernel).map((e) => e.prefix);
      if (del.length > 0) report.deletedFromKernel += (await kernel.del(del)).changed;
      if (!r.more) break;
      await tick();
    }
    // A batch running writes history that its own afterBan() adds to the
    // filter when it ends: read that history after it, once.
    if (this.#batches > 0) {
      report.filterDeferred = true;
      report.ms = performance.now() - t0;
      return report;
    }
    // New host bans and gone ones, from the history (every process writes it).
    const until = this.#now();
    const add: IpPrefix[] = [];
    const flush = async (): Promise<void> => {
      if (add.length === 0) return;
      const hosts = add.splice(0);
      await this.#filterAdd(hosts.length, () => this.kernel.filterAdd(hosts));
    };
    // The history after an import of a million is a million events: the
    // loop lets the event loop run (the policy service, the socket) every
    // YIELD_EVERY of them, and a stop() ends it there (the next start reads
    // them again: the cursor moves only when the read is whole).
    let read = 0;
    for (const ev of store.historyAll({ since: this.#historyCursor })) {
      if (ev.time > until) break;
      if (++read % YIELD_EVERY === 0) {
        await tick();
        if (this.#state === 'stopping') {
          await flush();
          report.ms = performance.now() - t0;
          return report;
        }
      }
      const source = typeof ev.details.source === 'string' ? ev.details.source : undefined;
      if (ev.type === 'ban' && ev.details.action !== 'refreshed' && source !== undefined) report.bans[source] = (report.bans[source] ?? 0) + 1;
      if (ev.type === 'unban' && source !== undefined) report.unbans[source] = (report.unbans[source] ?? 0) + 1;
      if (!ev.prefix.isHost) continue;
      if (ev.type === 'ban') {
        const action = ev.details.action;
        if (action === 'refreshed' || this.#recentlyAdded.has(ev.prefix)) continue;
        const rec = store.get(ev.prefix);
        if (rec === undefined || rec.state === 'expired') continue;
        add.push(ev.prefix);
        report.filterAdded++;
        if (add.length >= CHUNK) await flush();
      } else if (ev.type === 'unban' || ev.type === 'expire') {
        report.filterRemoved++;
      }
    }
    await flush();
    this.#recentlyAdded.clear();
    this.#historyCursor = until + 1;
    this.#filter.removed(report.filterRemoved);
    const reason = this.#filter.rebuildReason();
    if (reason !== undefined) {
      const filter = await this.window.rebuildFilter();
      this.#filter.reset(filter);
      report.rebuilt = { reason, filter };
    }
    report.ms = performance.now() - t0;
    return report;
  }

  /**
   * #afterBan() of a packed feed over a kernel that takes packed hosts: the
   * hosts not yet in the filter are copied out of the feed's bytes (16 each)
   * and added in chunks, without an IpPrefix each.
   */
  async #afterBanPacked(packed: PackedPrefixBytes, count: number, k: Kernel & PackedFilterAdd): Promise<void> {
    const out = new Uint8Array(count * 16);
    let n = 0;
    for (let i = 0; i < count; i++) {
      if (packed.prefixLen[i] !== 128 || !this.#recentlyAdded.addAt(packed.addrs, i * 16, 128)) continue;
      // Byte by byte: a subarray per host cost more than the copy.
      for (let b = 0; b < 16; b++) out[n * 16 + b] = packed.addrs[i * 16 + b] as number;
      n++;
    }
    for (let i = 0; i < n; i += CHUNK) {
      const m = Math.min(CHUNK, n - i);
      await this.#filterAdd(m, () => k.filterAddPacked(out.subarray(i * 16, (i + m) * 16), m));
    }
  }

  /** @count hosts into the kernel's membership filter by @add (kernel.filterAdd() or filterAddPacked()), counted. */
  async #filterAdd(count: number, add: () => Promise<void>): Promise<void> {
    try {
      await add();
      this.#filter.added(count);
    } catch (err) {
      // No filter loaded (ENOENT): the next build covers them.
      if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    }
  }

  /**
   * Prunes the history per the retention; returns how many events went.
   * PRUNE_STEP events at a time with a turn of the event loop between two:
   * an import of 1M leaves 1M events that go together when they age out.
   */
  async pruneHistory(): Promise<number> {
    const n = await this.#exclusive(async () => {
      const now = this.#now();
      let total = 0;
      for (;;) {
        const step = this.store.pruneHistory(now, PRUNE_STEP);
        total += step;
        if (step < PRUNE_STEP || this.#state === 'stopping') return total;
        await tick();
      }
    });
    this.emit('pruned', n);
    return n;
  }

  // ---- safety ----

  /** Re-reads the safety list and applies it to the allowlist (database and kernel). */
  async refreshSafety(): Promise<SafetyReport | undefined> {
    if (this.#safety === undefined) return undefined;
    return this.#exclusive(() => this.#applySafety(true));
  }

  /**
   * Makes the daemon's allowlist entries (reason "auto: ...") the safety
   * list: adds the missing, removes those no longer in it (an address the
   * host lost, an overridden one, a closed SSH session's).  Entries added
   * by hand are never touched.  @kernel: also in the kernel (at start the
   * window's mirror does it).
   */
  async #applySafety(kernel: boolean): Promise<SafetyReport> {
    const safety = this.#safety;
    const store = this.store;
    const entries = safety === undefined ? [] : await safety.refresh();
    const want = new Map<string, SafetyEntryLike>();
    for (const e of entries) want.set(e.prefix.key(), e);
    const overridden = (safety?.overridden?.() ?? []).map((o) => `${o.prefix.toString()} (${o.kind}: ${o.reason}) overridden by safety.override ${o.override}`);
    const report: SafetyReport = { entries, overridden, added: [], removed: [] };
    const gone: IpPrefix[] = [];
    for (const a of store.allowlist()) {
      const k = a.prefix.key();
      const w = want.get(k);
      if (w !== undefined) {
        want.delete(k);
        continue;
      }
      if (a.reason.startsWith(SAFETY_REASON_PREFIX)) gone.push(a.prefix);
    }
    for (const p of gone) {
      store.allowRemove(p);
      report.removed.push(p.toString());
    }
    const added: IpPrefix[] = [];
    for (const e of want.values()) {
      store.allowAdd(e.prefix, `${SAFETY_REASON_PREFIX}${e.kind}: ${e.reason}`);
      added.push(e.prefix);
      report.added.push(e.prefix.toString());
    }
    if (kernel) {
      if (gone.length > 0) await this.kernel.allowDel(gone);
      if (added.length > 0) await this.kernel.allowAdd(added);
    }
    this.emit('safety', report);
    return report;
  }

  /** Adds @entries (SSH sessions met by a ban) to the allowlist, database and kernel. */
  async #allowSafety(entries: readonly SafetyEntryLike[]): Promise<void> {
    const add: IpPrefix[] = [];
    for (const e of entries) {
      if (this.store.allowedBy(e.prefix)?.prefix.equals(e.prefix) === true) continue;
      this.store.allowAdd(e.prefix, `${SAFETY_REASON_PREFIX}${e.kind}: ${e.reason}`);
      add.push(e.prefix);
    }
    if (add.length > 0) await this.kernel.allowAdd(add);
  }

  /**
   * The safety rules for bans through the socket.  A target inside a safety
   * entry is refused (EALLOWLISTED) and the entry joins the allowlist; a
   * target that covers safety entries goes ahead once they are on the
   * allowlist (it wins in the kernel); a short prefix needs force.
   */
  async #beforeBan(targets: BanTargets): Promise<void> {
    const safety = this.#safety;
    if (safety === undefined) return;
    // A feed of a million: the host's state is read once, each target checked without a wait.
    const checkOne = safety.checker === undefined ? undefined : await safety.checker();
    const join: SafetyEntryLike[] = [];
    let refusal: { target: string; code: string; reasons: string[] } | undefined;
    // A packed feed: a host that shares no address with a safety entry passes (a host never needs force), without an IpPrefix for it.
    const entries = checkOne?.entries;
    const screen = entries !== undefined && targets.packed !== undefined ? { ranges: new PrefixRanges(entries.map((e) => e.prefix)), packed: targets.packed } : undefined;
    for (let i = 0; i < targets.count; i++) {
      if (screen !== undefined && screen.packed.prefixLen[i] === 128 && !screen.ranges.overlapsPacked(screen.packed, i)) continue;
      const target = targets.at(i);
      const options = targets.force(i) ? { force: true } : {};
      const c = checkOne === undefined ? await safety.check(target, options) : checkOne(target, options);
      if (c.collisions.length === 0 && c.force === undefined) continue;
      join.push(...c.collisions);
      const inside = c.collisions.filter((e) => e.prefix.contains(target));
      const name = targets.name(i);
      if (refusal === undefined && inside.length > 0) {
        refusal = {
          target: name,
          code: 'EALLOWLISTED',
          reasons: inside.map((e) => `${name} is inside ${e.prefix.toString()} (${e.kind}: ${e.reason})`),
        };
      } else if (refusal === undefined && c.force !== undefined) {
        refusal = { target: name, code: 'EFORCE', reasons: [c.force] };
      }
    }
    if (join.length > 0) await this.#exclusive(() => this.#allowSafety(join));
    if (refusal !== undefined) {
      this.emit('refused', refusal);
      const msg = `ffwall: ${refusal.reasons.join('; ')}; nothing was blocked` + (refusal.code === 'EFORCE' ? ' (give force / --force to ban it anyway)' : ' (the automatic safety allowlist protects it)');
      throw new FfwallError(refusal.code, msg);
    }
  }

  /** New host bans through the socket go into the membership filter now. */
  async #batch<T>(run: () => Promise<T>): Promise<T> {
    this.#batches++;
    try {
      return await run();
    } finally {
      this.#batches--;
    }
  }

  async #afterBan(targets: Pick<BanTargets, 'count' | 'at' | 'packed'>): Promise<void> {
    const k = this.kernel as Kernel & Partial<PackedFilterAdd>;
    if (targets.packed !== undefined && typeof k.filterAddPacked === 'function') return this.#afterBanPacked(targets.packed, targets.count, k as Kernel & PackedFilterAdd);
    const hosts: IpPrefix[] = [];
    for (let i = 0; i < targets.count; i++) {
      const p = targets.at(i);
      if (!p.isHost || this.#recentlyAdded.has(p)) continue;
      this.#recentlyAdded.add(p);
      hosts.push(p);
    }
    for (let i = 0; i < hosts.length; i += CHUNK) {
      const chunk = hosts.slice(i, i + CHUNK);
      await this.#filterAdd(chunk.length, () => this.kernel.filterAdd(chunk));
    }
  }

  // ---- offences and the policy service ----

  /** The policy service, when one runs. */
  get policy(): PolicyServer | undefined {
    return this.#policy;
  }

  /** Counts an offence (what an offence source's events go through; the same as Ffwall.report()). */
  async report(offence: Offence): Promise<ReportResult> {
    return this.ffwall.report(offence);
  }

  async #startSources(sources: readonly OffenceSource[]): Promise<void> {
    for (const src of sources) {
      src.on('offence', (o) => this.#enqueueOffence(o));
      src.on('error', (e) => this.emit('offenceSourceError', asError(e)));
      this.#sources.push(src);
      try {
        await src.start();
      } catch (err) {
        // A source that cannot start (no journal, no log file) is reported; the daemon runs without it.
        this.emit('offenceSourceError', asError(err));
      }
    }
  }

  /**
   * Offences from the sources go through a bounded queue, drained by at most
   * OFFENCE_CONCURRENCY reports at a time: counting is synchronous, but a
   * tripped threshold writes a ban, and a burst of log lines from many bots
   * must not start one ban write per line at once.  A full queue drops the
   * newest offence and counts it (offenceDropped), so memory stays bounded
   * whatever the log does.
   */
  #enqueueOffence(o: Offence): void {
    if (this.#state !== 'running') return;
    if (this.#offenceQueue.length - this.#offenceHead >= (this.options.offenceQueueMax ?? OFFENCE_QUEUE_MAX)) {
      this.emit('offenceDropped', o);
      return;
    }
    this.#offenceQueue.push(o);
    this.#drainOffences();
  }

  #drainOffences(): void {
    while (this.#offencesRunning < OFFENCE_CONCURRENCY && this.#offenceHead < this.#offenceQueue.length) {
      const o = this.#offenceQueue[this.#offenceHead++] as Offence;
      this.#offencesRunning++;
      this.ffwall
        .report(o)
        .catch((err: unknown) => this.emit('offenceSourceError', asError(err)))
        .finally(() => {
          this.#offencesRunning--;
          this.#drainOffences();
          if (this.pendingOffences === 0) for (const resolve of this.#offencesSettled.splice(0)) resolve();
        });
    }
    // Drop the consumed head now and then, so the array neither grows nor shifts per item.
    if (this.#offenceHead > 4096 && this.#offenceHead * 2 > this.#offenceQueue.length) {
      this.#offenceQueue = this.#offenceQueue.slice(this.#offenceHead);
      this.#offenceHead = 0;
    }
  }

  /** Offences from the sources waiting to be counted or being counted (bounded by OFFENCE_QUEUE_MAX). */
  get pendingOffences(): number {
    return this.#offenceQueue.length - this.#offenceHead + this.#offencesRunning;
  }

  /** Resolves when every queued offence has been counted (stop() waits for it before closing the database). */
  async #settleOffences(): Promise<void> {
    if (this.pendingOffences === 0) return;
    await new Promise<void>((resolve) => this.#offencesSettled.push(resolve));
  }

  async #stopSources(): Promise<void> {
    const sources = this.#sources;
    this.#sources = [];
    for (const src of sources) {
      try {
        await src.stop();
      } catch (err) {
        this.emit('offenceSourceError', asError(err));
      }
    }
  }

  async #startPolicy(p: PolicyOptions): Promise<void> {
    const server = new PolicyServer({ ...p, judge: (a) => this.#judge(a) });
    server.on('request', (ev) => this.emit('policy', ev));
    server.on('protocolError', (reason) => this.emit('policyProtocolError', reason));
    server.on('error', (err) => this.emit('error', err));
    await server.start();
    this.#policy = server;
    this.#policyOptions = p;
  }

  async #reloadPolicy(p: PolicyOptions | null): Promise<void> {
    const old = this.#policyOptions;
    const restart =
      p === null ||
      old === undefined ||
      JSON.stringify(p.listen) !== JSON.stringify(old.listen) ||
      p.mode !== old.mode ||
      p.gid !== old.gid ||
      p.maxConnections !== old.maxConnections ||
      p.allowRemote !== old.allowRemote ||
      JSON.stringify(p.limits) !== JSON.stringify(old.limits);
    if (!restart && this.#policy !== undefined) {
      this.#policy.configure({ action: p.action, text: p.text, ...(p.idleTimeout === undefined ? {} : { idleTimeout: p.idleTimeout }) });
      this.#policyOptions = p;
      return;
    }
    await this.#policy?.stop();
    this.#policy = undefined;
    this.#policyOptions = undefined;
    if (p === null) return;
    try {
      await this.#startPolicy(p);
    } catch (err) {
      // The new address cannot be served (in use, no such directory): the old one comes back, and the reload reports the error.
      if (old !== undefined) await this.#startPolicy(old).catch(() => undefined);
      throw err;
    }
  }

  /** Whether the kernel runs in monitor mode (a dry run: the policy service then refuses no one); cached 2 s. */
  async #kernelMonitor(): Promise<boolean> {
    const now = Date.now();
    const c = this.#kernelModeCache;
    if (c !== undefined && now - c.at < 2000) return c.mode === 'monitor';
    const mode = (await this.kernel.getConfig()).mode;
    this.#kernelModeCache = { mode, at: now };
    return mode === 'monitor';
  }

  /**
   * The policy service's question: does an active ban that blocks an SMTP
   * port (or every port) cover @address?  The database answers, so cold and
   * evicted bans count; the allowlist wins; monitor bans (and a kernel in
   * monitor mode) refuse no one.  A ban found that the kernel does not hold
   * is promoted back into it, after the answer.
   */
  async #judge(address: IpPrefix): Promise<PolicyJudgement> {
    const store = this.store;
    if (store.allowedBy(address) !== undefined) return { banned: false, why: 'allowlisted' };
    const now = this.#now();
    let why: 'none' | 'monitor' | 'ports' = 'none';
    for (const rec of store.coveringRecords(address)) {
      if (rec.state === 'expired' || (rec.expires !== null && rec.expires <= now)) continue;
      if (rec.monitor) {
        why = 'monitor';
        continue;
      }
      if (rec.ports.length > 0 && !rec.ports.some((p) => SMTP_PORTS.includes(p))) {
        if (why === 'none') why = 'ports';
        continue;
      }
      if (await this.#kernelMonitor()) return { banned: false, why: 'monitor' };
      void this.#policyPromote(address, rec.prefix);
      return { banned: true, target: rec.prefix.toString() };
    }
    return { banned: false, why };
  }

  /** Puts the ban @target (which covers @address) back into the kernel unless the kernel already matches it. */
  async #policyPromote(address: IpPrefix, target: IpPrefix): Promise<void> {
    const key = target.key();
    if (this.#promoting.has(key)) return;
    this.#promoting.add(key);
    const ev = { address: address.toString(), target: target.toString() };
    try {
      const outcome = await this.#exclusive(async (): Promise<{ promoted: boolean; reason?: string }> => {
        if (this.#state !== 'running') return { promoted: false, reason: 'stopping' };
        const hit = await this.kernel.lookup(address);
        if (hit.match === 'exact' || hit.match === 'prefix') return { promoted: false, reason: 'in-kernel' };
        await this.#flushEvicted();
        const rec = this.store.get(target);
        const rule = rec === undefined || rec.state === 'expired' ? undefined : ruleOf(rec, this.#now());
        if (rec === undefined || rule === undefined) return { promoted: false, reason: 'expired' };
        try {
          await this.kernel.add([rule]);
        } catch (err) {
          const code = (err as { code?: unknown }).code;
          if (code === 'EEXIST' || code === 'ENOSPC') return { promoted: false, reason: String(code) };
          throw err;
        }
        this.store.markLoaded([rec.prefix]);
        return { promoted: true };
      });
      this.emit('policyPromote', { ...ev, ...outcome });
    } catch (err) {
      this.emit('policyPromote', { ...ev, promoted: false, reason: 'error' });
      if (this.#state === 'running') this.emit('error', asError(err));
    } finally {
      this.#promoting.delete(key);
    }
  }

  // ---- reload ----

  /** Applies @k's settings that differ from the kernel's; returns whether the capacity changed. */
  async #setupKernel(k: KernelSetup): Promise<boolean> {
    const kernel = this.kernel;
    const cur = await kernel.getConfig();
    const patch: KernelConfigPatch = {};
    if (k.maxEntries !== undefined && k.maxEntries !== cur.maxEntries) patch.maxEntries = k.maxEntries;
    if (k.mode !== undefined && k.mode !== cur.mode) patch.mode = k.mode;
    if (k.gcInterval !== undefined && k.gcInterval !== cur.gcInterval) patch.gcInterval = k.gcInterval;
    if (Object.keys(patch).length > 0) await kernel.setConfig(patch);
    if (k.devices !== undefined) {
      const attached = new Set((await kernel.devices()).filter((d) => d.named).map((d) => d.name));
      const detached: string[] = [];
      const added: string[] = [];
      // Gone from the configuration: detached first (the attach list has room for the new ones).
      for (const dev of this.#configDevices) {
        if (k.devices.includes(dev) || !attached.has(dev)) continue;
        await kernel.detach(dev);
        detached.push(dev);
      }
      for (const dev of k.devices) {
        if (attached.has(dev)) continue;
        await kernel.attach(dev);
        added.push(dev);
      }
      this.#configDevices = [...k.devices];
      if (detached.length > 0 || added.length > 0) this.emit('devices', { attached: added, detached });
    }
    return patch.maxEntries !== undefined;
  }

  /** Applies a new configuration while running (SIGHUP). */
  async reload(r: DaemonReload): Promise<void> {
    if (this.#state !== 'running') throw new Error(`Daemon: cannot reload when ${this.#state}`);
    if (r.store !== undefined) this.store.reconfigure(r.store);
    if (r.kernelSetup !== undefined && (await this.#exclusive(() => this.#setupKernel(r.kernelSetup ?? {})))) await this.reconcile();
    if (r.control !== undefined && this.#control !== undefined && this.options.control !== undefined) {
      const p = this.options.control.path;
      if (r.control.mode !== undefined && r.control.mode !== this.#controlMode) {
        await chmod(p, r.control.mode);
        this.#controlMode = r.control.mode;
      }
      if (r.control.gid !== undefined && r.control.gid !== this.#controlGid) {
        await chown(p, -1, r.control.gid);
        this.#controlGid = r.control.gid;
      }
    }
    if (r.safety !== undefined) {
      this.#safety = r.safety;
      await this.refreshSafety();
    }
    if (r.intervals !== undefined) {
      this.#intervals = { ...DEFAULT_INTERVALS, ...r.intervals };
      for (const name of Object.keys(DEFAULT_INTERVALS) as TimerName[]) this.#arm(name);
    }
    if (r.offences !== undefined) this.#transport?.offences.configure(r.offences);
    if (r.policy !== undefined) await this.#reloadPolicy(r.policy);
    if (r.offenceSources !== undefined) {
      await this.#stopSources();
      await this.#startSources(r.offenceSources);
    }
    this.#kernelModeCache = undefined;
    this.emit('reloaded');
  }

  // ---- window and events ----

  /** Reconciles now (also what an OVERFLOW does).  While one runs, at most one more is queued: later calls share it. */
  async reconcile(): Promise<WindowReport> {
    if (this.#reconciling !== undefined) {
      this.#reconcileQueued ??= this.#reconciling.catch(() => undefined).then(() => {
        this.#reconcileQueued = undefined;
        return this.reconcile();
      });
      return this.#reconcileQueued;
    }
    const run = this.#exclusive(async () => {
      await this.#flushEvicted();
      return this.window.reconcile();
    });
    this.#reconciling = run;
    try {
      const report = await run;
      this.#filter.reset(report.filter);
      this.emit('report', report);
      return report;
    } finally {
      this.#reconciling = undefined;
    }
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#busy.then(fn, fn);
    this.#busy = run.catch(() => undefined);
    return run;
  }

  /**
   * Event records the daemon's own reader lost since start: the sum of the
   * counts of the OVERFLOW records it read.  STATS events_lost is the
   * module's total over every reader's ring, so it is no measure of this.
   */
  get eventsLost(): number {
    return this.#eventsLost;
  }

  async #readEvents(stream: KernelEventStream): Promise<void> {
    for await (const ev of stream) {
      if (ev.type === 'overflow') this.#eventsLost += ev.value;
      try {
        this.emit('kernelEvent', ev);
        const t0 = performance.now();
        await this.handle(ev);
        this.emit('handled', { type: ev.type, seconds: (performance.now() - t0) / 1000, lost: ev.type === 'overflow' ? ev.value : 0 });
      } catch (err) {
        if (this.#state === 'stopping') break;
        this.emit('error', asError(err));
      }
    }
  }

  /** Handles one kernel event (public for tests). EVICTED is applied in batches: flushEvents() applies what is pending. */
  async handle(ev: KernelEvent): Promise<void> {
    const w = this.window;
    switch (ev.type) {
      case 'miss': {
        if (ev.prefix === undefined) return;
        const address = ev.prefix;
        const r = await this.#exclusive(async () => {
          await this.#flushEvicted();
          return w.promote(address);
        });
        this.emit('promote', { ...r, address });
        return;
      }
      case 'evicted': {
        if (ev.prefix === undefined) return;
        this.#evictPending.push(ev.prefix);
        if (this.#evictPending.length >= EVICT_BATCH) await this.#flushEvicted();
        else if (!this.#evictScheduled) {
          // Applied once the events already read are handled: a storm becomes a few transactions.
          this.#evictScheduled = true;
          setImmediate(() => {
            this.#evictScheduled = false;
            this.#flushEvicted().catch((err: unknown) => this.emit('error', asError(err)));
          });
        }
        return;
      }
      case 'expired': {
        if (ev.prefix === undefined) return;
        const prefix = ev.prefix;
        const rec = await this.#exclusive(async () => {
          await this.#flushEvicted();
          return w.expired(prefix);
        });
        this.emit('state', { prefix, event: 'expired', state: rec?.state ?? 'unknown' });
        return;
      }
      case 'overflow':
        await this.reconcile();
        return;
    }
  }

  /** Applies the pending EVICTED events now. */
  async flushEvents(): Promise<void> {
    await this.#flushEvicted();
  }

  async #flushEvicted(): Promise<void> {
    if (this.#evictPending.length === 0 || this.#store === undefined) return;
    const batch = this.#evictPending;
    this.#evictPending = [];
    const store = this.#store;
    const hot = batch.filter((p) => store.get(p)?.state === 'kernel');
    if (hot.length > 0) store.markEvicted(hot);
    if (this.listenerCount('state') > 0) {
      for (const p of batch) this.emit('state', { prefix: p, event: 'evicted', state: store.get(p)?.state ?? 'unknown' });
    }
  }

  /** Stops the socket, the timers and the event reader, closes what start() opened; the kernel table stays as it is. Idempotent. */
  async stop(): Promise<void> {
    if (this.#state === 'starting') await this.#starting?.catch(() => undefined);
    if (this.#state === 'stopped' || this.#state === 'new') {
      this.#state = 'stopped';
      return;
    }
    if (this.#state === 'stopping') {
      await new Promise<void>((resolve) => this.once('stopped', () => resolve()));
      return;
    }
    this.#state = 'stopping';
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    await this.#stopSources();
    // What the sources reported before they stopped is still counted (and banned).
    await this.#settleOffences();
    await this.#policy?.stop();
    await this.#control?.stop();
    this.#stream?.close();
    await this.#loop?.catch(() => undefined);
    await this.#busy;
    await this.#flushEvicted().catch(() => undefined);
    await this.#closeAll();
    this.#state = 'stopped';
    this.emit('stopped');
  }

  async #closeAll(): Promise<void> {
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    await this.#stopSources().catch(() => undefined);
    await this.#policy?.stop().catch(() => undefined);
    await this.#control?.stop().catch(() => undefined);
    await this.#fw?.close().catch(() => undefined);
    this.#stream?.close();
    if (this.#ownStore) await this.#store?.close();
    if (this.#ownKernel) await this.#kernel?.close();
  }
}


// ---- the service: the Daemon with its configuration, logs, metrics, sd_notify and signals ----

/** How DaemonService runs (what `ffwall daemon` parses from its flags). */
export interface ServiceOptions {
  /** The configuration file; default /etc/ffwall/ffwall.jsonc. */
  configPath?: string;
  /** A missing file gives the defaults (true when the path was not given explicitly). */
  configMissingOk?: boolean;
  /** Overrides database.path. */
  db?: string;
  /** Overrides device. */
  device?: string;
  /** Run over this kernel (FakeKernel: tests only) instead of the device. */
  kernel?: Kernel;
  /** Where log lines go (tests); default stdout. */
  logDestination?: DestinationStream;
  /** The environment (NOTIFY_SOCKET, WATCHDOG_USEC); default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** Install SIGHUP/SIGTERM/SIGINT handlers; default true. */
  signals?: boolean;
  /** Offence producers (the Postfix log watcher) for the daemon to run, made from the configuration at start. */
  offenceSources?: (cfg: DaemonConfig) => OffenceSource[];
  /** See DaemonOptions.offenceQueueMax (tests). */
  offenceQueueMax?: number;
  serverVersion?: string;
}

/** The offence sources of a configuration: the Postfix log watcher when postfix.log.enabled. */
export function offenceSourcesOf(cfg: DaemonConfig): OffenceSource[] {
  const l = cfg.postfix.log;
  if (!l.enabled) return [];
  const patterns = l.patterns === undefined ? {} : { patterns: l.patterns };
  return [new PostfixLogWatcher(l.source === 'file' ? { source: 'file', file: l.file, ...patterns } : { source: 'journal', unit: l.unit, ...patterns })];
}

/** The policy service's options for a configuration; undefined when it is off. */
export function policyOptionsOf(cfg: DaemonConfig): PolicyOptions | undefined {
  const p = cfg.postfix.policy;
  if (p.listen === null) return undefined;
  return {
    listen: p.listen,
    mode: p.mode,
    ...(p.gid === null ? {} : { gid: p.gid }),
    action: p.action,
    text: p.text,
    maxConnections: p.maxConnections,
    idleTimeout: p.idleTimeout,
    allowRemote: p.allowRemote,
  };
}

/** The Daemon's options for a configuration. */
export function daemonOptionsOf(cfg: DaemonConfig, extra: { kernel?: Kernel; safety?: SafetySource; serverVersion?: string; offenceSources?: OffenceSource[]; offenceQueueMax?: number }): DaemonOptions {
  const { path: dbPath, ...storeOptions } = storeOptionsOf(cfg);
  const o: DaemonOptions = {
    db: dbPath,
    device: cfg.device,
    storeOptions,
    control: {
      path: cfg.socket.path,
      mode: cfg.socket.mode,
      maxConnections: cfg.socket.maxConnections,
      ...(cfg.socket.gid === null ? {} : { gid: cfg.socket.gid }),
    },
    intervals: intervalsOf(cfg),
    kernelSetup: kernelSetupOf(cfg),
    offences: cfg.offences,
  };
  const policy = policyOptionsOf(cfg);
  if (policy !== undefined) o.policy = policy;
  if (extra.offenceSources !== undefined) o.offenceSources = extra.offenceSources;
  if (extra.offenceQueueMax !== undefined) o.offenceQueueMax = extra.offenceQueueMax;
  if (extra.kernel !== undefined) o.kernel = extra.kernel;
  if (extra.safety !== undefined) o.safety = extra.safety;
  if (extra.serverVersion !== undefined) o.serverVersion = extra.serverVersion;
  return o;
}

function intervalsOf(cfg: DaemonConfig): DaemonIntervals {
  return { sync: cfg.sync.interval, sweep: cfg.sync.sweepInterval, prune: 3600, safety: 300 };
}

const RESULT_CODES: readonly string[] = CONTROL_RESULTS;

function isBanSource(s: string): s is BanSource {
  return (BAN_SOURCES as readonly string[]).includes(s);
}

/**
 * `ffwall daemon`: loads the configuration (refusing a bad file with every
 * error named by key), starts the Daemon, logs with pino to stdout (what can
 * come per event or per connection through a LogLimiter), serves metrics on
 * the configured loopback port, speaks sd_notify (READY, STATUS, WATCHDOG,
 * RELOADING, STOPPING), reloads on SIGHUP (an invalid file keeps the running
 * configuration) and stops on SIGTERM/SIGINT leaving the kernel table in place.
 */
export class DaemonService {
  readonly options: ServiceOptions;
  #config: ConfigManager | undefined;
  #daemon: Daemon | undefined;
  #logger: Logger | undefined;
  #limiter: LogLimiter | undefined;
  #metrics: DaemonMetrics | undefined;
  #metricsServer: MetricsServer | undefined;
  #notifier: Notifier | undefined;
  #safety: SafetyList | undefined;
  #suppressTimer: NodeJS.Timeout | undefined;
  #signals: Array<[NodeJS.Signals, () => void]> = [];
  #stopping: Promise<void> | undefined;
  #stopRequested = false;
  #done: Promise<void> | undefined;
  #resolveDone: (() => void) | undefined;
  #reloads: Promise<unknown> = Promise.resolve();
  #statusAt = 0;

  /** Does no work. */
  constructor(options: ServiceOptions = {}) {
    this.options = options;
  }

  get daemon(): Daemon {
    if (this.#daemon === undefined) throw new Error('DaemonService: not started');
    return this.#daemon;
  }

  get config(): DaemonConfig {
    if (this.#config === undefined) throw new Error('DaemonService: not started');
    return this.#config.current;
  }

  get logger(): Logger {
    if (this.#logger === undefined) throw new Error('DaemonService: not started');
    return this.#logger;
  }

  /** Resolves once stopped (by a signal or stop()). */
  get done(): Promise<void> {
    return this.#done ?? Promise.resolve();
  }

  /** Loads the configuration; throws ConfigFileError (every error named) before anything starts. */
  async loadConfig(): Promise<DaemonConfig> {
    const o = this.options;
    this.#config = new ConfigManager(o.configPath ?? DEFAULT_CONFIG_PATH, { missingOk: o.configMissingOk ?? o.configPath === undefined });
    const cfg = await this.#config.load();
    return this.#overrides(cfg);
  }

  #overrides(cfg: DaemonConfig): DaemonConfig {
    if (this.options.db !== undefined) cfg.database.path = this.options.db;
    if (this.options.device !== undefined) cfg.device = this.options.device;
    return cfg;
  }

  async start(): Promise<WindowReport> {
    const cfg = this.#config === undefined ? await this.loadConfig() : this.config;
    const o = this.options;
    this.#done = new Promise((resolve) => (this.#resolveDone = resolve));
    const logger = createLogger({ level: cfg.log.level, ...(o.logDestination === undefined ? {} : { destination: o.logDestination }) });
    this.#logger = logger;
    const limiter = new LogLimiter(logger, cfg.log.rateLimit);
    this.#limiter = limiter;
    const notifier = new Notifier({ env: o.env ?? process.env, healthy: () => this.#daemon?.state === 'running', onError: (err) => limiter.log('warn', 'watchdog', { err: err.message }, 'sd_notify watchdog failed') });
    this.#notifier = notifier;
    if (notifier.problem !== undefined) logger.warn({ problem: notifier.problem }, 'sd_notify environment');
    const safety = new SafetyList({ config: cfg.safety });
    this.#safety = safety;
    const metrics = new DaemonMetrics();
    this.#metrics = metrics;
    if (o.signals !== false) this.#installSignals();

    const daemon = new Daemon(
      daemonOptionsOf(cfg, {
        safety,
        serverVersion: o.serverVersion ?? '0',
        ...(o.kernel === undefined ? {} : { kernel: o.kernel }),
        offenceSources: (o.offenceSources ?? offenceSourcesOf)(cfg),
        ...(o.offenceQueueMax === undefined ? {} : { offenceQueueMax: o.offenceQueueMax }),
      }),
    );
    this.#daemon = daemon;
    this.#wire(daemon, logger, limiter, metrics);
    logger.info({ config: this.#config?.file, database: cfg.database.path, socket: cfg.socket.path, kernel: o.kernel === undefined ? cfg.device : 'fake (tests only)' }, 'starting');
    this.#notify((n) => n.status('starting: restoring the kernel window'));
    let report: WindowReport;
    try {
      report = await daemon.start();
    } catch (err) {
      logger.fatal({ err: asError(err).message }, 'start failed');
      this.#removeSignals();
      this.#resolveDone?.();
      throw err;
    }
    metrics.setSources({
      kernel: async () => {
        const [stats, config] = await Promise.all([daemon.kernel.stats(), daemon.kernel.getConfig()]);
        return { stats, config };
      },
      database: () => daemon.store.counts(),
    });
    if (cfg.metrics.listen !== null) await this.#startMetrics(cfg);
    this.#suppressTimer = setInterval(() => limiter.reportSuppressed(), 10_000);
    this.#suppressTimer.unref();
    logger.info({ socket: cfg.socket.path, metrics: cfg.metrics.listen }, 'ready');
    this.#notify((n) => n.ready(this.#status()));
    notifier.startWatchdog();
    // A signal during the start: stop now.
    if (this.#stopRequested) await this.stop();
    return report;
  }

  async #startMetrics(cfg: DaemonConfig): Promise<void> {
    const listen = cfg.metrics.listen;
    if (listen === null || this.#metrics === undefined) return;
    const server = new MetricsServer(this.#metrics, { host: listen.host, port: listen.port, allowRemote: cfg.metrics.allowRemote });
    server.onError = (err) => this.#limiter?.log('warn', 'metrics', { err: err.message }, 'metrics endpoint error');
    await server.start();
    this.#metricsServer = server;
  }

  /** Sends a notification; a failed send (the manager's queue full: EAGAIN) is logged, rate-limited, never thrown. */
  #notify(fn: (n: Notifier) => boolean): void {
    const n = this.#notifier;
    if (n === undefined) return;
    try {
      fn(n);
    } catch (err) {
      this.#limiter?.log('warn', 'notify', { err: asError(err).message }, 'sd_notify send failed');
    }
  }

  #status(): string {
    const d = this.#daemon;
    if (d === undefined || d.state !== 'running') return 'not running';
    const c = d.store.counts();
    return `${c.kernel} bans in the kernel, ${c.cold} cold, ${c.expired} remembered`;
  }

  #wire(daemon: Daemon, logger: Logger, limiter: LogLimiter, metrics: DaemonMetrics): void {
    daemon.on('report', (r) => {
      logger.info({ mode: r.mode, inKernel: r.inKernel, active: r.active, cold: r.cold, filter: r.filter, timings: r.timings }, formatReport(r));
      if (daemon.state === 'running') this.#notify((n) => n.status(this.#status()));
    });
    daemon.on('handled', (h) => metrics.event(h.type, h.seconds, h.lost));
    daemon.on('promote', (p) => limiter.log('debug', 'promote', { address: p.address.toString(), promoted: p.promoted }, 'miss'));
    daemon.on('sync', (s) => {
      logger.debug({ entries: s.entries, applied: s.applied, missing: s.missing, ms: Math.round(s.ms) }, 'hit sync');
      // STATUS at most every 30 s from here: it is for `systemctl status`, not a stream.
      const now = Date.now();
      if (now - this.#statusAt >= 30_000) {
        this.#statusAt = now;
        this.#notify((n) => n.status(this.#status()));
      }
    });
    daemon.on('sweep', (s) => {
      for (const [source, n] of Object.entries(s.bans)) if (isBanSource(source)) metrics.ban(source, n);
      for (const [source, n] of Object.entries(s.unbans)) if (isBanSource(source)) metrics.unban(source, n);
      const fields = { expired: s.expired, deleted: s.deletedFromKernel, filterAdded: s.filterAdded, filterRemoved: s.filterRemoved, rebuilt: s.rebuilt?.reason ?? null, ms: Math.round(s.ms) };
      if (s.expired > 0 || s.rebuilt !== undefined) logger.info(fields, 'sweep');
      else logger.debug(fields, 'sweep');
    });
    daemon.on('pruned', (n) => {
      if (n > 0) logger.info({ pruned: n }, 'history pruned');
    });
    let overriddenBefore = '';
    daemon.on('safety', (s) => {
      if (s.added.length > 0 || s.removed.length > 0) logger.info({ entries: s.entries.length, added: s.added, removed: s.removed }, 'safety allowlist');
      // An override is explicit and never silent: logged at start and whenever the set changes.
      const key = s.overridden.join('\n');
      if (key !== overriddenBefore) {
        overriddenBefore = key;
        if (s.overridden.length > 0) logger.warn({ overridden: s.overridden }, 'safety allowlist: entries taken off by safety.override may be banned');
      }
      const problems = this.#safety?.problems ?? [];
      if (problems.length > 0) limiter.log('warn', 'safety-problems', { problems }, 'safety list: some sources could not be read');
    });
    daemon.on('devices', (d) => logger.info(d, 'attach list follows the configuration'));
    daemon.on('refused', (r) => limiter.log('warn', 'refused', { target: r.target, code: r.code, reasons: r.reasons }, 'ban refused by the safety rules'));
    daemon.on('request', (q) => {
      const result = RESULT_CODES.includes(q.result) ? q.result : q.result === 'EINVALIDARG' ? 'invalid' : 'error';
      metrics.controlRequest(q.op, result);
    });
    daemon.on('protocolError', (reason) => {
      metrics.controlRequest('invalid', 'EPROTO');
      limiter.log('warn', 'protocol', { reason }, 'control socket: protocol error');
    });
    daemon.on('error', (err) => limiter.log('error', 'daemon-error', { err: err.message }, 'daemon error'));
    daemon.on('offence', ({ offence, result }) => {
      metrics.offence(offence.kind, offence.origin, { banned: result.banned, refused: result.refused !== undefined });
      const fields = { address: offence.address, kind: offence.kind, origin: offence.origin, count: result.count, threshold: result.threshold };
      // One line per tripped threshold at most (never per offence), and those rate-limited too.
      if (result.banned) limiter.log('info', 'offence-ban', { ...fields, target: result.ban?.target, expiresAt: result.ban?.expiresAt }, 'offence threshold reached: banned');
      else if (result.refused !== undefined) limiter.log('warn', 'offence-refused', { ...fields, refused: result.refused }, 'offence threshold reached: ban refused');
    });
    daemon.on('offenceSourceError', (err) => limiter.log('error', 'offence-source', { err: err.message }, 'offence source error'));
    daemon.on('offenceDropped', (o) => {
      metrics.offenceDropped.inc();
      limiter.log('warn', 'offence-dropped', { address: o.address, kind: o.kind, origin: o.origin }, 'offence queue full: offence dropped');
    });
    daemon.on('policy', (ev) => {
      metrics.policyRequest(ev.result);
      if (ev.result === 'error') limiter.log('error', 'policy-error', { address: ev.address, err: ev.error?.message }, 'policy service: lookup failed; answered DUNNO');
      else if (ev.target !== undefined) limiter.log('debug', 'policy-reject', { address: ev.address, state: ev.state, ban: ev.target, result: ev.result }, 'policy service: banned client refused');
    });
    daemon.on('policyProtocolError', (reason) => {
      metrics.policyProtocolError();
      limiter.log('warn', 'policy-protocol', { reason }, 'policy service: malformed request; no answer, connection closed');
    });
    daemon.on('policyPromote', (p) => {
      metrics.policyPromotion(p.promoted ? 'promoted' : (p.reason ?? 'error'));
      limiter.log('debug', 'policy-promote', p, 'policy service: ban back into the kernel');
    });
  }

  #installSignals(): void {
    const on = (sig: NodeJS.Signals, fn: () => void): void => {
      process.on(sig, fn);
      this.#signals.push([sig, fn]);
    };
    let terms = 0;
    const term = (sig: NodeJS.Signals) => (): void => {
      terms++;
      if (terms > 1) {
        this.#logger?.error({ signal: sig }, 'second signal: exiting without a clean stop');
        process.exit(1);
      }
      this.#logger?.info({ signal: sig }, 'stopping');
      this.stop().catch((err: unknown) => {
        this.#logger?.fatal({ err: asError(err).message }, 'stop failed');
        process.exit(1);
      });
    };
    on('SIGTERM', term('SIGTERM'));
    on('SIGINT', term('SIGINT'));
    on('SIGHUP', () => void this.reload());
  }

  #removeSignals(): void {
    for (const [sig, fn] of this.#signals) process.off(sig, fn);
    this.#signals = [];
  }

  /**
   * Re-reads the configuration file (SIGHUP).  An invalid file is logged
   * key by key and the running configuration stays; a valid one is applied
   * (what needs a restart is named in a warning).  Returns whether it applied.
   */
  async reload(): Promise<boolean> {
    const run = this.#reloads.then(() => this.#reload());
    this.#reloads = run.catch(() => undefined);
    return run;
  }

  async #reload(): Promise<boolean> {
    const cm = this.#config;
    const logger = this.#logger;
    const daemon = this.#daemon;
    if (cm === undefined || logger === undefined || daemon === undefined || daemon.state !== 'running') return false;
    this.#notify((n) => n.reloading('reloading the configuration'));
    const r = await cm.reload();
    if (!r.ok) {
      logger.error({ file: cm.file, errors: r.errors.map((e) => formatConfigError(e)) }, 'reload: the configuration file is invalid; the running configuration stays');
      this.#notify((n) => n.ready(`reload failed, running the previous configuration; ${this.#status()}`));
      return false;
    }
    const cfg = this.#overrides(r.config);
    // Keys the command line overrides did not change.
    const overridden = [...(this.options.db === undefined ? [] : ['database.path']), ...(this.options.device === undefined ? [] : ['device'])];
    const changed = r.changed.filter((k) => !overridden.includes(k));
    const restartRequired = r.restartRequired.filter((k) => !overridden.includes(k));
    try {
      setLogLevel(logger, cfg.log.level);
      this.#limiter?.limiter.setLimit(cfg.log.rateLimit);
      const safety = new SafetyList({ config: cfg.safety });
      this.#safety = safety;
      const { path: _db, ...store } = storeOptionsOf(cfg);
      await daemon.reload({
        intervals: intervalsOf(cfg),
        control: { mode: cfg.socket.mode, ...(cfg.socket.gid === null ? {} : { gid: cfg.socket.gid }) },
        store,
        safety,
        kernelSetup: kernelSetupOf(cfg),
        offences: cfg.offences,
        policy: policyOptionsOf(cfg) ?? null,
        ...(changed.some((k) => k.startsWith('postfix.log.')) ? { offenceSources: (this.options.offenceSources ?? offenceSourcesOf)(cfg) } : {}),
      });
      if (changed.includes('metrics.listen') || changed.includes('metrics.allowRemote')) {
        await this.#metricsServer?.stop();
        this.#metricsServer = undefined;
        await this.#startMetrics(cfg);
      }
    } catch (err) {
      logger.error({ err: asError(err).message }, 'reload: applying the new configuration failed');
      this.#notify((n) => n.ready(this.#status()));
      return false;
    }
    if (restartRequired.length > 0) logger.warn({ keys: restartRequired }, 'reload: these keys take effect at the next start');
    logger.info({ changed }, 'configuration reloaded');
    this.#notify((n) => n.ready(this.#status()));
    return true;
  }

  /** STOPPING=1, then a clean stop (the kernel table stays). Idempotent; during the start, the stop follows it. */
  async stop(): Promise<void> {
    if (this.#daemon === undefined || this.#daemon.state === 'starting') {
      this.#stopRequested = true;
      if (this.#daemon === undefined) this.#resolveDone?.();
      return;
    }
    this.#stopping ??= (async () => {
      this.#notify((n) => n.stopping('stopping'));
      if (this.#suppressTimer !== undefined) clearInterval(this.#suppressTimer);
      await this.#metricsServer?.stop().catch(() => undefined);
      await this.#daemon?.stop();
      this.#limiter?.reportSuppressed();
      this.#logger?.info('stopped');
      this.#removeSignals();
      this.#resolveDone?.();
    })();
    return this.#stopping;
  }
}

/** The kernel settings a configuration asks for; unset ones leave the module's own. */
function kernelSetupOf(cfg: { kernel: { capacity: number | null; gcInterval: number | null; mode: KernelMode; devices: string[] } }): KernelSetup {
  return {
    mode: cfg.kernel.mode,
    devices: cfg.kernel.devices,
    ...(cfg.kernel.capacity === null ? {} : { maxEntries: cfg.kernel.capacity }),
    ...(cfg.kernel.gcInterval === null ? {} : { gcInterval: cfg.kernel.gcInterval }),
  };
}
