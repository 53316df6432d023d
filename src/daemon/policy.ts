// SPDX-License-Identifier: MIT
//
// The Postfix policy delegation service (Postfix's SMTPD_POLICY protocol,
// docs/postfix.md):
//   - a request is a sequence of "name=value" lines ended by an empty line;
//   - the answer is one "action=..." line and an empty line;
//   - the connection stays open for the next request (smtpd reuses it);
//   - a malformed request (a line without "=", a line or a request that is
//     too long, too many attributes, bytes that are not UTF-8, a NUL) gets
//     NO answer: it is reported (the daemon logs it rate-limited) and the
//     connection is closed, as Postfix expects of a policy server in
//     trouble.  Postfix then retries with a new connection.
// The service judges client_address only, at whatever protocol_state it is
// asked (CONNECT, HELO, MAIL, RCPT, DATA, END-OF-MESSAGE, VRFY, ETRN): the
// judge (the daemon) says whether an active ban of the SMTP ports covers it.
// A banned client gets the configured action: "REJECT text", "DEFER text"
// or "521 5.7.1 text" (Postfix then answers 521 and disconnects the SMTP
// client; the policy connection itself stays open).  Anything else: DUNNO.
// A failing judge answers DUNNO too (fail open: a database error never
// stops mail) and is reported.
import { isAscii } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { parseAddress, type IpPrefix } from '../lib/addr.js';
import { FfwallError } from '../lib/errors.js';
import { closeAt, listenAt } from '../lib/listen.js';

import { isLoopbackHost } from './config.js';

export type PolicyListen = { type: 'unix'; path: string } | { type: 'inet'; host: string; port: number };
export type PolicyAction = 'reject' | 'defer' | '521';

/** What the judge found for a client address. */
export type PolicyJudgement =
  | { banned: true; target: string }
  | { banned: false; why: 'none' | 'allowlisted' | 'monitor' | 'ports' };

/** The result of one request, for metrics and logs. */
export type PolicyResult = 'reject' | 'defer' | '521' | 'dunno' | 'allowlisted' | 'monitor' | 'noclient' | 'error';
export const POLICY_RESULTS: readonly PolicyResult[] = ['reject', 'defer', '521', 'dunno', 'allowlisted', 'monitor', 'noclient', 'error'];

export interface PolicyLimits {
  /** Longest line, bytes (newline excluded); default 4096. */
  maxLine: number;
  /** Longest request, bytes; default 65536. */
  maxRequest: number;
  /** Most attributes per request; default 256. */
  maxAttributes: number;
}

export const DEFAULT_POLICY_LIMITS: Readonly<PolicyLimits> = { maxLine: 4096, maxRequest: 65536, maxAttributes: 256 };

export interface PolicyServerOptions {
  listen: PolicyListen;
  /** A unix socket's mode; default 0o660. */
  mode?: number;
  /** A unix socket's group id; default: left as created. */
  gid?: number;
  action: PolicyAction;
  text: string;
  /** Default 256. */
  maxConnections?: number;
  /** Seconds of silence after which a connection is closed; default 600 (longer than Postfix's own 300 s max idle). */
  idleTimeout?: number;
  limits?: Partial<PolicyLimits>;
  /** Allow a non-loopback inet address (refused otherwise). */
  allowRemote?: boolean;
  /** Decides for one client address. */
  judge(address: IpPrefix): Promise<PolicyJudgement>;
}

export interface PolicyRequestEvent {
  result: PolicyResult;
  /** The client's address as Postfix gave it ('' when absent). */
  address: string;
  /** protocol_state ('' when absent). */
  state: string;
  /** The ban that decided (reject/defer/521). */
  target?: string;
  /** The judge's error, for result 'error'. */
  error?: Error;
}

export interface PolicyServerEventMap {
  request: [PolicyRequestEvent];
  /** A malformed request: no answer, the connection closed.  Per connection: log it rate-limited. */
  protocolError: [string];
  /** The listener failed. */
  error: [Error];
}

const ENHANCED = /^[245]\.[0-9]{1,3}\.[0-9]{1,3}( |$)/;

/** The action= value for a banned client. */
export function actionText(action: PolicyAction, text: string): string {
  if (action === 'reject') return `REJECT ${text}`;
  if (action === 'defer') return `DEFER ${text}`;
  return ENHANCED.test(text) ? `521 ${text}` : `521 5.7.1 ${text}`;
}

class Malformed extends Error {
  /** Requests completed before the malformed part (they are answered). */
  completed: Map<string, string>[] = [];
}

const decoder = new TextDecoder('utf-8', { fatal: true });
const DUNNO_REPLY = Buffer.from('action=DUNNO\n\n');
const BAD_NAME = 'an attribute name that is empty or not [A-Za-z0-9_.-]';
/** 1 for the character codes of [A-Za-z0-9_.-]. */
const NAME_BYTE = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-') NAME_BYTE[c.charCodeAt(0)] = 1;

