// SPDX-License-Identifier: MIT
//
// The daemon's configuration: one file, JSON with comments (// and /* */)
// and trailing commas allowed, default /etc/ffwall/ffwall.jsonc.  Every key,
// type, default and meaning is in docs/configuration.md; CONFIG_KEYS below is
// the same list, and a host test keeps the two equal.
//
// loadConfig() returns either a whole valid configuration or every error
// found, each naming its key and the reason; never a half configuration.
// ConfigManager.reload() (the daemon calls it on SIGHUP) swaps in a new
// configuration only when the whole file is valid, and otherwise keeps the
// one running.
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';

import { parsePrefix, type IpPrefix } from '../lib/addr.js';
import { DEFAULT_SOCKET_PATH } from '../lib/control.js';
import { BAN_SOURCES, type AggregationConfig, type BanSource, type EscalationConfig, type HistoryRetention } from '../lib/db/types.js';
import { parseDuration } from '../lib/duration.js';
import { DEFAULT_DATABASE, DEFAULT_DEVICE } from '../lib/ffwall.js';
import { KERNEL_LIMITS, type KernelMode } from '../lib/kernel.js';
import { defaultOffenceConfig, OFFENCE_KINDS, type OffenceConfig, type OffenceKind } from '../lib/offences.js';

import type { PolicyAction, PolicyListen } from './policy.js';

export const DEFAULT_CONFIG_PATH = '/etc/ffwall/ffwall.jsonc';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface SafetyOverride {
  prefix: IpPrefix;
  reason: string;
}

export interface DaemonConfig {
  database: { path: string };
  device: string;
  socket: {
    path: string;
    /** File mode bits, e.g. 0o660. */
    mode: number;
    /** Group name or numeric id; null: left as created. */
    group: string | null;
    /** The group's id, resolved at load time; null when group is null. */
    gid: number | null;
    maxConnections: number;
  };
  metrics: {
    /** null: no metrics endpoint (nothing listens). */
    listen: { host: string; port: number } | null;
    allowRemote: boolean;
  };
  kernel: {
    /** Devices to attach ("*": every device). */
    devices: string[];
    /** max_entries; null: leave the module's own (its max_entries parameter). */
    capacity: number | null;
    /** Seconds; null: leave the module's own (its gc_interval parameter). */
    gcInterval: number | null;
    mode: KernelMode;
  };
  escalation: EscalationConfig;
  aggregation: AggregationConfig;
  /** Seconds / events; null: no limit. */
  history: { maxAge: number | null; maxCount: number | null };
  /** Seconds. */
  sync: { interval: number; sweepInterval: number };
  safety: {
    enabled: boolean;
    loopback: boolean;
    linkLocal: boolean;
    hostAddresses: boolean;
    gateways: boolean;
    resolvers: boolean;
    sshSessions: boolean;
    sshPorts: number[];
    resolvConf: string;
    /** Prefixes explicitly taken off the automatic safety list. */
    override: SafetyOverride[];
    /** Shortest prefix length (as written: /16, /32) a ban may have without force. */
    minPrefixV4: number;
    minPrefixV6: number;
  };
  log: { level: LogLevel; rateLimit: { burst: number; perSecond: number } };
  /** The offence tracker's rules (src/lib/offences.ts): what the log watcher and report() count. */
  offences: OffenceConfig;
  postfix: { policy: PostfixPolicyConfig; log: PostfixLogConfig };
}

/** The Postfix policy delegation service (src/daemon/policy.ts). */
export interface PostfixPolicyConfig {
  /** null: off. */
  listen: PolicyListen | null;
  /** A unix socket's mode. */
  mode: number;
  group: string | null;
  gid: number | null;
  action: PolicyAction;
  /** The text of the reply (printable ASCII). */
  text: string;
  maxConnections: number;
  /** Seconds a connection may stay idle. */
  idleTimeout: number;
  /** Allow a non-loopback inet listen address. */
  allowRemote: boolean;
}

/** The Postfix log watcher (src/lib/postfix/logwatch.ts): where it reads. */
export interface PostfixLogConfig {
  enabled: boolean;
  source: 'journal' | 'file';
  /** The mail log, for source "file". */
  file: string;
  /** The systemd unit (journalctl -u) for source "journal"; "postfix@-" is Debian's default instance. */
  unit: string;
  /** A JSON file of extra (or overriding) log patterns (docs/postfix.md, "Log watcher"); absent: the built-in ones only. */
  patterns?: string;
}

export const DEFAULT_POLICY_TEXT = 'Your address is blocked for abuse (ffwall)';

