// SPDX-License-Identifier: MIT
//
// The public API for embedders (mail servers, the CLI, the daemon):
//
//   const fw = await openFfwall();
//   await fw.block('192.0.2.7', { ports: [25], ttl: '7d', reason: 'spam bot' });
//   const c = await fw.check('192.0.2.7', { port: 25 });   // c.blocked === true
//   await fw.unblock('192.0.2.7');
//   fw.on('event', (e) => ...);
//   await fw.close();
//
// Every argument is checked and normalized here, once; the transport below
// only carries normalized requests (api.ts).
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';

import { IpPrefix, packedPrefixAt, packPrefixInto, parseAddress, toPrefix } from './addr.js';
import { inKeyOrder, isPackedFeed, packPlainFeed, packPlainFile, type PackedFeed } from './feeds.js';
import type { PackedPrefixes } from './kernel-native.js';
import type {
  ChunkOptions,
  AllowEntryInfo,
  AllowResult,
  BanInfo,
  BanRecordInfo,
  BanSource,
  ConfigInfo,
  ConfigPatch,
  DeviceEntry,
  FlushRequest,
  FlushResult,
  FlushTable,
  HitsResult,
  ListRequest,
  ShowResult,
  DatabaseCounts,
  StatsResult,
  UnblockSourceResult,
  BatchProgress,
  BatchSummary,
  BlockOptions,
  BlockRequest,
  BlockResult,
  CheckResult,
  FfwallEvent,
  StatusResult,
  Transport,
  UnblockResult,
} from './api.js';
import { ClientTransport, DEFAULT_SOCKET_PATH } from './control.js';
import type { BanStore, StoreOptions } from './db/index.js';
import { parseDuration } from './duration.js';
import { FfwallError } from './errors.js';
import { KERNEL_LIMITS, type Kernel } from './kernel.js';
import { NoKernel } from './kernel-none.js';
import { OFFENCE_KINDS, isOffenceKind, type Offence, type OffenceConfig, type ReportRequest, type ReportResult } from './offences.js';
import { DirectTransport, openDirectKernel } from './transport-direct.js';
import { checkPort, normalizePorts } from './validate.js';

export const DEFAULT_DEVICE = '/dev/ffwall';
export const DEFAULT_DATABASE = '/var/lib/ffwall/bans.lmdb';
export const DEFAULT_TTL = '24h';

const SOURCES: readonly BanSource[] = ['cli', 'api', 'policy', 'logwatch', 'feed', 'haraka', 'fail2ban'];
const REASON_MAX = 256;
const TAG_MAX = 64;

export interface OpenOptions {
  /**
   * 'direct': this process drives /dev/ffwall (needs CAP_NET_ADMIN).
   * 'client': through the daemon's control socket.
   * 'auto' (default): the socket when the daemon answers on it, else direct.
   */
  transport?: 'auto' | 'direct' | 'client';
  /** Default '/dev/ffwall'. */
  device?: string;
  /** Default '/run/ffwall/ffwall.sock'. */
  socket?: string;
  /**
   * Direct transport over this kernel instead of the device (e.g. a
   * FakeKernel in tests); or false for the ban database alone, without the
   * device: list(), listNdjson(), listTargets(), show()'s record and
   * history() read the database, with no module loaded and no
   * CAP_NET_ADMIN, and every call that needs the kernel fails with
   * FfwallError ENOKERNEL (kernel-none.ts).  With 'auto', a running daemon
   * still answers instead.
   */
  kernel?: Kernel | false;
  /**
   * Direct transport: the ban database (LMDB directory), or false for the
   * kernel alone.  Default: /var/lib/ffwall/bans.lmdb over the real device;
   * none over an injected kernel.
   */
  database?: string | false;
  /** Direct transport: options of the ban database (escalation, aggregation, history). */
  databaseOptions?: Omit<StoreOptions, 'path'>;
  /** Direct transport without a database: the TTL of a block() that gives none; default '24h'. */
  defaultTtl?: string | number;
  /** Direct transport: the offence rules of report() (default: defaultOffenceConfig()); through the daemon its configuration rules. */
  offences?: OffenceConfig;
}

export interface FfwallEventMap {
  event: [FfwallEvent];
  error: [Error];
}

/** An item of blockMany(): an address or CIDR, or one with its own options. */
export type BlockItem = string | IpPrefix | ({ target: string | IpPrefix } & BlockOptions);

export interface ManyOptions {
  onProgress?: (p: BatchProgress) => void;
}

export class Ffwall extends EventEmitter<FfwallEventMap> {
  readonly #transport: Transport;
  #unsubscribe: (() => void) | undefined;
  #subscribing: Promise<void> | undefined;
  #closed = false;