/**
 * One connection's parser: bytes in, complete requests (attribute maps)
 * out; throws Malformed at the first violation.
 */
export class PolicyParser {
  readonly #limits: PolicyLimits;
  #parts: Buffer[] = [];
  #lineBytes = 0;
  #requestBytes = 0;
  #attrs = new Map<string, string>();

  constructor(limits: PolicyLimits = DEFAULT_POLICY_LIMITS) {
    this.#limits = limits;
  }

  /** True when part of a request has been read. */
  get midRequest(): boolean {
    return this.#attrs.size > 0 || this.#lineBytes > 0;
  }

  /** Feeds bytes; returns the requests they complete. */
  push(chunk: Buffer): Map<string, string>[] {
    const out: Map<string, string>[] = [];
    try {
      this.#push(chunk, out);
    } catch (err) {
      if (err instanceof Malformed) err.completed = out;
      throw err;
    }
    return out;
  }

  #push(chunk: Buffer, out: Map<string, string>[]): void {
    // The common case, a chunk of plain ASCII without NUL, is decoded once
    // and cut as a string (no Buffer, no decoder call and no regular
    // expression per line); anything else goes through #line, which checks
    // NUL and UTF-8 first.  Both give the same requests and the same errors.
    const text = chunk.length > 0 && isAscii(chunk) && chunk.indexOf(0) < 0 ? chunk.toString('latin1') : undefined;
    let start = 0;
    for (;;) {
      const nl = text === undefined ? chunk.indexOf(0x0a, start) : text.indexOf('\n', start);
      const end = nl < 0 ? chunk.length : nl;
      this.#lineBytes += end - start;
      this.#requestBytes += end - start + (nl < 0 ? 0 : 1);
      if (this.#lineBytes > this.#limits.maxLine) throw new Malformed(`line longer than ${this.#limits.maxLine} bytes`);
      if (this.#requestBytes > this.#limits.maxRequest) throw new Malformed(`request longer than ${this.#limits.maxRequest} bytes`);
      if (nl < 0) {
        if (end > start) this.#parts.push(Buffer.from(chunk.subarray(start, end)));
        return;
      }
      let done: Map<string, string> | undefined;
      if (text !== undefined && this.#parts.length === 0) {
        this.#lineBytes = 0;
        done = this.#textLine(text, start, end);
      } else {
        const piece = chunk.subarray(start, end);
        const line = this.#parts.length === 0 ? piece : Buffer.concat([...this.#parts, piece]);
        this.#parts = [];
        this.#lineBytes = 0;
        done = this.#line(line);
      }
      if (done !== undefined) out.push(done);
      start = nl + 1;
    }
  }

  #endRequest(): Map<string, string> {
    const req = this.#attrs;
    if (req.size === 0) throw new Malformed('empty request');
    this.#attrs = new Map();
    this.#requestBytes = 0;
    return req;
  }

  /** One line of an ASCII chunk without NUL: text[start, end). */
  #textLine(text: string, start: number, end: number): Map<string, string> | undefined {
    if (start === end) return this.#endRequest();
    const eq = text.indexOf('=', start);
    if (eq < 0 || eq >= end) throw new Malformed('a line without "="');
    if (eq === start) throw new Malformed(BAD_NAME);
    for (let i = start; i < eq; i++) if (NAME_BYTE[text.charCodeAt(i)] !== 1) throw new Malformed(BAD_NAME);
    this.#set(text.slice(start, eq), text.slice(eq + 1, end));
    return undefined;
  }

  #set(name: string, value: string): void {
    if (this.#attrs.size >= this.#limits.maxAttributes && !this.#attrs.has(name)) throw new Malformed(`more than ${this.#limits.maxAttributes} attributes`);
    this.#attrs.set(name, value);
  }

  #line(bytes: Buffer): Map<string, string> | undefined {
    if (bytes.length === 0) return this.#endRequest();
    if (bytes.includes(0)) throw new Malformed('NUL byte in a line');
    let line: string;
    try {
      line = decoder.decode(bytes);
    } catch {
      throw new Malformed('bytes that are not UTF-8');
    }
    const eq = line.indexOf('=');
    if (eq < 0) throw new Malformed('a line without "="');
    const name = line.slice(0, eq);
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Malformed(BAD_NAME);
    this.#set(name, line.slice(eq + 1));
    return undefined;
  }
}

/** Serves the policy protocol on a unix socket or a TCP port.  The constructor does no work. */
export class PolicyServer extends EventEmitter<PolicyServerEventMap> {
  readonly #opts: PolicyServerOptions;
  readonly #limits: PolicyLimits;
  #server: net.Server | undefined;
  readonly #sockets = new Set<net.Socket>();
  #action: PolicyAction;
  #text: string;
  #idleMs: number;
  #bannedReply: { action: string; bytes: Buffer } | undefined;

