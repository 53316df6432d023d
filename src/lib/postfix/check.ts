// SPDX-License-Identifier: MIT
//
// `ffwall postfix check`: reads a live Postfix configuration through
// postconf(1) (main.cf with -x expansion, master.cf with -F and -P) and
// validates it against the snippets of docs/postfix.md:
//
// - every public smtpd service calls ffwall's policy service
//   (check_policy_service), at the address the daemon listens on as smtpd
//   sees it (a chrooted smtpd resolves unix: paths inside its chroot, the
//   queue directory);
// - at a place where it is reached: in smtpd_client/helo/sender/relay/
//   recipient_restrictions, with no rule before it that can permit a client
//   other than mynetworks and authenticated clients (an unconditional
//   "permit" before it makes it dead: fail; check_*_access, permit_* rules:
//   warn, the clients they permit skip ffwall);
// - the policy client's settings: default_action (Postfix's default tempfails
//   all mail while ffwall's daemon is down: warn) and timeout;
// - smtpd_delay_reject (informational: where the check runs);
// - Postfix's log reaches the log watcher (maillog_file vs syslog/journal);
// - syslog_name starts with "postfix" (the watcher recognizes those tags);
// - postscreen, which never calls a policy service: the watcher handles it.
//
// The port-25 service (smtp/inet, or postscreen's smtpd/pass) must call the
// policy service (fail); submission/smtps services without it are a warning
// (the kernel still drops banned clients there; only cold bans pass).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { FfwallError } from '../errors.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface PostfixCheck {
  /** "postconf", "policy-listen", "policy-service:smtp/inet", "policy-default-action", ... */
  id: string;
  status: CheckStatus;
  message: string;
  /** What to change, when the status is not ok. */
  fix: string | null;
}

export interface PostfixCheckReport {
  configDir: string;
  postfixVersion: string;
  /** The daemon's policy listener as checked ("unix:/path", "inet:host:port"), or null. */
  policyListen: string | null;
  checks: PostfixCheck[];
  counts: { ok: number; warn: number; fail: number };
  /** No check failed. */
  ok: boolean;
}

export type PolicyListenSpec = { type: 'unix'; path: string } | { type: 'inet'; host: string; port: number };

export interface LogWatchSpec {
  enabled: boolean;
  source: 'journal' | 'file';
  file: string;
  unit: string;
}

export interface PostfixCheckOptions {
  /** Postfix's configuration directory (postconf -c). */
  configDir: string;
  /** Where ffwall's policy service listens (postfix.policy.listen); null: off. */
  policyListen: PolicyListenSpec | null;
  /** ffwall's log watcher settings (postfix.log). */
  log: LogWatchSpec;
  /** Where those came from (named in messages). */
  ffwallConfig: string;
  /** The postconf binary (default "postconf" in PATH). */
  postconf?: string;
}

// ---------------------------------------------------------------------------
// postconf

function postconf(bin: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err === null) return resolve(stdout);
      const e = err as NodeJS.ErrnoException & { code?: unknown };
      if (e.code === 'ENOENT') return reject(new FfwallError('ENOPOSTCONF', `postconf not found (${bin}): is Postfix installed? ffwall postfix check reads the configuration through postconf`));
      reject(new FfwallError('EFAILED', `postconf ${args.join(' ')} failed: ${String(stderr).trim() || e.message}`));
    });
  });
}

/** "name = value" lines. */
export function parsePostconfLines(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(' = ');
    if (i > 0) out.set(line.slice(0, i), line.slice(i + 3));
    else if (line.endsWith(' =')) out.set(line.slice(0, -2), '');
  }
  return out;
}

export interface MasterService {
  /** "smtp/inet" */
  key: string;
  name: string;
  type: string;
  chroot: string;
  /** The program (first word of the command). */
  program: string;
  /** -o overrides (expanded). */
  params: Map<string, string>;
}