  /** Use openFfwall(); the constructor does no work. */
  constructor(transport: Transport) {
    super();
    this.#transport = transport;
    // Events flow only while someone listens: the first 'event' listener
    // opens a kernel event reader, the last one to go closes it.
    const plain = this as EventEmitter;
    plain.on('newListener', (name: string | symbol) => {
      if (name === 'event' && this.listenerCount('event') === 0) this.#startEvents();
    });
    plain.on('removeListener', (name: string | symbol) => {
      if (name === 'event' && this.listenerCount('event') === 0) this.#stopEvents();
    });
  }

  /** 'direct' or 'client': how this instance reaches the kernel. */
  get transport(): 'direct' | 'client' {
    return this.#transport.name;
  }

  /** Blocks an address or a CIDR prefix. */
  async block(target: string | IpPrefix, options: BlockOptions = {}): Promise<BlockResult> {
    this.#checkOpen();
    return this.#transport.block(this.#request(target, options, 'options'));
  }

  /**
   * Blocks many addresses at once.  The whole input is checked first: a bad
   * item throws (naming its index) and nothing changes.
   */
  async blockMany(items: Iterable<BlockItem>, options: BlockOptions & ManyOptions = {}): Promise<BatchSummary> {
    this.#checkOpen();
    const { onProgress, ...defaults } = options;
    // The kernel alone (direct, database: false) and only targets: each is
    // parsed straight into the kernel's record buffer (no object per item),
    // the shared options checked once, one packed ADD.
    if (this.#kernelOnly() && Array.isArray(items) && items.length > 0) {
      const packed = packTargets(items as readonly BlockItem[]);
      if (packed !== undefined) return this.#blockPacked(packed, options);
    }
    const requests: BlockRequest[] = [];
    const prefixes: IpPrefix[] = [];
    // The shared options are checked once (a bad one names items[0], as
    // before); an item that is only a target, or a target and a reason (what
    // `ffwall import` sends), copies that template: a million-line import
    // parses each target once here, and the direct transport reuses it.
    let template: BlockRequest | undefined;
    let lastOwn: Record<string, unknown> | undefined;
    let lastRequest: BlockRequest | undefined;
    let i = 0;
    for (const item of items) {
      let target: string | IpPrefix;
      let own: Omit<Exclude<BlockItem, string | IpPrefix>, 'target'> | undefined;
      if (typeof item === 'string' || item instanceof IpPrefix) target = item;
      else if (typeof item === 'object' && item !== null) ({ target, ...own } = item);
      else throw new TypeError(`items[${i}] must be an address, a CIDR or an object with a target`);
      const simple = own === undefined || isReasonOnly(own);
      if (!simple) {
        // Items with their own options: those of the item before are
        // reused when they are the same (the daemon's socket sends every
        // option with every item).
        let r: BlockRequest;
        if (lastOwn !== undefined && lastRequest !== undefined && sameOptions(own as Record<string, unknown>, lastOwn)) {
          let prefix: IpPrefix;
          try {
            prefix = toPrefix(target);
          } catch (err) {
            throw Object.assign(new TypeError(`items[${i}]: ${(err as Error).message}`), { cause: err });
          }
          r = { ...lastRequest, ports: lastRequest.ports.slice(), target: prefix.toString() };
          prefixes.push(prefix);
        } else {
          r = this.#request(target, { ...defaults, ...own }, `items[${i}]`);
          prefixes.push(toPrefix(r.target));
          lastOwn = own as Record<string, unknown>;
          lastRequest = r;
        }
        requests.push(r);
        i++;
        continue;
      }
      template ??= this.#request(PLACEHOLDER, defaults, `items[${i}]`);
      let prefix: IpPrefix;
      try {
        prefix = toPrefix(target);
      } catch (err) {
        throw Object.assign(new TypeError(`items[${i}]: ${(err as Error).message}`), { cause: err });
      }
      const r: BlockRequest = { ...template, ports: template.ports.slice(), target: prefix.toString() };
      // As the spread { ...defaults, ...own } would: an own reason, even undefined, replaces the shared one.
      if (own !== undefined && 'reason' in own) r.reason = checkText(own.reason ?? '', `items[${i}].reason`, REASON_MAX);
      requests.push(r);
      prefixes.push(prefix);
      i++;
    }
    return this.#transport.blockMany(requests, onProgress, prefixes);
  }

