// SPDX-License-Identifier: MIT
//
// Logging: pino, JSON lines on stdout, which journald stores as they come
// (the unit sets nothing else).  One rule: code that runs per packet, per
// event or per connection never logs directly; it logs through a
// LogLimiter, a token bucket per key, and what the limiter suppresses is
// counted and reported (in the next line that passes for that key, and by
// reportSuppressed(), which the daemon calls on a timer).
import { pino, type DestinationStream, type Level, type Logger } from 'pino';

import type { LogLevel } from './config.js';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level: LogLevel;
  /** Where lines go; default stdout (fd 1), written synchronously so nothing is lost at a crash. */
  destination?: DestinationStream;
  /** Fields on every line; default { service: 'ffwall' }. */
  base?: Record<string, unknown>;
}

/** The daemon's root logger. Children: logger.child({ component: 'control' }). */
export function createLogger(options: LoggerOptions): Logger {
  const dest = options.destination ?? pino.destination({ dest: 1, sync: true });
  return pino(
    {
      level: options.level,
      base: options.base ?? { service: 'ffwall' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    dest,
  );
}

/** A new level, e.g. after a reload. */
export function setLogLevel(logger: Logger, level: LogLevel): void {
  logger.level = level;
}

export interface RateLimit {
  /** Lines allowed at once per key. */
  burst: number;
  /** Sustained lines per second per key. */
  perSecond: number;
}

export interface RateLimiterOptions extends RateLimit {
  /** Keys tracked at most (the oldest is dropped, its count kept under "(other)"); default 10000. */
  maxKeys?: number;
  /** Clock in ms (tests); default Date.now. */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
  suppressed: number;
}

/** The key under which the counts of dropped keys are kept. */
export const OTHER_KEY = '(other)';

/**
 * A token bucket per key: take(key) is true while the key has tokens (burst
 * at once, perSecond refilled), false otherwise, and every false is counted.
 * Memory is bounded by maxKeys, whatever the keys (a botnet's addresses).
 */
export class RateLimiter {
  #burst: number;
  #rate: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();
  #other = 0;

  constructor(options: RateLimiterOptions) {
    if (!(options.burst >= 1) || !(options.perSecond > 0)) throw new RangeError('RateLimiter: burst must be >= 1 and perSecond > 0');
    this.#burst = options.burst;
    this.#rate = options.perSecond;
    this.#maxKeys = options.maxKeys ?? 10000;
    this.#now = options.now ?? Date.now;
  }

  /** New limits (a reload); buckets keep their state. */
  setLimit(limit: RateLimit): void {
    this.#burst = limit.burst;
    this.#rate = limit.perSecond;
  }

  get keys(): number {
    return this.#buckets.size;
  }

  /** True when a line for @key may go out now. */
  take(key: string): boolean {
    const now = this.#now();
    let b = this.#buckets.get(key);
    if (b === undefined) {
      if (this.#buckets.size >= this.#maxKeys) this.#dropOldest();
      b = { tokens: this.#burst, at: now, suppressed: 0 };
      this.#buckets.set(key, b);
    } else {
      b.tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#rate);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    b.suppressed++;
    return false;
  }

  /** Suppressed count of @key since it was last reported, and resets it. */
  takeSuppressed(key: string): number {
    const b = this.#buckets.get(key);
    if (b === undefined) return 0;
    const n = b.suppressed;
    b.suppressed = 0;
    return n;
  }

  /** Every key with suppressed lines (and "(other)" for dropped keys), reset; idle full buckets are forgotten. */
  drainSuppressed(): Array<{ key: string; suppressed: number }> {
    const now = this.#now();
    const out: Array<{ key: string; suppressed: number }> = [];
    for (const [key, b] of this.#buckets) {
      if (b.suppressed > 0) out.push({ key, suppressed: b.suppressed });
      b.suppressed = 0;
      const tokens = Math.min(this.#burst, b.tokens + ((now - b.at) / 1000) * this.#rate);
      if (tokens >= this.#burst) this.#buckets.delete(key);
    }
    if (this.#other > 0) out.push({ key: OTHER_KEY, suppressed: this.#other });
    this.#other = 0;
    return out;
  }

  #dropOldest(): void {
    const first = this.#buckets.entries().next();
    if (first.done === true) return;
    const [key, b] = first.value;
    this.#other += b.suppressed;
    this.#buckets.delete(key);
  }
}

/**
 * Rate-limited logging for the packet, event and connection paths:
 * limiter.log('warn', `control:${peer}`, { peer, reason }, 'protocol error').
 * A line that passes after suppressions carries `suppressed: N`.
 */
export class LogLimiter {
  readonly limiter: RateLimiter;
  #logger: Logger;

  constructor(logger: Logger, options: RateLimiterOptions) {
    this.#logger = logger;
    this.limiter = new RateLimiter(options);
  }

  setLogger(logger: Logger): void {
    this.#logger = logger;
  }

  /** Logs unless @key is over its rate; returns whether it logged. */
  log(level: Level, key: string, fields: Record<string, unknown>, msg: string): boolean {
    if (!this.#logger.isLevelEnabled(level)) return false;
    if (!this.limiter.take(key)) return false;
    const suppressed = this.limiter.takeSuppressed(key);
    this.#logger[level](suppressed > 0 ? { ...fields, rateKey: key, suppressed } : fields, msg);
    return true;
  }

  /** One line per key whose lines were suppressed since the last report; returns the total. */
  reportSuppressed(level: Level = 'warn'): number {
    let total = 0;
    for (const { key, suppressed } of this.limiter.drainSuppressed()) {
      total += suppressed;
      this.#logger[level]({ rateKey: key, suppressed }, 'log lines suppressed by the rate limit');
    }
    return total;
  }
}