/** The configuration when the file sets nothing. */
export function defaultConfig(): DaemonConfig {
  return {
    database: { path: DEFAULT_DATABASE },
    device: DEFAULT_DEVICE,
    socket: { path: DEFAULT_SOCKET_PATH, mode: 0o660, group: null, gid: null, maxConnections: 256 },
    metrics: { listen: null, allowRemote: false },
    kernel: { devices: [], capacity: null, gcInterval: null, mode: 'enforce' },
    escalation: { enabled: true, baseTtl: 86400, factor: 2, maxTtl: 180 * 86400 },
    aggregation: { enabled: true, sources: ['policy', 'logwatch', 'feed'], hostPrefix: 64, parentPrefix: 48, threshold: 3 },
    history: { maxAge: 365 * 86400, maxCount: 10_000_000 },
    sync: { interval: 30, sweepInterval: 60 },
    safety: {
      enabled: true,
      loopback: true,
      linkLocal: true,
      hostAddresses: true,
      gateways: true,
      resolvers: true,
      sshSessions: true,
      sshPorts: [22],
      resolvConf: '/etc/resolv.conf',
      override: [],
      minPrefixV4: 16,
      minPrefixV6: 32,
    },
    log: { level: 'info', rateLimit: { burst: 20, perSecond: 1 } },
    offences: defaultOffenceConfig(),
    postfix: {
      policy: { listen: null, mode: 0o660, group: null, gid: null, action: 'reject', text: DEFAULT_POLICY_TEXT, maxConnections: 256, idleTimeout: 600, allowRemote: false },
      log: { enabled: false, source: 'journal', file: '/var/log/mail.log', unit: 'postfix@-' },
    },
  };
}

/** Every key the file may set (docs/configuration.md documents each). */
export const CONFIG_KEYS = [
  'database.path',
  'device',
  'socket.path',
  'socket.mode',
  'socket.group',
  'socket.maxConnections',
  'metrics.listen',
  'metrics.allowRemote',
  'kernel.devices',
  'kernel.capacity',
  'kernel.gcInterval',
  'kernel.mode',
  'escalation.enabled',
  'escalation.baseTtl',
  'escalation.factor',
  'escalation.maxTtl',
  'aggregation.enabled',
  'aggregation.sources',
  'aggregation.hostPrefix',
  'aggregation.parentPrefix',
  'aggregation.threshold',
  'history.maxAge',
  'history.maxCount',
  'sync.interval',
  'sync.sweepInterval',
  'safety.enabled',
  'safety.loopback',
  'safety.linkLocal',
  'safety.hostAddresses',
  'safety.gateways',
  'safety.resolvers',
  'safety.sshSessions',
  'safety.sshPorts',
  'safety.resolvConf',
  'safety.override',
  'safety.minPrefixV4',
  'safety.minPrefixV6',
  'log.level',
  'log.rateLimit.burst',
  'log.rateLimit.perSecond',
  'offences.window',
  'offences.ports',
  'offences.ttl',
  'offences.maxTracked',
  'offences.kinds',
  'postfix.policy.listen',
  'postfix.policy.mode',
  'postfix.policy.group',
  'postfix.policy.action',
  'postfix.policy.text',
  'postfix.policy.maxConnections',
  'postfix.policy.idleTimeout',
  'postfix.policy.allowRemote',
  'postfix.log.enabled',
  'postfix.log.source',
  'postfix.log.file',
  'postfix.log.unit',
  'postfix.log.patterns',
] as const;

/** Keys whose change takes effect only at the next start (a reload reports them). */
export const RESTART_KEYS: readonly string[] = ['database.path', 'device', 'socket.path', 'socket.maxConnections'];

export interface ConfigError {
  /** The key ("metrics.listen"), or "" for the file as a whole. */
  key: string;
  message: string;
}

export type ConfigResult = { ok: true; config: DaemonConfig } | { ok: false; errors: ConfigError[] };

/** Thrown by ConfigManager.load() when the first load fails: the message lists every error. */
export class ConfigFileError extends Error {
  readonly code = 'EFFWALLCONFIG';
  constructor(
    readonly file: string,
    readonly errors: readonly ConfigError[],
  ) {
    super(`ffwall: invalid configuration ${file}:\n${errors.map((e) => `  ${formatConfigError(e)}`).join('\n')}`);
    this.name = 'ConfigFileError';
  }
}

export function formatConfigError(e: ConfigError): string {
  return e.key === '' ? e.message : `${e.key}: ${e.message}`;
}

// ---------------------------------------------------------------------------
// JSON with comments

/**
 * Blanks // and /* *\/ comments and trailing commas outside strings, keeping
 * every offset and newline, so JSON.parse positions still point into the file.
 */
export function stripJsonComments(text: string): string {
  const out = text.split('');
  let i = 0;
  let lastComma = -1;
  const blank = (from: number, to: number): void => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      lastComma = -1;
      i++;
      while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
      i++;
    } else if (c === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      const stop = end < 0 ? text.length : end;
      blank(i, stop);
      i = stop;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end < 0 ? text.length : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === ',') {
      lastComma = i;
      i++;
    } else if (c === '}' || c === ']') {
      if (lastComma >= 0) out[lastComma] = ' ';
      lastComma = -1;
      i++;
    } else {
      if (c !== ' ' && c !== '\t' && c !== '\n' && c !== '\r') lastComma = -1;
      i++;
    }
  }
  return out.join('');
}

function lineCol(text: string, offset: number): string {
  let line = 1;
  let col = 1;
  for (let k = 0; k < offset && k < text.length; k++) {
    if (text[k] === '\n') {
      line++;
      col = 1;
    } else col++;
  }
  return `line ${line}, column ${col}`;
}