  /**
   * Blocks every entry of a plain feed (one address or CIDR per line, '#'
   * and ';' start comments): a file's path, its bytes, or the feed packed
   * by packPlainFeed() or packPlainFile().  The whole feed is parsed first
   * (feeds.ts packPlainFeed(): one pass over the bytes); a bad line throws
   * its FeedError, naming the line, and nothing changes.  Over the direct
   * transport the entries go on packed, without an object or a request per
   * entry up front (the bulk load of issue 11): to the kernel as packed
   * ADDs; with a database, after the allowlist check of the whole feed,
   * to the kernel at once, then into the database in its key order, 10,000
   * at a time.  Over the daemon's socket the same, done by the daemon: the
   * feed crosses the socket packed (op blockFeed, up to CONTROL_FEED_CHUNK
   * entries a message), after the daemon's safety checks of every entry.
   * Errors name an entry by its index in the feed.
   */
  async blockFeed(feed: string | Uint8Array | PackedFeed, options: BlockOptions & ManyOptions = {}): Promise<BatchSummary> {
    this.#checkOpen();
    let packed: PackedFeed;
    // A file is read in pieces while the pieces before are parsed.
    if (typeof feed === 'string') packed = await packPlainFile(feed);
    else if (feed instanceof Uint8Array) packed = packPlainFeed(feed);
    else if (isPackedFeed(feed)) packed = feed;
    else throw new TypeError('blockFeed: feed must be a file path, a Uint8Array of the feed text, or a feed from packPlainFeed() or packPlainFile()');
    if (packed.count === 0) return this.blockMany([], options);
    // The direct transport puts the feed into the kernel as it is, then
    // into a database in its key order; the daemon's socket carries it
    // packed, and the daemon does the same.
    if (typeof this.#transport.blockPacked === 'function') return this.#blockPacked(packed, options);
    // A transport without packed feeds: blockMany() in the database's key
    // order (a few B-tree pages per batch instead of one per ban).
    const sorted = inKeyOrder(packed);
    const items: IpPrefix[] = new Array<IpPrefix>(sorted.count);
    for (let i = 0; i < sorted.count; i++) items[i] = packedPrefixAt(sorted, i);
    return this.blockMany(items, options);
  }

  /** The direct transport without a ban database: packed ADDs may go straight to the kernel. */
  #kernelOnly(): boolean {
    return this.#transport instanceof DirectTransport && this.#transport.kernelOnly;
  }

