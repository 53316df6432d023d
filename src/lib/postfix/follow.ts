// SPDX-License-Identifier: MIT
//
// Following a log as it grows: a file like `tail -F`, or the systemd
// journal through `journalctl -f -o json`.
//
// FileFollower polls the path (stat every `interval` ms; a poll also runs
// whenever fs.watch reports a change in the file's directory, so new lines
// arrive without waiting for the interval where inotify works):
// - it starts at the end of the file (fromStart: at its beginning); a start
//   in the middle of a line skips that line's rest;
// - a file that does not exist yet is waited for, and read from its start
//   when it appears;
// - rotation by rename (logrotate's default): the old file is read to its
//   end, then the new file at the path is read from its start;
// - truncation (logrotate's copytruncate): reading restarts at 0;
// - a last line without its newline is held until the newline comes (or
//   the file is rotated away, when it is emitted as it is);
// - memory is bounded: reads go by `chunkSize` bytes, lines longer than
//   `maxLineBytes` are cut there (the rest of the line is dropped), and the
//   next chunk is read only after the listeners of the previous one ran.
//
// JournalFollower spawns journalctl and reads its JSON lines (MESSAGE may be
// a string, or an array of bytes when it is not valid UTF-8); when
// journalctl ends while it should run, it is restarted after `restartDelay`
// ms from the last cursor seen, so no entry is lost or read twice.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { watch, type FSWatcher } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

export interface FileFollowerOptions {
  /** Read the file from its beginning instead of its end (only the first file; a rotated-in file is always read from its start). */
  fromStart?: boolean;
  /** Poll interval, ms (default 1000). */
  interval?: number;
  /** Bytes per read (default 64 KiB). */
  chunkSize?: number;
  /** Longest line kept, bytes (default 16 KiB); longer lines are cut. */
  maxLineBytes?: number;
  /** Use fs.watch on the directory as well as polling (default true). */
  watch?: boolean;
}

export interface FollowerEvents {
  line: [string];
  /** A problem that does not stop the follower (it keeps trying). */
  error: [Error];
  /** The follower (re)opened a file: its path and why ("start", "created", "rotated", "truncated"). */
  open: [{ path: string; reason: 'start' | 'created' | 'rotated' | 'truncated' }];
}

const NL = 0x0a;

export class FileFollower extends EventEmitter<FollowerEvents> {
  readonly file: string;
  readonly #interval: number;
  readonly #chunk: number;
  readonly #maxLine: number;
  readonly #useWatch: boolean;
  #fromStart: boolean;
  #fh: FileHandle | undefined;
  #ino = -1;
  #dev = -1;
  #pos = 0;
  /** Bytes of an unfinished line. */
  #partial: Buffer[] = [];
  #partialLen = 0;
  /** The current line was cut (or is the rest of a line started before we did): drop until its newline. */
  #skipping = false;
  #timer: NodeJS.Timeout | undefined;
  #watcher: FSWatcher | undefined;
  #running = false;
  #busy: Promise<void> | undefined;
  #again = false;
  #lastError = '';

  constructor(file: string, options: FileFollowerOptions = {}) {
    super();
    this.file = path.resolve(file);
    this.#fromStart = options.fromStart ?? false;
    this.#interval = options.interval ?? 1000;
    this.#chunk = options.chunkSize ?? 65536;
    this.#maxLine = options.maxLineBytes ?? 16384;
    this.#useWatch = options.watch ?? true;
  }

