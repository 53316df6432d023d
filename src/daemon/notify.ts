// SPDX-License-Identifier: MIT
//
// sd_notify(3), written by hand: the service manager's protocol is one unix
// datagram of newline-separated KEY=VALUE fields sent to $NOTIFY_SOCKET (a
// path, or "@name" for the abstract namespace).  No libsystemd.
//
// Node's core has no unix datagram sockets (node:dgram is UDP only, node:net
// is streams only), so the datagram leaves through a few lines of C++ of our
// own, build/Release/notify.node (addon/notify.cc), loaded here and nowhere
// else.  A helper process (systemd-notify, python) is no substitute: the
// message would come from the helper's PID, and the unit's NotifyAccess=main
// accepts only the main PID's.
//
// The daemon calls:
//   ready(status)      READY=1 once it serves (Type=notify)
//   status(text)       STATUS=... whenever there is something to say
//   startWatchdog()    WATCHDOG=1 every half $WATCHDOG_USEC, when the watchdog
//                      is meant for this process ($WATCHDOG_PID absent or ours)
//   reloading()        RELOADING=1 (+MONOTONIC_USEC) at SIGHUP, then ready()
//   stopping()         STOPPING=1 at SIGTERM
// Without $NOTIFY_SOCKET (not run by systemd) every call is a no-op that
// returns false.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface NotifyBinding {
  send(path: string, data: Buffer): void;
  bind(path: string): number;
  recv(fd: number): { data: Buffer; pid: number; truncated: boolean } | null;
  close(fd: number): void;
}

let binding: NotifyBinding | undefined;

/** build/Release/notify.node at the package root. */
function loadBinding(): NotifyBinding {
  if (binding !== undefined) return binding;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'build', 'Release', 'notify.node');
    if (existsSync(candidate)) {
      binding = createRequire(import.meta.url)(candidate) as NotifyBinding;
      return binding;
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error('ffwall: the notify addon is not built (build/Release/notify.node); run `npm run build:addon`');
}

/** Sends one datagram to a unix socket path or "@abstract" name. */
export function sendDatagram(socketPath: string, data: Buffer): void {
  loadBinding().send(socketPath, data);
}

export type NotifyValue = string | number | boolean;