  /** The transport's blockPacked() of @packed with the shared @options (checked once, errors name items[0]). */
  #blockPacked(packed: PackedPrefixes, options: BlockOptions & ManyOptions): Promise<BatchSummary> {
    const t = this.#transport;
    if (t.blockPacked === undefined) throw new Error('ffwall: this transport takes no packed blocks');
    const { onProgress, ...defaults } = options;
    const shared = this.#request(PLACEHOLDER, defaults, 'items[0]');
    return t.blockPacked(packed, shared, (i) => packedPrefixAt(packed, i).toString(), onProgress);
  }

  /** Removes the ban of exactly this address or prefix. */
  async unblock(target: string | IpPrefix): Promise<UnblockResult> {
    this.#checkOpen();
    return this.#transport.unblock(toPrefix(target).toString());
  }

  async unblockMany(targets: Iterable<string | IpPrefix>, options: ManyOptions = {}): Promise<BatchSummary> {
    this.#checkOpen();
    const list = [...targets].map((t) => toPrefix(t).toString());
    return this.#transport.unblockMany(list, options.onProgress);
  }

  /** What a packet from @address (to @port, if given) gets, and which rule decided. */
  async check(address: string | IpPrefix, options: { port?: number } = {}): Promise<CheckResult> {
    this.#checkOpen();
    const a = address instanceof IpPrefix ? address : parseAddress(address);
    if (!a.isHost) throw new TypeError(`check: ${a.toString()} is a prefix; give a single address`);
    const port = options.port === undefined ? null : checkPort(options.port, 'port');
    return this.#transport.check(a.toString(), port);
  }

  /** Adds addresses or prefixes to the allowlist: they always pass. */
  async allow(targets: string | IpPrefix | Iterable<string | IpPrefix>, options: { reason?: string } = {}): Promise<AllowResult[]> {
    this.#checkOpen();
    const reason = checkText(options.reason ?? '', 'reason', REASON_MAX);
    return this.#transport.allow(toTargets(targets), reason);
  }

  /** Removes allowlist entries (exactly these addresses or prefixes). */
  async disallow(targets: string | IpPrefix | Iterable<string | IpPrefix>): Promise<AllowResult[]> {
    this.#checkOpen();
    return this.#transport.disallow(toTargets(targets));
  }

  async status(): Promise<StatusResult> {
    this.#checkOpen();
    return this.#transport.status();
  }

  /**
   * The database's records matching @filter, streamed: a million records
   * list in seconds with flat memory.  Checks the filter first.
   */
  list(filter: ListRequest = {}): AsyncIterable<BanRecordInfo> {
    this.#checkOpen();
    return this.#transport.list(checkListRequest(filter));
  }

  /**
   * list() as NDJSON text (what `ffwall list --json` prints), in chunks of
   * whole lines: one JSON.stringify(BanRecordInfo) per line.  Serialized
   * where the database is (the daemon, through the socket), without a
   * record object per line: the fast way to stream a million records.
   */
  listNdjson(filter: ListRequest = {}, options: ChunkOptions = {}): AsyncIterable<Uint8Array> {
    this.#checkOpen();
    const f = checkListRequest(filter);
    checkChunkOptions(options);
    const t = this.#transport;
    if (t.listNdjson !== undefined) return t.listNdjson(f, options);
    return (async function* () {
      let buf = '';
      for await (const r of t.list(f)) {
        buf += `${JSON.stringify(r)}\n`;
        if (buf.length >= 64 * 1024) {
          yield Buffer.from(buf, 'utf8');
          buf = '';
        }
      }
      if (buf !== '') yield Buffer.from(buf, 'utf8');
    })();
  }

  /**
   * The target of each record list() gives, one per line, in chunks of
   * whole lines (`ffwall export`'s plain format): straight from the stored
   * keys where the database is here; through another transport, taken from
   * the NDJSON lines (each begins {"target":"...").
   */
  listTargets(filter: ListRequest = {}, options: ChunkOptions = {}): AsyncIterable<Uint8Array> {
    this.#checkOpen();
    const f = checkListRequest(filter);
    checkChunkOptions(options);
    const t = this.#transport;
    if (t.listTargets !== undefined) return t.listTargets(f, options);
    const lines = this.listNdjson(f);
    return (async function* () {
      const head = Buffer.from('{"target":"', 'latin1');
      let rest: Buffer = Buffer.alloc(0);
      for await (const chunk of lines) {
        const b = rest.length === 0 ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength) : Buffer.concat([rest, chunk]);
        const out = Buffer.allocUnsafe(b.length);
        let at = 0;
        let start = 0;
        for (let nl = b.indexOf(10, start); nl >= 0; start = nl + 1, nl = b.indexOf(10, start)) {
          if (b.compare(head, 0, head.length, start, start + head.length) !== 0) throw new Error('ffwall: an NDJSON line without a leading target');
          const s = start + head.length;
          const e = b.indexOf(0x22, s);
          at += b.copy(out, at, s, e);
          out[at++] = 10;
        }
        rest = Buffer.from(b.subarray(start));
        if (at > 0) yield out.subarray(0, at);
      }
    })();
  }

  /** One record of the database (exactly this address or prefix) and its history. */
  async show(target: string | IpPrefix): Promise<ShowResult> {
    this.#checkOpen();
    return this.#transport.show(toPrefix(target).toString());
  }

  /** The kernel's counters, configuration and devices, and the database's records by state. */
  async stats(): Promise<StatsResult> {
    this.#checkOpen();
    return this.#transport.stats();
  }

  /**
   * The ban database's records by state (null without a database): what
   * stats() says of it, without asking the kernel, so also with the
   * database alone (kernel: false).
   */
  async databaseCounts(): Promise<DatabaseCounts | null> {
    this.#checkOpen();
    const t = this.#transport;
    return t.databaseCounts !== undefined ? t.databaseCounts() : (await t.stats()).database;
  }

  /** The allowlist: the database's entries (with reasons) and the kernel's. */
  async allowList(): Promise<AllowEntryInfo[]> {
    this.#checkOpen();
    return this.#transport.allowList();
  }

  /** Hooks a network device ("*": every device); returns the attach list after. */
  async attach(device: string): Promise<DeviceEntry[]> {
    this.#checkOpen();
    return this.#transport.attach(checkDevice(device));
  }

  async detach(device: string): Promise<DeviceEntry[]> {
    this.#checkOpen();
    return this.#transport.detach(checkDevice(device));
  }

  async devices(): Promise<DeviceEntry[]> {
    this.#checkOpen();
    return this.#transport.devices();
  }

  async getConfig(): Promise<ConfigInfo> {
    this.#checkOpen();
    return this.#transport.getConfig();
  }

  /** Changes the kernel's settings, all or none; returns the new configuration. */
  async setConfig(patch: ConfigPatch): Promise<ConfigInfo> {
    this.#checkOpen();
    return this.#transport.setConfig(checkConfigPatch(patch));
  }

  /**
   * Empties kernel tables (default: the bans, exact and prefix).  With
   * database: true the database's active bans (and, for 'allow', its
   * allowlist) go too; otherwise its records of flushed bans become cold.
   */
  async flush(options: { scope?: readonly FlushTable[]; database?: boolean } = {}): Promise<FlushResult> {
    this.#checkOpen();
    const scope = options.scope ?? ['exact', 'prefix'];
    if (!Array.isArray(scope) || scope.some((x) => !FLUSH_TABLES.includes(x))) throw new TypeError(`flush: scope must be a list of ${FLUSH_TABLES.join(', ')}`);
    if (options.database !== undefined && typeof options.database !== 'boolean') throw new TypeError('flush: database must be a boolean');
    const req: FlushRequest = { scope: [...new Set(scope)], database: options.database === true };
    return this.#transport.flush(req);
  }

  /** Removes every ban of one source, or of one tag of it (a feed's name, a jail): database and kernel. */
  async unblockSource(source: BanSource, tag?: string): Promise<UnblockSourceResult> {
    this.#checkOpen();
    if (!SOURCES.includes(source)) throw new TypeError(`source must be one of ${SOURCES.join(', ')}`);
    return this.#transport.unblockSource(source, tag === undefined ? null : checkText(tag, 'tag', TAG_MAX));
  }

  /**
   * Reports an offence of a mail client (an unknown recipient, a relay
   * attempt, ...).  Offences of one kind from one address are counted over
   * a sliding window; at the kind's threshold the address is banned on the
   * SMTP ports (see offences.ts).  Through the daemon the daemon's tracker
   * counts (shared by every client); directly, this instance keeps its own.
   */
  async report(offence: Offence): Promise<ReportResult> {
    this.#checkOpen();
    return this.#transport.report(checkOffence(offence));
  }

  /** Kernel bans hit since @hitSince (the kernelNow of an earlier call; 0: every ban), at most @limit. */
  async hits(hitSince = 0, limit = HITS_MAX): Promise<HitsResult> {
    this.#checkOpen();
    if (!Number.isSafeInteger(hitSince) || hitSince < 0) throw new RangeError('hits: hitSince must be a non-negative integer');
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > HITS_MAX) throw new RangeError(`hits: limit must be 1..${HITS_MAX}`);
    return this.#transport.hits(hitSince, limit);
  }

  /**
   * The kernel's ban table itself, what /dev/ffwall holds now (exact
   * entries, then prefixes; the allowlist is allowList()'s), as NDJSON
   * chunks of whole lines, one JSON.stringify(BanInfo) each: `ffwall list
   * --kernel --json`.  Streamed with flat memory through either transport;
   * @options.limit: at most this many entries.
   */
  kernelNdjson(options: { limit?: number } = {}): AsyncIterable<Uint8Array> {
    this.#checkOpen();
    const limit = options.limit ?? Infinity;
    if (limit !== Infinity && (!Number.isSafeInteger(limit) || limit < 1)) throw new RangeError('kernelList: limit must be a positive integer');
    return this.#transport.kernelNdjson(limit);
  }

  /** kernelNdjson() entry by entry (the options are checked here, at the call). */
  kernelList(options: { limit?: number } = {}): AsyncIterable<BanInfo> {
    const chunks = this.kernelNdjson(options);
    return (async function* () {
      for await (const chunk of chunks) {
        const text = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8');
        let start = 0;
        for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
          yield JSON.parse(text.slice(start, nl)) as BanInfo;
          start = nl + 1;
        }
      }
    })();
  }

  /** Stops events and releases the device or the socket.  Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopEvents();
    await this.#transport.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new FfwallError('ECLOSED', 'ffwall: this instance is closed');
  }

  #request(target: string | IpPrefix, o: BlockOptions, what: string): BlockRequest {
    if (typeof o !== 'object' || o === null) throw new TypeError(`${what} must be an object`);
    let prefix: IpPrefix;
    try {
      prefix = toPrefix(target);
    } catch (err) {
      if (what === 'options') throw err;
      throw Object.assign(new TypeError(`${what}: ${(err as Error).message}`), { cause: err });
    }
    const ports = normalizePorts(o.ports, what);
    if (o.permanent !== undefined && typeof o.permanent !== 'boolean') throw new TypeError(`${what}.permanent must be a boolean`);
    const permanent = o.permanent === true;
    if (permanent && o.ttl !== undefined) throw new TypeError(`${what}: give either ttl or permanent, not both`);
    let ttl: number | null = permanent ? 0 : null;
    if (!permanent && o.ttl !== undefined) {
      ttl = parseDuration(o.ttl);
      if (ttl === 0) throw new TypeError(`${what}.ttl: 0 is not a duration; use permanent: true for a ban that never expires`);
    }
    for (const k of ['pin', 'monitor'] as const) {
      if (o[k] !== undefined && typeof o[k] !== 'boolean') throw new TypeError(`${what}.${k} must be a boolean`);
    }
    const source = o.source ?? 'api';
    if (!SOURCES.includes(source)) throw new TypeError(`${what}.source must be one of ${SOURCES.join(', ')}`);
    if (o.force !== undefined && typeof o.force !== 'boolean') throw new TypeError(`${what}.force must be a boolean`);
    if (o.aggregate !== undefined && typeof o.aggregate !== 'boolean') throw new TypeError(`${what}.aggregate must be a boolean`);
    const request: BlockRequest = {
      target: prefix.toString(),
      ports,
      ttl,
      permanent,
      pin: o.pin === true,
      monitor: o.monitor === true,
      reason: checkText(o.reason ?? '', `${what}.reason`, REASON_MAX),
      source,
      sourceTag: checkText(o.sourceTag ?? '', `${what}.sourceTag`, TAG_MAX),
    };
    if (o.force === true) request.force = true;
    if (o.aggregate !== undefined) request.aggregate = o.aggregate;
    return request;
  }

  #startEvents(): void {
    if (this.#closed || this.#subscribing !== undefined) return;
    this.#subscribing = this.#transport
      .subscribe(
        (e) => this.emit('event', e),
        (err) => this.#emitError(err),
      )
      .then(
        (stop) => {
          // The last listener may have gone while subscribing.
          if (this.#closed || this.listenerCount('event') === 0) stop();
          else this.#unsubscribe = stop;
        },
        (err: unknown) => this.#emitError(err instanceof Error ? err : new Error(String(err))),
      )
      .finally(() => {
        this.#subscribing = undefined;
      });
  }

  #stopEvents(): void {
    const stop = this.#unsubscribe;
    this.#unsubscribe = undefined;
    stop?.();
  }

  #emitError(err: Error): void {
    // An 'error' with no listener would throw from inside a stream callback:
    // events are best effort for those who do not listen for their errors.
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

const FLUSH_TABLES: readonly FlushTable[] = ['exact', 'prefix', 'allow'];
const STATES = ['kernel', 'cold', 'expired'] as const;
/** Most entries of one hits() answer (it crosses the socket as one message). */
export const HITS_MAX = 10_000;