  constructor(options: PolicyServerOptions) {
    super();
    this.#opts = options;
    this.#limits = { ...DEFAULT_POLICY_LIMITS, ...options.limits };
    this.#action = options.action;
    this.#text = options.text;
    this.#idleMs = (options.idleTimeout ?? 600) * 1000;
  }

  get listen(): PolicyListen {
    return this.#opts.listen;
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /** The bound TCP address (inet), e.g. when the port was 0. */
  get address(): { host: string; port: number } | undefined {
    const a = this.#server?.address();
    return a === null || a === undefined || typeof a === 'string' ? undefined : { host: a.address, port: a.port };
  }

  /** Changes what a banned client gets, and the idle timeout (reload). */
  configure(o: { action?: PolicyAction; text?: string; idleTimeout?: number }): void {
    if (o.action !== undefined) this.#action = o.action;
    if (o.text !== undefined) this.#text = o.text;
    if (o.idleTimeout !== undefined) {
      this.#idleMs = o.idleTimeout * 1000;
      for (const s of this.#sockets) s.setTimeout(this.#idleMs);
    }
  }

  async start(): Promise<void> {
    if (this.#server !== undefined) throw new Error('PolicyServer: already started');
    const l = this.#opts.listen;
    if (l.type === 'inet' && !isLoopbackHost(l.host) && this.#opts.allowRemote !== true) {
      throw new FfwallError('EINVAL', `ffwall: the policy service refuses to listen on ${l.host}, which is not a loopback address (postfix.policy.allowRemote allows it)`);
    }
    const server = net.createServer((sock) => this.#accept(sock));
    server.maxConnections = this.#opts.maxConnections ?? 256;
    if (l.type === 'unix') mkdirSync(path.dirname(l.path), { recursive: true, mode: 0o755 });
    await listenAt(server, l, this.#opts, `ffwall: something already serves ${l.type === 'unix' ? l.path : `${l.host}:${l.port}`}`);
    server.on('error', (err) => this.emit('error', err));
    this.#server = server;
  }

  /** Closes the listener and every connection. Idempotent. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    await closeAt(server, this.#opts.listen);
  }

  #accept(sock: net.Socket): void {
    this.#sockets.add(sock);
    const parser = new PolicyParser(this.#limits);
    let queue = Promise.resolve();
    let broken = false;
    sock.setTimeout(this.#idleMs);
    sock.on('timeout', () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('close', () => {
      this.#sockets.delete(sock);
      if (!broken && parser.midRequest) this.emit('protocolError', 'the client closed the connection in the middle of a request');
    });
    sock.on('data', (chunk: Buffer) => {
      if (broken) return;
      let requests: Map<string, string>[];
      try {
        requests = parser.push(chunk);
      } catch (err) {
        if (!(err instanceof Malformed)) throw err;
        broken = true;
        this.emit('protocolError', err.message);
        // No answer to it; the answers to the requests before it still go out.
        for (const req of err.completed) queue = queue.then(() => this.#answer(sock, req));
        sock.pause();
        void queue.then(() => sock.destroy());
        return;
      }
      for (const req of requests) queue = queue.then(() => this.#answer(sock, req));
    });
  }

  async #answer(sock: net.Socket, req: Map<string, string>): Promise<void> {
    const action = await this.#decide(req);
    if (!sock.destroyed && sock.writable) sock.write(action === 'DUNNO' ? DUNNO_REPLY : this.#reply(action));
  }

  /** The encoded answer for a banned client, made once per action text. */
  #reply(action: string): Buffer {
    if (this.#bannedReply?.action !== action) this.#bannedReply = { action, bytes: Buffer.from(`action=${action}\n\n`) };
    return this.#bannedReply.bytes;
  }

  async #decide(req: Map<string, string>): Promise<string> {
    const raw = req.get('client_address') ?? '';
    const state = req.get('protocol_state') ?? '';
    const ev: PolicyRequestEvent = { result: 'dunno', address: raw, state };
    let action = 'DUNNO';
    let address: IpPrefix | undefined;
    try {
      address = raw === '' || raw === 'unknown' ? undefined : parseAddress(raw);
    } catch {
      address = undefined;
    }
    if (address === undefined || !address.isHost) {
      ev.result = 'noclient';
    } else {
      try {
        const j = await this.#opts.judge(address);
        if (j.banned) {
          ev.result = this.#action;
          ev.target = j.target;
          action = actionText(this.#action, this.#text);
        } else if (j.why === 'allowlisted' || j.why === 'monitor') ev.result = j.why;
      } catch (err) {
        ev.result = 'error';
        ev.error = err instanceof Error ? err : new Error(String(err));
      }
    }
    this.emit('request', ev);
    return action;
  }
}
