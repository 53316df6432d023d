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
import { closeAt, listenAt } from './listen.js';
import type { Ffwall } from './ffwall.js';
import type { Offence, ReportRequest, ReportResult } from './offences.js';

export const CONTROL_PROTOCOL = 1;
export const DEFAULT_SOCKET_PATH = '/run/ffwall/ffwall.sock';
/** Largest message, bytes, newline excluded. */
export const CONTROL_MAX_LINE = 4 * 1024 * 1024;
/** Requests per blockMany/unblockMany message sent by the client. */
export const CONTROL_CHUNK = 10000;

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
] as const;
/** Row payloads (list streams, about 256 KiB each) a client may hold unread before it pauses the socket. */
const CLIENT_CHUNKS_HIGH = 8;
type Op = (typeof OPS)[number];

interface Hello {
  ffwall: 'control';
  protocol: number;
  server: string;
}

/**
 * Splits a byte stream into lines, refusing any longer than @max.  A line's
 * handler may call raw(n, fn): the n bytes after that line are a binary
 * payload (NDJSON rows of a list), handed whole to fn, not lines.
 */
class LineReader {
  #parts: Buffer[] = [];
  #size = 0;
  #raw: { left: number; parts: Buffer[]; fn: (payload: Buffer) => void } | undefined;
  constructor(
    private readonly max: number,
    private readonly onLine: (line: string) => void,
    private readonly onTooLong: () => void,
  ) {}

  /** The next @n bytes (at most max) go to @fn as one payload. */
  raw(n: number, fn: (payload: Buffer) => void): void {
    if (!(Number.isSafeInteger(n) && n >= 0 && n <= this.max)) return this.onTooLong();
    if (n === 0) return fn(Buffer.alloc(0));
    this.#raw = { left: n, parts: [], fn };
  }

  push(chunk: Buffer): void {
    let start = 0;
    for (;;) {
      const r = this.#raw;
      if (r !== undefined) {
        const take = Math.min(r.left, chunk.length - start);
        r.parts.push(chunk.subarray(start, start + take));
        r.left -= take;
        start += take;
        if (r.left > 0) return;
        this.#raw = undefined;
        r.fn(r.parts.length === 1 ? (r.parts[0] as Buffer) : Buffer.concat(r.parts));
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
  /** Called on each protocol error (for logging); optional. */
  onProtocolError: ((reason: string) => void) | undefined;

  constructor(fw: Ffwall, options: ControlServerOptions) {
    this.#fw = fw;
    this.#opts = options;
  }

  get connections(): number {
    return this.#sockets.size;
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
    const onEvent = (e: FfwallEvent): void => send(sock, { event: e });
    const cleanup = (): void => {
      this.#sockets.delete(sock);
      if (unsubscribe !== undefined) unsubscribe();
      unsubscribe = undefined;
    };
    sock.on('close', cleanup);
    sock.on('error', () => sock.destroy());
    const hello: Hello = { ffwall: 'control', protocol: CONTROL_PROTOCOL, server: this.#opts.serverVersion ?? '0' };
    send(sock, hello);
    const reader = new LineReader(
      CONTROL_MAX_LINE,
      (line) => {
        // Requests of one connection run in order.
        queue = queue.then(() =>
          this.#handle(sock, line, {
            subscribe: () => {
              if (unsubscribe === undefined) {
                this.#fw.on('event', onEvent);
                unsubscribe = () => this.#fw.off('event', onEvent);
              }
            },
            unsubscribe: () => {
              unsubscribe?.();
              unsubscribe = undefined;
            },
          }),
        );
      },
      () => {
        this.onProtocolError?.('request too large');
        send(sock, { id: null, ok: false, error: protoError(`request longer than ${CONTROL_MAX_LINE} bytes; closing the connection`) });
        sock.end();
        sock.pause();
      },
    );
    sock.on('data', (chunk: Buffer) => reader.push(chunk));
  }

  async #handle(sock: net.Socket, line: string, subs: { subscribe(): void; unsubscribe(): void }): Promise<void> {
    if (line.trim() === '') return;
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      this.onProtocolError?.('malformed JSON');
      send(sock, { id: null, ok: false, error: protoError('malformed JSON') });
      return;
    }
    const m = msg as { id?: unknown; op?: unknown; args?: unknown };
    const id = typeof m.id === 'number' && Number.isSafeInteger(m.id) ? m.id : null;
    if (typeof msg !== 'object' || msg === null || id === null || typeof m.op !== 'string' || !(OPS as readonly string[]).includes(m.op)) {
      this.onProtocolError?.('not a request');
      send(sock, { id, ok: false, error: protoError(`not a request: expected {"id":<integer>,"op":<one of ${OPS.join(', ')}>,"args":{...}}`) });
      return;
    }
    const args = (typeof m.args === 'object' && m.args !== null ? m.args : {}) as Record<string, unknown>;
    try {
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
      const result = await this.#dispatch(m.op as Op, args, (p) => send(sock, { id, progress: p }), subs, emit);
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

  private constructor(sock: net.Socket, path: string) {
    this.#sock = sock;
    this.#path = path;
  }

  /** Connects and checks the server's protocol version. */
  static async connect(path: string = DEFAULT_SOCKET_PATH, timeoutMs = 5000): Promise<ClientTransport> {
    const sock = nodeNet().createConnection(path);
    const client = new ClientTransport(sock, path);
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

  async #call<T>(op: Op, args: Record<string, unknown>, progress?: (p: BatchProgress) => void, item?: (v: unknown) => void): Promise<T> {
    if (this.#closedError !== undefined) throw this.#closedError;
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const pending: Pending = { resolve: resolve as (v: unknown) => void, reject };
      if (progress !== undefined) pending.progress = progress;
      if (item !== undefined) pending.item = item;
      this.#pending.set(id, pending);
      this.#sock.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }

  block(request: BlockRequest): Promise<BlockResult> {
    return this.#call('block', { request });
  }

  async blockMany(requests: BlockRequest[], onProgress?: (p: BatchProgress) => void): Promise<BatchSummary> {
    return this.#chunked('blockMany', 'requests', requests, onProgress);
  }

  unblock(target: string): Promise<UnblockResult> {
    return this.#call('unblock', { target });
  }

  async unblockMany(targets: string[], onProgress?: (p: BatchProgress) => void): Promise<BatchSummary> {
    return this.#chunked('unblockMany', 'targets', targets, onProgress);
  }

  async #chunked(op: Op, key: string, items: unknown[], onProgress?: (p: BatchProgress) => void): Promise<BatchSummary> {
    const total = items.length;
    let applied = 0;
    let changed = 0;
    for (let off = 0; off < total || (total === 0 && off === 0); off += CONTROL_CHUNK) {
      const chunk = items.slice(off, off + CONTROL_CHUNK);
      try {
        const r = await this.#call<BatchSummary>(op, { [key]: chunk });
        applied += r.applied;
        changed += r.changed;
      } catch (err) {
        const e = err as Error & { applied?: number; badIndex?: number };
        e.applied = applied + (e.applied ?? 0);
        if (e.badIndex !== undefined) e.badIndex += off;
        throw e;
      }
      onProgress?.({ done: applied, total });
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
