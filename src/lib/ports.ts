// SPDX-License-Identifier: MIT
//
// Port lists as people and fail2ban write them: "25,465,587",
// "smtp,submissions,submission", "ssh", "1000:1003", "0:65535".
//
// - A service name is looked up in /etc/services (its tcp entry first, then
//   any protocol), by name or alias, as getservbyname() would; an unknown
//   name is a TypeError that names it.
// - A range "a:b" (fail2ban's and iptables' form; either end may be a
//   service name) or "a-b" (numbers only: service names may contain "-")
//   stands for every port in it.  A range from 0 or 1 to 65535 is "every
//   port", fail2ban's own default (jail.conf: port = 0:65535).
// - A ban covers at most 8 ports (KERNEL_LIMITS.maxPorts).  More than that,
//   after ranges are expanded, is refused (a RangeError) unless the caller
//   asks for overflow 'all': then the ban covers every port, and the result
//   says so in `widened` so that the caller can warn.  fail2ban asks for
//   'all': banning a bot on every port is better than not banning it.
import { readFileSync } from 'node:fs';

import { KERNEL_LIMITS } from './kernel.js';

export const DEFAULT_SERVICES_FILE = '/etc/services';

/** Service name (or alias) -> port. */
export type ServiceTable = ReadonlyMap<string, number>;

export interface PortSpec {
  /** Sorted, distinct ports; empty when every port is meant. */
  ports: number[];
  /** True when the ban covers every port (a full range, or a widened list). */
  all: boolean;
  /** Why a list was widened to every port (overflow 'all'), else null. */
  widened: string | null;
}

export interface PortSpecOptions {
  /** The service table; default: /etc/services, read once. */
  services?: ServiceTable;
  /** More than 8 ports: 'refuse' (default, a RangeError) or 'all' (every port, with `widened`). */
  overflow?: 'refuse' | 'all';
  /** What to name in errors, e.g. "--port". */
  what?: string;
}

/**
 * Parses the text of an /etc/services file.  For each name and alias the
 * tcp entry wins; otherwise the first entry of any protocol.
 */
export function parseServices(text: string): Map<string, number> {
  const tcp = new Map<string, number>();
  const other = new Map<string, number>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [name, portProto, ...aliases] = line.split(/\s+/);
    const m = /^([0-9]+)\/([a-z0-9-]+)$/i.exec(portProto ?? '');
    if (name === undefined || m === null) continue;
    const port = Number(m[1]);
    if (port < 1 || port > 65535) continue;
    const into = m[2]!.toLowerCase() === 'tcp' ? tcp : other;
    for (const n of [name, ...aliases]) if (!into.has(n)) into.set(n, port);
  }
  for (const [n, p] of other) if (!tcp.has(n)) tcp.set(n, p);
  return tcp;
}

let systemServices: Map<string, number> | undefined;

/** /etc/services, read once; an empty table when the file cannot be read. */
export function systemServiceTable(file = DEFAULT_SERVICES_FILE): ServiceTable {
  if (file !== DEFAULT_SERVICES_FILE) return loadServices(file);
  systemServices ??= loadServices(file);
  return systemServices;
}

function loadServices(file: string): Map<string, number> {
  try {
    return parseServices(readFileSync(file, 'utf8'));
  } catch {
    return new Map();
  }
}

const ALL_FROM = new Set([0, 1]);

/** Parses a port list (see the top of this file). */
export function parsePortSpec(text: string, options: PortSpecOptions = {}): PortSpec {
  const what = options.what ?? 'port';
  const overflow = options.overflow ?? 'refuse';
  let services = options.services;
  const lookup = (name: string): number => {
    services ??= systemServiceTable();
    const port = services.get(name) ?? services.get(name.toLowerCase());
    if (port === undefined) {
      const where = services.size === 0 ? `${DEFAULT_SERVICES_FILE} is missing or empty` : `not in ${DEFAULT_SERVICES_FILE}`;
      throw new TypeError(`${what}: unknown service "${name}" (${where}); give a port number or a known service name`);
    }
    return port;
  };
  const number = (s: string, allowZero: boolean): number => {
    const n = Number(s);
    if (!Number.isInteger(n) || n > 65535 || n < (allowZero ? 0 : 1)) throw new RangeError(`${what}: ${s} is not a port 1..65535`);
    return n;
  };
  const one = (s: string, allowZero: boolean): number => (/^[0-9]+$/.test(s) ? number(s, allowZero) : lookup(s));

  const items = text.split(',').map((s) => s.trim());
  if (items.every((s) => s === '')) throw new TypeError(`${what}: empty port list (expected e.g. 25,465,587 or smtp,submission)`);
  const ports = new Set<number>();
  let all = false;
  for (const item of items) {
    if (item === '') throw new TypeError(`${what}: empty item in "${text}"`);
    if (!/^[A-Za-z0-9][A-Za-z0-9._+/:-]*$/.test(item)) throw new TypeError(`${what}: "${item}" is not a port, a service name or a range`);
    let range: [string, string] | null = null;
    const colon = item.split(':');
    if (colon.length === 2) range = [colon[0]!, colon[1]!];
    else if (colon.length > 2) throw new TypeError(`${what}: "${item}" is not a range (expected FROM:TO)`);
    else if (/^[0-9]+-[0-9]+$/.test(item)) {
      const [a, b] = item.split('-');
      range = [a!, b!];
    }
    if (range === null) {
      ports.add(one(item, false));
      continue;
    }
    if (range[0] === '' || range[1] === '') throw new TypeError(`${what}: "${item}" is not a range (expected FROM:TO)`);
    const from = one(range[0], true);
    const to = one(range[1], false);
    if (from > to) throw new RangeError(`${what}: the range ${item} is empty (${from} > ${to})`);
    if (ALL_FROM.has(from) && to === 65535) {
      all = true;
      continue;
    }
    // Past the limit the exact set no longer matters: stop expanding.
    for (let p = Math.max(from, 1); p <= to && ports.size <= KERNEL_LIMITS.maxPorts; p++) ports.add(p);
  }
  if (all) return { ports: [], all: true, widened: null };
  if (ports.size > KERNEL_LIMITS.maxPorts) {
    const why = `"${text}" is more than ${KERNEL_LIMITS.maxPorts} ports (a ban covers at most ${KERNEL_LIMITS.maxPorts})`;
    if (overflow === 'refuse') throw new RangeError(`${what}: ${why}; give fewer ports, or block every port`);
    return { ports: [], all: true, widened: `${why}: blocking every port instead` };
  }
  return { ports: [...ports].sort((a, b) => a - b), all: false, widened: null };
}