// ---------------------------------------------------------------------------
// Validation

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object') return 'an object';
  return String(v);
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  const dist = (a: string, b: string): number => {
    const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) (d[0] as number[])[j] = j;
    for (let i = 1; i <= a.length; i++) {
      for (let j = 1; j <= b.length; j++) {
        const row = d[i] as number[];
        const prev = d[i - 1] as number[];
        row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1));
      }
    }
    return (d[a.length] as number[])[b.length] ?? Infinity;
  };
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const x = dist(word, c);
    if (x < bestD) {
      bestD = x;
      best = c;
    }
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** Reads typed values out of the parsed file, collecting errors by key. */
class Reader {
  readonly errors: ConfigError[] = [];

  fail(key: string, message: string): undefined {
    this.errors.push({ key, message });
    return undefined;
  }

  /** The sub-object at @key (undefined when absent or wrong); unknown keys are errors. */
  section(parent: Obj, name: string, prefix: string, known: readonly string[]): Obj | undefined {
    const key = prefix === '' ? name : `${prefix}.${name}`;
    const v = parent[name];
    if (v === undefined) return undefined;
    if (!isObj(v)) return this.fail(key, `must be an object, got ${describe(v)}`);
    this.unknown(v, key, known);
    return v;
  }

  unknown(obj: Obj, prefix: string, known: readonly string[]): void {
    for (const k of Object.keys(obj)) {
      if (known.includes(k)) continue;
      const hint = closest(k, known);
      this.fail(prefix === '' ? k : `${prefix}.${k}`, `unknown key${hint === undefined ? '' : `; did you mean "${prefix === '' ? hint : `${prefix}.${hint}`}"?`}`);
    }
  }

  bool(obj: Obj | undefined, name: string, key: string, dflt: boolean): boolean {
    const v = obj?.[name];
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') return this.fail(key, `must be true or false, got ${describe(v)}`) ?? dflt;
    return v;
  }

  str(obj: Obj | undefined, name: string, key: string, dflt: string, check?: (s: string) => string | undefined): string {
    const v = obj?.[name];
    if (v === undefined) return dflt;
    if (typeof v !== 'string' || v === '') return this.fail(key, `must be a non-empty string, got ${describe(v)}`) ?? dflt;
    const why = check?.(v);
    if (why !== undefined) return this.fail(key, why) ?? dflt;
    return v;
  }

  int(obj: Obj | undefined, name: string, key: string, dflt: number, min: number, max: number): number {
    return this.intOrNull(obj, name, key, dflt, min, max, false) ?? dflt;
  }

  intOrNull(obj: Obj | undefined, name: string, key: string, dflt: number | null, min: number, max: number, nullable = true): number | null {
    const v = obj?.[name];
    if (v === undefined) return dflt;
    if (v === null && nullable) return null;
    if (typeof v !== 'number' || !Number.isInteger(v)) return this.fail(key, `must be an integer${nullable ? ' or null' : ''}, got ${describe(v)}`) ?? dflt;
    if (v < min || v > max) return this.fail(key, `${v} is out of range ${min}..${max}`) ?? dflt;
    return v;
  }

  num(obj: Obj | undefined, name: string, key: string, dflt: number, min: number, max: number): number {
    const v = obj?.[name];
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v)) return this.fail(key, `must be a number, got ${describe(v)}`) ?? dflt;
    if (v < min || v > max) return this.fail(key, `${v} is out of range ${min}..${max}`) ?? dflt;
    return v;
  }

  /** A duration: "90s", "24h", "7d" or whole seconds; at least @min seconds. */
  duration(obj: Obj | undefined, name: string, key: string, dflt: number | null, min: number, nullable = false): number | null {
    const v = obj?.[name];
    if (v === undefined) return dflt;
    if (v === null && nullable) return null;
    if (typeof v !== 'string' && typeof v !== 'number') return this.fail(key, `must be a duration ("90s", "24h", "7d") or whole seconds${nullable ? ', or null' : ''}, got ${describe(v)}`) ?? dflt;
    let s: number;
    try {
      s = parseDuration(v);
    } catch (err) {
      return this.fail(key, (err as Error).message) ?? dflt;
    }
    if (s < min) return this.fail(key, `${String(v)} is shorter than the minimum of ${min} s`) ?? dflt;
    return s;
  }

  oneOf<T extends string>(obj: Obj | undefined, name: string, key: string, dflt: T, values: readonly T[]): T {
    const v = obj?.[name];
    if (v === undefined) return dflt;
    if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) return this.fail(key, `must be one of ${values.join(', ')}, got ${describe(v)}`) ?? dflt;
    return v as T;
  }

  list<T>(obj: Obj | undefined, name: string, key: string, dflt: T[], item: (v: unknown, key: string) => T | undefined, maxLen = 1024): T[] {
    const v = obj?.[name];
    if (v === undefined) return dflt;
    if (!Array.isArray(v)) return this.fail(key, `must be an array, got ${describe(v)}`) ?? dflt;
    if (v.length > maxLen) return this.fail(key, `has ${v.length} items, at most ${maxLen} are allowed`) ?? dflt;
    const out: T[] = [];
    v.forEach((x, i) => {
      const r = item(x, `${key}[${i}]`);
      if (r !== undefined) out.push(r);
    });
    return out;
  }
}

