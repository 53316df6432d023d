// SPDX-License-Identifier: MIT
//
// Helpers of `ffwall module load|unload|build` (which do not open ffwall).
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

import type { Command } from '@oclif/core';

import { FfwallError } from '../lib/index.js';
import { EXIT, exitCodeOf } from './base.js';

export function modulePath(root: string, kver: string | undefined, debug: boolean): string {
  const k = kver ?? os.release();
  if (!/^[A-Za-z0-9._+-]+$/.test(k)) throw new TypeError(`--kver: "${k}" is not a kernel version`);
  return path.join(root, 'build', 'kmod', debug ? `${k}-debug` : k, 'ffwall.ko');
}

/** Runs a system command; its failure becomes an error with its stderr. */
export function runTool(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as { code?: string; stderr?: Buffer; status?: number };
    if (e.code === 'ENOENT') throw new FfwallError('ENOENT', `ffwall: ${cmd} not found (install kmod)`);
    const msg = e.stderr?.toString().trim() ?? '';
    if (/Operation not permitted|must be root/i.test(msg)) throw new FfwallError('ENOTPRIVILEGED', `ffwall: ${cmd} needs root: ${msg}`);
    throw new FfwallError('EFAILED', `ffwall: ${cmd} ${args.join(' ')} failed (exit ${e.status ?? '?'}): ${msg}`);
  }
}

/** The exit policy for the module commands (which do not open ffwall). */
export function moduleCatch(cmd: Command, err: Error): never {
  const isParse = /Unexpected argument|Missing .*argument|Expected --|Nonexistent flag|is not one of|Parsing --/.test(err.message);
  const exit = isParse ? EXIT.usage : exitCodeOf(err);
  if (cmd.jsonEnabled()) process.stdout.write(`${JSON.stringify({ error: { code: (err as { code?: unknown }).code ?? null, message: err.message, exit } }, null, 2)}\n`);
  else cmd.logToStderr(`ffwall: ${err.message.replace(/^ffwall: /, '')}`);
  return cmd.exit(exit);
}
