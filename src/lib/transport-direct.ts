// SPDX-License-Identifier: MIT
//
// The direct transport: normalized requests applied to a Kernel (the module
// through the addon, or the fake).  It turns the kernel's CLOCK_BOOTTIME
// seconds into wall-clock ISO times, and the kernel's bare errnos into
// messages an operator can act on.
import { IpPrefix, packedPrefixAt, parseAddress, parsePrefix } from './addr.js';
import type {
  ChunkOptions,
  AllowEntryInfo,
  AllowResult,
  BanInfo,
  BanSource,
  ConfigInfo,
  ConfigPatch,
  DeviceEntry,
  FlushRequest,
  FlushResult,
  HistoryEntry,
  HitsResult,
  ListRequest,
  ShowResult,
  DatabaseCounts,
  StatsResult,
  UnblockSourceResult,
  BanRecordInfo,
  BatchProgress,
  BatchSummary,
  BlockRequest,
  BlockResult,
  CheckResult,
  FfwallEvent,
  StatusResult,
  Transport,
  UnblockResult,
} from './api.js';
import type { BanInput, BanRecord, BanResult, BanStore, ListChunkOptions, ListFilter } from './db/index.js';
import { FfwallError } from './errors.js';
import { keyOrderOf, packedKeyOrder } from './feeds.js';
import { isKernelError, type BatchOptions, type BatchResult, type Kernel, type KernelError, type KernelEvent, type KernelRule } from './kernel.js';
import { banInfo, KernelLineWriter } from './kernel-json.js';
import { noKernelError } from './kernel-none.js';
import { NativeKernel, type PackedAdd, type PackedPrefixes, type SharedRule } from './kernel-native.js';
import { defaultOffenceConfig, OffenceTracker, type OffenceConfig, type ReportRequest, type ReportResult } from './offences.js';
import { isoFormatter, isoOrNull } from './record-json.js';
import { ruleOf } from './window.js';

/** Bans written to the database and the kernel per step of blockMany(). */
const MANY_CHUNK = 10_000;