const IFNAME = /^[A-Za-z0-9_.:@-]+$/;

function checkDevice(v: unknown, key: string, r: Reader): string | undefined {
  if (v === '*') return v;
  if (typeof v !== 'string' || v === '') return r.fail(key, `must be a device name or "*", got ${describe(v)}`);
  if (v.length > KERNEL_LIMITS.ifNameMax) return r.fail(key, `"${v}" is longer than ${KERNEL_LIMITS.ifNameMax} characters`);
  if (!IFNAME.test(v) || v === '.' || v === '..') return r.fail(key, `"${v}" is not a valid device name`);
  return v;
}

function checkPort(v: unknown, key: string, r: Reader): number | undefined {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) return r.fail(key, `must be a port number 1..65535, got ${describe(v)}`);
  return v;
}

function absolutePath(s: string): string | undefined {
  return s.startsWith('/') ? undefined : `"${s}" is not an absolute path`;
}

/** "127.0.0.1:9725", "[::1]:9725". */
export function parseListen(text: string): { host: string; port: number } | string {
  const m = /^\[([^\]]+)\]:([0-9]+)$/.exec(text) ?? /^([^:[\]]+):([0-9]+)$/.exec(text);
  if (m === null) return `"${text}" is not host:port (IPv6 as [::1]:9725)`;
  const host = m[1] ?? '';
  const port = Number(m[2]);
  if (isIP(host) === 0) return `"${host}" is not an IP address (host names are not accepted)`;
  if (!Number.isInteger(port) || port < 1 || port > 65535) return `port ${m[2] ?? ''} is not in 1..65535`;
  return { host, port };
}

/** 127.0.0.0/8, ::1, and ::ffff:127.0.0.0/104. */
export function isLoopbackHost(host: string): boolean {
  try {
    return parsePrefix('127.0.0.0/8').contains(parsePrefix(host)) || parsePrefix('::1').equals(parsePrefix(host));
  } catch {
    return false;
  }
}

export interface ValidateOptions {
  /** Group name -> id; default reads /etc/group (loadConfig does, validateConfig needs it given). */
  groupId?: (name: string) => number | undefined;
}

/** An octal mode string for a socket, with no bits for other users. */
function socketMode(r: Reader, v: unknown, key: string, dflt: number, what: string, groupKey: string): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'string' || !/^0?[0-7]{3}$/.test(v)) return r.fail(key, `must be an octal mode string such as "0660", got ${describe(v)}`) ?? dflt;
  const mode = parseInt(v, 8);
  if ((mode & 0o007) !== 0) return r.fail(key, `${v} gives other users access; anyone who can connect can ${what} (use 0660 and ${groupKey})`) ?? dflt;
  if ((mode & 0o600) !== 0o600) return r.fail(key, `${v} must give the owner read and write (0600 at least)`) ?? dflt;
  return mode;
}

/** A group name or id, resolved to its id. */
function socketGroup(r: Reader, v: unknown, key: string, options: ValidateOptions): { group: string | null; gid: number | null } {
  if (v === undefined || v === null) return { group: null, gid: null };
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** 32 - 1) return { group: String(v), gid: v };
  if (typeof v === 'string' && v !== '') {
    if (/^[0-9]+$/.test(v)) return { group: v, gid: Number(v) };
    const id = (options.groupId ?? (() => undefined))(v);
    if (id === undefined) {
      r.fail(key, `no group named "${v}" (create it with: groupadd --system ${v})`);
      return { group: v, gid: null };
    }
    return { group: v, gid: id };
  }
  r.fail(key, `must be a group name, a group id or null, got ${describe(v)}`);
  return { group: null, gid: null };
}

/** "unix:/run/ffwall/policy.sock", "inet:127.0.0.1:10031", "inet:[::1]:10031". */
export function parsePolicyListen(text: string): PolicyListen | string {
  if (text.startsWith('unix:')) {
    const p = text.slice(5);
    const bad = absolutePath(p);
    if (bad !== undefined) return `${bad} (give unix:/absolute/path)`;
    if (Buffer.byteLength(p) > 107) return `"${p}" is longer than a unix socket path may be (107 bytes)`;
    return { type: 'unix', path: p };
  }
  if (text.startsWith('inet:')) {
    const l = parseListen(text.slice(5));
    if (typeof l === 'string') return l;
    return { type: 'inet', host: l.host, port: l.port };
  }
  return `"${text}" must be unix:/path or inet:host:port`;
}

