// SPDX-License-Identifier: MIT
//
// Listening on a unix socket the way the daemon's servers do (the control
// socket, the Postfix policy service): a socket file left by a dead process
// is replaced unless something still answers on it, and the new file gets
// its mode and group before anyone is expected to connect.
import { chmod, chown, unlink } from 'node:fs/promises';
import type net from 'node:net';

import { nodeNet } from './builtins.js';
import { FfwallError } from './errors.js';

export type ListenAt = { type: 'unix'; path: string } | { type: 'inet'; host: string; port: number };

export interface SocketAccess {
  /** File mode of a unix socket; default 0660. */
  mode?: number;
  /** Group of a unix socket; default unchanged. */
  gid?: number;
}

/** True when something accepts connections on the unix socket @path. */
export async function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = nodeNet().createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Starts @server listening at @at.  EADDRINUSE (with @busy as its message)
 * when a live process serves the unix socket already.
 */
export async function listenAt(server: net.Server, at: ListenAt, access: SocketAccess, busy: string): Promise<void> {
  if (at.type === 'unix') {
    if (await socketAnswers(at.path)) throw new FfwallError('EADDRINUSE', busy);
    await unlink(at.path).catch(() => undefined);
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = (): void => {
      server.off('error', reject);
      resolve();
    };
    if (at.type === 'unix') server.listen(at.path, done);
    else server.listen({ host: at.host, port: at.port }, done);
  });
  if (at.type === 'unix') {
    await chmod(at.path, access.mode ?? 0o660);
    if (access.gid !== undefined) await chown(at.path, -1, access.gid);
  }
}

/** Closes @server (its connections must be destroyed first) and removes its unix socket file. */
export async function closeAt(server: net.Server, at: ListenAt): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (at.type === 'unix') await unlink(at.path).catch(() => undefined);
}
