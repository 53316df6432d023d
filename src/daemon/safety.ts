// SPDX-License-Identifier: MIT
//
// The automatic safety allowlist: what ffwall never bans unless an operator
// says so explicitly (config safety.override), each entry with its reason:
//   - loopback (127.0.0.0/8, ::1) and link-local (169.254.0.0/16, fe80::/10);
//   - the host's own addresses (os.networkInterfaces());
//   - the default gateways (/proc/net/route, /proc/net/ipv6_route);
//   - the resolvers (/etc/resolv.conf nameserver lines);
//   - the remote ends of the SSH sessions open when a ban is made
//     (/proc/net/tcp{,6}: ESTABLISHED, local port one of sshd's) and the
//     SSH_CLIENT / SSH_CONNECTION of the calling environment.
// And one rule: an IPv4 prefix shorter than /16, or an IPv6 one shorter than
// /32, needs force.  Every reader is injected, so tests run on fixture text.
import { readFile } from 'node:fs/promises';
import os from 'node:os';

import { IpPrefix, parseAddress, parsePrefix, tryParsePrefix } from '../lib/addr.js';
import type { DaemonConfig } from './config.js';

export type SafetyKind = 'loopback' | 'link-local' | 'host' | 'gateway' | 'resolver' | 'ssh';

export interface SafetyEntry {
  prefix: IpPrefix;
  kind: SafetyKind;
  /** "default gateway on eth0", "address of eth0", "SSH session from 203.0.113.9:50122". */
  reason: string;
}

export type SafetyConfig = DaemonConfig['safety'];

export interface SafetyReaders {
  /** A file's text, or undefined when it does not exist (no IPv6, no resolv.conf). */
  readText(path: string): Promise<string | undefined>;
  networkInterfaces(): NodeJS.Dict<os.NetworkInterfaceInfo[]>;
  /** Where SSH_CLIENT / SSH_CONNECTION are read. */
  env: Readonly<Record<string, string | undefined>>;
  /** 'LE' or 'BE': /proc/net/route and /proc/net/tcp print addresses as host-order words. */
  endianness: 'LE' | 'BE';
}