/** Validates a parsed file (an object).  Every error is collected; a config is returned only when there are none. */
export function validateConfig(input: unknown, options: ValidateOptions = {}): ConfigResult {
  const r = new Reader();
  const d = defaultConfig();
  if (!isObj(input)) return { ok: false, errors: [{ key: '', message: `the file must hold a JSON object, got ${describe(input)}` }] };
  const top = ['database', 'device', 'socket', 'metrics', 'kernel', 'escalation', 'aggregation', 'history', 'sync', 'safety', 'log', 'offences', 'postfix'];
  r.unknown(input, '', top);

  const db = r.section(input, 'database', '', ['path']);
  const database = { path: r.str(db, 'path', 'database.path', d.database.path, absolutePath) };
  const device = r.str(input, 'device', 'device', d.device, absolutePath);

  const so = r.section(input, 'socket', '', ['path', 'mode', 'group', 'maxConnections']);
  const socketPath = r.str(so, 'path', 'socket.path', d.socket.path, (s) => absolutePath(s) ?? (Buffer.byteLength(s) > 107 ? `"${s}" is longer than a unix socket path may be (107 bytes)` : undefined));
  const mode = socketMode(r, so?.mode, 'socket.mode', d.socket.mode, 'block addresses', 'socket.group');
  const { group, gid } = socketGroup(r, so?.group, 'socket.group', options);
  const socket = { path: socketPath, mode, group, gid, maxConnections: r.int(so, 'maxConnections', 'socket.maxConnections', d.socket.maxConnections, 1, 65536) };

  const me = r.section(input, 'metrics', '', ['listen', 'allowRemote']);
  const allowRemote = r.bool(me, 'allowRemote', 'metrics.allowRemote', d.metrics.allowRemote);
  let listen: DaemonConfig['metrics']['listen'] = null;
  const listenV = me?.listen;
  if (listenV !== undefined && listenV !== null) {
    if (typeof listenV !== 'string') r.fail('metrics.listen', `must be "host:port" or null, got ${describe(listenV)}`);
    else {
      const l = parseListen(listenV);
      if (typeof l === 'string') r.fail('metrics.listen', l);
      else if (!isLoopbackHost(l.host) && !allowRemote) r.fail('metrics.listen', `${listenV} is not a loopback address; set metrics.allowRemote: true to allow it`);
      else listen = l;
    }
  }
  const metrics = { listen, allowRemote };

  const ke = r.section(input, 'kernel', '', ['devices', 'capacity', 'gcInterval', 'mode']);
  const kernel = {
    devices: r.list(ke, 'devices', 'kernel.devices', d.kernel.devices, (v, k) => checkDevice(v, k, r), KERNEL_LIMITS.maxAttach),
    // Absent: the module's own setting stands (its load parameters), so a
    // daemon without a configuration never overrides them.
    capacity: ke?.capacity === undefined ? null : r.int(ke, 'capacity', 'kernel.capacity', 1 << 20, KERNEL_LIMITS.maxEntriesMin, KERNEL_LIMITS.maxEntriesMax),
    gcInterval: ke?.gcInterval === undefined ? null : (r.duration(ke, 'gcInterval', 'kernel.gcInterval', 10, KERNEL_LIMITS.gcIntervalMin) ?? null),
    mode: r.oneOf<KernelMode>(ke, 'mode', 'kernel.mode', d.kernel.mode, ['enforce', 'monitor']),
  };
  if (kernel.gcInterval !== null && kernel.gcInterval > KERNEL_LIMITS.gcIntervalMax) r.fail('kernel.gcInterval', `${kernel.gcInterval} s is longer than the kernel's maximum of ${KERNEL_LIMITS.gcIntervalMax} s`);
  if (new Set(kernel.devices).size !== kernel.devices.length) r.fail('kernel.devices', 'lists a device twice');

  const es = r.section(input, 'escalation', '', ['enabled', 'baseTtl', 'factor', 'maxTtl']);
  const escalation: EscalationConfig = {
    enabled: r.bool(es, 'enabled', 'escalation.enabled', d.escalation.enabled),
    baseTtl: r.duration(es, 'baseTtl', 'escalation.baseTtl', d.escalation.baseTtl, 1) ?? d.escalation.baseTtl,
    factor: r.num(es, 'factor', 'escalation.factor', d.escalation.factor, 1, 100),
    maxTtl: r.duration(es, 'maxTtl', 'escalation.maxTtl', d.escalation.maxTtl, 1) ?? d.escalation.maxTtl,
  };
  if (escalation.maxTtl < escalation.baseTtl) r.fail('escalation.maxTtl', `${escalation.maxTtl} s is shorter than escalation.baseTtl (${escalation.baseTtl} s)`);

  const ag = r.section(input, 'aggregation', '', ['enabled', 'sources', 'hostPrefix', 'parentPrefix', 'threshold']);
  const aggregation: AggregationConfig = {
    enabled: r.bool(ag, 'enabled', 'aggregation.enabled', d.aggregation.enabled),
    sources: r.list<BanSource>(ag, 'sources', 'aggregation.sources', [...d.aggregation.sources], (v, k) =>
      typeof v === 'string' && (BAN_SOURCES as readonly string[]).includes(v) ? (v as BanSource) : r.fail(k, `must be one of ${BAN_SOURCES.join(', ')}, got ${describe(v)}`),
    ),
    hostPrefix: r.int(ag, 'hostPrefix', 'aggregation.hostPrefix', d.aggregation.hostPrefix, 1, 127),
    parentPrefix: r.int(ag, 'parentPrefix', 'aggregation.parentPrefix', d.aggregation.parentPrefix, 1, 127),
    threshold: r.int(ag, 'threshold', 'aggregation.threshold', d.aggregation.threshold, 2, 65536),
  };
  if (aggregation.parentPrefix >= aggregation.hostPrefix) r.fail('aggregation.parentPrefix', `/${aggregation.parentPrefix} must be shorter than aggregation.hostPrefix (/${aggregation.hostPrefix})`);

  const hi = r.section(input, 'history', '', ['maxAge', 'maxCount']);
  const history = {
    maxAge: r.duration(hi, 'maxAge', 'history.maxAge', d.history.maxAge, 3600, true),
    maxCount: r.intOrNull(hi, 'maxCount', 'history.maxCount', d.history.maxCount, 1000, Number.MAX_SAFE_INTEGER),
  };

  const sy = r.section(input, 'sync', '', ['interval', 'sweepInterval']);
  const sync = {
    interval: r.duration(sy, 'interval', 'sync.interval', d.sync.interval, 1) ?? d.sync.interval,
    sweepInterval: r.duration(sy, 'sweepInterval', 'sync.sweepInterval', d.sync.sweepInterval, 1) ?? d.sync.sweepInterval,
  };

  const saKeys = ['enabled', 'loopback', 'linkLocal', 'hostAddresses', 'gateways', 'resolvers', 'sshSessions', 'sshPorts', 'resolvConf', 'override', 'minPrefixV4', 'minPrefixV6'];
  const sa = r.section(input, 'safety', '', saKeys);
  const safety: DaemonConfig['safety'] = {
    enabled: r.bool(sa, 'enabled', 'safety.enabled', d.safety.enabled),
    loopback: r.bool(sa, 'loopback', 'safety.loopback', d.safety.loopback),
    linkLocal: r.bool(sa, 'linkLocal', 'safety.linkLocal', d.safety.linkLocal),
    hostAddresses: r.bool(sa, 'hostAddresses', 'safety.hostAddresses', d.safety.hostAddresses),
    gateways: r.bool(sa, 'gateways', 'safety.gateways', d.safety.gateways),
    resolvers: r.bool(sa, 'resolvers', 'safety.resolvers', d.safety.resolvers),
    sshSessions: r.bool(sa, 'sshSessions', 'safety.sshSessions', d.safety.sshSessions),
    sshPorts: r.list(sa, 'sshPorts', 'safety.sshPorts', [...d.safety.sshPorts], (v, k) => checkPort(v, k, r), 64),
    resolvConf: r.str(sa, 'resolvConf', 'safety.resolvConf', d.safety.resolvConf, absolutePath),
    override: r.list(sa, 'override', 'safety.override', [], (v, k) => {
      if (!isObj(v)) return r.fail(k, `must be {"prefix": "...", "reason": "..."}, got ${describe(v)}`);
      r.unknown(v, k, ['prefix', 'reason']);
      if (typeof v.reason !== 'string' || v.reason.trim() === '') return r.fail(`${k}.reason`, 'is required: say why this address may be banned despite the safety list');
      if (typeof v.prefix !== 'string') return r.fail(`${k}.prefix`, `must be an address or CIDR prefix, got ${describe(v.prefix)}`);
      try {
        return { prefix: parsePrefix(v.prefix), reason: v.reason };
      } catch (err) {
        return r.fail(`${k}.prefix`, (err as Error).message);
      }
    }),
    minPrefixV4: r.int(sa, 'minPrefixV4', 'safety.minPrefixV4', d.safety.minPrefixV4, 0, 32),
    minPrefixV6: r.int(sa, 'minPrefixV6', 'safety.minPrefixV6', d.safety.minPrefixV6, 0, 128),
  };
  if (safety.sshSessions && safety.sshPorts.length === 0 && sa?.sshPorts !== undefined) r.fail('safety.sshPorts', 'is empty while safety.sshSessions is true; list the sshd port(s) or set safety.sshSessions: false');

  const lo = r.section(input, 'log', '', ['level', 'rateLimit']);
  const rl = r.section(lo ?? {}, 'rateLimit', 'log', ['burst', 'perSecond']);
  const log = {
    level: r.oneOf<LogLevel>(lo, 'level', 'log.level', d.log.level, LOG_LEVELS),
    rateLimit: {
      burst: r.int(rl, 'burst', 'log.rateLimit.burst', d.log.rateLimit.burst, 1, 1_000_000),
      perSecond: r.num(rl, 'perSecond', 'log.rateLimit.perSecond', d.log.rateLimit.perSecond, 0.001, 1_000_000),
    },
  };

  const offences = readOffences(r, input);
  const postfix = readPostfix(r, input, options);

  if (r.errors.length > 0) return { ok: false, errors: r.errors };
  return { ok: true, config: { database, device, socket, metrics, kernel, escalation, aggregation, history, sync, safety, log, offences, postfix } };
}

