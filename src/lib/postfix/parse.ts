// SPDX-License-Identifier: MIT
//
// Recognizing Postfix's rejections in its log.  The patterns are data
// (patterns.json next to this file; a user file may add to or override them,
// see loadPatterns); this module only compiles them and runs them.
//
// A log line is
//   <timestamp> <host> <tag>[<pid>]: <message>
// where <timestamp> is syslog's "Nov 29 14:00:00" (day space-padded),
// rsyslog's RFC 3339 "2026-11-29T14:00:00.123456+00:00", or Postfix's own
// maillog_file stamp (postlogd: "Nov 09 14:00:00", day zero-padded), and
// <tag> is the service's syslog_name plus the program: "postfix/smtpd",
// "postfix/submission/smtpd", "postfix-out/smtpd", "postfix/postscreen".
// From journald the tag and message come apart (SYSLOG_IDENTIFIER, MESSAGE):
// use matchPostfixMessage() directly.
//
// Cost: a line first goes through one String.includes() per pattern (the
// pattern's `contains`, a literal every match must contain).  Most lines of a
// mail log (connect, disconnect, queue lines) fail all of them and cost no
// more than that: no envelope parsing, no regex.  A line that contains one
// gets its envelope split (one anchored regex) and only the patterns whose
// literal it contains run their regex.  Measured (Node 20, the 2-core test
// host, a loop over the fixture lines): 0.2-0.3 µs per ordinary mail log
// line (connect, queue, delivery), 0.7 µs per look-alike that is no offence,
// 1.7 µs per offence: some 500,000 lines a second on one core.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { isOffenceKind, type OffenceKind } from '../offences.js';

/** One compiled pattern. */
export interface PostfixPattern {
  /** Unique name; a user file's pattern of the same name replaces the built-in one. */
  name: string;
  kind: OffenceKind;
  /** The programs whose lines it applies to ("smtpd", "postscreen"), or whole tags ("postfix/submission/smtpd"). */
  programs: readonly string[];
  /** A literal every matching message contains (the cheap prefilter). */
  contains: string;
  /** Runs on the message; the named group `address` is the client, `detail` (optional) the offence's detail. */
  regex: RegExp;
  description: string;
}

/** What parsePostfixLine() recognized. */
export interface PostfixMatch {
  kind: OffenceKind;
  /** The client address, normalized (IPv4-mapped IPv6 becomes IPv4). */
  address: string;
  /** The pattern's `detail` group, else its description. */
  detail: string;
  /** The program ("smtpd", "postscreen"). */
  program: string;
  /** The pattern's name. */
  pattern: string;
  /** The line's own timestamp (ms since the epoch) when it has one. */
  at?: number;
}

/** A bad patterns file: the message names the file and the entry. */
export class PatternError extends Error {
  readonly code = 'EFFWALLPATTERNS';
  constructor(message: string) {
    super(message);
    this.name = 'PatternError';
  }
}

// ---------------------------------------------------------------------------
// Loading

const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const PROGRAM_RE = /^[A-Za-z0-9_.\/-]{1,128}$/;

interface RawPattern {
  name: string;
  disabled?: boolean;
  kind?: unknown;
  programs?: unknown;
  contains?: unknown;
  regex?: unknown;
  description?: unknown;
}

/**
 * Validates a patterns document ({ patterns: [...] }) and compiles it.
 * `partial` (a user file): entries may be `{ name, disabled: true }`, which
 * turn a built-in pattern off; their names come back in `disabled`.
 */