/** master.cf's services from `postconf -F` (fields) and `postconf -Px` (overrides). */
export function parseMaster(fields: string, params: string): MasterService[] {
  const byKey = new Map<string, MasterService>();
  for (const [k, v] of parsePostconfLines(fields)) {
    const parts = k.split('/');
    if (parts.length !== 3) continue;
    const [name, type, field] = parts as [string, string, string];
    const key = `${name}/${type}`;
    let s = byKey.get(key);
    if (s === undefined) {
      s = { key, name, type, chroot: '-', program: '', params: new Map() };
      byKey.set(key, s);
    }
    if (field === 'chroot') s.chroot = v;
    if (field === 'command') s.program = v.trim().split(/\s+/)[0] ?? '';
  }
  for (const [k, v] of parsePostconfLines(params)) {
    const parts = k.split('/');
    if (parts.length !== 3) continue;
    byKey.get(`${parts[0]}/${parts[1]}`)?.params.set(parts[2]!, v);
  }
  return [...byKey.values()];
}

// ---------------------------------------------------------------------------
// Restriction lists

/** A restriction list's items: words, with "{ ... }" groups kept whole (their inside, trimmed). */
export function tokenizeRestrictions(value: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < value.length) {
    const c = value[i]!;
    if (c === ' ' || c === '\t' || c === ',' || c === '\n') {
      i++;
      continue;
    }
    if (c === '{') {
      let depth = 1;
      let j = i + 1;
      while (j < value.length && depth > 0) {
        if (value[j] === '{') depth++;
        else if (value[j] === '}') depth--;
        j++;
      }
      out.push(`{${value.slice(i + 1, depth === 0 ? j - 1 : j).trim()}}`);
      i = j;
      continue;
    }
    let j = i;
    while (j < value.length && !' \t,\n{'.includes(value[j]!)) j++;
    out.push(value.slice(i, j));
    i = j;
  }
  return out;
}

export interface PolicyCall {
  /** "unix:private/ffwall-policy", "inet:127.0.0.1:10031" */
  server: string;
  /** Per-call attributes ({ server, timeout=10s, default_action=DUNNO }). */
  attrs: Map<string, string>;
  /** The index of check_policy_service in the list. */
  index: number;
}

/** The check_policy_service calls of a restriction list. */
export function policyCalls(tokens: readonly string[]): PolicyCall[] {
  const out: PolicyCall[] = [];
  tokens.forEach((t, i) => {
    if (t !== 'check_policy_service') return;
    const arg = tokens[i + 1];
    if (arg === undefined) return;
    if (arg.startsWith('{')) {
      const inner = arg.slice(1, -1).split(/[\s,]+/).filter((s) => s !== '');
      const attrs = new Map<string, string>();
      for (const a of inner.slice(1)) {
        const eq = a.indexOf('=');
        if (eq > 0) attrs.set(a.slice(0, eq), a.slice(eq + 1));
      }
      out.push({ server: inner[0] ?? '', attrs, index: i });
    } else {
      out.push({ server: arg, attrs: new Map(), index: i });
    }
  });
  return out;
}

/** Rules after which a trusted client may skip the check: intended. */
const TRUSTED_PERMITS = new Set(['permit_mynetworks', 'permit_sasl_authenticated']);
/** Rules that never permit. */
const NEVER_PERMIT = /^(reject|reject_.*|defer|defer_.*|warn_if_reject|check_policy_service|sleep|reject_unauth_pipelining|smtpd_.*)$/;

/** Why the call at @index may be skipped: 'dead' (an unconditional permit before it), the rules that may permit some clients before it, or none. */
export function positionOf(tokens: readonly string[], index: number): { dead: boolean; trusted: string[]; others: string[] } {
  const trusted: string[] = [];
  const others: string[] = [];
  for (let i = 0; i < index; i++) {
    const t = tokens[i]!;
    if (t.startsWith('{')) continue; // an argument group
    const prev = tokens[i - 1];
    // Arguments of the previous rule (maps, RBL domains, servers).
    if (prev !== undefined && /^(check_.*|reject_rbl_client|reject_rhsbl_.*|permit_dnswl_client|permit_rhswl_client|reject_.*_access|sleep)$/.test(prev) && !/^(permit|reject|defer|check_|warn_)/.test(t)) continue;
    if (t === 'permit') return { dead: true, trusted, others };
    if (TRUSTED_PERMITS.has(t)) trusted.push(t);
    else if (NEVER_PERMIT.test(t)) continue;
    else if (t.includes(':') || t.includes('.') || t.includes('/')) continue; // a map or a domain
    else others.push(t);
  }
  return { dead: false, trusted, others };
}

