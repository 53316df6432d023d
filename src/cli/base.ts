// SPDX-License-Identifier: MIT
//
// What every ffwall command shares: the connection flags, opening the
// library, and the one exit-code policy:
//   0  ok
//   1  failure (the kernel or the database refused, an unexpected error)
//   2  bad usage or bad input (nothing was changed)
//   3  the daemon or the module is unavailable (or this user may not use them)
import { Command, Flags } from '@oclif/core';

import { DEFAULT_DATABASE, DEFAULT_DEVICE, openFfwall, type Ffwall, type OpenOptions } from '../lib/ffwall.js';
import { parsePrefix } from '../lib/addr.js';
import { DEFAULT_SOCKET_PATH } from '../lib/control.js';

export const EXIT = { ok: 0, failure: 1, usage: 2, unavailable: 3 } as const;

const UNAVAILABLE = new Set(['ENOMODULE', 'ENOKERNEL', 'ENODAEMON', 'ENOTPRIVILEGED', 'EFFWALLABI', 'EFFWALLFEATURE']);
/** Refusals of bad input (nothing changed): exit 2. */
const USAGE = new Set(['EAUTOMATIC']);

/** The exit code of an error, by the policy above. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof TypeError || err instanceof RangeError) return EXIT.usage;
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && UNAVAILABLE.has(code)) return EXIT.unavailable;
  if (typeof code === 'string' && USAGE.has(code)) return EXIT.usage;
  const oclifExit = (err as { oclif?: { exit?: unknown } } | null)?.oclif?.exit;
  if (typeof oclifExit === 'number') return oclifExit;
  return EXIT.failure;
}

/**
 * Checks every address or CIDR argument before anything changes; a bad one
 * is a TypeError naming its position when there are several.
 */
export function checkTargets(targets: readonly string[]): void {
  targets.forEach((t, i) => {
    try {
      parsePrefix(t);
    } catch (err) {
      throw targets.length === 1 ? err : new TypeError(`argument ${i + 1}: ${(err as Error).message}`);
    }
  });
}

export abstract class FfwallCommand extends Command {
  static override enableJsonFlag = true;
  static override baseFlags = {
    socket: Flags.string({ summary: "The daemon's control socket.", default: DEFAULT_SOCKET_PATH, helpGroup: 'CONNECTION' }),
    device: Flags.string({ summary: 'The ffwall device (direct use).', default: DEFAULT_DEVICE, helpGroup: 'CONNECTION' }),
    db: Flags.string({ summary: 'The ban database (direct use).', default: DEFAULT_DATABASE, helpGroup: 'CONNECTION' }),
    transport: Flags.option({ options: ['auto', 'direct', 'client'] as const, default: 'auto' as const, summary: 'Through the daemon (client), /dev/ffwall (direct), or the daemon when it runs (auto).', helpGroup: 'CONNECTION' })(),
  };

  #fw: Ffwall | undefined;

  protected override async init(): Promise<void> {
    // `ffwall list | head`: a closed pipe ends the output quietly.
    process.stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(0);
      throw err;
    });
    await super.init();
  }

  /**
   * Opens the library as the connection flags say.  @databaseOnly: the
   * command only reads the ban database (list, export), so the direct
   * transport does not open the device: it works with the module unloaded.
   */
  protected async openFfwall(flags: { socket: string; device: string; db: string; transport: 'auto' | 'direct' | 'client' }, databaseOnly = false): Promise<Ffwall> {
    const options: OpenOptions = { transport: flags.transport, socket: flags.socket, device: flags.device, database: flags.db, ...(databaseOnly ? { kernel: false } : {}) };
    this.#fw = await openFfwall(options);
    return this.#fw;
  }

  protected override async finally(err: Error | undefined): Promise<unknown> {
    await this.#fw?.close().catch(() => undefined);
    return super.finally(err);
  }

  protected override async catch(err: Error & { exitCode?: number }): Promise<unknown> {
    // this.exit(n) of a command that has already reported.
    if ((err as { code?: unknown }).code === 'EEXIT') throw err;
    const code = exitCodeOf(err);
    // oclif's own parse errors (bad flags) are usage errors too.
    const isParse = err.constructor.name.endsWith('Error') && /Unexpected argument|Missing .*argument|Expected --|Nonexistent flag|is not one of|Parsing --/.test(err.message);
    const exit = isParse ? EXIT.usage : code;
    if (this.jsonEnabled()) {
      this.logJson({ error: { code: (err as { code?: unknown }).code ?? null, message: err.message, exit } });
    } else {
      this.logToStderr(`ffwall: ${err.message.replace(/^ffwall: /, '')}`);
    }
    this.exit(exit);
  }
}
