// SPDX-License-Identifier: MIT
//
// The daemon's configuration file: defaults, a full file, every kind of
// error naming its key, never a half configuration, reload keeping the old
// configuration on a bad file, and docs/configuration.md listing every key.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import test from 'ava';

import { CONFIG_KEYS, ConfigFileError, ConfigManager, defaultConfig, formatConfigError, groupIdFrom, loadConfig, parseConfig, storeOptionsOf, stripJsonComments, type ConfigResult } from '../../src/daemon/config.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const groups = groupIdFrom('root:x:0:\nmail:x:8:\nffwall:x:998:postfix,haraka\n');

function errorsOf(r: ConfigResult): string[] {
  return r.ok ? [] : r.errors.map(formatConfigError);
}

test('an empty file (or none, with missingOk) gives the defaults', async (t) => {
  const r = parseConfig('', { groupId: groups });
  t.true(r.ok);
  if (r.ok) t.deepEqual(r.config, defaultConfig());
  const m = await loadConfig('/nonexistent/ffwall.jsonc', { missingOk: true, groupId: groups });
  t.true(m.ok);
  const n = await loadConfig('/nonexistent/ffwall.jsonc', { groupId: groups });
  t.deepEqual(errorsOf(n), ['cannot read /nonexistent/ffwall.jsonc: ENOENT']);
});

test('defaults: nothing listens on a network port, the socket is 0660, the safety list is on', (t) => {
  const d = defaultConfig();
  t.is(d.metrics.listen, null);
  t.is(d.socket.mode, 0o660);
  t.is(d.socket.path, '/run/ffwall/ffwall.sock');
  t.true(d.safety.enabled);
  t.deepEqual(d.safety.sshPorts, [22]);
  t.is(d.safety.minPrefixV4, 16);
  t.is(d.safety.minPrefixV6, 32);
});

const FULL = `// ffwall daemon configuration
{
  "database": { "path": "/srv/ffwall/db" },
  "device": "/dev/ffwall",
  /* the control socket */
  "socket": { "path": "/run/ffwall/ffwall.sock", "mode": "0660", "group": "ffwall", "maxConnections": 64 },
  "metrics": { "listen": "[::1]:9725" },
  "kernel": { "devices": ["eth0", "eth1"], "capacity": 2000000, "gcInterval": "30s", "mode": "monitor" },
  "escalation": { "enabled": true, "baseTtl": "12h", "factor": 3, "maxTtl": "90d" },
  "aggregation": { "enabled": false, "sources": ["policy"], "hostPrefix": 56, "parentPrefix": 40, "threshold": 5 },
  "history": { "maxAge": null, "maxCount": 5000000 },
  "sync": { "interval": "15s", "sweepInterval": "2m" },
  "safety": {
    "sshPorts": [22, 2222],
    "resolvers": false,
    "override": [{ "prefix": "192.0.2.53", "reason": "old resolver, now hostile" }],
    "minPrefixV4": 20,
  },
  "log": { "level": "debug", "rateLimit": { "burst": 5, "perSecond": 0.5 } }, // trailing comma
}
`;

test('a full file with comments and trailing commas', (t) => {
  const r = parseConfig(FULL, { groupId: groups });
  t.deepEqual(errorsOf(r), []);
  if (!r.ok) return;
  const c = r.config;
  t.is(c.database.path, '/srv/ffwall/db');
  t.is(c.socket.gid, 998);
  t.is(c.socket.group, 'ffwall');
  t.is(c.socket.maxConnections, 64);
  t.deepEqual(c.metrics.listen, { host: '::1', port: 9725 });
  t.deepEqual(c.kernel, { devices: ['eth0', 'eth1'], capacity: 2000000, gcInterval: 30, mode: 'monitor' });
  t.deepEqual(c.escalation, { enabled: true, baseTtl: 43200, factor: 3, maxTtl: 90 * 86400 });
  t.deepEqual(c.aggregation, { enabled: false, sources: ['policy'], hostPrefix: 56, parentPrefix: 40, threshold: 5 });
  t.deepEqual(c.history, { maxAge: null, maxCount: 5000000 });
  t.deepEqual(c.sync, { interval: 15, sweepInterval: 120 });
  t.deepEqual(c.safety.sshPorts, [22, 2222]);
  t.false(c.safety.resolvers);
  t.true(c.safety.gateways);
  t.is(c.safety.override[0]?.prefix.toString(), '192.0.2.53');
  t.is(c.safety.minPrefixV4, 20);
  t.deepEqual(c.log, { level: 'debug', rateLimit: { burst: 5, perSecond: 0.5 } });
  const so = storeOptionsOf(c);
  t.deepEqual(so.history, { maxCount: 5000000 });
  t.is(so.escalation.baseTtl, 43200);
});