const KIND_KEYS = ['enabled', 'threshold', 'window'];

function readOffences(r: Reader, input: Obj): OffenceConfig {
  const d = defaultOffenceConfig();
  const of = r.section(input, 'offences', '', ['window', 'ports', 'ttl', 'maxTracked', 'kinds']);
  const window = r.duration(of, 'window', 'offences.window', d.window, 1) ?? d.window;
  if (window > 7 * 86400) r.fail('offences.window', `${window} s is longer than the maximum of 7d`);
  const ports = r.list(of, 'ports', 'offences.ports', [...d.ports], (v, k) => checkPort(v, k, r), KERNEL_LIMITS.maxPorts);
  const out: OffenceConfig = {
    window,
    ports: [...new Set(ports)].sort((a, b) => a - b),
    ttl: r.duration(of, 'ttl', 'offences.ttl', d.ttl, 1, true),
    maxTracked: r.int(of, 'maxTracked', 'offences.maxTracked', d.maxTracked, 1, 10_000_000),
    kinds: d.kinds,
  };
  for (const k of OFFENCE_KINDS) out.kinds[k] = { ...d.kinds[k], window };
  const kinds = r.section(of ?? {}, 'kinds', 'offences', OFFENCE_KINDS);
  if (kinds !== undefined) {
    for (const [name, v] of Object.entries(kinds)) {
      if (!(OFFENCE_KINDS as readonly string[]).includes(name)) continue;
      const key = `offences.kinds.${name}`;
      const kind = name as OffenceKind;
      if (!isObj(v)) {
        r.fail(key, `must be {"enabled": ..., "threshold": ..., "window": ...}, got ${describe(v)}`);
        continue;
      }
      r.unknown(v, key, KIND_KEYS);
      const rule = out.kinds[kind];
      rule.enabled = r.bool(v, 'enabled', `${key}.enabled`, rule.enabled);
      rule.threshold = r.int(v, 'threshold', `${key}.threshold`, rule.threshold, 1, 10_000);
      rule.window = r.duration(v, 'window', `${key}.window`, rule.window, 1) ?? rule.window;
      if (rule.window > 7 * 86400) r.fail(`${key}.window`, `${rule.window} s is longer than the maximum of 7d`);
    }
  }
  return out;
}

