// SPDX-License-Identifier: MIT
//
// The control socket: how an unprivileged process (a mail server) reaches
// ffwall through the daemon.  Protocol version 1, documented in
// docs/control-protocol.md:
//   - a unix stream socket carrying UTF-8 JSON, one message per line;
//   - the server speaks first: {"ffwall":"control","protocol":1,"server":V};
//   - requests {"id":N,"op":OP,"args":{...}}; answers {"id":N,"ok":true,
//     "result":R} or {"id":N,"ok":false,"error":{code,message,kind,...}};
//     long batches also send {"id":N,"progress":{"done":D,"total":T}};
//   - op "blockFeed" (hello feature "blockFeed") carries a feed packed: its
//     request line {"id":N,"op":"blockFeed","args":{"count":C,"request":R}}
//     is followed by C*17 bytes (feeds.ts packedToWire()), not a line;
//   - after op "subscribe", events arrive as {"event":{...}}.
// A line longer than CONTROL_MAX_LINE bytes is answered with EPROTO and the
// connection is closed; a line that is not a valid request is answered with
// EPROTO and the connection goes on.  The server re-checks every argument
// through the same Ffwall methods a direct caller uses: it trusts no client.
import type net from 'node:net';

import type {
  AllowEntryInfo,
  AllowResult,
  BanRecordInfo,
  BanSource,
  ConfigInfo,
  ConfigPatch,
  DeviceEntry,
  FlushRequest,
  FlushResult,
  HitsResult,
  ListRequest,
  ShowResult,
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
import { nodeNet } from './builtins.js';
import { FfwallError, fromWireError, toWireError, type WireError } from './errors.js';
import { feedFromWire, PACKED_WIRE_ENTRY, packedToWire } from './feeds.js';
import type { PackedPrefixes } from './kernel-native.js';
import { closeAt, listenAt } from './listen.js';
import type { Ffwall } from './ffwall.js';
import type { Offence, ReportRequest, ReportResult } from './offences.js';

export const CONTROL_PROTOCOL = 1;
export const DEFAULT_SOCKET_PATH = '/run/ffwall/ffwall.sock';
/** Largest message, bytes, newline excluded. */
export const CONTROL_MAX_LINE = 4 * 1024 * 1024;
/** Requests per blockMany/unblockMany message sent by the client. */
export const CONTROL_CHUNK = 10000;
/** Entries per blockFeed message (17 bytes each: 17 MiB at most). */
export const CONTROL_FEED_CHUNK = 1 << 20;
/**
 * Bytes of blockFeed payloads the server holds at once, every connection
 * together (a feed is whole before it is checked); a blockFeed past it is
 * answered EBUSY, its payload read and dropped.
 */
export const CONTROL_FEED_BUDGET = 64 * 1024 * 1024;
/** What this server offers beyond protocol 1's first ops, announced in its hello. */
const FEATURES = ['blockFeed'] as const;

const OPS = [
  'block',
  'blockMany',
  'unblock',
  'unblockMany',
  'check',
  'allow',
  'disallow',
  'status',
  'subscribe',
  'unsubscribe',
  'list',
  'show',
  'stats',
  'allowList',
  'attach',
  'detach',
  'devices',
  'getConfig',
  'setConfig',
  'flush',
  'unblockSource',
  'hits',
  'report',
  'kernelList',
  'blockFeed',
] as const;
/** Row payloads (list streams, about 256 KiB each) a client may hold unread before it pauses the socket. */
const CLIENT_CHUNKS_HIGH = 8;
type Op = (typeof OPS)[number];

interface Hello {
  ffwall: 'control';
  protocol: number;
  server: string;
  /** Ops added to protocol 1 that this server has (an older one sends none). */
  features?: string[];
}

/**
 * Splits a byte stream into lines, refusing any longer than @max.  A line's
 * handler may call raw(n, fn): the n bytes after that line are a binary
 * payload (NDJSON rows of a list), handed whole to fn, not lines.
 */
class LineReader {
  #parts: Buffer[] = [];
  #size = 0;
  #raw: { left: number; parts: Buffer[] | undefined; fn: (payload: Buffer) => void } | undefined;
  constructor(
    private readonly max: number,
    private readonly onLine: (line: string) => void,
    private readonly onTooLong: () => void,
  ) {}

  /**
   * The next @n bytes (at most @max) go to @fn as one payload; with @keep
   * false they are read and dropped, and @fn gets an empty buffer.
   */
  raw(n: number, fn: (payload: Buffer) => void, max = this.max, keep = true): void {
    if (!(Number.isSafeInteger(n) && n >= 0 && n <= max)) return this.onTooLong();
    if (n === 0) return fn(Buffer.alloc(0));
    this.#raw = { left: n, parts: keep ? [] : undefined, fn };
  }

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const r = this.#raw;
      if (r !== undefined) {
        const take = Math.min(r.left, chunk.length - start);
        r.parts?.push(chunk.subarray(start, start + take));
        r.left -= take;
        start += take;
        if (r.left > 0) return;
        this.#raw = undefined;
        const parts = r.parts ?? [];
        r.fn(parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts));
        continue;
      }
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      if (this.#size + piece.length > this.max) return this.onTooLong();
      this.#parts.push(piece);
      const line = Buffer.concat(this.#parts).toString('utf8');
      this.#parts = [];
      this.#size = 0;
      this.onLine(line);
      start = nl + 1;
    }
    const rest = chunk.subarray(start);
    if (this.#size + rest.length > this.max) return this.onTooLong();
    if (rest.length > 0) {
      this.#parts.push(Buffer.from(rest));
      this.#size += rest.length;
    }
  }
}

function send(sock: net.Socket, msg: unknown): void {
  if (!sock.destroyed && sock.writable) sock.write(`${JSON.stringify(msg)}\n`);
}

function protoError(message: string): WireError {
  return { code: 'EPROTO', message, kind: 'FfwallError' };
}

export interface ControlServerOptions {
  /** The socket's path. */
  path: string;
  /** File mode of the socket; default 0o660. */
  mode?: number;
  /** Group id to give the socket (the mail server's group); default: unchanged. */
  gid?: number;
  /** Version string the server announces. */
  serverVersion?: string;
  /** Most connections at once; default 256. */
  maxConnections?: number;
}

/** Serves an Ffwall instance on a unix socket.  The constructor does no work. */
export class ControlServer {
  readonly #fw: Ffwall;
  readonly #opts: ControlServerOptions;
  #server: net.Server | undefined;
  readonly #sockets = new Set<net.Socket>();
  /** Bytes of blockFeed payloads held now (being read or handled), every connection together. */
  #feedBytes = 0;
  /** Called on each protocol error (for logging); optional. */
  onProtocolError: ((reason: string) => void) | undefined;

  constructor(fw: Ffwall, options: ControlServerOptions) {
    this.#fw = fw;
    this.#opts = options;
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /** Bytes of blockFeed payloads held now (CONTROL_FEED_BUDGET caps them). */
  get feedBytes(): number {
    return this.#feedBytes;
  }

  async start(): Promise<void> {
    if (this.#server !== undefined) throw new Error('ControlServer: already started');
    const { path } = this.#opts;
    const server = nodeNet().createServer((sock) => this.#accept(sock));
    server.maxConnections = this.#opts.maxConnections ?? 256;
    await listenAt(server, { type: 'unix', path }, this.#opts, `ffwall: another daemon already serves ${path}`);
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    await closeAt(server, { type: 'unix', path: this.#opts.path });
  }

  #accept(sock: net.Socket): void {
    this.#sockets.add(sock);
    let unsubscribe: (() => void) | undefined;
    let queue = Promise.resolve();
    // The feed payloads this connection holds: released once handled, or when it closes.
    const holds = new Set<{ bytes: number }>();
    const release = (h: { bytes: number }): void => {
      if (holds.delete(h)) this.#feedBytes -= h.bytes;
    };
    const onEvent = (e: FfwallEvent): void => send(sock, { event: e });
    const cleanup = (): void => {
      this.#sockets.delete(sock);
      for (const h of [...holds]) release(h);
      if (unsubscribe !== undefined) unsubscribe();
      unsubscribe = undefined;
    };
    sock.on('close', cleanup);
    sock.on('error', () => sock.destroy());
    const hello: Hello = { ffwall: 'control', protocol: CONTROL_PROTOCOL, server: this.#opts.serverVersion ?? '0', features: [...FEATURES] };
    send(sock, hello);
    const subs = {
      subscribe: (): void => {
        if (unsubscribe === undefined) {
          this.#fw.on('event', onEvent);
          unsubscribe = () => this.#fw.off('event', onEvent);
        }
      },
      unsubscribe: (): void => {
        unsubscribe?.();
        unsubscribe = undefined;
      },
    };
    // Requests of one connection run in order.
    const enqueue = (msg: Parsed, payload?: Buffer): void => {
      queue = queue.then(() => this.#handle(sock, msg, subs, payload));
    };
    const close = (reason: string, message: string): void => {
      this.onProtocolError?.(reason);
      send(sock, { id: null, ok: false, error: protoError(`${message}; closing the connection`) });
      sock.end();
      sock.pause();
    };
    const reader = new LineReader(
      CONTROL_MAX_LINE,
      (line) => {
        const msg = parseLine(line);
        if (msg.op !== 'blockFeed') return enqueue(msg);
        // The payload follows the line: it is read here, whole, before the next request.
        const count = msg.args.count;
        if (!(typeof count === 'number' && Number.isSafeInteger(count) && count >= 0 && count <= CONTROL_FEED_CHUNK)) {
          return close('bad blockFeed count', `blockFeed: args.count must be an integer in 0..${CONTROL_FEED_CHUNK} (the payload's entries)`);
        }
        const bytes = count * PACKED_WIRE_ENTRY;
        if (this.#feedBytes + bytes > CONTROL_FEED_BUDGET) {
          const busy = new FfwallError('EBUSY', `ffwall: the daemon holds ${CONTROL_FEED_BUDGET} bytes of feeds already; nothing was blocked, try again when the imports running now are done`);
          return reader.raw(bytes, () => enqueue({ ...msg, refusal: busy }), bytes, false);
        }
        const hold = { bytes };
        holds.add(hold);
        this.#feedBytes += bytes;
        reader.raw(
          bytes,
          (payload) => {
            enqueue({ ...msg, done: () => release(hold) }, payload);
          },
          bytes,
        );
      },
      () => close('request too large', `request longer than ${CONTROL_MAX_LINE} bytes`),
    );
    sock.on('data', (chunk: Buffer) => reader.push(chunk));
  }

  async #handle(sock: net.Socket, m: Parsed, subs: { subscribe(): void; unsubscribe(): void }, payload?: Buffer): Promise<void> {
    try {
      await this.#answer(sock, m, subs, payload);
    } finally {
      m.done?.();
    }
  }

  async #answer(sock: net.Socket, m: Parsed, subs: { subscribe(): void; unsubscribe(): void }, payload?: Buffer): Promise<void> {
    if (m.blank === true) return;
    if (m.malformed === true) {
      this.onProtocolError?.('malformed JSON');
      send(sock, { id: null, ok: false, error: protoError('malformed JSON') });
      return;
    }
    const id = m.id;
    if (id === null || m.op === undefined) {
      this.onProtocolError?.('not a request');
      send(sock, { id, ok: false, error: protoError(`not a request: expected {"id":<integer>,"op":<one of ${OPS.join(', ')}>,"args":{...}}`) });
      return;
    }
    const args = m.args;
    try {
      if (m.refusal !== undefined) throw m.refusal;
      const emit = async (item: unknown, as: 'item' | 'rows' = 'item', payload?: Uint8Array): Promise<void> => {
        if (sock.destroyed) throw new FfwallError('ECONNRESET', 'ffwall: the client went away');
        let ok = sock.write(`${JSON.stringify({ id, [as]: item })}\n`);
        if (payload !== undefined) ok = sock.write(payload);
        if (!ok) await new Promise<void>((resolve) => {
          const done = (): void => {
            sock.off('drain', done);
            sock.off('close', done);
            resolve();
          };
          sock.once('drain', done);
          sock.once('close', done);
        });
      };
      const result = await this.#dispatch(m.op, args, (p) => send(sock, { id, progress: p }), subs, emit, payload);
      send(sock, { id, ok: true, result });
    } catch (err) {
      send(sock, { id, ok: false, error: toWireError(err) });
    }
  }

  async #dispatch(
    op: Op,
    a: Record<string, unknown>,
    progress: (p: BatchProgress) => void,
    subs: { subscribe(): void; unsubscribe(): void },
    emit: (item: unknown, as?: 'item' | 'rows', payload?: Uint8Array) => Promise<void>,
    payload?: Buffer,
  ): Promise<unknown> {
    const fw = this.#fw;
    switch (op) {
      case 'block': {
        const r = wireRequest(a.request, 'request');
        return fw.block(r.target, requestOptions(r));
      }
      case 'blockMany': {
        if (!Array.isArray(a.requests)) throw new TypeError('requests must be an array');
        if (a.requests.length > CONTROL_CHUNK) throw new RangeError(`at most ${CONTROL_CHUNK} requests per message`);
        const items = a.requests.map((x, i) => {
          const r = wireRequest(x, `requests[${i}]`);
          return { target: r.target, ...requestOptions(r) };
        });
        return fw.blockMany(items, { onProgress: progress });
      }
      case 'blockFeed': {
        // The payload was read with the line (count checked there): the daemon checks every entry again.
        const r = wireRequest(a.request, 'request');
        const feed = feedFromWire(payload ?? Buffer.alloc(0), a.count as number);
        return fw.blockFeed(feed, { ...requestOptions(r), onProgress: progress });
      }
      case 'unblock':
        return fw.unblock(wireString(a.target, 'target'));
      case 'unblockMany': {
        if (!Array.isArray(a.targets)) throw new TypeError('targets must be an array');
        if (a.targets.length > CONTROL_CHUNK) throw new RangeError(`at most ${CONTROL_CHUNK} targets per message`);
        return fw.unblockMany(
          a.targets.map((t, i) => wireString(t, `targets[${i}]`)),
          { onProgress: progress },
        );
      }
      case 'check': {
        const port = a.port === null || a.port === undefined ? undefined : a.port;
        if (port !== undefined && typeof port !== 'number') throw new TypeError('port must be a number or null');
        return fw.check(wireString(a.address, 'address'), port === undefined ? {} : { port });
      }
      case 'allow':
        return fw.allow(wireStrings(a.targets, 'targets'), { reason: a.reason === undefined ? '' : wireString(a.reason, 'reason') });
      case 'disallow':
        return fw.disallow(wireStrings(a.targets, 'targets'));
      case 'status': {
        const s = await fw.status();
        return { ...s, transport: 'direct' };
      }
      case 'subscribe':
        subs.subscribe();
        return { subscribed: true };
      case 'unsubscribe':
        subs.unsubscribe();
        return { subscribed: false };
      case 'list': {
        const filter = (typeof a.filter === 'object' && a.filter !== null ? a.filter : {}) as ListRequest;
        let count = 0;
        if (a.rows === true) {
          // NDJSON serialized where the database is: {"id":N,"rows":BYTES}, then BYTES of whole lines.
          for await (const chunk of fw.listNdjson(filter)) {
            await emit(chunk.length, 'rows', chunk);
            for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) count++;
          }
          return { count };
        }
        for await (const r of fw.list(filter)) {
          await emit(r);
          count++;
        }
        return { count };
      }
      case 'show':
        return fw.show(wireString(a.target, 'target'));
      case 'stats': {
        const s = await fw.stats();
        return { ...s, transport: 'direct' };
      }
      case 'allowList':
        return fw.allowList();
      case 'attach':
        return fw.attach(wireString(a.device, 'device'));
      case 'detach':
        return fw.detach(wireString(a.device, 'device'));
      case 'devices':
        return fw.devices();
      case 'getConfig':
        return fw.getConfig();
      case 'setConfig':
        return fw.setConfig((typeof a.patch === 'object' && a.patch !== null ? a.patch : {}) as ConfigPatch);
      case 'flush': {
        const o: { scope?: FlushRequest['scope']; database?: boolean } = {};
        if (a.scope !== undefined) o.scope = a.scope as FlushRequest['scope'];
        if (a.database !== undefined) o.database = a.database as boolean;
        return fw.flush(o);
      }
      case 'unblockSource':
        return fw.unblockSource(wireString(a.source, 'source') as BanSource, a.tag === null || a.tag === undefined ? undefined : wireString(a.tag, 'tag'));
      case 'hits':
        return fw.hits(a.hitSince as number, a.limit as number);
      case 'kernelList': {
        // Row payloads, as list's: {"id":N,"rows":BYTES}, then BYTES of BanInfo lines.
        if (a.limit !== null && a.limit !== undefined && typeof a.limit !== 'number') throw new TypeError('limit must be a number or null');
        let count = 0;
        for await (const chunk of fw.kernelNdjson(typeof a.limit === 'number' ? { limit: a.limit } : {})) {
          await emit(chunk.length, 'rows', chunk);
          for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) count++;
        }
        return { count };
      }
      case 'report': {
        if (typeof a.offence !== 'object' || a.offence === null) throw new TypeError('offence must be an object');
        const o = a.offence as Record<string, unknown>;
        const offence: Offence = { address: wireString(o.address, 'offence.address'), kind: wireString(o.kind, 'offence.kind'), origin: wireString(o.origin, 'offence.origin') };
        if (o.at !== null && o.at !== undefined) offence.at = o.at as number;
        if (o.detail !== undefined) offence.detail = o.detail as string;
        return fw.report(offence);
      }
    }
  }
}

/** A request line as parsed before its turn (a blockFeed's payload is read with it). */
interface Parsed {
  /** The request's id; null when it has none (then it is not a request). */
  id: number | null;
  /** Undefined when the line names no known op (then it is not a request). */
  op?: Op;
  args: Record<string, unknown>;
  blank?: boolean;
  malformed?: boolean;
  /** An answer decided when the line was read (EBUSY). */
  refusal?: Error;
  /** Called once the request is handled (releases its payload). */
  done?: () => void;
}

function parseLine(line: string): Parsed {
  if (line.trim() === '') return { id: null, args: {}, blank: true };
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    return { id: null, args: {}, malformed: true };
  }
  const m = (typeof msg === 'object' && msg !== null ? msg : {}) as { id?: unknown; op?: unknown; args?: unknown };
  const id = typeof m.id === 'number' && Number.isSafeInteger(m.id) ? m.id : null;
  const args = (typeof m.args === 'object' && m.args !== null ? m.args : {}) as Record<string, unknown>;
  const op = typeof m.op === 'string' && (OPS as readonly string[]).includes(m.op) ? (m.op as Op) : undefined;
  return op === undefined ? { id, args } : { id, op, args };
}

function wireString(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new TypeError(`${what} must be a string`);
  return v;
}

function wireStrings(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.length > CONTROL_CHUNK) throw new TypeError(`${what} must be an array of at most ${CONTROL_CHUNK} strings`);
  return v.map((x, i) => wireString(x, `${what}[${i}]`));
}

function wireRequest(v: unknown, what: string): BlockRequest {
  if (typeof v !== 'object' || v === null) throw new TypeError(`${what} must be an object`);
  const r = v as Record<string, unknown>;
  wireString(r.target, `${what}.target`);
  return r as unknown as BlockRequest;
}

/** The options that reproduce a normalized request; Ffwall re-checks every field. */
function requestOptions(r: BlockRequest): BlockOptions {
  const o: BlockOptions = {
    ports: r.ports,
    permanent: r.permanent,
    pin: r.pin,
    monitor: r.monitor,
    reason: r.reason,
    source: r.source,
    sourceTag: r.sourceTag,
  };
  if (r.permanent !== true && r.ttl !== null && r.ttl !== undefined) o.ttl = r.ttl;
  if (r.force !== undefined) o.force = r.force;
  if (r.aggregate !== undefined) o.aggregate = r.aggregate;
  return o;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  progress?: (p: BatchProgress) => void;
  item?: (v: unknown) => void;
}

/** The client side: the Transport that speaks to the daemon. */
export class ClientTransport implements Transport {
  readonly name = 'client' as const;
  readonly #sock: net.Socket;
  readonly #path: string;
  readonly #pending = new Map<number, Pending>();
  readonly #listeners = new Set<(e: FfwallEvent) => void>();
  #nextId = 1;
  #closedError: Error | undefined;
  #reader: LineReader | undefined;
  /**
   * Set when the daemon takes packed feeds (hello feature "blockFeed");
   * without it Ffwall.blockFeed() sends blockMany(), as to a daemon before it.
   */
  declare blockPacked?: NonNullable<Transport['blockPacked']>;

  readonly #feedChunk: number;

  private constructor(sock: net.Socket, path: string, feedChunk: number) {
    this.#sock = sock;
    this.#path = path;
    this.#feedChunk = feedChunk;
  }

  /**
   * Connects and checks the server's protocol version.  @options.feedChunk
   * (entries per blockFeed message, at most CONTROL_FEED_CHUNK) is for tests.
   */
  static async connect(path: string = DEFAULT_SOCKET_PATH, timeoutMs = 5000, options: { feedChunk?: number } = {}): Promise<ClientTransport> {
    const feedChunk = options.feedChunk ?? CONTROL_FEED_CHUNK;
    if (!(Number.isSafeInteger(feedChunk) && feedChunk >= 1 && feedChunk <= CONTROL_FEED_CHUNK)) throw new RangeError(`feedChunk must be an integer in 1..${CONTROL_FEED_CHUNK}`);
    const sock = nodeNet().createConnection(path);
    const client = new ClientTransport(sock, path, feedChunk);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new FfwallError('ENODAEMON', `ffwall: the daemon did not answer on ${path} within ${timeoutMs} ms`)), timeoutMs);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        sock.destroy();
        reject(err);
      };
      sock.once('error', (err: NodeJS.ErrnoException) => {
        const hint =
          err.code === 'EACCES'
            ? ' (this user is not in the group that owns the socket; see the daemon configuration)'
            : err.code === 'ENOENT' || err.code === 'ECONNREFUSED'
              ? ' (is `ffwall daemon` running?)'
              : '';
        fail(new FfwallError('ENODAEMON', `ffwall: cannot connect to the daemon at ${path}: ${err.code ?? err.message}${hint}`, { cause: err }));
      });
      let first = true;
      const reader = new LineReader(
        CONTROL_MAX_LINE,
        (line) => {
          if (first) {
            first = false;
            let hello: Partial<Hello>;
            try {
              hello = JSON.parse(line) as Partial<Hello>;
            } catch {
              return fail(new FfwallError('EPROTO', `ffwall: ${path} does not speak the ffwall control protocol`));
            }
            if (hello.ffwall !== 'control') return fail(new FfwallError('EPROTO', `ffwall: ${path} does not speak the ffwall control protocol`));
            if (hello.protocol !== CONTROL_PROTOCOL) {
              return fail(
                new FfwallError(
                  'EPROTO',
                  `ffwall: the daemon speaks control protocol ${String(hello.protocol)}, this library speaks ${CONTROL_PROTOCOL}; upgrade the older of the two`,
                ),
              );
            }
            if (Array.isArray(hello.features) && hello.features.includes('blockFeed')) {
              client.blockPacked = (packed, shared, _targetOf, onProgress) => client.#blockFeed(packed, shared, onProgress);
            }
            clearTimeout(timer);
            sock.removeAllListeners('error');
            sock.on('error', (e) => client.#fail(new FfwallError('ENODAEMON', `ffwall: the connection to the daemon failed: ${e.message}`)));
            resolve();
            return;
          }
          client.#onLine(line);
        },
        () => client.#fail(new FfwallError('EPROTO', 'ffwall: the daemon sent a message that is too long')),
      );
      client.#reader = reader;
      sock.on('data', (chunk: Buffer) => reader.push(chunk));
      sock.on('close', () => client.#fail(new FfwallError('ENODAEMON', `ffwall: the daemon closed the connection (${path})`)));
    });
    return client;
  }

  #fail(err: Error): void {
    if (this.#closedError !== undefined) return;
    this.#closedError = err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    this.#sock.destroy();
  }

  #onLine(line: string): void {
    let msg: { id?: number; ok?: boolean; result?: unknown; error?: WireError; progress?: BatchProgress; event?: FfwallEvent; item?: unknown; rows?: unknown };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return this.#fail(new FfwallError('EPROTO', 'ffwall: the daemon sent malformed JSON'));
    }
    if (msg.event !== undefined) {
      for (const l of this.#listeners) l(msg.event);
      return;
    }
    const p = typeof msg.id === 'number' ? this.#pending.get(msg.id) : undefined;
    if (p === undefined) return;
    if (msg.progress !== undefined) return p.progress?.(msg.progress);
    if (msg.item !== undefined) return p.item?.(msg.item);
    if (typeof msg.rows === 'number') {
      // The payload follows the line: it goes to the same consumer, whole.
      const item = p.item;
      return this.#reader?.raw(msg.rows, (payload) => item?.(payload));
    }
    this.#pending.delete(msg.id as number);
    if (msg.ok === true) p.resolve(msg.result);
    else p.reject(fromWireError(msg.error ?? protoError('an answer without a result or an error')));
  }

  async #call<T>(op: Op, args: Record<string, unknown>, progress?: (p: BatchProgress) => void, item?: (v: unknown) => void, payload?: Uint8Array): Promise<T> {
    if (this.#closedError !== undefined) throw this.#closedError;
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = { resolve: resolve as (v: unknown) => void, reject };
      if (progress !== undefined) pending.progress = progress;
      if (item !== undefined) pending.item = item;
      this.#pending.set(id, pending);
      this.#sock.write(`${JSON.stringify({ id, op, args })}\n`);
      if (payload !== undefined) this.#sock.write(payload);
    });
  }

  block(request: BlockRequest): Promise<BlockResult> {
    return this.#call('block', { request });
  }

  async blockMany(requests: BlockRequest[], onProgress?: (p: BatchProgress) => void): Promise<BatchSummary> {
    return this.#chunked('blockMany', 'requests', requests, onProgress);
  }

  /**
   * A packed feed to the daemon, CONTROL_FEED_CHUNK entries a message (op
   * blockFeed): the daemon checks each entry (syntax, its safety rules, the
   * allowlist), puts the message's entries into the kernel at once, then
   * records them.  Errors count `badIndex` in the whole feed.
   */
  async #blockFeed(packed: PackedPrefixes, shared: BlockRequest, onProgress?: (p: BatchProgress) => void): Promise<BatchSummary> {
    const total = packed.count;
    let told = -1;
    const tell = (done: number): void => {
      if (onProgress === undefined || done === told) return;
      told = done;
      onProgress({ done, total });
    };
    return this.#inParts(total, this.#feedChunk, (off, end, before) =>
      this.#call<BatchSummary>('blockFeed', { count: end - off, request: shared }, (p) => tell(before + p.done), undefined, packedToWire(packed, off, end)),
    tell);
  }

  unblock(target: string): Promise<UnblockResult> {
    return this.#call('unblock', { target });
  }

  async unblockMany(targets: string[], onProgress?: (p: BatchProgress) => void): Promise<BatchSummary> {
    return this.#chunked('unblockMany', 'targets', targets, onProgress);
  }

  async #chunked(op: Op, key: string, items: unknown[], onProgress?: (p: BatchProgress) => void): Promise<BatchSummary> {
    const total = items.length;
    return this.#inParts(total, CONTROL_CHUNK, (off, end) => this.#call<BatchSummary>(op, { [key]: items.slice(off, end) }),
      (done) => onProgress?.({ done, total }));
  }

  /**
   * Sends `total` items as messages of at most `step`: `send(off, end,
   * appliedBefore)` sends one.  An error's `applied` and `badIndex` are
   * made to count in the whole batch.  An empty batch still sends one
   * (empty) message, so the daemon's answer (and its errors) come back.
   */
  async #inParts(total: number, step: number, send: (off: number, end: number, before: number) => Promise<BatchSummary>,
    after: (applied: number) => void): Promise<BatchSummary> {
    let applied = 0;
    let changed = 0;
    for (let off = 0; off < total || (total === 0 && off === 0); off += step) {
      const end = Math.min(total, off + step);
      try {
        const r = await send(off, end, applied);
        applied += r.applied;
        changed += r.changed;
      } catch (err) {
        const e = err as Error & { applied?: number; badIndex?: number };
        e.applied = applied + (e.applied ?? 0);
        if (e.badIndex !== undefined) e.badIndex += off;
        throw e;
      }
      after(applied);
      if (total === 0) break;
    }
    return { total, applied, changed };
  }

  check(address: string, port: number | null): Promise<CheckResult> {
    return this.#call('check', { address, port });
  }

  allow(targets: string[], reason: string): Promise<AllowResult[]> {
    return this.#call('allow', { targets, reason });
  }

  disallow(targets: string[]): Promise<AllowResult[]> {
    return this.#call('disallow', { targets });
  }

  async status(): Promise<StatusResult> {
    const s = await this.#call<StatusResult>('status', {});
    return { ...s, transport: 'client' };
  }

  /**
   * A streamed list: items arrive as lines before the answer.  When the
   * consumer falls behind, the socket is paused (the daemon then waits for
   * it to drain), so memory stays flat at any size.
   */
  async *list(filter: ListRequest): AsyncIterable<BanRecordInfo> {
    // Row payloads (the daemon serializes where the records are), parsed here line by line.
    for await (const v of this.#stream<Uint8Array | BanRecordInfo>('list', { filter, rows: true }, CLIENT_CHUNKS_HIGH, (x) => x as Uint8Array | BanRecordInfo)) {
      if (!(v instanceof Uint8Array)) {
        yield v;
        continue;
      }
      const text = Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
      let start = 0;
      for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', start)) {
        yield JSON.parse(text.slice(start, nl)) as BanRecordInfo;
        start = nl + 1;
      }
    }
  }

  /**
   * list() as NDJSON chunks, serialized by the daemon: {"id":N,"rows":BYTES}
   * lines, each followed by BYTES of NDJSON (whole lines), passed through
   * as they are, with no JSON parsed per record.  Items of a daemon that
   * sends them instead are serialized here.
   */
  listNdjson(filter: ListRequest): AsyncIterable<Uint8Array> {
    return this.#stream<Uint8Array>('list', { filter, rows: true }, CLIENT_CHUNKS_HIGH, (v) => (v instanceof Uint8Array ? v : Buffer.from(`${JSON.stringify(v)}\n`, 'utf8')));
  }

  /** The kernel table as the daemon dumps it: row payloads passed through. */
  kernelNdjson(limit: number): AsyncIterable<Uint8Array> {
    return this.#stream<Uint8Array>('kernelList', { limit: limit === Infinity ? null : limit }, CLIENT_CHUNKS_HIGH, (v) => (v instanceof Uint8Array ? v : Buffer.from(`${JSON.stringify(v)}\n`, 'utf8')));
  }

  async *#stream<T>(op: 'list' | 'kernelList', args: Record<string, unknown>, high: number, map: (v: unknown) => T): AsyncIterable<T> {
    const queue: T[] = [];
    let done = false;
    let failure: Error | undefined;
    let wake: (() => void) | undefined;
    let paused = false;
    const poke = (): void => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    this.#call<{ count: number }>(op, args, undefined, (v) => {
      queue.push(map(v));
      if (!paused && queue.length >= high) {
        paused = true;
        this.#sock.pause();
      }
      poke();
    }).then(
      () => {
        done = true;
        poke();
      },
      (err: unknown) => {
        failure = err instanceof Error ? err : new Error(String(err));
        done = true;
        poke();
      },
    );
    try {
      for (;;) {
        const next = queue.shift();
        if (next !== undefined) {
          if (paused && queue.length < high / 4) {
            paused = false;
            this.#sock.resume();
          }
          yield next;
          continue;
        }
        if (done) break;
        await new Promise<void>((resolve) => (wake = resolve));
      }
      if (failure !== undefined) throw failure;
    } finally {
      if (paused) this.#sock.resume();
    }
  }

  show(target: string): Promise<ShowResult> {
    return this.#call('show', { target });
  }

  async stats(): Promise<StatsResult> {
    const s = await this.#call<StatsResult>('stats', {});
    return { ...s, transport: 'client' };
  }

  allowList(): Promise<AllowEntryInfo[]> {
    return this.#call('allowList', {});
  }

  attach(device: string): Promise<DeviceEntry[]> {
    return this.#call('attach', { device });
  }

  detach(device: string): Promise<DeviceEntry[]> {
    return this.#call('detach', { device });
  }

  devices(): Promise<DeviceEntry[]> {
    return this.#call('devices', {});
  }

  getConfig(): Promise<ConfigInfo> {
    return this.#call('getConfig', {});
  }

  setConfig(patch: ConfigPatch): Promise<ConfigInfo> {
    return this.#call('setConfig', { patch });
  }

  flush(request: FlushRequest): Promise<FlushResult> {
    return this.#call('flush', { scope: request.scope, database: request.database });
  }

  unblockSource(source: BanSource, tag: string | null): Promise<UnblockSourceResult> {
    return this.#call('unblockSource', { source, tag });
  }

  hits(hitSince: number, limit: number): Promise<HitsResult> {
    return this.#call('hits', { hitSince, limit });
  }

  report(offence: ReportRequest): Promise<ReportResult> {
    return this.#call('report', { offence });
  }

  async subscribe(listener: (event: FfwallEvent) => void, _onError: (err: Error) => void): Promise<() => void> {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) await this.#call('subscribe', {});
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0 && this.#closedError === undefined) this.#call('unsubscribe', {}).catch(() => undefined);
    };
  }

  async close(): Promise<void> {
    if (this.#closedError === undefined) {
      this.#closedError = new FfwallError('ECLOSED', `ffwall: the connection to ${this.#path} is closed`);
      for (const p of this.#pending.values()) p.reject(this.#closedError);
      this.#pending.clear();
      await new Promise<void>((resolve) => this.#sock.end(resolve));
      this.#sock.destroy();
    }
  }
}