test('comment markers inside strings are kept', (t) => {
  t.is(stripJsonComments('{"a": "http://x/*y*/", // c\n"b": 1,}'), '{"a": "http://x/*y*/",     \n"b": 1 }');
});

const bad: Array<[string, object, string[]]> = [
  ['a remote metrics address', { metrics: { listen: '0.0.0.0:9100' } }, ['metrics.listen: 0.0.0.0:9100 is not a loopback address; set metrics.allowRemote: true to allow it']],
  ['a host name for metrics', { metrics: { listen: 'localhost:9100' } }, ['metrics.listen: "localhost" is not an IP address (host names are not accepted)']],
  ['a port out of range', { metrics: { listen: '127.0.0.1:70000' } }, ['metrics.listen: port 70000 is not in 1..65535']],
  ['a world-accessible socket', { socket: { mode: '0666' } }, ['socket.mode: 0666 gives other users access; anyone who can connect can block addresses (use 0660 and socket.group)']],
  ['a mode that is not octal text', { socket: { mode: 432 } }, ['socket.mode: must be an octal mode string such as "0660", got 432']],
  ['an unknown group', { socket: { group: 'postfix' } }, ['socket.group: no group named "postfix" (create it with: groupadd --system postfix)']],
  ['an unknown key with a suggestion', { kernel: { capacty: 5 } }, ['kernel.capacty: unknown key; did you mean "kernel.capacity"?']],
  ['an unknown section', { metric: {} }, ['metric: unknown key; did you mean "metrics"?']],
  ['a capacity out of range', { kernel: { capacity: 0 } }, ['kernel.capacity: 0 is out of range 1..67108864']],
  ['a bad device name', { kernel: { devices: ['eth0', 'a-name-far-too-long'] } }, ['kernel.devices[1]: "a-name-far-too-long" is longer than 15 characters']],
  ['a gc interval beyond the kernel maximum', { kernel: { gcInterval: '2h' } }, ["kernel.gcInterval: 7200 s is longer than the kernel's maximum of 3600 s"]],
  ['a bad duration', { sync: { interval: '5 minutes' } }, ['sync.interval: invalid duration "5 minutes": not a number followed by s, m, h, d or w (examples: 90s, 15m, 24h, 7d, 2w, 1d12h, or whole seconds)']],
  ['maxTtl below baseTtl', { escalation: { baseTtl: '7d', maxTtl: '1d' } }, ['escalation.maxTtl: 86400 s is shorter than escalation.baseTtl (604800 s)']],
  ['an unknown ban source', { aggregation: { sources: ['policy', 'spamd'] } }, ['aggregation.sources[1]: must be one of cli, policy, logwatch, feed, api, haraka, fail2ban, got "spamd"']],
  ['a parent prefix not shorter', { aggregation: { hostPrefix: 48, parentPrefix: 64 } }, ['aggregation.parentPrefix: /64 must be shorter than aggregation.hostPrefix (/48)']],
  ['a relative database path', { database: { path: 'db' } }, ['database.path: "db" is not an absolute path']],
  ['a wrong type', { safety: { enabled: 'yes' } }, ['safety.enabled: must be true or false, got "yes"']],
  ['an override without a reason', { safety: { override: [{ prefix: '10.0.0.1' }] } }, ['safety.override[0].reason: is required: say why this address may be banned despite the safety list']],
  ['an override with host bits', { safety: { override: [{ prefix: '10.0.0.1/8', reason: 'x' }] } }, ['safety.override[0].prefix: invalid address "10.0.0.1/8": host bits are set beyond the prefix length (did you mean 10.0.0.0/8?)']],
  ['a bad ssh port', { safety: { sshPorts: [22, 0] } }, ['safety.sshPorts[1]: must be a port number 1..65535, got 0']],
  ['a bad log level', { log: { level: 'verbose' } }, ['log.level: must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"']],
  ['not an object', [] as unknown as object, ['the file must hold a JSON object, got an array']],
];
for (const [name, input, expected] of bad) {
  test(`error: ${name}`, (t) => {
    const r = parseConfig(JSON.stringify(input), { groupId: groups });
    t.false(r.ok);
    t.deepEqual(errorsOf(r), expected);
    t.false('config' in r, 'no half configuration');
  });
}