function checkDevice(device: unknown): string {
  if (typeof device !== 'string' || !/^(?:\*|[^\s/:]{1,15})$/.test(device)) {
    throw new TypeError(`device must be a network device name (1..15 characters, no spaces, '/' or ':') or "*", got ${JSON.stringify(device)}`);
  }
  return device;
}

/** Checks a list filter and returns a clean copy. */
export function checkListRequest(f: ListRequest): ListRequest {
  if (typeof f !== 'object' || f === null) throw new TypeError('list: filter must be an object');
  const out: ListRequest = {};
  if (f.state !== undefined) {
    const st = typeof f.state === 'string' ? [f.state] : f.state;
    if (!Array.isArray(st) || st.some((x) => !(STATES as readonly string[]).includes(x))) throw new TypeError(`state must be one of ${STATES.join(', ')}`);
    out.state = [...st];
  }
  if (f.source !== undefined) {
    if (!SOURCES.includes(f.source)) throw new TypeError(`source must be one of ${SOURCES.join(', ')}`);
    out.source = f.source;
  }
  if (f.tag !== undefined) out.tag = checkText(f.tag, 'tag', TAG_MAX);
  if (f.port !== undefined) out.port = checkPort(f.port, 'port');
  if (f.reason !== undefined) out.reason = checkText(f.reason, 'reason', REASON_MAX);
  if (f.limit !== undefined) {
    if (!Number.isSafeInteger(f.limit) || f.limit < 1) throw new RangeError('limit must be a positive integer');
    out.limit = f.limit;
  }
  return out;
}