/** KEY=VALUE lines; a value's newlines would start a new field, so they become spaces. */
export function formatNotify(fields: Readonly<Record<string, NotifyValue>>): string {
  const lines: string[] = [];
  for (const [key, value] of Object.entries(fields)) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(key)) throw new TypeError(`sd_notify: field name ${JSON.stringify(key)} is not upper-case letters, digits and _`);
    const v = typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
    lines.push(`${key}=${v.replace(/[\r\n]+/g, ' ')}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface NotifierOptions {
  /** Where $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID are read; default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
  /** This process's id, compared with $WATCHDOG_PID; default process.pid. */
  pid?: number;
  /** The datagram sender (tests); default the addon. */
  send?: (socketPath: string, data: Buffer) => void;
  /** The watchdog asks before each ping; false skips it (systemd then restarts a stuck daemon). */
  healthy?: () => boolean;
  /** Errors of the watchdog timer's sends; default: ignored. */
  onError?: (err: Error) => void;
  /** The monotonic clock in µs for MONOTONIC_USEC; default process.hrtime (CLOCK_MONOTONIC). */
  monotonicUsec?: () => bigint;
}

/**
 * The service manager's notification socket.  The constructor reads the
 * environment and does nothing else; nothing is sent until a method is
 * called.  Methods return true when a datagram was sent, false when there is
 * no $NOTIFY_SOCKET; a failed send throws an Error with Node's shape
 * (code, errno, syscall 'sendto', path).
 */
export class Notifier {
  readonly socketPath: string | undefined;
  /** Milliseconds between watchdog pings (half of $WATCHDOG_USEC), or undefined when no watchdog is meant for us. */
  readonly watchdogIntervalMs: number | undefined;
  /** Why the environment was not usable, if it was not (for a log line). */
  readonly problem: string | undefined;
  readonly #send: (socketPath: string, data: Buffer) => void;
  readonly #healthy: (() => boolean) | undefined;
  readonly #onError: ((err: Error) => void) | undefined;
  readonly #monotonic: () => bigint;
  #timer: NodeJS.Timeout | undefined;
  #pings = 0;

  constructor(options: NotifierOptions = {}) {
    const env = options.env ?? process.env;
    const pid = options.pid ?? process.pid;
    this.#send = options.send ?? sendDatagram;
    this.#healthy = options.healthy;
    this.#onError = options.onError;
    this.#monotonic = options.monotonicUsec ?? (() => process.hrtime.bigint() / 1000n);
    const problems: string[] = [];

    const sock = env.NOTIFY_SOCKET;
    if (sock === undefined || sock === '') {
      this.socketPath = undefined;
    } else if (sock.startsWith('/') || (sock.startsWith('@') && sock.length > 1)) {
      this.socketPath = sock;
    } else {
      this.socketPath = undefined;
      problems.push(`NOTIFY_SOCKET=${sock} is neither an absolute path nor an @abstract name`);
    }

    let interval: number | undefined;
    const usecText = env.WATCHDOG_USEC;
    if (usecText !== undefined && usecText !== '' && this.socketPath !== undefined) {
      const usec = /^[0-9]+$/.test(usecText) ? Number(usecText) : NaN;
      const pidText = env.WATCHDOG_PID;
      if (!Number.isSafeInteger(usec) || usec <= 0) {
        problems.push(`WATCHDOG_USEC=${usecText} is not a positive integer`);
      } else if (pidText !== undefined && pidText !== '' && pidText !== String(pid)) {
        // The watchdog is meant for another process (e.g. our parent).
      } else {
        interval = Math.max(1, Math.floor(usec / 2000));
      }
    }
    this.watchdogIntervalMs = interval;
    this.problem = problems.length === 0 ? undefined : problems.join('; ');
  }

  /** True when a service manager listens. */
  get enabled(): boolean {
    return this.socketPath !== undefined;
  }

  /** Watchdog pings sent so far by the timer and by watchdog(). */
  get watchdogPings(): number {
    return this.#pings;
  }

  /** Sends the given fields as one datagram. */
  notify(fields: Readonly<Record<string, NotifyValue>>): boolean {
    const text = formatNotify(fields);
    if (this.socketPath === undefined) return false;
    this.#send(this.socketPath, Buffer.from(text, 'utf8'));
    return true;
  }

  /** READY=1, with a STATUS when given. */
  ready(status?: string): boolean {
    return this.notify(status === undefined ? { READY: 1 } : { READY: 1, STATUS: status });
  }

  status(text: string): boolean {
    return this.notify({ STATUS: text });
  }

  /** RELOADING=1 with MONOTONIC_USEC (as Type=notify-reload wants); send ready() when the reload is done. */
  reloading(status?: string): boolean {
    const fields: Record<string, NotifyValue> = { RELOADING: 1, MONOTONIC_USEC: this.#monotonic().toString() };
    if (status !== undefined) fields.STATUS = status;
    return this.notify(fields);
  }

  /** STOPPING=1; stops the watchdog timer too. */
  stopping(status?: string): boolean {
    this.stopWatchdog();
    return this.notify(status === undefined ? { STOPPING: 1 } : { STOPPING: 1, STATUS: status });
  }

  /** One WATCHDOG=1 ping. */
  watchdog(): boolean {
    const sent = this.notify({ WATCHDOG: 1 });
    if (sent) this.#pings++;
    return sent;
  }

  /**
   * Pings every watchdogIntervalMs while the event loop runs (the timer is
   * unref'd: it never keeps the process alive).  Returns false when no
   * watchdog is meant for this process.
   */
  startWatchdog(): boolean {
    if (this.watchdogIntervalMs === undefined) return false;
    if (this.#timer !== undefined) return true;
    this.#timer = setInterval(() => {
      if (this.#healthy !== undefined && !this.#healthy()) return;
      try {
        this.watchdog();
      } catch (err) {
        this.#onError?.(err as Error);
      }
    }, this.watchdogIntervalMs);
    this.#timer.unref();
    return true;
  }

  stopWatchdog(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

export interface ReceivedDatagram {
  text: string;
  /** The sender's PID, from SCM_CREDENTIALS. */
  pid: number;
  /** The notification's fields. */
  fields: Record<string, string>;
}

/**
 * The receiving end, as systemd binds it: for tests (host and guest) that
 * check what the daemon sends.  The constructor only records the path;
 * bind() creates the socket, poll()/next() read it, close() ends it.
 */
export class NotifyReceiver {
  readonly socketPath: string;
  #fd: number | undefined;

  constructor(socketPath: string) {
    this.socketPath = socketPath;
  }

  bind(): void {
    if (this.#fd !== undefined) throw new Error('NotifyReceiver: already bound');
    this.#fd = loadBinding().bind(this.socketPath);
  }

  /** The next datagram, or undefined when none is waiting. */
  poll(): ReceivedDatagram | undefined {
    if (this.#fd === undefined) throw new Error('NotifyReceiver: not bound');
    const r = loadBinding().recv(this.#fd);
    if (r === null) return undefined;
    const text = r.data.toString('utf8');
    const fields: Record<string, string> = {};
    for (const line of text.split('\n')) {
      const eq = line.indexOf('=');
      if (eq > 0) fields[line.slice(0, eq)] = line.slice(eq + 1);
    }
    return { text, pid: r.pid, fields };
  }

  /** Waits up to @timeoutMs for the next datagram. */
  async next(timeoutMs = 2000): Promise<ReceivedDatagram> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const d = this.poll();
      if (d !== undefined) return d;
      if (Date.now() >= deadline) throw new Error(`NotifyReceiver: no datagram on ${this.socketPath} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  close(): void {
    if (this.#fd !== undefined) loadBinding().close(this.#fd);
    this.#fd = undefined;
  }
}
