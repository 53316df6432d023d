// SPDX-License-Identifier: MIT
//
// The daemon's wiring, in one place.  Daemon.start() opens the kernel
// (NativeKernel over /dev/ffwall, or an injected Kernel) and the ban
// database, brings the kernel window back (restore or reconcile), then
// follows the kernel's event stream:
//   MISS     -> window.promote(): the ban goes back into the kernel;
//   EVICTED  -> the record is cold (database only);
//   EXPIRED  -> the record expires in the database, or turns cold when the
//               database's ban outlives the kernel TTL;
//   OVERFLOW -> events were lost: reconcile.
// stop() closes everything and leaves the kernel table in place.
//
// Seams for issue 8 (control socket, sweeps, hit sync, metrics, config,
// systemd): the typed events below, and the public `window`, `store` and
// `kernel` once started.
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import path from 'node:path';

import type { IpPrefix } from '../lib/addr.js';
import { BanStore } from '../lib/db/store.js';
import type { StoreOptions } from '../lib/db/types.js';
import { DEFAULT_DEVICE_PATH } from '../lib/device.js';
import type { Kernel, KernelEvent, KernelEventStream } from '../lib/kernel.js';
import { KernelWindow, type PromoteResult, type WindowOptions, type WindowReport } from '../lib/window.js';

export const DEFAULT_DB_PATH = '/var/lib/ffwall/bans.lmdb';

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
}

/** What the daemon tells its embedder (the command, issue 8's control socket and metrics). */
export interface DaemonEventMap {
  /** Restore or reconcile finished (at start, after an overflow, or on demand). */
  report: [WindowReport];
  /** Start finished: the window is back and events are being read. */
  ready: [];
  /** Every kernel event, before it is handled. */
  kernelEvent: [KernelEvent];
  /** A MISS was handled. */
  promote: [PromoteResult & { address: IpPrefix }];
  /** An EVICTED or EXPIRED event changed (or confirmed) a record's state. */
  state: [{ prefix: IpPrefix; event: 'evicted' | 'expired'; state: 'kernel' | 'cold' | 'expired' | 'unknown' }];
  /** A failure while handling an event; the daemon goes on. */
  error: [Error];
  /** stop() finished. */
  stopped: [];
}

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

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
  /** One window operation at a time (reconcile after an overflow, on-demand calls). */
  #busy: Promise<unknown> = Promise.resolve();
  #starting: Promise<WindowReport> | undefined;

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

  /** Opens the kernel and the database, restores or reconciles the window, then reads events. Returns the window's report. */
  async start(): Promise<WindowReport> {
    if (this.#state !== 'new') throw new Error(`Daemon: cannot start when ${this.#state}`);
    this.#state = 'starting';
    this.#starting = this.#start();
    return this.#starting;
  }

  async #start(): Promise<WindowReport> {
    try {
      const o = this.options;
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
      this.#window = new KernelWindow(this.#kernel, this.#store, o.window ?? {});
      // The stream opens first, so that nothing that happens during the restore is missed.
      this.#stream = this.#kernel.events();
      const report = await this.#exclusive(() => this.window.start());
      this.emit('report', report);
      this.#loop = this.#readEvents(this.#stream);
      this.#state = 'running';
      this.emit('ready');
      return report;
    } catch (err) {
      await this.#closeAll();
      this.#state = 'stopped';
      throw err;
    }
  }

  /** Reconciles now (also what an OVERFLOW does). */
  async reconcile(): Promise<WindowReport> {
    const report = await this.#exclusive(() => this.window.reconcile());
    this.emit('report', report);
    return report;
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
        await this.handle(ev);
      } catch (err) {
        if (this.#state === 'stopping') break;
        this.emit('error', err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  /** Handles one kernel event (public for tests and for issue 8's replay). */
  async handle(ev: KernelEvent): Promise<void> {
    const w = this.window;
    switch (ev.type) {
      case 'miss': {
        if (ev.prefix === undefined) return;
        const address = ev.prefix;
        const r = await this.#exclusive(() => w.promote(address));
        this.emit('promote', { ...r, address });
        return;
      }
      case 'evicted': {
        if (ev.prefix === undefined) return;
        w.evicted(ev.prefix);
        this.emit('state', { prefix: ev.prefix, event: 'evicted', state: this.store.get(ev.prefix)?.state ?? 'unknown' });
        return;
      }
      case 'expired': {
        if (ev.prefix === undefined) return;
        const rec = w.expired(ev.prefix);
        this.emit('state', { prefix: ev.prefix, event: 'expired', state: rec?.state ?? 'unknown' });
        return;
      }
      case 'overflow':
        await this.reconcile();
        return;
    }
  }

  /** Stops reading events and closes what start() opened; the kernel table stays as it is. Idempotent. */
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
    this.#stream?.close();
    await this.#loop?.catch(() => undefined);
    await this.#busy;
    await this.#closeAll();
    this.#state = 'stopped';
    this.emit('stopped');
  }

  async #closeAll(): Promise<void> {
    this.#stream?.close();
    if (this.#ownStore) await this.#store?.close();
    if (this.#ownKernel) await this.#kernel?.close();
  }
}