/** Opens /dev/ffwall; a missing module or a missing privilege becomes an FfwallError that says what to do. */
export async function openDirectKernel(device: string, socket: string): Promise<Kernel> {
  try {
    return await NativeKernel.open(device);
  } catch (err) {
    if (isKernelError(err) && err.code === 'ENOENT') {
      throw new FfwallError(
        'ENOMODULE',
        `ffwall: ${device} does not exist: the ffwall module is not loaded (load it with \`modprobe ffwall\`, or \`ffwall module load\` from a source checkout)`,
        { cause: err },
      );
    }
    if (isKernelError(err) && (err.code === 'EPERM' || err.code === 'EACCES')) {
      const who = typeof process.getuid === 'function' ? `uid ${process.getuid()}` : 'this process';
      throw new FfwallError(
        'ENOTPRIVILEGED',
        `ffwall: ${device} needs CAP_NET_ADMIN, which ${who} lacks (${err.code}). ` +
          `Unprivileged programs such as mail servers go through the daemon instead: run \`ffwall daemon\` ` +
          `and add this user to the group that owns its control socket ${socket}, then open with { transport: 'client' }.`,
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * Wall clock minus the kernel's CLOCK_BOOTTIME, in whole seconds (the
 * kernel keeps whole seconds), so that two calls date one entry alike.
 */
function offsetFrom(kernelNow: number): number {
  return Math.round(Date.now() / 1000 - kernelNow) * 1000;
}

const isoMs = isoOrNull;

/** Reason prefix of the allowlist entries of the daemon's automatic safety list ("auto: KIND: why"). */
export const AUTO_REASON_PREFIX = 'auto: ';

/** The kind of an automatic safety entry from its reason, or null for one added by hand. */
export function automaticKind(reason: string): string | null {
  if (!reason.startsWith(AUTO_REASON_PREFIX)) return null;
  const rest = reason.slice(AUTO_REASON_PREFIX.length);
  const colon = rest.indexOf(':');
  return colon > 0 ? rest.slice(0, colon) : 'auto';
}

/** Bytes of NDJSON per chunk of listNdjson() (large chunks: fewer writes and event-loop turns). */
export const NDJSON_CHUNK = 1024 * 1024;

/** The kernel refused an ADD for lack of room (a table of pinned entries, or memory): what it took stays, the rest stays cold. */
function isNoRoom(err: unknown): err is KernelError {
  return isKernelError(err) && (err.code === 'ENOSPC' || err.code === 'ENOMEM');
}

/** The chunks of @chunks, letting the event loop breathe (and a socket drain) between them. */
async function* breathe(chunks: AsyncIterable<Buffer>): AsyncIterable<Uint8Array> {
  for await (const c of chunks) {
    yield c;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** BanStore.listChunks()'s options for listNdjson() (@targets false) or listTargets(). */
function chunkOptions(options: ChunkOptions, targets: boolean): ListChunkOptions {
  const o: ListChunkOptions = { targets, chunkBytes: NDJSON_CHUNK, reuse: options.reuse === true };
  if (options.threads !== undefined) o.threads = options.threads;
  return o;
}

function listFilterOf(filter: ListRequest): ListFilter {
  const f: ListFilter = {};
  if (filter.state !== undefined) f.state = filter.state;
  if (filter.source !== undefined) f.source = filter.source;
  if (filter.tag !== undefined) f.tag = filter.tag;
  if (filter.port !== undefined) f.port = filter.port;
  if (filter.reason !== undefined) f.reason = filter.reason;
  if (filter.limit !== undefined) f.limit = filter.limit;
  return f;
}

// One ISO formatter per field: each keeps its own last time and day.
const firstSeenIso = isoFormatter();
const lastSeenIso = isoFormatter();
const lastHitIso = isoFormatter();
const expiresIso = isoFormatter();

/** A database record as the API returns it. */
export function recordInfo(r: BanRecord): BanRecordInfo {
  return {
    target: r.prefix.toString(),
    state: r.state,
    ports: [...r.ports],
    reason: r.reason,
    source: r.source,
    sourceTag: r.tag,
    firstSeenAt: firstSeenIso(r.firstSeen),
    lastSeenAt: lastSeenIso(r.lastSeen),
    lastHitAt: r.lastHit === 0 ? null : lastHitIso(r.lastHit),
    hitCount: r.hitCount,
    banCount: r.banCount,
    expiresAt: r.expires === null || r.expires === 0 ? null : expiresIso(r.expires),
    permanent: r.permanent,
    pinned: r.pinned,
    monitor: r.monitor,
  };
}

function isActiveRecord(r: BanRecord | undefined): r is BanRecord {
  return r !== undefined && r.state !== 'expired';
}

/** EALLOWLISTED: @target (item @index of a batch) lies inside the allowlist entry @by. */
export function allowlistedError(target: string, by: string | undefined, index: number | undefined, applied: number, cause: unknown): FfwallError {
  const where = index === undefined ? '' : ` (item ${index})`;
  return Object.assign(
    new FfwallError(
      'EALLOWLISTED',
      `ffwall: ${target}${where} is on the allowlist${by === undefined || by === target ? '' : ` (by ${by})`}; ` +
        `remove it from the allowlist first (ffwall allow remove ${by ?? target}); nothing was blocked`,
      { cause },
    ),
    { applied, ...(index === undefined ? {} : { badIndex: index }) },
  );
}

export interface DirectTransportOptions {
  /** The ban database; without it the kernel alone holds the bans. */
  store?: BanStore;
  /** Seconds of a ban without a TTL when there is no database (with one, escalation decides). */
  defaultTtl?: number;
  /** False: close() leaves the kernel and the database open (the daemon owns them). Default true. */
  owns?: boolean;
  /** The rules of report(); default defaultOffenceConfig(). */
  offences?: OffenceConfig;
}

export class DirectTransport implements Transport {
  readonly name = 'direct' as const;
  readonly #kernel: Kernel;
  readonly #store: BanStore | undefined;
  readonly #defaultTtl: number;
  readonly #owns: boolean;
  readonly #offences: OffenceTracker;

  /** Takes an open kernel (and database); closing the transport closes them unless `owns` is false. */
  constructor(kernel: Kernel, options: DirectTransportOptions = {}) {
    this.#kernel = kernel;
    this.#store = options.store;
    this.#defaultTtl = options.defaultTtl ?? 86400;
    this.#owns = options.owns ?? true;
    this.#offences = new OffenceTracker(options.offences ?? defaultOffenceConfig(), { ban: (r) => this.block(r) });
  }

  /** This transport's own offence tracker (report() counts here). */
  get offences(): OffenceTracker {
    return this.#offences;
  }

  async report(offence: ReportRequest): Promise<ReportResult> {
    this.#writable('report');
    return this.#offences.report(offence);
  }

  /**
   * Before a call that changes bans: opened with the database alone
   * (kernel-none.ts), it fails here, before the database is written, since
   * the kernel half of the change could not follow.
   */
  #writable(call: string): void {
    if (this.#kernel.kind === 'none') throw noKernelError(call);
  }

  /** Wall clock minus the kernel's clock, in ms: adds to a CLOCK_BOOTTIME time to date it. */
  async #offsetMs(): Promise<number> {
    const s = await this.#kernel.stats();
    return offsetFrom(s.now);
  }

  #rule(r: BlockRequest, prefix?: IpPrefix): KernelRule {
    const ttl = r.permanent ? 0 : (r.ttl ?? this.#defaultTtl);
    return { prefix: prefix ?? parsePrefix(r.target), ports: r.ports, ttl, pinned: r.pin, monitor: r.monitor };
  }

  #banInput(r: BlockRequest, prefix?: IpPrefix): BanInput {
    const input: BanInput = {
      prefix: prefix ?? r.target,
      ports: r.ports,
      reason: r.reason,
      source: r.source,
      tag: r.sourceTag,
      pinned: r.pin,
      monitor: r.monitor,
    };
    if (r.permanent) input.permanent = true;
    else if (r.ttl !== null) input.ttl = r.ttl;
    if (r.aggregate !== undefined) input.aggregate = r.aggregate;
    return input;
  }

  #allowlistedDb(err: unknown, target: string, index: number | undefined): never {
    const e = err as Error & { code?: string; allowed?: { prefix: IpPrefix } };
    if (e.code === 'EFFWALLALLOWED') throw allowlistedError(target, e.allowed?.prefix.toString(), index, 0, err);
    throw err;
  }

  async #allowlisted(err: unknown, targets: readonly string[]): Promise<never> {
    return this.#allowlistedAt(err, (i) => targets[i] ?? targets[0] ?? '?', targets.length);
  }

  /** #allowlisted() where @targetAt(i) names the input's item i of @count. */
  async #allowlistedAt(err: unknown, targetAt: (i: number) => string, count: number): Promise<never> {
    if (isKernelError(err) && err.code === 'EEXIST') {
      const target = targetAt(err.badIndex ?? 0);
      const probe = new IpPrefix(parsePrefix(target).bytes, 128);
      const res = await this.#kernel.lookup(probe).catch(() => undefined);
      const by = res?.match === 'allow' && res.entry !== undefined ? res.entry.prefix.toString() : undefined;
      throw allowlistedError(target, by, count > 1 ? err.badIndex : undefined, err.applied ?? 0, err);
    }
    throw err;
  }

  /**
   * Puts active records into the kernel and marks those it took.  A kernel
   * that refuses for lack of room (every entry pinned) leaves them cold: the
   * membership filter and the daemon bring them back.
   */
  async #load(records: BanRecord[], markedKernel = false): Promise<number> {
    const store = this.#store;
    if (store === undefined || records.length === 0) return 0;
    const now = Date.now();
    // A record whose expiry passed meanwhile is not loaded (ruleOf gives none).
    const live: BanRecord[] = [];
    const rules: KernelRule[] = [];
    for (const r of records) {
      const rule = ruleOf(r, now);
      if (rule === undefined) continue;
      live.push(r);
      rules.push(rule);
    }
    let applied: number;
    try {
      applied = (await this.#kernel.add(rules)).applied;
    } catch (err) {
      if (!isNoRoom(err)) throw err;
      applied = err.applied ?? 0;
    }
    if (markedKernel) {
      // Those written as 'kernel' that are not there: expired meanwhile, or refused.
      if (applied < records.length) {
        const out = new Set(live.slice(applied).map((r) => r.prefix.key()));
        store.markEvicted(records.filter((r) => out.has(r.prefix.key()) || ruleOf(r, now) === undefined).map((r) => r.prefix));
      }
    } else {
      store.markLoaded(live.slice(0, applied).map((r) => r.prefix));
    }
    return applied;
  }

  async block(r: BlockRequest): Promise<BlockResult> {
    this.#writable('block');
    const store = this.#store;
    if (store === undefined) {
      let res;
      try {
        res = await this.#kernel.add([this.#rule(r)]);
      } catch (err) {
        return this.#allowlisted(err, [r.target]);
      }
      const ttl = r.permanent ? 0 : (r.ttl ?? this.#defaultTtl);
      return {
        target: r.target,
        created: res.changed === 1,
        action: res.changed === 1 ? 'created' : 'refreshed',
        durationFrom: r.ttl === null && !r.permanent ? 'base' : 'explicit',
        inKernel: true,
        record: null,
        also: [],
        ports: r.ports,
        expiresAt: ttl === 0 ? null : new Date((Math.round(Date.now() / 1000) + ttl) * 1000).toISOString(),
        pinned: r.pin,
        monitor: r.monitor,
      };
    }
    let res: BanResult;
    try {
      res = store.ban(this.#banInput(r));
    } catch (err) {
      return this.#allowlistedDb(err, r.target, undefined);
    }
    const extra: BanResult[] = [];
    const esc = res.aggregation?.escalated?.result;
    if (esc !== undefined && 'record' in esc) extra.push(esc);
    let loaded: number;
    try {
      loaded = await this.#load([res.record, ...extra.map((e) => e.record)]);
    } catch (err) {
      // The kernel's own allowlist refused what the database's did not: undo, so nothing changes.
      if (isKernelError(err) && err.code === 'EEXIST' && res.action === 'created') store.unban(res.record.prefix, { reason: 'refused by the kernel allowlist' });
      return this.#allowlisted(err, [res.record.prefix.toString()]);
    }
    const rec = store.get(res.record.prefix) ?? res.record;
    return {
      target: rec.prefix.toString(),
      created: res.action === 'created',
      action: res.action,
      durationFrom: res.durationFrom,
      inKernel: loaded > 0,
      record: recordInfo(rec),
      also: extra.map((e) => e.record.prefix.toString()),
      ports: [...rec.ports],
      expiresAt: isoMs(rec.expires),
      pinned: rec.pinned,
      monitor: rec.monitor,
    };
  }

  async blockMany(requests: BlockRequest[], onProgress?: (p: BatchProgress) => void, prefixes?: readonly IpPrefix[]): Promise<BatchSummary> {
    this.#writable('blockMany');
    const store = this.#store;
    // The caller's parsed targets when it gave them (Ffwall.blockMany does), else parsed here.
    const parsed = prefixes !== undefined && prefixes.length === requests.length ? prefixes : requests.map((r) => parsePrefix(r.target));
    if (store === undefined) {
      const rules = requests.map((r, i) => this.#rule(r, parsed[i]));
      try {
        const res = await this.#kernel.add(rules, onProgress === undefined ? {} : { onProgress: (done, total) => onProgress({ done, total }) });
        return { total: requests.length, applied: res.applied, changed: res.changed };
      } catch (err) {
        return this.#allowlisted(
          err,
          requests.map((r) => r.target),
        );
      }
    }
    // Nothing changes when one item is allowlisted: check them all first.
    const refused = store.firstAllowed(parsed);
    if (refused !== undefined) {
      this.#allowlistedDb(Object.assign(new Error('allowlisted'), { code: 'EFFWALLALLOWED', allowed: refused.entry }), requests[refused.index]?.target ?? '?', refused.index);
    }
    // More than one batch: the batches in the database's key order (feeds.ts
    // inKeyOrder(): a few B-tree pages per batch instead of one per ban;
    // stable, so a duplicate still refreshes the ban of the item before it).
    const order = requests.length > MANY_CHUNK ? keyOrderOf(parsed) : undefined;
    return this.#banChunks(store, requests.length, (i) => this.#banInput(requests[i] as BlockRequest, parsed[i]), order, onProgress);
  }

  /**
   * Writes @total bans (@inputAt(i) makes item i's) to the database and the
   * kernel, MANY_CHUNK at a time, items taken in @order when given: only one
   * chunk's inputs and records exist at a time.  The caller has checked the
   * allowlist over all of them.  Errors name the item by its index in the
   * caller's input.
   */
  async #banChunks(store: BanStore, total: number, inputAt: (i: number) => BanInput, order: Uint32Array | undefined, onProgress?: (p: BatchProgress) => void): Promise<BatchSummary> {
    let applied = 0;
    let changed = 0;
    for (let off = 0; off < total; off += MANY_CHUNK) {
      const end = Math.min(total, off + MANY_CHUNK);
      // Written as 'kernel' at once (one write per ban): the few the kernel
      // then refuses (a table full of pinned entries) are marked cold.
      const inputs: BanInput[] = [];
      for (let k = off; k < end; k++) {
        const input = inputAt(order === undefined ? k : (order[k] as number));
        input.state = 'kernel';
        inputs.push(input);
      }
      const records: BanRecord[] = [];
      const res = await store.bulkBan(inputs, { batchSize: MANY_CHUNK, onResult: (_i, r) => records.push(r.record) });
      if (res.refused.length > 0) {
        const first = res.refused[0];
        const at = off + (first?.index ?? 0);
        const bad = order === undefined ? at : (order[at] as number);
        throw Object.assign(new FfwallError('EREFUSED', `ffwall: item ${bad} was refused: ${first?.error ?? '?'}`), {
          applied: applied + res.committed,
          badIndex: bad,
        });
      }
      changed += res.created + res.revived;
      await this.#load(records, true);
      applied += end - off;
      onProgress?.({ done: applied, total });
    }
    return { total, applied, changed };
  }

  /** True without a ban database: blockMany() may then take packed prefixes (blockPacked()). */
  get kernelOnly(): boolean {
    return this.#store === undefined;
  }

  /**
   * blockMany() of targets packed by the caller, every one with the options
   * of @shared (its target unused), without a BlockRequest per target.
   * Without a database: one packed ADD, no object per target.  With one:
   * the allowlist is checked over them all first (nothing changes when one
   * is on it); then the kernel takes them all in one packed ADD, so they
   * are dropped within seconds; then they are written MANY_CHUNK at a time,
   * in the database's key order (feeds.ts packedKeyOrder(): the fast order
   * for its B-trees), each chunk loaded again with its records' own rules (an
   * escalated duration, a pin kept), which updates the entries in place.  A
   * crash before the last chunk leaves kernel entries without a record: the
   * daemon's reconcile deletes them, and the import can be run again.
   * @targetOf names an item in an error; indexes are @packed's.
   */
  async blockPacked(packed: PackedPrefixes, shared: BlockRequest, targetOf: (i: number) => string, onProgress?: (p: BatchProgress) => void): Promise<BatchSummary> {
    this.#writable('blockFeed');
    const store = this.#store;
    const at = (i: number): IpPrefix => packedPrefixAt(packed, i);
    const ttl = shared.permanent ? 0 : (shared.ttl ?? this.#defaultTtl);
    const rule: SharedRule = { ports: shared.ports, ttl, pinned: shared.pin, monitor: shared.monitor };
    if (store !== undefined) {
      const refused = store.firstAllowed({ count: packed.count, at, packed });
      if (refused !== undefined) {
        this.#allowlistedDb(Object.assign(new Error('allowlisted'), { code: 'EFFWALLALLOWED', allowed: refused.entry }), targetOf(refused.index), refused.index);
      }
      try {
        await this.#addPacked(packed, rule, {});
      } catch (err) {
        // No room (every entry pinned): the chunks' loads below mark what the kernel refuses cold.
        if (!isNoRoom(err)) await this.#allowlistedAt(err, targetOf, packed.count);
      }
      // The database's key order (a few B-tree pages per chunk instead of one per ban), as a permutation: errors name the caller's index.
      return this.#banChunks(store, packed.count, (i) => this.#banInput(shared, at(i)), packedKeyOrder(packed), onProgress);
    }
    const opts = onProgress === undefined ? {} : { onProgress: (done: number, total: number) => onProgress({ done, total }) };
    try {
      const res = await this.#addPacked(packed, rule, opts);
      return { total: packed.count, applied: res.applied, changed: res.changed };
    } catch (err) {
      return this.#allowlistedAt(err, targetOf, packed.count);
    }
  }

  /** Every prefix of @packed into the kernel with @rule: one packed ADD where the kernel takes it. */
  async #addPacked(packed: PackedPrefixes, rule: SharedRule, opts: BatchOptions): Promise<BatchResult> {
    const k = this.#kernel as Kernel & Partial<PackedAdd>;
    if (typeof k.addPacked === 'function') return k.addPacked(packed, rule, opts);
    const rules: KernelRule[] = new Array<KernelRule>(packed.count);
    for (let i = 0; i < packed.count; i++) rules[i] = { ...rule, prefix: packedPrefixAt(packed, i) };
    return this.#kernel.add(rules, opts);
  }

  async unblock(target: string): Promise<UnblockResult> {
    this.#writable('unblock');
    const p = parsePrefix(target);
    const rec = this.#store?.unban(p);
    const res = await this.#kernel.del([p]);
    return { target, removed: res.changed === 1 || rec !== undefined };
  }

  async unblockMany(targets: string[], onProgress?: (p: BatchProgress) => void): Promise<BatchSummary> {
    this.#writable('unblockMany');
    const prefixes = targets.map((t) => parsePrefix(t));
    let dbRemoved = 0;
    if (this.#store !== undefined) for (const p of prefixes) if (this.#store.unban(p) !== undefined) dbRemoved++;
    const res = await this.#kernel.del(prefixes, onProgress === undefined ? {} : { onProgress: (done, total) => onProgress({ done, total }) });
    return { total: targets.length, applied: res.applied, changed: Math.max(res.changed, dbRemoved) };
  }

  async check(address: string, port: number | null): Promise<CheckResult> {
    const a = parseAddress(address);
    const res = await this.#kernel.lookup(a, port ?? undefined);
    const offsetMs = offsetFrom(res.now);
    const rec = this.#store?.covering(a, true);
    const inKernel = res.verdict === 'drop' || res.verdict === 'ports';
    const dbBlocks =
      isActiveRecord(rec) && !rec.monitor && (port === null || rec.ports.length === 0 || rec.ports.includes(port)) && (rec.expires === null || rec.expires > Date.now());
    return {
      address,
      port,
      blocked: res.match !== 'allow' && (inKernel || dbBlocks),
      inKernel,
      verdict: res.verdict,
      match: res.match,
      rule: res.entry === undefined ? null : banInfo(res.entry, offsetMs),
      record: rec === undefined ? null : recordInfo(rec),
    };
  }

  async allow(targets: string[], reason: string): Promise<AllowResult[]> {
    this.#writable('allow');
    const out: AllowResult[] = [];
    for (const target of targets) {
      const p = parsePrefix(target);
      const had = this.#store?.allowedBy(p)?.prefix.equals(p) ?? false;
      this.#store?.allowAdd(p, reason);
      const res = await this.#kernel.allowAdd([p]);
      out.push({ target, changed: res.changed === 1 || (this.#store !== undefined && !had) });
    }
    return out;
  }

  async disallow(targets: string[]): Promise<AllowResult[]> {
    this.#writable('disallow');
    // The automatic safety entries are refused before anything changes: only the configuration takes them off.
    for (const target of targets) {
      const p = parsePrefix(target);
      const a = this.#store?.allowedBy(p);
      const kind = a !== undefined && a.prefix.equals(p) ? automaticKind(a.reason) : null;
      if (a === undefined || kind === null) continue;
      throw new FfwallError(
        'EAUTOMATIC',
        `ffwall: ${p.toString()} is on the automatic safety allowlist (${a.reason.slice(AUTO_REASON_PREFIX.length)}); the daemon would put it back. ` +
          `To let it be banned, add it to safety.override in the daemon's configuration, with a reason ({"prefix": "${p.toString()}", "reason": "..."}), ` +
          `then reload the daemon (systemctl reload ffwall); nothing was removed`,
      );
    }
    const out: AllowResult[] = [];
    for (const target of targets) {
      const p = parsePrefix(target);
      const removed = this.#store?.allowRemove(p) ?? false;
      const res = await this.#kernel.allowDel([p]);
      out.push({ target, changed: res.changed === 1 || removed });
    }
    return out;
  }

  async status(): Promise<StatusResult> {
    const [v, c, s] = await Promise.all([this.#kernel.version(), this.#kernel.getConfig(), this.#kernel.stats()]);
    return {
      transport: 'direct',
      moduleVersion: v.moduleVersion,
      abiVersion: v.abiVersion,
      mode: c.mode,
      entries: s.entries,
      maxEntries: c.maxEntries,
      prefixes: s.prefixes,
      allowEntries: s.allowEntries,
      dropped: s.droppedExact + s.droppedPorts + s.droppedPrefix,
      database: this.#store === undefined ? null : this.#store.counts(),
    };
  }

  databaseCounts(): Promise<DatabaseCounts | null> {
    return Promise.resolve(this.#store === undefined ? null : this.#store.counts());
  }

  #needStore(what: string): BanStore {
    if (this.#store === undefined) throw new FfwallError('ENODATABASE', `ffwall: ${what} needs the ban database, and this instance has none`);
    return this.#store;
  }

  async *list(filter: ListRequest): AsyncIterable<BanRecordInfo> {
    const store = this.#needStore('list');
    const f = listFilterOf(filter);
    let n = 0;
    for (const r of store.list(f)) {
      yield recordInfo(r);
      // Let the event loop breathe (and a socket drain) now and then.
      if (++n % 1024 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** list() as NDJSON: UTF-8 chunks of whole lines (about @chunkBytes each), written from the stored bytes (BanStore.listNdjson). */
  async *listNdjson(filter: ListRequest, options: ChunkOptions = {}): AsyncIterable<Uint8Array> {
    yield* breathe(this.#needStore('list').listChunks(listFilterOf(filter), chunkOptions(options, false)));
  }

  /** The targets of list(), one per line (BanStore.listTargets). */
  async *listTargets(filter: ListRequest, options: ChunkOptions = {}): AsyncIterable<Uint8Array> {
    yield* breathe(this.#needStore('export').listChunks(listFilterOf(filter), chunkOptions(options, true)));
  }

  async show(target: string): Promise<ShowResult> {
    const store = this.#needStore('show');
    const p = parsePrefix(target);
    const rec = store.get(p);
    const history: HistoryEntry[] = [];
    for (const h of store.history(p, { limit: 1000, reverse: true })) {
      history.push({ at: new Date(h.time).toISOString(), type: h.type, target: h.prefix.toString(), details: h.details });
    }
    history.reverse();
    const by = store.allowedBy(p);
    return { target: p.toString(), record: rec === undefined ? null : recordInfo(rec), history, allowedBy: by === undefined ? null : by.prefix.toString() };
  }

  async stats(): Promise<StatsResult> {
    const [v, c, s, d] = await Promise.all([this.#kernel.version(), this.#kernel.getConfig(), this.#kernel.stats(), this.#kernel.devices()]);
    return {
      transport: 'direct',
      moduleVersion: v.moduleVersion,
      abiVersion: v.abiVersion,
      at: new Date().toISOString(),
      kernel: {
        entries: s.entries,
        maxEntries: c.maxEntries,
        pinned: s.pinned,
        prefixes: s.prefixes,
        allowEntries: s.allowEntries,
        bytes: s.bytes,
        memory: { exact: s.bytes, prefix: s.prefixBytes, allow: s.allowBytes, filter: s.filterBytes, total: s.bytes + s.prefixBytes + s.allowBytes + s.filterBytes },
        packetsSeen: s.packetsSeen,
        dropped: { exact: s.droppedExact, ports: s.droppedPorts, prefix: s.droppedPrefix, total: s.droppedExact + s.droppedPorts + s.droppedPrefix },
        passedAllow: s.passedAllow,
        monitorHits: s.monitorHits,
        inserted: s.inserted,
        deleted: s.deleted,
        evicted: s.evicted,
        expired: s.expired,
        eventsLost: s.eventsLost,
      },
      config: { ...c },
      devices: d.map((x) => ({ ...x })),
      database: this.#store === undefined ? null : this.#store.counts(),
    };
  }

  async allowList(): Promise<AllowEntryInfo[]> {
    const inKernel = new Set<string>();
    for await (const batch of this.#kernel.allowDump()) for (const e of batch) inKernel.add(e.prefix.toString());
    const out: AllowEntryInfo[] = [];
    const seen = new Set<string>();
    for (const a of this.#store?.allowlist() ?? []) {
      const target = a.prefix.toString();
      seen.add(target);
      out.push({ target, reason: a.reason, addedAt: isoMs(a.addedAt), inKernel: inKernel.has(target), automatic: automaticKind(a.reason), overridden: null });
    }
    for (const target of inKernel) if (!seen.has(target)) out.push({ target, reason: '', addedAt: null, inKernel: true, automatic: null, overridden: null });
    return out;
  }

  async attach(device: string): Promise<DeviceEntry[]> {
    await this.#kernel.attach(device);
    return this.devices();
  }

  async detach(device: string): Promise<DeviceEntry[]> {
    try {
      await this.#kernel.detach(device);
    } catch (err) {
      if (isKernelError(err) && err.code === 'ENOENT') throw new FfwallError('ENOTATTACHED', `ffwall: ${device} is not in the attach list (see ffwall devices)`, { cause: err });
      throw err;
    }
    return this.devices();
  }

  async devices(): Promise<DeviceEntry[]> {
    return (await this.#kernel.devices()).map((d) => ({ ...d }));
  }

  async getConfig(): Promise<ConfigInfo> {
    return { ...(await this.#kernel.getConfig()) };
  }

  async setConfig(patch: ConfigPatch): Promise<ConfigInfo> {
    return { ...(await this.#kernel.setConfig(patch)) };
  }

  async flush(request: FlushRequest): Promise<FlushResult> {
    this.#writable('flush');
    const store = this.#store;
    const bans = request.scope.filter((s) => s !== 'allow');
    let database = 0;
    let cold = 0;
    if (store !== undefined && request.database) {
      if (bans.length > 0) {
        const doomed: IpPrefix[] = [];
        for (const r of store.list({ state: ['kernel', 'cold'] })) {
          if (bans.includes(r.prefix.isHost ? 'exact' : 'prefix')) doomed.push(r.prefix);
        }
        for (const p of doomed) if (store.unban(p, { flush: true }) !== undefined) database++;
      }
      if (request.scope.includes('allow')) {
        // The automatic safety entries stay: only the configuration takes them off.
        for (const a of [...store.allowlist()]) if (automaticKind(a.reason) === null && store.allowRemove(a.prefix)) database++;
      }
    } else if (store !== undefined && bans.length > 0) {
      const out = [...store.inKernelPrefixes()].filter((p) => bans.includes(p.isHost ? 'exact' : 'prefix'));
      cold = store.markEvicted(out);
    }
    const kernel = request.scope.length === 0 ? 0 : await this.#kernel.flush({ scope: request.scope });
    if (store !== undefined && request.scope.includes('allow')) {
      // The kernel's allowlist went whole; the safety entries go back at once,
      // so that the host is never bannable until the daemon's next refresh.
      const safety = [...store.allowlist()].filter((a) => automaticKind(a.reason) !== null).map((a) => a.prefix);
      if (safety.length > 0) await this.#kernel.allowAdd(safety);
    }
    return { kernel, database, cold };
  }

  async unblockSource(source: BanSource, tag: string | null): Promise<UnblockSourceResult> {
    this.#writable('unblockSource');
    const store = this.#needStore('unblock --source');
    const inKernel: IpPrefix[] = [];
    for (const r of store.list(tag === null ? { source } : { source, tag })) if (r.state === 'kernel') inKernel.push(r.prefix);
    const removed = tag === null ? store.unbanBySource(source) : store.unbanBySource(source, tag);
    const res = inKernel.length === 0 ? { changed: 0 } : await this.#kernel.del(inKernel);
    return { source, tag, removed, kernel: res.changed };
  }

  async *kernelNdjson(limit: number): AsyncIterable<Uint8Array> {
    if (limit <= 0) return;
    const offsetMs = offsetFrom((await this.#kernel.stats()).now);
    let n = 0;
    // One chunk per DUMP batch (up to 8192 entries): the dump's own pace, no
    // second buffer; written from the columns (kernel-json.ts), no object per entry.
    const w = new KernelLineWriter(offsetMs);
    for await (const c of this.#kernel.dumpColumns()) {
      const { text, count } = w.lines(c, limit - n);
      n += count;
      if (text !== '') yield Buffer.from(text, 'utf8');
      if (n >= limit) return;
    }
  }

  async hits(hitSince: number, limit: number): Promise<HitsResult> {
    const s = await this.#kernel.stats();
    const offsetMs = offsetFrom(s.now);
    const entries: BanInfo[] = [];
    let truncated = false;
    for await (const batch of this.#kernel.dump(hitSince > 0 ? { hitSince } : {})) {
      for (const e of batch) {
        if (e.kind === 'allow') continue;
        if (entries.length >= limit) {
          truncated = true;
          break;
        }
        entries.push(banInfo(e, offsetMs));
      }
      if (truncated) break;
    }
    return { kernelNow: s.now, at: new Date(s.now * 1000 + offsetMs).toISOString(), entries, truncated };
  }

  async subscribe(listener: (event: FfwallEvent) => void, onError: (err: Error) => void): Promise<() => void> {
    const offsetMs = await this.#offsetMs();
    const stream = this.#kernel.events();
    const convert = (e: KernelEvent): FfwallEvent => ({
      type: e.type,
      target: e.prefix === undefined ? null : e.prefix.toString(),
      value: e.value,
      at: new Date(e.time * 1000 + offsetMs).toISOString(),
    });
    void (async () => {
      try {
        for await (const e of stream) listener(convert(e));
      } catch (err) {
        if (!stream.closed) onError(err instanceof Error ? err : new Error(String(err)));
      }
    })();
    return () => stream.close();
  }

  async close(): Promise<void> {
    if (!this.#owns) return;
    try {
      await this.#kernel.close();
    } finally {
      await this.#store?.close();
    }
  }
}
