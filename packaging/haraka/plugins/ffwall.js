// SPDX-License-Identifier: MIT
//
// Haraka plugin: ffwall.  Install as plugins/ffwall.js of the Haraka
// directory, with config/ffwall.ini; list `ffwall` in config/plugins.
// docs/haraka.md.
//
// - lookup_rdns (first of all plugins, before the DNS lookup): asks the ban
//   database through the ffwall daemon's control socket whether the client
//   is banned (fw.check(ip, { port })), and answers DENYDISCONNECT if so.
//   That catches bans the kernel no longer holds (cold or evicted) and bans
//   made while the client was connected.  When the daemon cannot be reached
//   the connection goes on (fail-open), with a rate-limited log line.
// - deny: every hard denial (DENY, DENYDISCONNECT) by another plugin is
//   reported to the daemon as an offence (fw.report()), whose thresholds
//   decide on a ban, exactly as for Postfix's log.  The denying plugin and
//   hook map to the offence kind.
// - rcpt (last): a recipient no rcpt plugin vouched for, on a connection that
//   may not relay, is refused by Haraka itself ("I cannot deliver mail for
//   ...") without a deny hook: reported as relay-denied.
//
// Haraka runs unprivileged: the plugin speaks to the daemon over its socket
// (client transport), never to /dev/ffwall.
'use strict';

const path = require('node:path');
const fs = require('node:fs');

const KINDS = ['rbl', 'unknown-user', 'relay-denied', 'bad-helo', 'sasl-failed', 'pregreet', 'dnsbl', 'pipelining', 'hangup', 'other'];

exports.register = function () {
  this.load_ffwall_ini();
  this.fw = null;
  this.opening = null;
  this.lastErrorLog = 0;
  this.register_hook('lookup_rdns', 'ffwall_check', -100);
  this.register_hook('deny', 'ffwall_deny', -100);
  this.register_hook('rcpt', 'ffwall_rcpt_unclaimed', 100);
};

exports.load_ffwall_ini = function () {
  this.cfg = this.config.get(
    'ffwall.ini',
    { booleans: ['+main.check', '+main.report', '-main.report_soft'] },
    () => this.load_ffwall_ini(),
  );
  const main = this.cfg.main || {};
  this.settings = {
    socket: main.socket || '/run/ffwall/ffwall.sock',
    module: main.module || '',
    port: main.port === 'local' ? 'local' : Number(main.port || 25),
    timeout: Number(main.timeout || 2000),
    logInterval: Number(main.log_interval || 60) * 1000,
    check: main.check !== false,
    report: main.report !== false,
    reportSoft: main.report_soft === true,
    kinds: this.cfg.kinds || {},
  };
  const p = this.settings.port;
  if (p !== 'local' && !(Number.isInteger(p) && p >= 1 && p <= 65535)) {
    this.logerror(`ffwall.ini: port must be 1..65535 or "local", got ${main.port}; using 25`);
    this.settings.port = 25;
  }
};

exports.shutdown = function () {
  if (this.fw) this.fw.close().catch(() => undefined);
  this.fw = null;
};

/** The ffwall library (its CommonJS entry): `module` of ffwall.ini, or require('ffwall'). */
exports.ffwall_library = function () {
  const m = this.settings.module;
  if (!m) return require('ffwall');
  const file = fs.existsSync(path.join(m, 'cjs', 'index.cjs')) ? path.join(m, 'cjs', 'index.cjs') : m;
  return require(file);
};

/** The open Ffwall (client transport), opened on first use and again after a failure. */
exports.ffwall_open = function () {
  if (this.fw) return Promise.resolve(this.fw);
  if (this.opening) return this.opening;
  this.opening = (async () => {
    try {
      const fw = await this.ffwall_library().openFfwall({ transport: 'client', socket: this.settings.socket });
      this.fw = fw;
      return fw;
    } finally {
      this.opening = null;
    }
  })();
  return this.opening;
};

/** Drops the connection after an error that may be the connection's. */
exports.ffwall_failed = function (err, what) {
  const code = err && err.code;
  if (code !== 'EALLOWLISTED' && !(err instanceof TypeError) && !(err instanceof RangeError) && this.fw) {
    const fw = this.fw;
    this.fw = null;
    fw.close().catch(() => undefined);
  }
  const now = Date.now();
  if (now - this.lastErrorLog >= this.settings.logInterval) {
    this.lastErrorLog = now;
    this.logerror(`ffwall: ${what} failed, letting the connection through: ${err && err.message} (logged at most once per ${this.settings.logInterval / 1000} s)`);
  }
};

