// SPDX-License-Identifier: MIT
import test from 'ava';

import { DurationError, formatDuration, parseDuration } from '../../src/lib/duration.js';

const good: Array<[string | number, number]> = [
  ['90s', 90],
  ['15m', 900],
  ['24h', 86400],
  ['7d', 604800],
  ['2w', 1209600],
  ['1d12h', 129600],
  ['1w2d3h4m5s', 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5],
  [' 7D ', 604800],
  ['3600', 3600],
  [0, 0],
  [42, 42],
  ['180d', 180 * 86400],
];
for (const [input, seconds] of good) {
  test(`duration ${JSON.stringify(input)} is ${seconds} s`, (t) => {
    t.is(parseDuration(input), seconds);
  });
}

const bad: Array<[unknown, RegExp]> = [
  ['', /empty/],
  ['7x', /not a number followed by/],
  ['d', /not a number followed by/],
  ['1d1d', /twice/],
  ['1.5h', /not a number followed by/],
  ['-5s', /not a number followed by/],
  [-1, /non-negative integer/],
  [1.5, /non-negative integer/],
  ['100000w', /longer than/],
  [2 ** 31, /longer than/],
  [null, /string or a number/],
];
for (const [input, reason] of bad) {
  test(`duration ${JSON.stringify(input)} is refused`, (t) => {
    const err = t.throws(() => parseDuration(input as string), { instanceOf: DurationError });
    t.true(err instanceof TypeError);
    t.regex(err.message, reason);
    t.regex(err.message, /examples: 90s/);
  });
}

test('a bare number of seconds is accepted as text', (t) => {
  t.is(parseDuration('7'), 7);
});

test('formatDuration writes the shortest exact form and round-trips', (t) => {
  t.is(formatDuration(0), '0s');
  t.is(formatDuration(604800), '1w');
  t.is(formatDuration(129600), '1d12h');
  t.is(formatDuration(90), '1m30s');
  for (const s of [1, 59, 61, 3599, 86399, 86401, 15552000]) t.is(parseDuration(formatDuration(s)), s);
});
