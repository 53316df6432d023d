// SPDX-License-Identifier: MIT
//
// The --json shapes of the commands (schema version 1), as checked by
// shapeErrors() in cli-helpers.ts.  docs/cli-json/schemas.json holds the
// same document; a test keeps the two equal.
import type { Spec } from './cli-helpers.js';

export const RECORD: Spec = {
  target: 'string',
  state: 'string',
  ports: ['integer'],
  reason: 'string',
  source: 'string',
  sourceTag: 'string',
  firstSeenAt: 'iso',
  lastSeenAt: 'iso',
  lastHitAt: 'iso|null',
  hitCount: 'integer',
  banCount: 'integer',
  expiresAt: 'iso|null',
  permanent: 'boolean',
  pinned: 'boolean',
  monitor: 'boolean',
};
/** A line of `list --kernel --json` (BanInfo). */
export const KERNEL_ENTRY: Spec = {
  target: 'string',
  kind: 'string',
  ports: ['integer'],
  pinned: 'boolean',
  monitor: 'boolean',
  expiresAt: 'iso|null',
  hits: 'integer',
  lastHitAt: 'iso|null',
};
const DEVICE: Spec = { name: 'string', ifindex: 'integer', named: 'boolean', hooked: 'boolean' };
const CONFIG: Record<string, Spec> = {
  maxEntries: 'integer',
  mode: 'string',
  gcInterval: 'integer',
  hookPriority: 'integer',
  maxPrefixes: 'integer',
  maxAllow: 'integer',
  filterMaxBytes: 'integer',
};
const COUNTS: Spec = { kernel: 'integer', cold: 'integer', expired: 'integer', total: 'integer' };
export const SCHEMAS: Record<string, Spec> = {
  stats: {
    transport: 'string',
    moduleVersion: 'string',
    abiVersion: 'integer',
    at: 'iso',
    kernel: {
      entries: 'integer',
      maxEntries: 'integer',
      pinned: 'integer',
      prefixes: 'integer',
      allowEntries: 'integer',
      bytes: 'integer',
      memory: { exact: 'integer', prefix: 'integer', allow: 'integer', filter: 'integer', total: 'integer' },
      packetsSeen: 'integer',
      dropped: { exact: 'integer', ports: 'integer', prefix: 'integer', total: 'integer' },
      passedAllow: 'integer',
      monitorHits: 'integer',
      inserted: 'integer',
      deleted: 'integer',
      evicted: 'integer',
      expired: 'integer',
      eventsLost: 'integer',
    },
    config: CONFIG,
    devices: [DEVICE],
    database: { ...COUNTS, $nullable: 'true' },
  },
  show: {
    transport: 'string',
    target: 'string',
    record: { ...RECORD, $nullable: 'true' },
    history: [{ at: 'iso', type: 'string', target: 'string', details: 'object' }],
    allowedBy: 'string|null',
  },
  allowList: { transport: 'string', entries: [{ target: 'string', reason: 'string', addedAt: 'iso|null', inKernel: 'boolean', automatic: 'string|null', overridden: 'string|null' }] },
  devices: { transport: 'string', devices: [DEVICE] },
  attach: { transport: 'string', device: 'string', devices: [DEVICE] },
  config: { ...CONFIG, transport: 'string' },
  flush: { transport: 'string', scope: ['string'], kernel: 'integer', database: 'integer', cold: 'integer' },
  unblockSource: { transport: 'string', source: 'string', tag: 'string|null', removed: 'integer', kernel: 'integer' },
  import: { transport: 'string', name: 'string', format: 'string', lines: 'integer', entries: 'integer', created: 'integer', applied: 'integer' },
  status: {
    daemon: { socket: 'string', state: 'string', message: 'string|null' },
    module: { loaded: 'boolean', version: 'string|null', abiVersion: 'integer|null', mode: 'string|null', via: 'string|null', message: 'string|null' },
    devices: [DEVICE],
    database: { ...COUNTS, $nullable: 'true' },
  },
  top: {
    transport: 'string',
    at: 'iso',
    interval: 'integer',
    rows: [{ target: 'string', delta: 'integer', rate: 'number', total: 'integer', hits: 'integer', ports: ['integer'], expiresAt: 'iso|null' }],
  },
  postfixCheck: {
    configDir: 'string',
    postfixVersion: 'string',
    policyListen: 'string|null',
    checks: [{ id: 'string', status: 'string', message: 'string', fix: 'string|null' }],
    counts: { ok: 'integer', warn: 'integer', fail: 'integer' },
    ok: 'boolean',
  },
  error: { error: { code: 'string|null', message: 'string', exit: 'integer' } },
};

