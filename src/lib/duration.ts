// SPDX-License-Identifier: MIT
//
// Durations as operators write them: "90s", "15m", "24h", "7d", "2w", "1d12h",
// or a number of seconds.  Parsed once, here, into whole seconds.

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** The largest duration accepted: the kernel's TTL limit (about 68 years). */
export const DURATION_MAX_SECONDS = 0x7fffffff;

export class DurationError extends TypeError {
  readonly code = 'EFFWALLDURATION';
  constructor(
    readonly input: unknown,
    reason: string,
  ) {
    super(`invalid duration ${JSON.stringify(input)}: ${reason} (examples: 90s, 15m, 24h, 7d, 2w, 1d12h, or whole seconds)`);
    this.name = 'DurationError';
  }
}

/** Seconds of a duration; 0 is allowed ("no expiry" where the caller says so). */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isInteger(input) || input < 0) throw new DurationError(input, 'seconds must be a non-negative integer');
    if (input > DURATION_MAX_SECONDS) throw new DurationError(input, `longer than ${DURATION_MAX_SECONDS} seconds`);
    return input;
  }
  if (typeof input !== 'string') throw new DurationError(input, 'must be a string or a number of seconds');
  const text = input.trim().toLowerCase();
  if (text === '') throw new DurationError(input, 'empty');
  if (/^[0-9]+$/.test(text)) return parseDuration(Number(text));
  const re = /([0-9]+)([smhdw])/gy;
  let total = 0;
  let pos = 0;
  const seen = new Set<string>();
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const unit = m[2] ?? '';
    if (seen.has(unit)) throw new DurationError(input, `unit "${unit}" appears twice`);
    seen.add(unit);
    total += Number(m[1]) * (UNITS[unit] ?? 0);
    pos = re.lastIndex;
  }
  if (pos !== text.length || seen.size === 0) throw new DurationError(input, 'not a number followed by s, m, h, d or w');
  if (total > DURATION_MAX_SECONDS) throw new DurationError(input, `longer than ${DURATION_MAX_SECONDS} seconds`);
  return total;
}

/** "7d", "1d12h", "90s" -> the shortest exact form; 0 -> "0s". */
export function formatDuration(seconds: number): string {
  if (seconds <= 0) return '0s';
  let rest = Math.round(seconds);
  let out = '';
  for (const [unit, size] of [['w', 604800], ['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