/** An injected kernel: an object with the methods every caller of it uses (a typo'd option fails at open, not at the first call). */
function isKernelLike(k: unknown): boolean {
  if (typeof k !== 'object' || k === null) return false;
  const o = k as Record<string, unknown>;
  return ['add', 'del', 'lookup', 'dump', 'stats', 'close'].every((m) => typeof o[m] === 'function');
}

/** The most threads a listing may ask for. */
const LIST_THREADS_MAX = 64;

/** Checks listNdjson()/listTargets()'s options. */
function checkChunkOptions(o: ChunkOptions): void {
  if (typeof o !== 'object' || o === null) throw new TypeError('list: options must be an object');
  if (o.reuse !== undefined && typeof o.reuse !== 'boolean') throw new TypeError('list: reuse must be a boolean');
  if (o.threads !== undefined && (!Number.isSafeInteger(o.threads) || o.threads < 1 || o.threads > LIST_THREADS_MAX)) throw new RangeError(`list: threads must be an integer 1..${LIST_THREADS_MAX}`);
}

const ORIGIN = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** Checks an offence and returns its wire form. */
export function checkOffence(o: Offence): ReportRequest {
  if (typeof o !== 'object' || o === null) throw new TypeError('report: offence must be an object');
  const a = parseAddress(typeof o.address === 'string' ? o.address : String(o.address));
  if (!a.isHost) throw new TypeError(`report: ${a.toString()} is a prefix; give a single address`);
  if (!isOffenceKind(o.kind)) throw new TypeError(`report: kind must be one of ${OFFENCE_KINDS.join(', ')}, got ${JSON.stringify(o.kind)}`);
  if (typeof o.origin !== 'string' || !ORIGIN.test(o.origin)) throw new TypeError('report: origin must be 1..32 characters a-z 0-9 _ - (e.g. "postfix", "haraka")');
  let at: number | null = null;
  if (o.at !== undefined && o.at !== null) {
    if (typeof o.at !== 'number' || !Number.isFinite(o.at) || o.at < 0) throw new TypeError('report: at must be a time in ms since the epoch');
    at = Math.floor(o.at);
  }
  if (o.detail !== undefined && typeof o.detail !== 'string') throw new TypeError('report: detail must be a string');
  // Free text from a log line: control characters become spaces, and it is cut at REASON_MAX bytes.
  let detail = (o.detail ?? '').replace(/[\u0000-\u001f\u007f]/g, ' ');
  while (Buffer.byteLength(detail) > REASON_MAX) detail = detail.slice(0, -1);
  return { address: a.toString(), kind: o.kind, origin: o.origin, at, detail };
}

