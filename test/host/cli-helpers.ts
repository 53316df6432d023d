// SPDX-License-Identifier: MIT
//
// What the command tests share: `ffwall` run as a child process, and a
// "daemon" (a ControlServer over a FakeKernel and a temporary database).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { ControlServer, openFfwall, type Ffwall } from '../../src/lib/index.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const bin = path.join(root, 'bin', 'run.js');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export async function ffwall(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<Run> {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
  let stdout = '';
  let stderr = '';
  // Decoded across reads (a StringDecoder): a character split between two
  // pipe reads stays whole; decoding each read on its own made U+FFFD of an
  // emoji when a read ended inside it (a CI failure of record-json).
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (stderr += d));
  child.stdin.on('error', () => undefined);
  child.stdin.end(options.input ?? '');
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
  return { code, stdout, stderr };
}

export interface Daemon {
  dir: string;
  sock: string;
  kernel: FakeKernel;
  fw: Ffwall;
  server: ControlServer;
  /** The connection flags of a command. */
  conn: string[];
}

export async function daemon(): Promise<Daemon> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-cli-'));
  const sock = path.join(dir, 'ffwall.sock');
  const kernel = new FakeKernel();
  const fw = await openFfwall({ kernel, database: path.join(dir, 'db'), databaseOptions: { noSync: true } });
  const server = new ControlServer(fw, { path: sock });
  await server.start();
  return { dir, sock, kernel, fw, server, conn: ['--transport', 'client', '--socket', sock] };
}

export async function stop(d: Daemon): Promise<void> {
  await d.server.stop();
  await d.fw.close();
  rmSync(d.dir, { recursive: true, force: true });
}

/** A tiny checker of --json shapes: a spec is a type name ('x|null' for alternatives), an array [spec], or an object of specs ($nullable: 'true' when it may be null). */
export type Spec = string | [Spec] | { [k: string]: Spec };

export function shapeErrors(v: unknown, spec: Spec, at = '$'): string[] {
  if (typeof spec === 'string') {
    const alts = spec.split('|');
    const t = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
    if (alts.includes('any') || alts.includes(t) || (alts.includes('integer') && Number.isInteger(v)) || (alts.includes('iso') && typeof v === 'string' && !Number.isNaN(Date.parse(v)))) return [];
    return [`${at}: expected ${spec}, got ${JSON.stringify(v)}`];
  }
  if (Array.isArray(spec)) {
    if (!Array.isArray(v)) return [`${at}: expected an array`];
    return v.flatMap((x, i) => shapeErrors(x, spec[0], `${at}[${i}]`));
  }
  if (v === null && spec.$nullable === 'true') return [];
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return [`${at}: expected an object`];
  const o = v as Record<string, unknown>;
  const errs = Object.entries(spec).filter(([k]) => k !== '$nullable').flatMap(([k, s]) => (k in o ? shapeErrors(o[k], s, `${at}.${k}`) : [`${at}.${k}: missing`]));
  for (const k of Object.keys(o)) if (!(k in spec) || k === '$nullable') errs.push(`${at}.${k}: not in the schema`);
  return errs;
}