export function compilePatterns(doc: unknown, source: string, partial = false): { patterns: PostfixPattern[]; disabled: string[] } {
  const fail = (what: string): never => {
    throw new PatternError(`${source}: ${what}`);
  };
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) fail('expected an object { "patterns": [...] }');
  const top = doc as Record<string, unknown>;
  for (const k of Object.keys(top)) if (!['patterns', 'version', '$comment'].includes(k)) fail(`unknown key "${k}" (expected "patterns")`);
  if (top.version !== undefined && top.version !== 1) fail(`version: ${JSON.stringify(top.version)} is not supported (1)`);
  if (!Array.isArray(top.patterns)) fail('"patterns" must be an array');
  const patterns: PostfixPattern[] = [];
  const disabled: string[] = [];
  const seen = new Set<string>();
  (top.patterns as unknown[]).forEach((entry, i) => {
    let at = `patterns[${i}]`;
    const bad = (what: string): never => fail(`${at}: ${what}`);
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) bad('expected an object');
    const e = entry as Record<string, unknown>;
    if (typeof e.name !== 'string' || !NAME_RE.test(e.name)) bad('"name" must be 1-64 characters A-Z a-z 0-9 _ . -');
    const raw = e as unknown as RawPattern;
    at = `${at} ("${raw.name}")`;
    if (seen.has(raw.name)) bad('a second pattern of this name');
    seen.add(raw.name);
    for (const k of Object.keys(e)) if (!['name', 'disabled', 'kind', 'programs', 'contains', 'regex', 'description', '$comment'].includes(k)) bad(`unknown key "${k}"`);
    if (e.disabled !== undefined && typeof e.disabled !== 'boolean') bad('"disabled" must be true or false');
    if (e.disabled === true) {
      if (!partial) bad('"disabled" is for a user file turning a built-in pattern off');
      disabled.push(raw.name);
      return;
    }
    if (!isOffenceKind(e.kind)) bad(`"kind": ${JSON.stringify(e.kind)} is not one of rbl, unknown-user, relay-denied, bad-helo, sasl-failed, pregreet, dnsbl, pipelining, hangup, other`);
    if (!Array.isArray(e.programs) || e.programs.length === 0 || !e.programs.every((p) => typeof p === 'string' && PROGRAM_RE.test(p))) {
      bad('"programs" must be a non-empty array of program names ("smtpd") or tags ("postfix/submission/smtpd")');
    }
    if (typeof e.contains !== 'string' || e.contains.length === 0) bad('"contains" must be a non-empty string (a literal every matching message contains)');
    if (typeof e.regex !== 'string' || e.regex.length === 0) bad('"regex" must be a non-empty string');
    let regex: RegExp;
    try {
      regex = new RegExp(e.regex as string);
    } catch (err) {
      return bad(`"regex": ${(err as Error).message}`);
    }
    if (!(e.regex as string).includes('(?<address>')) bad('"regex" has no named group (?<address>...) for the client address');
    if (e.description !== undefined && typeof e.description !== 'string') bad('"description" must be a string');
    patterns.push({
      name: raw.name,
      kind: e.kind as OffenceKind,
      programs: e.programs as string[],
      contains: e.contains as string,
      regex,
      description: (e.description as string | undefined) ?? raw.name,
    });
  });
  return { patterns, disabled };
}

/**
 * The built-in patterns file: next to this module (source), else the
 * package's src/lib/postfix/patterns.json in the nearest directory above that
 * has one (dist/ has no JSON; tsc's dist/src/lib/postfix/ and the bundled
 * CLI's dist/cli/ sit at different depths).
 */
function builtinCandidates(): string[] {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const out = [path.join(here, 'patterns.json')];
  for (let dir = here; ; dir = path.dirname(dir)) {
    out.push(path.join(dir, 'src', 'lib', 'postfix', 'patterns.json'));
    if (path.dirname(dir) === dir) return out;
  }
}

let builtin: PostfixPattern[] | undefined;