function checkConfigPatch(p: ConfigPatch): ConfigPatch {
  if (typeof p !== 'object' || p === null) throw new TypeError('config: patch must be an object');
  const out: ConfigPatch = {};
  for (const k of Object.keys(p)) if (!['maxEntries', 'mode', 'gcInterval'].includes(k)) throw new TypeError(`config: ${k} cannot be set (settable: maxEntries, mode, gcInterval)`);
  if (p.mode !== undefined) {
    if (p.mode !== 'enforce' && p.mode !== 'monitor') throw new TypeError('config: mode must be enforce or monitor');
    out.mode = p.mode;
  }
  if (p.maxEntries !== undefined) {
    if (!Number.isSafeInteger(p.maxEntries) || p.maxEntries < KERNEL_LIMITS.maxEntriesMin || p.maxEntries > KERNEL_LIMITS.maxEntriesMax) {
      throw new RangeError(`config: maxEntries must be ${KERNEL_LIMITS.maxEntriesMin}..${KERNEL_LIMITS.maxEntriesMax}`);
    }
    out.maxEntries = p.maxEntries;
  }
  if (p.gcInterval !== undefined) {
    if (!Number.isSafeInteger(p.gcInterval) || p.gcInterval < KERNEL_LIMITS.gcIntervalMin || p.gcInterval > KERNEL_LIMITS.gcIntervalMax) {
      throw new RangeError(`config: gcInterval must be ${KERNEL_LIMITS.gcIntervalMin}..${KERNEL_LIMITS.gcIntervalMax} seconds`);
    }
    out.gcInterval = p.gcInterval;
  }
  return out;
}

/**
 * The targets of @items packed as the kernel takes them, or undefined when
 * one item is not a bare target (an object with its own options: the
 * general path then handles the whole input).  A bad target throws naming
 * its index, as the general path does.
 */
function packTargets(items: readonly BlockItem[]): PackedPrefixes | undefined {
  const count = items.length;
  const addrs = new Uint8Array(count * 16);
  const prefixLen = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const item = items[i];
    if (typeof item === 'string') {
      try {
        prefixLen[i] = packPrefixInto(item, addrs, i * 16);
      } catch (err) {
        throw Object.assign(new TypeError(`items[${i}]: ${(err as Error).message}`), { cause: err });
      }
    } else if (item instanceof IpPrefix) {
      item.writeTo(addrs, i * 16);
      prefixLen[i] = item.length;
    } else {
      return undefined;
    }
  }
  return { count, addrs, prefixLen };
}

/** Stands for the target while blockMany() checks its shared options. */
const PLACEHOLDER = new IpPrefix(new Uint8Array(16), 128);