function withTimeout(promise, ms) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'ETIMEDOUT' })), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

exports.ffwall_check = function (next, connection) {
  if (!this.settings.check) return next();
  const ip = connection.remote && connection.remote.ip;
  if (!ip) return next();
  const port = this.settings.port === 'local' ? connection.local && connection.local.port : this.settings.port;
  const options = Number.isInteger(port) && port > 0 ? { port } : {};
  withTimeout(
    this.ffwall_open().then((fw) => fw.check(ip, options)),
    this.settings.timeout,
  ).then(
    (c) => {
      if (!c.blocked) return next();
      const why = c.record && c.record.reason ? `: ${c.record.reason}` : '';
      connection.results.add(this, { fail: 'banned', msg: `ffwall ban${why}` });
      connection.loginfo(this, `${ip} is banned (${c.match}${c.inKernel ? '' : ', not in the kernel'})${why}`);
      next(DENYDISCONNECT, 'Your address is blocked here');
    },
    (err) => {
      this.ffwall_failed(err, `check of ${ip}`);
      next();
    },
  );
};

/** The offence kind of a denial by @plugin at @hook (ffwall.ini [kinds] first). */
exports.ffwall_kind = function (plugin, hook, msg) {
  const own = this.settings.kinds[plugin];
  if (own && KINDS.includes(own)) return own;
  const p = String(plugin || '');
  const h = String(hook || '');
  if (/^(dnsbl|dns-list|dns_list|rbl|uribl)/.test(p)) return 'rbl';
  if (/^(helo|ehlo)/.test(p) || h === 'helo' || h === 'ehlo') return 'bad-helo';
  if (/^auth/.test(p) || h === 'auth') return 'sasl-failed';
  if (/relay/.test(p) || /relay/i.test(String(msg || ''))) return 'relay-denied';
  if (/^early_talker/.test(p)) return 'pregreet';
  if (/^(rcpt_to|qmail-deliverable|aliases|recipient)/.test(p) || h === 'rcpt') return 'unknown-user';
  return 'other';
};

exports.ffwall_report = function (connection, kind, detail) {
  const ip = connection.remote && connection.remote.ip;
  if (!ip || !this.settings.report) return;
  const offence = { address: ip, kind, origin: 'haraka', detail: detail.slice(0, 256) };
  withTimeout(
    this.ffwall_open().then((fw) => fw.report(offence)),
    this.settings.timeout,
  ).then(
    (r) => {
      if (r.banned) connection.loginfo(this, `${ip} banned after ${r.count} ${kind} offences`);
      else if (r.refused) connection.loginfo(this, `${ip}: ban refused: ${r.refused}`);
      else connection.loginfo(this, `${ip}: ${kind} offence ${r.count}/${r.threshold}`);
    },
    (err) => this.ffwall_failed(err, `report of ${ip}`),
  );
};

// params: [retval, msg, plugin name, function name, hook params, hook]
exports.ffwall_deny = function (next, connection, params) {
  const [retval, msg, plugin, , , hook] = params;
  const hard = retval === DENY || retval === DENYDISCONNECT;
  const soft = retval === DENYSOFT || retval === DENYSOFTDISCONNECT;
  // The plugin's own denials of banned clients are not offences.
  if (plugin !== this.name && (hard || (soft && this.settings.reportSoft))) {
    const kind = this.ffwall_kind(plugin, hook, msg);
    const text = Array.isArray(msg) ? msg.join(' ') : String(msg || '');
    this.ffwall_report(connection, kind, `${plugin}/${hook}: ${text}`);
  }
  next();
};

// Runs last on rcpt: reached only when no rcpt plugin accepted or denied.
exports.ffwall_rcpt_unclaimed = function (next, connection, params) {
  if (!connection.relaying) {
    const rcpt = params && params[0];
    this.ffwall_report(connection, this.settings.kinds['(unclaimed)'] || 'relay-denied', `haraka/rcpt: no plugin accepted ${rcpt ? rcpt.format() : 'the recipient'}`);
  }
  next();
};