/** The patterns shipped with ffwall (patterns.json), compiled once. */
export function builtinPatterns(): readonly PostfixPattern[] {
  if (builtin !== undefined) return builtin;
  let text: string | undefined;
  const candidates = builtinCandidates();
  for (const file of candidates) {
    try {
      text = readFileSync(file, 'utf8');
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  if (text === undefined) throw new PatternError(`the built-in Postfix patterns file is missing (${candidates.join(' or ')})`);
  builtin = compilePatterns(JSON.parse(text), 'patterns.json').patterns;
  return builtin;
}

/** The built-in patterns, with a user file's patterns replacing those of the same name, turning some off, or added after them. */
export function mergePatterns(base: readonly PostfixPattern[], extra: { patterns: PostfixPattern[]; disabled: string[] }): PostfixPattern[] {
  const byName = new Map(extra.patterns.map((p) => [p.name, p]));
  const off = new Set(extra.disabled);
  const out: PostfixPattern[] = [];
  for (const p of base) {
    if (off.has(p.name)) continue;
    const over = byName.get(p.name);
    out.push(over ?? p);
    byName.delete(p.name);
  }
  return [...out, ...byName.values()];
}

/** The patterns the watcher uses: the built-in ones, plus a user file (JSON) when given. */
export async function loadPatterns(file?: string): Promise<PostfixPattern[]> {
  const base = builtinPatterns();
  if (file === undefined) return [...base];
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new PatternError(`patterns file ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new PatternError(`patterns file ${file}: not JSON: ${(err as Error).message}`);
  }
  const extra = compilePatterns(doc, `patterns file ${file}`, true);
  const names = new Set(base.map((p) => p.name));
  for (const n of extra.disabled) if (!names.has(n)) throw new PatternError(`patterns file ${file}: "${n}" is disabled but there is no built-in pattern of that name`);
  return mergePatterns(base, extra);
}

// ---------------------------------------------------------------------------
// The envelope

export interface SyslogLine {
  /** ms since the epoch; undefined when the stamp could not be read. */
  at?: number;
  host: string;
  /** The syslog tag without the pid: "postfix/smtpd". */
  tag: string;
  pid?: number;
  message: string;
}

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

// "Nov 29 14:00:00", "Nov  9 14:00:00", "Nov 09 14:00:00" (postlogd), optional fraction.
const BSD_RE = /^([A-Z][a-z]{2}) ([ \d]\d) (\d\d):(\d\d):(\d\d)(\.\d+)? (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: (.*)$/s;
// "2026-11-29T14:00:00.123456+00:00" (rsyslog RFC3339 / systemd short-iso-precise)
const ISO_RE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)) (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: (.*)$/s;

/**
 * Splits a syslog or maillog_file line.  A BSD stamp has no year: the
 * current one, or the previous one when that would put the line more than a
 * day in the future (December's lines read in January).  It is local time.
 */
export function splitSyslogLine(line: string, now: number = Date.now()): SyslogLine | null {
  let m = BSD_RE.exec(line);
  if (m !== null) {
    const [, mon, day, hh, mm, ss, frac, host, tag, pid, message] = m as unknown as string[];
    const month = MONTHS[mon!];
    let at: number | undefined;
    if (month !== undefined) {
      const ms = frac === undefined ? 0 : Math.floor(Number(`0${frac}`) * 1000);
      const year = new Date(now).getFullYear();
      at = new Date(year, month, Number(day), Number(hh), Number(mm), Number(ss), ms).getTime();
      if (at > now + 86_400_000) at = new Date(year - 1, month, Number(day), Number(hh), Number(mm), Number(ss), ms).getTime();
      if (Number.isNaN(at)) at = undefined;
    }
    return envelope(at, host!, tag!, pid, message!);
  }
  m = ISO_RE.exec(line);
  if (m !== null) {
    const [, stamp, host, tag, pid, message] = m as unknown as string[];
    const t = Date.parse(stamp!);
    return envelope(Number.isNaN(t) ? undefined : t, host!, tag!, pid, message!);
  }
  return null;
}

function envelope(at: number | undefined, host: string, tag: string, pid: string | undefined, message: string): SyslogLine {
  const out: SyslogLine = { host, tag, message };
  if (at !== undefined) out.at = at;
  if (pid !== undefined) out.pid = Number(pid);
  return out;
}

/**
 * The program of a Postfix syslog tag: its last component, when the tag is
 * Postfix's ("postfix/...", "postfix-<instance>/..."); else null.
 */
export function programOf(tag: string): string | null {
  const slash = tag.lastIndexOf('/');
  if (slash <= 0 || !tag.startsWith('postfix')) return null;
  return tag.slice(slash + 1);
}

function appliesTo(p: PostfixPattern, tag: string, program: string | null): boolean {
  for (const want of p.programs) if (want === program || want === tag) return true;
  return false;
}

/** A client address as found in a log line, normalized; null when it is not an IP address. */
export function normalizeAddress(a: string): string | null {
  let s = a.startsWith('IPv6:') ? a.slice(5) : a;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(s);
  if (mapped !== null) s = mapped[1]!;
  const v = isIP(s);
  if (v === 0) return null;
  return v === 6 ? s.toLowerCase() : s;
}

const DETAIL_MAX = 200;

/** Matches a message (the part after "tag[pid]: ") of a tag against the patterns; the first match wins. */
export function matchPostfixMessage(tag: string, message: string, patterns: readonly PostfixPattern[]): PostfixMatch | null {
  let program: string | null | undefined;
  for (const p of patterns) {
    if (!message.includes(p.contains)) continue;
    program ??= programOf(tag);
    if (!appliesTo(p, tag, program)) continue;
    const m = p.regex.exec(message);
    const raw = m?.groups?.address;
    if (raw === undefined) continue;
    const address = normalizeAddress(raw);
    if (address === null) continue;
    const d = m!.groups!.detail;
    return {
      kind: p.kind,
      address,
      detail: d === undefined || d === '' ? p.description.slice(0, DETAIL_MAX) : d.slice(0, DETAIL_MAX),
      program: program ?? tag,
      pattern: p.name,
    };
  }
  return null;
}

/** Recognizes one whole log line (syslog, RFC 3339 or maillog_file format); null when it is no offence. */
export function parsePostfixLine(line: string, patterns: readonly PostfixPattern[], now?: number): PostfixMatch | null {
  // The prefilter: without any pattern's literal, the line costs no more than this loop.
  let candidate = false;
  for (const p of patterns) {
    if (line.includes(p.contains)) {
      candidate = true;
      break;
    }
  }
  if (!candidate) return null;
  const env = splitSyslogLine(line, now);
  if (env === null) return null;
  const r = matchPostfixMessage(env.tag, env.message, patterns);
  if (r !== null && env.at !== undefined) r.at = env.at;
  return r;
}