/** Two items' own options are the same: the same keys, the same values (arrays element by element). */
function sameOptions(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  let n = 0;
  for (const k in a) {
    n++;
    if (!(k in b)) return false;
    const x = a[k];
    const y = b[k];
    if (x === y) continue;
    if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length) return false;
    for (let j = 0; j < x.length; j++) if (x[j] !== y[j]) return false;
  }
  for (const _ in b) n--;
  return n === 0;
}

/** An item's own options that are at most a reason. */
function isReasonOnly(own: object): boolean {
  for (const k in own) if (k !== 'reason') return false;
  return true;
}

function checkText(v: unknown, what: string, max: number): string {
  if (typeof v !== 'string') throw new TypeError(`${what} must be a string`);
  if (Buffer.byteLength(v) > max) throw new RangeError(`${what} is longer than ${max} bytes`);
  if (/[\u0000-\u001f\u007f]/.test(v)) throw new TypeError(`${what} must not contain control characters`);
  return v;
}

function toTargets(targets: string | IpPrefix | Iterable<string | IpPrefix>): string[] {
  if (typeof targets === 'string' || targets instanceof IpPrefix) return [toPrefix(targets).toString()];
  return [...targets].map((t) => toPrefix(t).toString());
}

/**
 * Opens ffwall for this process.  See OpenOptions for the transports; an
 * unprivileged process without a running daemon gets an FfwallError
 * ENOTPRIVILEGED that says how to use the socket instead.
 */
export async function openFfwall(options: OpenOptions = {}): Promise<Ffwall> {
  if (typeof options !== 'object' || options === null) throw new TypeError('openFfwall: options must be an object');
  const mode = options.transport ?? 'auto';
  if (!['auto', 'direct', 'client'].includes(mode)) throw new TypeError(`openFfwall: transport must be 'auto', 'direct' or 'client', got ${String(mode)}`);
  const defaultTtl = parseDuration(options.defaultTtl ?? DEFAULT_TTL);
  if (defaultTtl === 0) throw new TypeError('openFfwall: defaultTtl must be longer than 0');
  const socket = options.socket ?? DEFAULT_SOCKET_PATH;
  const device = options.device ?? DEFAULT_DEVICE;
  const database = options.database;
  if (database !== undefined && database !== false && (typeof database !== 'string' || database === '')) {
    throw new TypeError('openFfwall: database must be a directory path or false');
  }
  if (options.kernel !== undefined && options.kernel !== false && !isKernelLike(options.kernel)) {
    throw new TypeError('openFfwall: kernel must be a Kernel (an object with add, del, lookup, dump and close, such as FakeKernel) or false');
  }
  if (options.kernel === false && database === false) throw new TypeError('openFfwall: kernel false and database false leave nothing to open');
  if (options.kernel !== undefined && options.kernel !== false) {
    if (mode === 'client') throw new TypeError('openFfwall: a kernel was given, but transport is client');
    const store = typeof database === 'string' ? await openStore(database, options.databaseOptions) : undefined;
    return new Ffwall(new DirectTransport(options.kernel, { defaultTtl, ...(store === undefined ? {} : { store }), ...(options.offences === undefined ? {} : { offences: options.offences }) }));
  }
  if (mode === 'client' || (mode === 'auto' && existsSync(socket))) {
    try {
      return new Ffwall(await ClientTransport.connect(socket));
    } catch (err) {
      // auto: only a stale socket of a stopped daemon means "no daemon, try
      // the device"; a daemon that refuses this user (EACCES) or hangs is
      // reported as it is.
      const cause = (err as { cause?: { code?: unknown } }).cause?.code;
      if (mode === 'client' || (cause !== 'ECONNREFUSED' && cause !== 'ENOENT')) throw err;
    }
  }
  const kernel = options.kernel === false ? new NoKernel() : await openDirectKernel(device, socket);
  let store;
  try {
    store = database === false ? undefined : await openStore(database ?? DEFAULT_DATABASE, options.databaseOptions);
  } catch (err) {
    await kernel.close();
    throw err;
  }
  return new Ffwall(new DirectTransport(kernel, { defaultTtl, ...(store === undefined ? {} : { store }), ...(options.offences === undefined ? {} : { offences: options.offences }) }));
}

/** Opens the ban database, creating its directory (0750) when missing. */
async function openStore(dir: string, options: Omit<StoreOptions, 'path'> | undefined): Promise<BanStore> {
  await mkdir(path.dirname(dir), { recursive: true, mode: 0o750 });
  const { BanStore } = await import('./db/index.js');
  return BanStore.open({ ...options, path: dir });
}