const defaultReaders: SafetyReaders = {
  readText: async (p) => {
    try {
      return await readFile(p, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  },
  networkInterfaces: () => os.networkInterfaces(),
  env: process.env,
  endianness: os.endianness(),
};

// ---------------------------------------------------------------------------
// Parsers of the kernel's and the resolver's text

/** A host-order 32-bit word as /proc prints it ("0102A8C0") -> the 4 address bytes. */
function wordBytes(hex: string, endianness: 'LE' | 'BE'): number[] {
  const b = [0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return endianness === 'LE' ? b.reverse() : b;
}

function v4FromWord(hex: string, endianness: 'LE' | 'BE'): IpPrefix | undefined {
  if (!/^[0-9A-Fa-f]{8}$/.test(hex)) return undefined;
  return parseAddress(wordBytes(hex, endianness).join('.'));
}

/** 32 hex digits as four host-order words (/proc/net/tcp6). */
function v6FromWords(hex: string, endianness: 'LE' | 'BE'): IpPrefix | undefined {
  if (!/^[0-9A-Fa-f]{32}$/.test(hex)) return undefined;
  const bytes = new Uint8Array(16);
  for (let w = 0; w < 4; w++) bytes.set(wordBytes(hex.slice(w * 8, w * 8 + 8), endianness), w * 4);
  return new IpPrefix(bytes, 128);
}

/** 32 hex digits in network order (/proc/net/ipv6_route). */
function v6FromNetworkHex(hex: string): IpPrefix | undefined {
  if (!/^[0-9A-Fa-f]{32}$/.test(hex)) return undefined;
  return new IpPrefix(Uint8Array.from(Buffer.from(hex, 'hex')), 128);
}

export interface Gateway {
  address: IpPrefix;
  device: string;
}

const RTF_UP = 0x1;
const RTF_GATEWAY = 0x2;

/** Default gateways from /proc/net/route. */
export function parseRoute(text: string, endianness: 'LE' | 'BE' = os.endianness()): Gateway[] {
  const out: Gateway[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface, dest, gw, flagsHex, , , , mask] = f;
    if (iface === undefined || dest !== '00000000' || mask !== '00000000') continue;
    const flags = parseInt(flagsHex ?? '0', 16);
    if ((flags & RTF_UP) === 0 || (flags & RTF_GATEWAY) === 0) continue;
    const address = v4FromWord(gw ?? '', endianness);
    if (address !== undefined) out.push({ address, device: iface });
  }
  return out;
}

/** Default gateways from /proc/net/ipv6_route (::/0 with a next hop). */
export function parseIpv6Route(text: string): Gateway[] {
  const out: Gateway[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const [dest, destLen, , , nextHop, , , , flagsHex, iface] = f;
    if (dest !== '0'.repeat(32) || destLen !== '00' || iface === undefined) continue;
    const flags = parseInt(flagsHex ?? '0', 16);
    if ((flags & RTF_UP) === 0) continue;
    const address = v6FromNetworkHex(nextHop ?? '');
    if (address === undefined || address.key() === parsePrefix('::').key()) continue;
    out.push({ address, device: iface });
  }
  return out;
}

/** nameserver lines of resolv.conf (zone indexes dropped; bad lines ignored). */
export function parseResolvConf(text: string): IpPrefix[] {
  const out: IpPrefix[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m === null) continue;
    const p = tryParsePrefix((m[1] ?? '').replace(/%.*$/, ''));
    if (p !== undefined && p.isHost) out.push(p);
  }
  return out;
}

export interface TcpSession {
  local: IpPrefix;
  localPort: number;
  remote: IpPrefix;
  remotePort: number;
}

const TCP_ESTABLISHED = '01';

/**
 * ESTABLISHED connections of /proc/net/tcp or tcp6 whose local port is one of
 * @ports.  Lines of other ports are skipped before they are parsed: on a mail
 * server under attack the file has many thousands of lines.
 */
export function parseTcp(text: string, ports: readonly number[], endianness: 'LE' | 'BE' = os.endianness()): TcpSession[] {
  const wanted = new Set(ports.map((p) => `:${p.toString(16).toUpperCase().padStart(4, '0')} `));
  const out: TcpSession[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const f = line.slice(colon + 1).trim().split(/\s+/, 4);
    const [local, remote, state] = f;
    if (state !== TCP_ESTABLISHED || local === undefined || remote === undefined) continue;
    const lp = local.lastIndexOf(':');
    if (!wanted.has(`${local.slice(lp)} `.toUpperCase())) continue;
    const rp = remote.lastIndexOf(':');
    const la = local.slice(0, lp);
    const ra = remote.slice(0, rp);
    const parse = la.length === 8 ? (h: string) => v4FromWord(h, endianness) : (h: string) => v6FromWords(h, endianness);
    const l = parse(la);
    const r = parse(ra);
    if (l === undefined || r === undefined) continue;
    out.push({ local: l, localPort: parseInt(local.slice(lp + 1), 16), remote: r, remotePort: parseInt(remote.slice(rp + 1), 16) });
  }
  return out;
}

/** The client of SSH_CONNECTION ("client port server port") or SSH_CLIENT ("client port localport"). */
export function sshEnvClient(env: Readonly<Record<string, string | undefined>>): { address: IpPrefix; port: number; variable: string } | undefined {
  for (const variable of ['SSH_CONNECTION', 'SSH_CLIENT']) {
    const v = env[variable];
    if (v === undefined) continue;
    const [addr, port] = v.trim().split(/\s+/);
    const p = tryParsePrefix((addr ?? '').replace(/%.*$/, ''));
    if (p !== undefined && p.isHost) return { address: p, port: Number(port ?? 0), variable };
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// The rules

const STATIC: ReadonlyArray<{ text: string; kind: SafetyKind; reason: string; flag: 'loopback' | 'linkLocal' }> = [
  { text: '127.0.0.0/8', kind: 'loopback', reason: 'IPv4 loopback', flag: 'loopback' },
  { text: '::1', kind: 'loopback', reason: 'IPv6 loopback', flag: 'loopback' },
  { text: '169.254.0.0/16', kind: 'link-local', reason: 'IPv4 link-local', flag: 'linkLocal' },
  { text: 'fe80::/10', kind: 'link-local', reason: 'IPv6 link-local', flag: 'linkLocal' },
];

/** Why a ban of @target needs force (a prefix shorter than the configured minimum), or undefined. */
export function needsForce(target: IpPrefix, config: Pick<SafetyConfig, 'minPrefixV4' | 'minPrefixV6'>): string | undefined {
  const min = target.family === 4 ? config.minPrefixV4 : config.minPrefixV6;
  if (target.bits >= min) return undefined;
  return `${target.toString()} is shorter than /${min} (IPv${target.family}); banning it needs force`;
}

export interface SafetyCheck {
  /** True when the ban may go ahead. */
  ok: boolean;
  /** Safety entries the target covers or lies in. */
  collisions: SafetyEntry[];
  /** The length rule, when it refused (force not given). */
  force?: string;
  /** One line per reason it was refused, for the error message. */
  reasons: string[];
}

export interface SafetyListOptions {
  config: SafetyConfig;
  readers?: Partial<SafetyReaders>;
  /** SSH sessions are re-read at most this often (ms); default 1000. */
  sshCacheMs?: number;
  /** Clock in ms (tests). */
  now?: () => number;
}

/**
 * The safety list.  The constructor does no work; refresh() reads the host's
 * addresses, gateways and resolvers (the daemon calls it at start and on a
 * timer or SIGHUP); check() reads the SSH sessions of the moment (cached for
 * sshCacheMs) and says whether a ban collides and why.
 */
export class SafetyList {
  #config: SafetyConfig;
  readonly #readers: SafetyReaders;
  readonly #sshCacheMs: number;
  readonly #now: () => number;
  #static: SafetyEntry[] = [];
  #ssh: SafetyEntry[] = [];
  #sshAt = -Infinity;
  /** Sources that could not be read at the last refresh (for a log line). */
  problems: string[] = [];

  constructor(options: SafetyListOptions) {
    this.#config = options.config;
    this.#readers = { ...defaultReaders, ...options.readers };
    this.#sshCacheMs = options.sshCacheMs ?? 1000;
    this.#now = options.now ?? Date.now;
  }

  /** A new configuration (SIGHUP); call refresh() after. */
  setConfig(config: SafetyConfig): void {
    this.#config = config;
    this.#sshAt = -Infinity;
  }

  async refresh(): Promise<SafetyEntry[]> {
    const c = this.#config;
    const out: SafetyEntry[] = [];
    const problems: string[] = [];
    if (!c.enabled) {
      this.#static = [];
      this.problems = [];
      return [];
    }
    for (const s of STATIC) if (c[s.flag]) out.push({ prefix: parsePrefix(s.text), kind: s.kind, reason: s.reason });

    if (c.hostAddresses) {
      const ifs = this.#readers.networkInterfaces();
      for (const [name, infos] of Object.entries(ifs)) {
        for (const info of infos ?? []) {
          const p = tryParsePrefix(info.address.replace(/%.*$/, ''));
          if (p !== undefined) out.push({ prefix: p, kind: 'host', reason: `address of ${name}` });
        }
      }
    }

    const read = async (path: string): Promise<string | undefined> => {
      try {
        return await this.#readers.readText(path);
      } catch (err) {
        problems.push(`${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        return undefined;
      }
    };

    if (c.gateways) {
      const v4 = await read('/proc/net/route');
      const v6 = await read('/proc/net/ipv6_route');
      const gws = [...(v4 === undefined ? [] : parseRoute(v4, this.#readers.endianness)), ...(v6 === undefined ? [] : parseIpv6Route(v6))];
      for (const g of gws) out.push({ prefix: g.address, kind: 'gateway', reason: `default gateway on ${g.device}` });
    }

    if (c.resolvers) {
      const text = await read(c.resolvConf);
      for (const r of text === undefined ? [] : parseResolvConf(text)) out.push({ prefix: r, kind: 'resolver', reason: `resolver in ${c.resolvConf}` });
    }

    this.#static = out;
    this.problems = problems;
    return this.entries();
  }

  /** The SSH sessions open now (cached for sshCacheMs). */
  async sshSessions(): Promise<SafetyEntry[]> {
    const c = this.#config;
    if (!c.enabled || !c.sshSessions) return [];
    const now = this.#now();
    if (now - this.#sshAt < this.#sshCacheMs) return this.#ssh;
    const out: SafetyEntry[] = [];
    for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
      let text: string | undefined;
      try {
        text = await this.#readers.readText(file);
      } catch {
        text = undefined;
      }
      if (text === undefined) continue;
      for (const s of parseTcp(text, c.sshPorts, this.#readers.endianness)) {
        out.push({ prefix: s.remote, kind: 'ssh', reason: `SSH session from ${s.remote.toString()} port ${s.remotePort} to port ${s.localPort}` });
      }
    }
    const envClient = sshEnvClient(this.#readers.env);
    if (envClient !== undefined) out.push({ prefix: envClient.address, kind: 'ssh', reason: `SSH session of this process (${envClient.variable})` });
    this.#ssh = out;
    this.#sshAt = now;
    return out;
  }

  /**
   * The entries the configuration's safety.override takes off the list (the
   * last refresh and SSH snapshot), each with the override's reason: an
   * override is explicit, and it is never silent (the daemon logs these at
   * every change and `ffwall allow list` shows them).
   */
  overridden(): Array<SafetyEntry & { override: string }> {
    const out = new Map<string, SafetyEntry & { override: string }>();
    for (const e of [...this.#static, ...this.#ssh]) {
      const o = this.#config.override.find((x) => x.prefix.contains(e.prefix));
      if (o === undefined) continue;
      const k = e.prefix.key();
      const prev = out.get(k);
      if (prev === undefined) out.set(k, { ...e, override: `${o.prefix.toString()}: ${o.reason}` });
      else if (!prev.reason.split('; ').includes(e.reason)) prev.reason = `${prev.reason}; ${e.reason}`;
    }
    return [...out.values()];
  }

  /**
   * The list as the host gives it now, for `ffwall daemon --print-safety`:
   * one tab-separated line per entry in force (prefix, kind, reason), then
   * one per entry that safety.override takes off (marked "overridden by"),
   * and the problems met while reading the host's state.
   */
  async print(): Promise<{ lines: string[]; problems: string[] }> {
    await this.refresh();
    await this.sshSessions();
    const lines = this.entries().map((e) => `${e.prefix.toString()}\t${e.kind}\t${e.reason}`);
    for (const e of this.overridden()) lines.push(`${e.prefix.toString()}\t${e.kind}\toverridden by safety.override ${e.override} (${e.reason})`);
    return { lines, problems: [...this.problems] };
  }

  /** Every entry in force: the last refresh and SSH snapshot, merged by prefix, minus the overrides. */
  entries(): SafetyEntry[] {
    const merged = new Map<string, SafetyEntry>();
    for (const e of [...this.#static, ...this.#ssh]) {
      if (this.#config.override.some((o) => o.prefix.contains(e.prefix))) continue;
      const k = e.prefix.key();
      const prev = merged.get(k);
      if (prev === undefined) merged.set(k, { ...e });
      else if (!prev.reason.split('; ').includes(e.reason)) prev.reason = `${prev.reason}; ${e.reason}`;
    }
    return [...merged.values()];
  }

  /** The entries @target covers or lies in (current SSH sessions included). */
  async collisions(target: IpPrefix): Promise<SafetyEntry[]> {
    await this.sshSessions();
    return this.entries().filter((e) => e.prefix.overlaps(target));
  }

  /** Whether a ban of @target may go ahead, and why not. */
  async check(target: IpPrefix, options: { force?: boolean } = {}): Promise<SafetyCheck> {
    return (await this.checker())(target, options);
  }

  /**
   * check() for many targets (a feed): the SSH sessions read and the
   * entries merged once, then each target checked without a wait.  The
   * function carries the entries it checks against (SafetyChecker).
   */
  async checker(): Promise<((target: IpPrefix, options?: { force?: boolean }) => SafetyCheck) & { readonly entries: readonly SafetyEntry[] }> {
    await this.sshSessions();
    const entries = this.entries();
    return Object.assign((target: IpPrefix, options: { force?: boolean } = {}) => this.#checkIn(entries, target, options), { entries });
  }

  #checkIn(entries: readonly SafetyEntry[], target: IpPrefix, options: { force?: boolean }): SafetyCheck {
    let collisions: SafetyEntry[] | undefined;
    for (const e of entries) if (e.prefix.overlaps(target)) (collisions ??= []).push(e);
    // The common case of a feed's million entries: no collision, long enough (or forced).
    if (collisions === undefined && (options.force === true || needsForce(target, this.#config) === undefined)) return { ok: true, collisions: [], reasons: [] };
    return this.#explain(collisions ?? [], target, options);
  }

  #explain(collisions: SafetyEntry[], target: IpPrefix, options: { force?: boolean }): SafetyCheck {
    const reasons = collisions.map((e) =>
      e.prefix.contains(target) ? `${target.toString()} is inside ${e.prefix.toString()} (${e.reason})` : `${target.toString()} covers ${e.prefix.toString()} (${e.reason})`,
    );
    const result: SafetyCheck = { ok: true, collisions, reasons };
    const force = needsForce(target, this.#config);
    if (force !== undefined && options.force !== true) {
      result.force = force;
      reasons.push(force);
    }
    result.ok = reasons.length === 0;
    return result;
  }
}