const POLICY_ACTIONS: readonly PolicyAction[] = ['reject', 'defer', '521'];

function readPostfix(r: Reader, input: Obj, options: ValidateOptions): DaemonConfig['postfix'] {
  const d = defaultConfig().postfix;
  const pf = r.section(input, 'postfix', '', ['policy', 'log']);
  const po = r.section(pf ?? {}, 'policy', 'postfix', ['listen', 'mode', 'group', 'action', 'text', 'maxConnections', 'idleTimeout', 'allowRemote']);
  const allowRemote = r.bool(po, 'allowRemote', 'postfix.policy.allowRemote', d.policy.allowRemote);
  let listen: PolicyListen | null = null;
  const lv = po?.listen;
  if (lv !== undefined && lv !== null) {
    if (typeof lv !== 'string') r.fail('postfix.policy.listen', `must be "unix:/path", "inet:host:port" or null, got ${describe(lv)}`);
    else {
      const l = parsePolicyListen(lv);
      if (typeof l === 'string') r.fail('postfix.policy.listen', l);
      else if (l.type === 'inet' && !isLoopbackHost(l.host) && !allowRemote) r.fail('postfix.policy.listen', `${lv} is not a loopback address; set postfix.policy.allowRemote: true to allow it`);
      else listen = l;
    }
  }
  // The action's "521" may come as a number.
  const actionV = po?.action === 521 ? '521' : po?.action;
  const { group, gid } = socketGroup(r, po?.group, 'postfix.policy.group', options);
  const policy: PostfixPolicyConfig = {
    listen,
    mode: socketMode(r, po?.mode, 'postfix.policy.mode', d.policy.mode, 'query and promote bans', 'postfix.policy.group'),
    group,
    gid,
    action: r.oneOf<PolicyAction>(actionV === undefined ? undefined : { action: actionV }, 'action', 'postfix.policy.action', d.policy.action, POLICY_ACTIONS),
    text: r.str(po, 'text', 'postfix.policy.text', d.policy.text, (t) =>
      /^[\x20-\x7e]{1,200}$/.test(t) ? undefined : 'must be 1..200 printable ASCII characters (it goes into an SMTP reply)',
    ),
    maxConnections: r.int(po, 'maxConnections', 'postfix.policy.maxConnections', d.policy.maxConnections, 1, 65536),
    idleTimeout: r.duration(po, 'idleTimeout', 'postfix.policy.idleTimeout', d.policy.idleTimeout, 1) ?? d.policy.idleTimeout,
    allowRemote,
  };
  const lo = r.section(pf ?? {}, 'log', 'postfix', ['enabled', 'source', 'file', 'unit', 'patterns']);
  const log: PostfixLogConfig = {
    enabled: r.bool(lo, 'enabled', 'postfix.log.enabled', d.log.enabled),
    source: r.oneOf<PostfixLogConfig['source']>(lo, 'source', 'postfix.log.source', d.log.source, ['journal', 'file']),
    file: r.str(lo, 'file', 'postfix.log.file', d.log.file, absolutePath),
    unit: r.str(lo, 'unit', 'postfix.log.unit', d.log.unit, (u) => (/^[A-Za-z0-9@_.:\\-]+$/.test(u) ? undefined : `"${u}" is not a systemd unit name`)),
  };
  const pv = lo?.patterns;
  if (pv !== undefined && pv !== null) {
    const bad = typeof pv === 'string' ? absolutePath(pv) : `must be an absolute path or null, got ${describe(pv)}`;
    if (bad !== undefined) r.fail('postfix.log.patterns', bad);
    else log.patterns = pv as string;
  }
  return { policy, log };
}