  /** Opens the file if it exists (or waits for it) and starts following. */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    await this.#openInitial();
    if (this.#useWatch) {
      try {
        this.#watcher = watch(path.dirname(this.file), { persistent: false }, () => this.poke());
        this.#watcher.on('error', () => {
          this.#watcher?.close();
          this.#watcher = undefined;
        });
      } catch {
        // The directory may not exist yet: polling finds the file.
      }
    }
    this.#schedule();
    this.poke();
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
    await this.#busy;
    await this.#close();
  }

  /** Checks the file now (tests call it instead of waiting for the poll). */
  poke(): Promise<void> {
    if (!this.#running) return Promise.resolve();
    if (this.#busy !== undefined) {
      this.#again = true;
      return this.#busy;
    }
    this.#busy = (async () => {
      do {
        this.#again = false;
        try {
          await this.#check();
          this.#lastError = '';
        } catch (err) {
          const e = err instanceof Error ? err : new Error(String(err));
          // Report a lasting problem once, not at every poll.
          if (e.message !== this.#lastError) this.emit('error', e);
          this.#lastError = e.message;
        }
      } while (this.#again && this.#running);
    })().finally(() => {
      this.#busy = undefined;
    });
    return this.#busy;
  }

  #schedule(): void {
    if (!this.#running) return;
    this.#timer = setTimeout(() => {
      void this.poke().finally(() => this.#schedule());
    }, this.#interval);
    this.#timer.unref?.();
  }

  async #openInitial(): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await open(this.file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // wait for it
      throw err;
    }
    const st = await fh.stat();
    this.#fh = fh;
    this.#ino = st.ino;
    this.#dev = st.dev;
    if (this.#fromStart || st.size === 0) {
      this.#pos = 0;
    } else {
      this.#pos = st.size;
      // Started inside a line: its rest is not a whole line.
      const b = Buffer.alloc(1);
      const { bytesRead } = await fh.read(b, 0, 1, st.size - 1);
      this.#skipping = bytesRead === 1 && b[0] !== NL;
    }
    this.emit('open', { path: this.file, reason: 'start' });
  }

  async #close(): Promise<void> {
    const fh = this.#fh;
    this.#fh = undefined;
    await fh?.close().catch(() => undefined);
  }

  async #check(): Promise<void> {
    let st: Awaited<ReturnType<typeof stat>> | undefined;
    try {
      st = await stat(this.file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (this.#fh === undefined) {
      if (st === undefined) return;
      await this.#openNew('created');
    } else if (st === undefined || st.ino !== this.#ino || st.dev !== this.#dev) {
      // Renamed away (and maybe replaced): finish the old file first.
      await this.#drain();
      if (st === undefined) return; // keep the old handle until a new file appears
      this.#flushPartial();
      await this.#close();
      await this.#openNew('rotated');
    } else if (st.size < this.#pos) {
      this.#pos = 0;
      this.#partial = [];
      this.#partialLen = 0;
      this.#skipping = false;
      this.emit('open', { path: this.file, reason: 'truncated' });
    }
    await this.#drain();
  }

  async #openNew(reason: 'created' | 'rotated'): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await open(this.file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const st = await fh.stat();
    this.#fh = fh;
    this.#ino = st.ino;
    this.#dev = st.dev;
    this.#pos = 0;
    this.#partial = [];
    this.#partialLen = 0;
    this.#skipping = false;
    this.emit('open', { path: this.file, reason });
  }

  /** Reads what the open file has beyond #pos, chunk by chunk. */
  async #drain(): Promise<void> {
    const fh = this.#fh;
    if (fh === undefined) return;
    const buf = Buffer.allocUnsafe(this.#chunk);
    for (;;) {
      if (!this.#running) return;
      const { bytesRead } = await fh.read(buf, 0, this.#chunk, this.#pos);
      if (bytesRead === 0) return;
      this.#pos += bytesRead;
      this.#split(buf.subarray(0, bytesRead));
      // Let the listeners' work (and the event loop) run between chunks.
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  #split(data: Buffer): void {
    let start = 0;
    for (;;) {
      const nl = data.indexOf(NL, start);
      if (nl === -1) {
        this.#keep(data.subarray(start));
        return;
      }
      this.#keep(data.subarray(start, nl));
      this.#endLine();
      start = nl + 1;
    }
  }

  #keep(piece: Buffer): void {
    if (this.#skipping || piece.length === 0) return;
    const room = this.#maxLine - this.#partialLen;
    if (piece.length > room) {
      if (room > 0) this.#partial.push(Buffer.from(piece.subarray(0, room)));
      this.#partialLen = this.#maxLine;
      return;
    }
    this.#partial.push(Buffer.from(piece));
    this.#partialLen += piece.length;
  }

  #endLine(): void {
    if (this.#skipping) {
      this.#skipping = false;
      return;
    }
    const line = Buffer.concat(this.#partial, this.#partialLen).toString('utf8');
    this.#partial = [];
    this.#partialLen = 0;
    this.emit('line', line.endsWith('\r') ? line.slice(0, -1) : line);
  }

  #flushPartial(): void {
    if (this.#partialLen > 0) this.#endLine();
    this.#skipping = false;
  }
}

// ---------------------------------------------------------------------------
// journald

export interface JournalRecord {
  /** SYSLOG_IDENTIFIER: "postfix/smtpd". */
  identifier: string;
  message: string;
  /** __REALTIME_TIMESTAMP in ms. */
  at?: number;
  cursor?: string;
  pid?: number;
}

/** One line of `journalctl -o json`; null when it is not a record with an identifier and a message. */
export function parseJournalLine(line: string): JournalRecord | null {
  let o: unknown;
  try {
    o = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof o !== 'object' || o === null) return null;
  const r = o as Record<string, unknown>;
  const message = fieldText(r.MESSAGE);
  const identifier = fieldText(r.SYSLOG_IDENTIFIER);
  if (message === null || identifier === null) return null;
  const out: JournalRecord = { identifier, message: message.endsWith('\n') ? message.slice(0, -1) : message };
  const us = typeof r.__REALTIME_TIMESTAMP === 'string' ? Number(r.__REALTIME_TIMESTAMP) : NaN;
  if (Number.isFinite(us)) out.at = Math.floor(us / 1000);
  if (typeof r.__CURSOR === 'string') out.cursor = r.__CURSOR;
  const pid = typeof r._PID === 'string' ? Number(r._PID) : NaN;
  if (Number.isInteger(pid)) out.pid = pid;
  return out;
}

/** A journal field: a string, an array of bytes (not UTF-8 or with control characters), or (repeated field) an array of those. */
function fieldText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    if (v.every((b) => typeof b === 'number' && Number.isInteger(b) && b >= 0 && b <= 255)) return Buffer.from(v as number[]).toString('utf8');
    // A field set twice comes as an array of values: take the first.
    if (v.length > 0) return fieldText(v[0]);
  }
  return null;
}