test('a remote metrics address is accepted with allowRemote', (t) => {
  const r = parseConfig('{"metrics": {"listen": "0.0.0.0:9100", "allowRemote": true}}', { groupId: groups });
  t.true(r.ok);
  if (r.ok) t.deepEqual(r.config.metrics.listen, { host: '0.0.0.0', port: 9100 });
});

test('every error of a file is reported at once', (t) => {
  const r = parseConfig('{"kernel": {"capacity": -1, "mode": "drop"}, "log": {"level": 1}, "extra": true}', { groupId: groups });
  t.deepEqual(errorsOf(r), ['extra: unknown key', 'kernel.capacity: -1 is out of range 1..67108864', 'kernel.mode: must be one of enforce, monitor, got "drop"', 'log.level: must be one of fatal, error, warn, info, debug, trace, silent, got 1']);
});

test('a JSON syntax error gives the line and column', (t) => {
  const r = parseConfig('{\n  "kernel": {\n    "capacity": 5\n    "mode": "enforce"\n  }\n}\n', { groupId: groups });
  const errs = errorsOf(r);
  t.is(errs.length, 1);
  t.regex(errs[0] ?? '', /^not valid JSON at line 4, column 5/);
});

test('a numeric group needs no lookup', (t) => {
  const r = parseConfig('{"socket": {"group": 1234}}', { groupId: () => undefined });
  t.true(r.ok);
  if (r.ok) t.is(r.config.socket.gid, 1234);
});

test('reload: a good file replaces the configuration, a bad one keeps it (SIGHUP)', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-config-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'ffwall.jsonc');
  writeFileSync(file, '{"log": {"level": "info"}, "sync": {"interval": 30}}');
  const m = new ConfigManager(file, { groupId: groups });
  t.throws(() => m.current, { message: /load\(\) has not succeeded/ });
  const first = await m.load();
  t.is(first.log.level, 'info');

  writeFileSync(file, '{"log": {"level": "debug"}, "sync": {"interval": 10}, "database": {"path": "/srv/db"}}');
  const good = await m.reload();
  t.true(good.ok);
  if (good.ok) {
    t.deepEqual(good.changed, ['database.path', 'sync.interval', 'log.level']);
    t.deepEqual(good.restartRequired, ['database.path']);
    t.is(good.previous, first);
  }
  t.is(m.current.log.level, 'debug');

  writeFileSync(file, '{"log": {"level": "loud"}, "sync": {"interval": 1}}');
  const badReload = await m.reload();
  t.false(badReload.ok);
  if (!badReload.ok) t.deepEqual(badReload.errors.map(formatConfigError), ['log.level: must be one of fatal, error, warn, info, debug, trace, silent, got "loud"']);
  t.is(m.current.log.level, 'debug', 'the old configuration stays');
  t.is(m.current.sync.interval, 10, 'no part of the bad file was taken');

  rmSync(file);
  const gone = await m.reload();
  t.false(gone.ok);
  t.is(m.current.sync.interval, 10);
});

test('load() of a bad file throws one error listing every problem', async (t) => {
  const m = new ConfigManager('/etc/ffwall/x.jsonc', { readFile: async () => '{"kernel": {"mode": 1}, "device": "dev"}', groupId: groups });
  const err = await t.throwsAsync(() => m.load(), { instanceOf: ConfigFileError });
  t.is(err?.errors.length, 2);
  t.is(err?.message, 'ffwall: invalid configuration /etc/ffwall/x.jsonc:\n  device: "dev" is not an absolute path\n  kernel.mode: must be one of enforce, monitor, got 1');
});

test('docs/configuration.md documents every key, and only those', (t) => {
  const doc = readFileSync(path.join(root, 'docs/configuration.md'), 'utf8');
  const documented = [...doc.matchAll(/^\| `([a-zA-Z0-9.]+)` \|/gm)].map((m) => m[1]);
  t.deepEqual([...documented].sort(), [...CONFIG_KEYS].sort());
});

test('without kernel.capacity or kernel.gcInterval the module keeps its own load parameters', (t) => {
  const r = parseConfig('{"kernel": {"mode": "enforce"}}', { groupId: groups });
  t.true(r.ok);
  if (r.ok) {
    t.is(r.config.kernel.capacity, null);
    t.is(r.config.kernel.gcInterval, null);
  }
  const set = parseConfig('{"kernel": {"capacity": 5000, "gcInterval": "20s"}}', { groupId: groups });
  t.true(set.ok);
  if (set.ok) t.like(set.config.kernel, { capacity: 5000, gcInterval: 20 });
});