/** Parses the text of a file (JSON with comments) and validates it. */
export function parseConfig(text: string, options: ValidateOptions = {}): ConfigResult {
  const clean = stripJsonComments(text.replace(/^\uFEFF/, ''));
  if (clean.trim() === '') return validateConfig({}, options);
  let parsed: unknown;
  try {
    parsed = JSON.parse(clean);
  } catch (err) {
    const msg = (err as Error).message;
    const pos = /position ([0-9]+)/.exec(msg);
    const where = pos === null ? '' : ` at ${lineCol(clean, Number(pos[1]))}`;
    return { ok: false, errors: [{ key: '', message: `not valid JSON${where}: ${msg.replace(/ in JSON at position [0-9]+.*$/, '')}` }] };
  }
  return validateConfig(parsed, options);
}

/** Group name -> gid from /etc/group-style text (NSS-only groups such as LDAP are not seen: use the numeric id). */
export function groupIdFrom(etcGroup: string): (name: string) => number | undefined {
  const ids = new Map<string, number>();
  for (const line of etcGroup.split('\n')) {
    const f = line.split(':');
    if (f.length >= 3 && f[0] !== undefined && f[0] !== '' && /^[0-9]+$/.test(f[2] ?? '')) ids.set(f[0], Number(f[2]));
  }
  return (name) => ids.get(name);
}

export interface LoadOptions extends ValidateOptions {
  /** An absent file gives the defaults instead of an error (the default path is optional). */
  missingOk?: boolean;
  /** Reads a file (tests); default fs.readFile as UTF-8. */
  readFile?: (path: string) => Promise<string>;
}

const readText = (p: string): Promise<string> => readFile(p, 'utf8');

/** Reads, parses and validates the file at @file. */
export async function loadConfig(file: string, options: LoadOptions = {}): Promise<ConfigResult> {
  const read = options.readFile ?? readText;
  let text: string;
  try {
    text = await read(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && options.missingOk === true) text = '';
    else return { ok: false, errors: [{ key: '', message: `cannot read ${file}: ${code ?? (err as Error).message}` }] };
  }
  let groupId = options.groupId;
  if (groupId === undefined) {
    const etc = await read('/etc/group').catch(() => '');
    groupId = groupIdFrom(etc);
  }
  return parseConfig(text, { groupId });
}

/** The store options (src/lib/db) that a configuration asks for. */
export function storeOptionsOf(config: DaemonConfig): { path: string; escalation: EscalationConfig; aggregation: AggregationConfig; history: HistoryRetention } {
  const history: HistoryRetention = {};
  if (config.history.maxAge !== null) history.maxAge = config.history.maxAge * 1000;
  if (config.history.maxCount !== null) history.maxCount = config.history.maxCount;
  return { path: config.database.path, escalation: { ...config.escalation }, aggregation: { ...config.aggregation, sources: [...config.aggregation.sources] }, history };
}

/** Keys whose values differ between two configurations (CONFIG_KEYS names). */
export function changedKeys(a: DaemonConfig, b: DaemonConfig): string[] {
  const get = (c: DaemonConfig, key: string): unknown => {
    let v: unknown = c;
    for (const part of key.split('.')) v = (v as Obj)[part];
    if (key === 'socket.group') return [c.socket.group, c.socket.gid];
    if (key === 'postfix.policy.group') return [c.postfix.policy.group, c.postfix.policy.gid];
    return v;
  };
  return CONFIG_KEYS.filter((k) => JSON.stringify(get(a, k)) !== JSON.stringify(get(b, k)));
}

export type ReloadResult =
  | { ok: true; config: DaemonConfig; previous: DaemonConfig; changed: string[]; restartRequired: string[] }
  | { ok: false; errors: ConfigError[]; config: DaemonConfig };

/**
 * The running configuration and its file.  load() once at start (throws
 * ConfigFileError listing every error); reload() on SIGHUP: a valid file
 * replaces the configuration, an invalid one leaves it as it was.
 */
export class ConfigManager {
  #file: string;
  readonly #options: LoadOptions;
  #current: DaemonConfig | undefined;

  constructor(file: string = DEFAULT_CONFIG_PATH, options: LoadOptions = {}) {
    this.#file = file;
    this.#options = options;
  }

  get file(): string {
    return this.#file;
  }

  /** The configuration in force; throws before load(). */
  get current(): DaemonConfig {
    if (this.#current === undefined) throw new Error('ConfigManager: load() has not succeeded yet');
    return this.#current;
  }

  async load(): Promise<DaemonConfig> {
    const r = await loadConfig(this.#file, this.#options);
    if (!r.ok) throw new ConfigFileError(this.#file, r.errors);
    this.#current = r.config;
    return r.config;
  }

  /** Re-reads the file (or @file, which then becomes the file). */
  async reload(file: string = this.#file): Promise<ReloadResult> {
    const previous = this.current;
    const r = await loadConfig(file, this.#options);
    if (!r.ok) return { ok: false, errors: r.errors, config: previous };
    this.#file = file;
    this.#current = r.config;
    const changed = changedKeys(previous, r.config);
    return { ok: true, config: r.config, previous, changed, restartRequired: changed.filter((k) => RESTART_KEYS.includes(k)) };
  }
}