const RESTRICTION_LISTS = [
  'smtpd_client_restrictions',
  'smtpd_helo_restrictions',
  'smtpd_sender_restrictions',
  'smtpd_relay_restrictions',
  'smtpd_recipient_restrictions',
  'smtpd_data_restrictions',
  'smtpd_end_of_data_restrictions',
] as const;
const LATE_LISTS = new Set(['smtpd_data_restrictions', 'smtpd_end_of_data_restrictions']);

const MAIN_PARAMS = [
  'mail_version',
  'queue_directory',
  'mail_owner',
  'smtpd_delay_reject',
  ...RESTRICTION_LISTS,
  'smtpd_policy_service_timeout',
  'smtpd_policy_service_default_action',
  'maillog_file',
  'syslog_name',
  'postscreen_dnsbl_sites',
  'postscreen_pipelining_enable',
];

/**
 * The uid and groups of a user (/etc/passwd, /etc/group): its primary group
 * and those that list it as a member (Postfix's daemons call initgroups()
 * in chroot_uid(), so they keep them); undefined when unknown.
 */
function userIds(name: string): { uid: number; gids: Set<number> } | undefined {
  const read = (f: string): string => {
    try {
      return readFileSync(f, 'utf8');
    } catch {
      return '';
    }
  };
  let out: { uid: number; gids: Set<number> } | undefined;
  for (const line of read('/etc/passwd').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 4) out = { uid: Number(f[2]), gids: new Set([Number(f[3])]) };
  }
  if (out === undefined) return undefined;
  for (const line of read('/etc/group').split('\n')) {
    const f = line.split(':');
    if (f.length >= 4 && f[3]!.split(',').includes(name)) out.gids.add(Number(f[2]));
  }
  return out;
}

