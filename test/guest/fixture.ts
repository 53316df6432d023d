// SPDX-License-Identifier: MIT
//
// What the TypeScript guest suites share: where the module, the tools and
// test/guest/lib.sh are (the runner's environment), the addresses of
// lib.sh's peer namespace, a probe from the peer, and the `ffwall` command
// line over the direct transport, and `ffwall daemon` run with its JSON
// log collected.
import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import path from 'node:path';

/** The module under test (the DEBUG build when the suite asks for it). */
export const ko = process.env.FFWALL_KO ?? '';
export const root = process.env.FFWALL_ROOT ?? process.cwd();
export const tools = process.env.FFWALL_TOOLS ?? path.join(root, 'build', 'tools');
export const lib = path.join(root, 'test', 'guest', 'lib.sh');
/** The CLI's entry. */
export const bin = path.join(root, 'bin', 'run.js');

/** This host's end of the veth pair (ffw0), and the peer namespace's two sources (peer_setup). */
export const LOCAL = '10.99.0.1';
export const PEER = '10.99.0.2';
export const PEER_B = '10.99.0.3';

/** Runs @fn (a function of lib.sh, with its arguments) in bash with lib.sh sourced; its output is the suite's with @stdio 'inherit'. */
export function sh(fn: string, stdio: 'pipe' | 'inherit' = 'pipe'): void {
  execFileSync('bash', ['-c', `source ${lib} && ${fn}`], { stdio });
}

/** True when a TCP SYN from @src in the peer namespace reaches this host's @port (an answer came back within @timeoutMs). */
export function reaches(src: string, port: number, timeoutMs = 700): boolean {
  return spawnSync('ip', ['netns', 'exec', 'peer', path.join(tools, 'netprobe'), '-s', src, '-t', String(timeoutMs), 'tcp', LOCAL, String(port)]).status === 0;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `ffwall ARGS --transport direct --db DB`, with @input on standard input. */
export function ffwallDirect(db: string, args: string[], input = ''): CliResult {
  const r = spawnSync(process.execPath, [bin, ...args, '--transport', 'direct', '--db', db], { input, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A running `ffwall daemon`: its JSON log lines as they come. */
export interface RunningDaemon {
  child: ChildProcessWithoutNullStreams;
  logs: Record<string, unknown>[];
  /** The first log line that @pred takes, within @ms; an error naming @what when none comes or the daemon exits. */
  waitLog(pred: (l: Record<string, unknown>) => boolean, ms: number, what: string): Promise<Record<string, unknown>>;
  /** SIGTERM, then its exit code. */
  stop(): Promise<number | null>;
}

export interface DaemonOptions {
  /** Added to the environment. */
  env?: Record<string, string>;
  /** Every byte of its standard output and error is appended here too. */
  logFile?: string;
  /** Each log line but the periodic ones (hit sync, sweep) on the suite's output. */
  echo?: boolean;
}

/** Starts `ffwall daemon --config @config` from the tree's root. */
export function startDaemon(config: string, options: DaemonOptions = {}): RunningDaemon {
  const child = spawn(process.execPath, [bin, 'daemon', '--config', config], { cwd: root, env: { ...process.env, ...options.env } });
  const logs: Record<string, unknown>[] = [];
  const keep = (d: Buffer): void => {
    if (options.logFile !== undefined) appendFileSync(options.logFile, d);
  };
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    keep(d);
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const l of parts) {
      try {
        const j = JSON.parse(l) as Record<string, unknown>;
        logs.push(j);
        if (options.echo === true && j.msg !== 'hit sync' && j.msg !== 'sweep') {
          console.log(`daemon: ${String(j.level)} ${String(j.msg)}${j.err === undefined ? '' : `: ${String(j.err)}`}${j.suppressed === undefined ? '' : ` (${String(j.suppressed)} suppressed)`}`);
        }
      } catch {
        console.log(`daemon (not JSON): ${l}`);
      }
    }
  });
  child.stderr.on('data', (d: Buffer) => {
    keep(d);
    process.stderr.write(`daemon stderr: ${d.toString()}`);
  });
  return {
    child,
    logs,
    async waitLog(pred, ms, what) {
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const l = logs.find(pred);
        if (l !== undefined) return l;
        if (child.exitCode !== null) throw new Error(`the daemon exited (${child.exitCode}) before ${what}`);
        await sleep(50);
      }
      throw new Error(`no ${what} within ${ms} ms; logs: ${logs.map((l) => String(l.msg)).join(' | ')}`);
    },
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      return exited;
    },
  };
}
