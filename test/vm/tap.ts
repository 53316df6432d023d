// SPDX-License-Identifier: MIT
//
// A small TAP reader: the guest suites (shell scripts and ava --tap) and the
// host ava run report through TAP, and the runner counts their tests.
export interface TapTest {
  ok: boolean;
  skipped: boolean;
  name: string;
}

export interface TapResult {
  tests: TapTest[];
  /** The plan's count, when a plan line was seen. */
  planned: number | undefined;
  /** Lines of "Bail out!", if any. */
  bailOut: string | undefined;
}

const TEST_LINE = /^(not ok|ok)\b\s*(\d+)?\s*(?:-\s*)?(.*)$/;
const PLAN_LINE = /^1\.\.(\d+)/;

/** Parses top-level TAP lines; indented lines (subtests, YAML) are ignored. */
export function parseTap(text: string): TapResult {
  const tests: TapTest[] = [];
  let planned: number | undefined;
  let bailOut: string | undefined;
  for (const line of text.split('\n')) {
    const plan = PLAN_LINE.exec(line);
    if (plan?.[1] !== undefined) {
      planned = (planned ?? 0) + Number(plan[1]);
      continue;
    }
    if (line.startsWith('Bail out!')) {
      bailOut = line;
      continue;
    }
    const m = TEST_LINE.exec(line);
    if (!m) continue;
    const rest = m[3] ?? '';
    const directive = /#\s*(SKIP|TODO)\b/i.exec(rest);
    const skipped = directive !== null;
    tests.push({ ok: m[1] === 'ok' || skipped, skipped, name: rest.replace(/\s*#\s*(SKIP|TODO)\b.*$/i, '') });
  }
  return { tests, planned, bailOut };
}

/**
 * Turns a parsed TAP stream into test results, adding a failure when the
 * stream bailed out or ran fewer tests than it planned (a crashed script).
 */
export function tapToTests(label: string, tap: TapResult): TapTest[] {
  const tests = tap.tests.map((t) => ({ ...t, name: `${label}: ${t.name}` }));
  if (tap.bailOut !== undefined) tests.push({ ok: false, skipped: false, name: `${label}: ${tap.bailOut}` });
  if (tap.planned === undefined && tap.tests.length === 0) {
    tests.push({ ok: false, skipped: false, name: `${label}: produced no TAP output` });
  } else if (tap.planned !== undefined && tap.planned !== tap.tests.length) {
    tests.push({
      ok: false,
      skipped: false,
      name: `${label}: planned ${tap.planned} tests but reported ${tap.tests.length}`,
    });
  }
  return tests;
}