export interface JournalFollowerOptions {
  /** Units to follow (journalctl -u, globs allowed); default postfix.service and postfix@*.service. */
  units?: readonly string[];
  /** Read from the journal's beginning (not `--since now`): for tests and back-filling. */
  fromStart?: boolean;
  /** The journalctl binary (default "journalctl" in PATH). */
  journalctl?: string;
  /** ms before restarting a journalctl that ended (default 5000). */
  restartDelay?: number;
  /** Longest JSON line kept, bytes (default 1 MiB); longer ones are dropped. */
  maxLineBytes?: number;
}

export interface JournalEvents {
  record: [JournalRecord];
  error: [Error];
}

export const DEFAULT_JOURNAL_UNITS: readonly string[] = ['postfix.service', 'postfix@*.service'];

export class JournalFollower extends EventEmitter<JournalEvents> {
  readonly #units: readonly string[];
  readonly #bin: string;
  readonly #restartDelay: number;
  readonly #maxLine: number;
  #fromStart: boolean;
  #child: ChildProcess | undefined;
  #cursor: string | undefined;
  #running = false;
  #restartTimer: NodeJS.Timeout | undefined;
  #exited: Promise<void> = Promise.resolve();

  constructor(options: JournalFollowerOptions = {}) {
    super();
    this.#units = options.units ?? DEFAULT_JOURNAL_UNITS;
    this.#bin = options.journalctl ?? 'journalctl';
    this.#restartDelay = options.restartDelay ?? 5000;
    this.#maxLine = options.maxLineBytes ?? 1 << 20;
    this.#fromStart = options.fromStart ?? false;
  }

  /** The arguments journalctl runs with. */
  args(): string[] {
    const a = ['-f', '-o', 'json', '--no-pager', '-q'];
    if (this.#cursor !== undefined) a.push('--after-cursor', this.#cursor);
    else if (!this.#fromStart) a.push('--since', 'now');
    else a.push('--no-tail');
    for (const u of this.#units) a.push('-u', u);
    return a;
  }

  /** Spawns journalctl; rejects when it cannot run (missing: a clear error). */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      await this.#spawn();
    } catch (err) {
      this.#running = false;
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.#running = false;
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    const c = this.#child;
    if (c !== undefined && c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    await this.#exited;
  }

  #spawn(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const child = spawn(this.#bin, this.args(), { stdio: ['ignore', 'pipe', 'pipe'] });
      this.#child = child;
      let started = false;
      let stderr = '';
      let rest = '';
      let dropping = false;
      this.#exited = new Promise<void>((done) => child.once('close', () => done()));
      child.once('spawn', () => {
        started = true;
        resolve();
      });
      child.once('error', (err: NodeJS.ErrnoException) => {
        const e =
          err.code === 'ENOENT'
            ? Object.assign(new Error(`journalctl not found (${this.#bin}): the journal source needs systemd's journalctl; set postfix.log.source to "file" to read the mail log instead`), { code: 'ENOJOURNALCTL' })
            : err;
        if (!started) reject(e);
        else this.emit('error', e);
      });
      child.stderr!.setEncoding('utf8');
      child.stderr!.on('data', (d: string) => {
        stderr = (stderr + d).slice(-2000);
      });
      child.stdout!.setEncoding('utf8');
      child.stdout!.on('data', (d: string) => {
        let s = rest + d;
        let nl: number;
        while ((nl = s.indexOf('\n')) !== -1) {
          const line = s.slice(0, nl);
          s = s.slice(nl + 1);
          if (dropping) {
            dropping = false;
            continue;
          }
          const rec = parseJournalLine(line);
          if (rec === null) continue;
          if (rec.cursor !== undefined) this.#cursor = rec.cursor;
          this.emit('record', rec);
        }
        if (s.length > this.#maxLine) {
          dropping = true;
          s = '';
        }
        rest = s;
      });
      child.once('close', (code, signal) => {
        if (this.#child === child) this.#child = undefined;
        if (!started || !this.#running) return;
        this.emit('error', new Error(`journalctl ended (${signal ?? `exit ${code}`})${stderr.trim() === '' ? '' : `: ${stderr.trim()}`}; restarting in ${this.#restartDelay} ms`));
        this.#restartTimer = setTimeout(() => {
          this.#restartTimer = undefined;
          if (!this.#running) return;
          this.#spawn().catch((e: Error) => this.emit('error', e));
        }, this.#restartDelay);
        this.#restartTimer.unref?.();
      });
    });
  }
}
