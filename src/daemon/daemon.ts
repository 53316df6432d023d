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

import { parsePrefix, type IpPrefix } from '../lib/addr.js';
import type { BlockRequest } from '../lib/api.js';
import { ControlServer } from '../lib/control.js';
import { BanStore } from '../lib/db/store.js';
import type { StoreOptions } from '../lib/db/types.js';
import { DEFAULT_DEVICE_PATH } from '../lib/device.js';
import { FfwallError } from '../lib/errors.js';
import { Ffwall } from '../lib/ffwall.js';
import type { Kernel, KernelConfigPatch, KernelEvent, KernelEventStream, KernelMode } from '../lib/kernel.js';
import { DirectTransport } from '../lib/transport-direct.js';
import { KernelWindow, type FilterReport, type PromoteResult, type WindowOptions, type WindowReport } from '../lib/window.js';
import { FilterTracker, type FilterState, type RebuildReason } from './filter.js';
import { syncHits, type HitSyncReport } from './sync.js';
import { DaemonTransport, type SafetyEntryLike, type SafetySource } from './transport.js';

export const DEFAULT_DB_PATH = '/var/lib/ffwall/bans.lmdb';
/** Reason prefix of the allowlist entries the daemon manages (the automatic safety list). */
export const SAFETY_REASON_PREFIX = 'auto: ';
/** EVICTED events applied per database transaction at most. */
const EVICT_BATCH = 4096;
/** Prefixes per FILTER_ADD / DEL call of the periodic work. */
const CHUNK = 65536;

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
  /** Devices to attach ("*": every device); at reload, new ones are attached (none is detached). */
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
}

/** What reload() may change while running. */
export interface DaemonReload {
  intervals?: DaemonIntervals;
  control?: { mode?: number; gid?: number };
  store?: Pick<StoreOptions, 'escalation' | 'aggregation' | 'history'>;
  /** The safety list to use from now on (its configuration changed). */
  safety?: SafetySource;
  /** A new capacity reconciles the window. */
  kernelSetup?: KernelSetup;
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
  ms: number;
}

export interface SafetyReport {
  entries: SafetyEntryLike[];
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
  /** A kernel event was handled, in @seconds. */
  handled: [{ type: KernelEvent['type']; seconds: number }];
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
  /** reload() applied a new configuration. */
  reloaded: [];
  /** A failure while handling an event or in periodic work; the daemon goes on. */
  error: [Error];
  /** stop() finished. */
  stopped: [];
}

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
  /** Host bans the socket path FILTER_ADDed since the last sweep (the sweep skips them). */
  readonly #recentlyAdded = new Set<string>();
  #evictPending: IpPrefix[] = [];
  #evictScheduled = false;
  #controlMode: number | undefined;
  #controlGid: number | undefined;

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
        const dbPath = o.db ?? DEFAULT_DB_PATH;
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
      this.#fw = new Ffwall(
        new DaemonTransport(direct, {
          beforeBan: (reqs) => this.#beforeBan(reqs),
          afterBan: (targets) => this.#afterBan(targets),
          request: (op, result) => this.emit('request', { op, result }),
        }),
      );
      if (o.control !== undefined) {
        const c = o.control;
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
      this.#loop = this.#readEvents(this.#stream);
      this.#state = 'running';
      for (const name of Object.keys(DEFAULT_INTERVALS) as TimerName[]) this.#arm(name);
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
    const report: SweepReport = { expired: 0, deletedFromKernel: 0, filterAdded: 0, filterRemoved: 0, ms: 0 };
    const now = this.#now();
    const store = this.store;
    const kernel = this.kernel;
    for (;;) {
      const r = store.sweep(now, CHUNK);
      report.expired += r.expired.length;
      const del = r.expired.filter((e) => e.wasInKernel).map((e) => e.prefix);
      if (del.length > 0) report.deletedFromKernel += (await kernel.del(del)).changed;
      if (!r.more) break;
    }
    // New host bans and gone ones, from the history (every process writes it).
    const until = this.#now();
    const add: IpPrefix[] = [];
    const flush = async (): Promise<void> => {
      if (add.length === 0) return;
      await this.#filterAdd(add.splice(0));
    };
    for (const ev of store.historyAll({ since: this.#historyCursor })) {
      if (ev.time > until) break;
      if (!ev.prefix.isHost) continue;
      if (ev.type === 'ban') {
        const action = ev.details.action;
        const key = ev.prefix.key();
        if (action === 'refreshed' || this.#recentlyAdded.has(key)) continue;
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

  async #filterAdd(prefixes: IpPrefix[]): Promise<void> {
    try {
      await this.kernel.filterAdd(prefixes);
      this.#filter.added(prefixes.length);
    } catch (err) {
      // No filter loaded (ENOENT): the next build covers them.
      if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    }
  }

  /** Prunes the history per the retention; returns how many events went. */
  async pruneHistory(): Promise<number> {
    const n = await this.#exclusive(async () => this.store.pruneHistory(this.#now()));
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
    const report: SafetyReport = { entries, added: [], removed: [] };
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
  async #beforeBan(requests: readonly BlockRequest[]): Promise<void> {
    const safety = this.#safety;
    if (safety === undefined) return;
    const join: SafetyEntryLike[] = [];
    let refusal: { target: string; code: string; reasons: string[] } | undefined;
    for (const r of requests) {
      const target = parsePrefix(r.target);
      const c = await safety.check(target, r.force === true ? { force: true } : {});
      join.push(...c.collisions);
      const inside = c.collisions.filter((e) => e.prefix.contains(target));
      if (refusal === undefined && inside.length > 0) {
        refusal = {
          target: r.target,
          code: 'EALLOWLISTED',
          reasons: inside.map((e) => `${r.target} is inside ${e.prefix.toString()} (${e.kind}: ${e.reason})`),
        };
      } else if (refusal === undefined && c.force !== undefined) {
        refusal = { target: r.target, code: 'EFORCE', reasons: [c.force] };
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
  async #afterBan(targets: readonly string[]): Promise<void> {
    const hosts: IpPrefix[] = [];
    for (const t of targets) {
      const p = parsePrefix(t);
      if (!p.isHost) continue;
      const key = p.key();
      if (this.#recentlyAdded.has(key)) continue;
      this.#recentlyAdded.add(key);
      hosts.push(p);
    }
    for (let i = 0; i < hosts.length; i += CHUNK) await this.#filterAdd(hosts.slice(i, i + CHUNK));
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
    if (k.devices !== undefined && k.devices.length > 0) {
      const attached = new Set((await kernel.devices()).filter((d) => d.named).map((d) => d.name));
      for (const dev of k.devices) if (!attached.has(dev)) await kernel.attach(dev);
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

  async #readEvents(stream: KernelEventStream): Promise<void> {
    for await (const ev of stream) {
      try {
        this.emit('kernelEvent', ev);
        const t0 = performance.now();
        await this.handle(ev);
        this.emit('handled', { type: ev.type, seconds: (performance.now() - t0) / 1000 });
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
    await this.#control?.stop().catch(() => undefined);
    await this.#fw?.close().catch(() => undefined);
    this.#stream?.close();
    if (this.#ownStore) await this.#store?.close();
    if (this.#ownKernel) await this.#kernel?.close();
  }
}