/** Connects to the listener: null when something accepts, else the error code. */
function probe(l: PolicyListenSpec): Promise<string | null> {
  return new Promise((resolve) => {
    const sock = l.type === 'unix' ? net.connect(l.path) : net.connect(l.port, l.host);
    const done = (r: string | null): void => {
      sock.destroy();
      resolve(r);
    };
    sock.setTimeout(2000, () => done('ETIMEDOUT'));
    sock.once('connect', () => done(null));
    sock.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

function formatListen(l: PolicyListenSpec): string {
  return l.type === 'unix' ? `unix:${l.path}` : `inet:${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`;
}

function seconds(v: string | undefined): number | null {
  if (v === undefined) return null;
  const m = /^(\d+)([smhdw]?)$/.exec(v.trim());
  if (m === null) return null;
  return Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 } as Record<string, number>)[m[2]!]!;
}

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** Is @server (as written in main.cf) the daemon's listener, seen from a service with @chroot? */
function serverMatches(server: string, listen: PolicyListenSpec, queueDir: string, chrooted: boolean): { match: boolean; hostPath?: string } {
  if (listen.type === 'unix') {
    if (!server.startsWith('unix:')) return { match: false };
    const p = server.slice(5);
    const hostPath = path.isAbsolute(p) ? (chrooted ? path.join(queueDir, p) : p) : path.join(queueDir, p);
    return { match: path.normalize(hostPath) === path.normalize(listen.path), hostPath };
  }
  const m = /^inet:(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(server);
  if (m === null) return { match: false };
  const host = m[1] ?? m[2]!;
  if (Number(m[3]) !== listen.port) return { match: false };
  return { match: host === listen.host || (LOOPBACK_NAMES.has(host) && LOOPBACK_NAMES.has(listen.host) && host !== 'localhost') };
}

/** The public smtpd services: smtpd behind inet (but not a loopback re-injection port) or behind postscreen (pass). */
function publicSmtpd(services: readonly MasterService[]): MasterService[] {
  return services.filter((s) => s.program === 'smtpd' && (s.type === 'pass' || (s.type === 'inet' && !/^(127\.|\[?::1\]?:|localhost:)/.test(s.name))));
}

function isPort25(s: MasterService): boolean {
  return (s.type === 'inet' && (s.name === 'smtp' || s.name === '25' || /:(25|smtp)$/.test(s.name))) || s.type === 'pass';
}

// ---------------------------------------------------------------------------

export async function checkPostfix(o: PostfixCheckOptions): Promise<PostfixCheckReport> {
  const bin = o.postconf ?? 'postconf';
  const dir = o.configDir;
  if (!existsSync(path.join(dir, 'main.cf'))) throw new TypeError(`--config-dir: ${path.join(dir, 'main.cf')} does not exist`);
  const c = ['-c', dir];
  const [mainText, fieldsText, paramsText] = await Promise.all([postconf(bin, [...c, '-x', ...MAIN_PARAMS]), postconf(bin, [...c, '-F']), postconf(bin, [...c, '-P', '-x'])]);
  const main = parsePostconfLines(mainText);
  const services = parseMaster(fieldsText, paramsText);
  const checks: PostfixCheck[] = [];
  const add = (id: string, status: CheckStatus, message: string, fix: string | null = null): void => {
    checks.push({ id, status, message, fix: status === 'ok' ? null : fix });
  };
  const version = main.get('mail_version') ?? '?';
  const queueDir = main.get('queue_directory') ?? '/var/spool/postfix';
  add('postconf', 'ok', `Postfix ${version}, configuration ${dir}`);

  // ---- the daemon's listener ----
  const listen = o.policyListen;
  if (listen === null) {
    add('policy-listen', 'fail', `ffwall's policy service is off (postfix.policy.listen is not set in ${o.ffwallConfig})`, `set postfix.policy.listen, e.g. "inet:127.0.0.1:10031" (or "unix:${path.join(queueDir, 'private/ffwall-policy')}"), and reload the daemon`);
  } else {
    const where = formatListen(listen);
    if (listen.type === 'unix') {
      let st: ReturnType<typeof statSync> | undefined;
      let statErr = '';
      try {
        st = statSync(listen.path);
      } catch (err) {
        statErr = (err as NodeJS.ErrnoException).code ?? String(err);
      }
      if (st === undefined && statErr === 'EACCES') add('policy-listen', 'warn', `cannot look at ${listen.path} (EACCES): run the check as root to see the socket`, 'sudo ffwall postfix check');
      else if (st === undefined) add('policy-listen', 'warn', `ffwall's policy service should listen on ${where}, but there is no socket there now`, 'start the daemon (systemctl start ffwall)');
      else if (!st.isSocket()) add('policy-listen', 'fail', `${listen.path} is not a socket`, `remove it and restart the daemon, or choose another postfix.policy.listen`);
      else {
        const err = await probe(listen);
        // smtpd runs as mail_owner, with its groups.
        const owner = main.get('mail_owner') ?? 'postfix';
        const ids = userIds(owner);
        const mode = Number(st.mode) & 0o777;
        const reachable = ids === undefined || ids.uid === 0 || (Number(st.uid) === ids.uid && (mode & 0o200) !== 0) || (ids.gids.has(Number(st.gid)) && (mode & 0o020) !== 0) || (mode & 0o002) !== 0;
        if (!reachable) {
          add('policy-listen', 'fail', `smtpd (user ${owner}, groups ${[...ids!.gids].join(',')}) cannot connect to ${listen.path} (owner ${st.uid}:${st.gid}, mode ${mode.toString(8).padStart(4, '0')})`, `postfix.policy.group: "${owner}" with mode "0660" (or a group ${owner} is a member of)`);
        } else if (err === null) add('policy-listen', 'ok', `ffwall's policy service listens on ${where}`);
        else add('policy-listen', 'warn', `ffwall's policy service should listen on ${where}, but connecting fails (${err}): a stale socket?`, 'start (or restart) the daemon');
      }
    } else {
      const err = await probe(listen);
      if (err === null) add('policy-listen', 'ok', `ffwall's policy service listens on ${where}`);
      else add('policy-listen', 'warn', `ffwall's policy service should listen on ${where}, but connecting fails (${err})`, 'start the daemon (systemctl start ffwall)');
    }
  }

  // ---- each public smtpd service ----
  const smtpds = publicSmtpd(services);
  const defaultActions: string[] = [];
  const timeouts: { service: string; seconds: number }[] = [];
  if (smtpds.length === 0) add('smtpd-services', 'warn', 'master.cf has no public smtpd service (inet, or pass behind postscreen)', 'check master.cf');
  for (const s of smtpds) {
    const id = `policy-service:${s.key}`;
    const chrooted = s.chroot === 'y';
    const value = (name: string): string => s.params.get(name) ?? main.get(name) ?? '';
    type Found = { list: string; call: PolicyCall; tokens: string[] };
    const found: Found[] = [];
    const foreign: string[] = [];
    for (const list of RESTRICTION_LISTS) {
      const tokens = tokenizeRestrictions(value(list));
      for (const call of policyCalls(tokens)) {
        if (listen !== null && serverMatches(call.server, listen, queueDir, chrooted).match) found.push({ list, call, tokens });
        else foreign.push(`${call.server} (${list})`);
      }
    }
    const severity: CheckStatus = isPort25(s) ? 'fail' : 'warn';
    const server = listen === null ? '<ffwall listener>' : listen.type === 'unix' ? `unix:${path.relative(queueDir, listen.path)}` : formatListen(listen);
    const snippet = `check_policy_service { ${server}, default_action=DUNNO, timeout=10s }`;
    if (listen === null) {
      add(id, severity, `${s.key}: cannot check (ffwall's policy service is off)`, 'set postfix.policy.listen first');
      continue;
    }
    if (found.length === 0) {
      let why = foreign.length > 0 ? `calls ${foreign.join(', ')}, not ffwall's ${formatListen(listen)}` : "does not call ffwall's policy service";
      if (listen.type === 'unix' && chrooted) {
        const abs = foreign.find((f) => f.startsWith(`unix:${listen.path} `));
        if (abs !== undefined) why = `runs chrooted in ${queueDir}: there "unix:${listen.path}" means ${path.join(queueDir, listen.path)}, not the daemon's socket`;
      }
      const fix =
        listen.type === 'unix' && !listen.path.startsWith(`${queueDir}/`)
          ? `let the daemon listen where smtpd reaches it: postfix.policy.listen "inet:127.0.0.1:10031", or "unix:${path.join(queueDir, 'private/ffwall-policy')}" called as "unix:private/ffwall-policy"`
          : `add "${snippet}" to smtpd_recipient_restrictions after permit_mynetworks, permit_sasl_authenticated${s.params.has('smtpd_recipient_restrictions') ? ' (this service overrides it with -o)' : ''}`;
      add(id, severity, `${s.key} ${why}`, fix);
      continue;
    }
    const f = found[0]!;
    defaultActions.push(f.call.attrs.get('default_action') ?? value('smtpd_policy_service_default_action'));
    const t = seconds(f.call.attrs.get('timeout') ?? value('smtpd_policy_service_timeout'));
    if (t !== null) timeouts.push({ service: s.key, seconds: t });
    const pos = positionOf(f.tokens, f.call.index);
    const at = `${s.key}: ${f.list}${s.params.has(f.list) ? ' (-o)' : ''} calls ${f.call.server}`;
    if (pos.dead) add(id, 'fail', `${at} after an unconditional "permit": it is never reached`, `move check_policy_service before "permit" in ${f.list}`);
    else if (LATE_LISTS.has(f.list)) add(id, 'warn', `${at}: only after DATA, so a banned client still gets its RCPTs answered`, `move it to smtpd_client_restrictions`);
    else if (pos.others.length > 0) add(id, 'warn', `${at} after ${pos.others.join(', ')}: the clients those rules permit skip ffwall's check`, `move check_policy_service before ${pos.others[0]} (first in ${f.list})`);
    else add(id, 'ok', `${at}${pos.trusted.length > 0 ? ` (after ${pos.trusted.join(', ')}: those clients are not checked)` : ''}`);
  }

  // ---- the policy client's settings ----
  if (defaultActions.length > 0) {
    const bad = defaultActions.filter((a) => a.trim().toUpperCase() !== 'DUNNO');
    if (bad.length > 0) {
      add('policy-default-action', 'warn', `when ffwall's daemon is down or too slow, Postfix answers "${bad[0]}" to every recipient (smtpd_policy_service_default_action)`, 'fail open: { check_policy_service ..., default_action=DUNNO } or smtpd_policy_service_default_action = DUNNO');
    } else add('policy-default-action', 'ok', "default_action DUNNO: mail flows when ffwall's daemon is down");
  }
  if (timeouts.length > 0) {
    const slow = timeouts.filter((x) => x.seconds > 10);
    if (slow.length > 0) add('policy-timeout', 'warn', `policy service timeout ${slow[0]!.seconds}s (${slow[0]!.service}): a hung daemon holds each SMTP session that long`, '{ check_policy_service ..., timeout=10s } or smtpd_policy_service_timeout = 10s');
    else add('policy-timeout', 'ok', `policy service timeout ${Math.max(...timeouts.map((x) => x.seconds))}s`);
  }

  // ---- smtpd_delay_reject ----
  const delay = (main.get('smtpd_delay_reject') ?? 'yes').trim().toLowerCase();
  add(
    'smtpd-delay-reject',
    'ok',
    delay === 'yes'
      ? 'smtpd_delay_reject = yes: client, HELO and sender restrictions run at RCPT TO, so the policy service is asked there (and Postfix logs the rejected recipient)'
      : 'smtpd_delay_reject = no: smtpd_client_restrictions run at CONNECT, so a banned client is refused before HELO',
  );

  // ---- the log ----
  const maillog = (main.get('maillog_file') ?? '').trim();
  const hasPostlog = services.some((s) => s.program === 'postlogd');
  const l = o.log;
  if (maillog !== '' && !hasPostlog) add('postlog', 'fail', `maillog_file = ${maillog} but master.cf has no postlogd service: Postfix cannot write it`, 'add "postlog unix-dgram n - n - 1 postlogd" to master.cf');
  if (!l.enabled) {
    add('log-watcher', 'warn', `ffwall's Postfix log watcher is off (postfix.log.enabled in ${o.ffwallConfig}): Postfix's rejections and postscreen's verdicts ban nobody`, `set postfix.log.enabled: true${maillog === '' ? '' : `, postfix.log.source: "file", postfix.log.file: "${maillog}"`}`);
  } else if (maillog !== '') {
    if (l.source === 'file' && path.normalize(l.file) === path.normalize(maillog)) add('log-watcher', 'ok', `Postfix writes ${maillog} (maillog_file); the watcher follows it`);
    else add('log-watcher', 'fail', `Postfix writes its log to ${maillog} (maillog_file, through postlogd), not to syslog; the watcher reads ${l.source === 'file' ? l.file : `the journal (${l.unit})`}`, `set postfix.log.source: "file" and postfix.log.file: "${maillog}"`);
  } else if (l.source === 'journal') {
    add('log-watcher', 'ok', `Postfix logs to syslog (no maillog_file); the watcher follows the journal (journalctl -u ${l.unit})`);
  } else if (existsSync(l.file)) {
    add('log-watcher', 'ok', `Postfix logs to syslog (no maillog_file); the watcher follows ${l.file} (written by the syslog daemon)`);
  } else {
    add('log-watcher', 'warn', `Postfix logs to syslog, but ${l.file} does not exist (no syslog daemon writing mail.*?)`, `set postfix.log.source: "journal", or have rsyslog write mail.* to ${l.file}`);
  }
  const names = new Set([main.get('syslog_name') ?? 'postfix', ...services.map((s) => s.params.get('syslog_name')).filter((n): n is string => n !== undefined)]);
  const foreignNames = [...names].filter((n) => !n.startsWith('postfix'));
  if (foreignNames.length > 0) add('syslog-name', 'warn', `syslog_name ${foreignNames.join(', ')} does not start with "postfix": the log watcher does not recognize those lines`, 'use syslog_name = postfix or postfix/<service> (or postfix-<instance>)');
  else add('syslog-name', 'ok', `syslog names: ${[...names].join(', ')}`);

  // ---- postscreen ----
  const ps = services.filter((s) => s.program === 'postscreen');
  if (ps.length === 0) add('postscreen', 'ok', 'no postscreen (optional): smtpd faces clients directly');
  else {
    const extra: string[] = [];
    if ((main.get('postscreen_dnsbl_sites') ?? '').trim() === '') extra.push('postscreen_dnsbl_sites is empty (no DNSBL verdicts)');
    if ((main.get('postscreen_pipelining_enable') ?? 'no').trim() !== 'yes') extra.push('postscreen_pipelining_enable = no (no PIPELINING verdicts)');
    const msg = `postscreen on ${ps.map((s) => s.key).join(', ')}: it never calls a policy service; its PREGREET/DNSBL/PIPELINING/HANGUP verdicts reach ffwall through the log watcher${extra.length > 0 ? `; ${extra.join('; ')}` : ''}`;
    if (!l.enabled) add('postscreen', 'warn', msg, 'enable the log watcher (postfix.log.enabled: true)');
    else add('postscreen', 'ok', msg);
  }

  const counts = { ok: 0, warn: 0, fail: 0 };
  for (const ch of checks) counts[ch.status]++;
  return { configDir: dir, postfixVersion: version, policyListen: listen === null ? null : formatListen(listen), checks, counts, ok: counts.fail === 0 };
}
