// SPDX-License-Identifier: MIT
//
// The Postfix log watcher: follows Postfix's log (the journal, or a file)
// and emits an 'offence' for every line a pattern recognizes (parse.ts,
// patterns.json).  It counts nothing and bans nothing itself: the daemon
// feeds its offences to the OffenceTracker (src/lib/offences.ts), which
// holds the thresholds.
//
//   const w = new PostfixLogWatcher({ source: 'file', file: '/var/log/mail.log' });
//   w.on('offence', (o) => tracker.report(o));
//   w.on('error', (e) => log.warn(e.message));
//   await w.start();
//
// The constructor does no work; start() loads the patterns (a bad patterns
// file rejects it, naming the entry) and starts following; stop() ends it.
import { EventEmitter } from 'node:events';

import type { Offence, OffenceSource } from '../offences.js';
import { FileFollower, JournalFollower, type FileFollowerOptions, type JournalRecord } from './follow.js';
import { loadPatterns, matchPostfixMessage, parsePostfixLine, type PostfixPattern } from './parse.js';

export const DEFAULT_MAIL_LOG = '/var/log/mail.log';

export interface PostfixLogWatcherOptions {
  source: 'file' | 'journal';
  /** The log file (source "file"); default /var/log/mail.log. */
  file?: string;
  /** The systemd unit (source "journal"; journalctl -u, globs allowed); default postfix.service and postfix@*.service. */
  unit?: string;
  /** A JSON file of extra patterns (or overrides of built-in ones, by name). */
  patterns?: string;
  /** Read the file (or journal) from its beginning rather than only new lines. */
  fromStart?: boolean;
  /** For tests: the journalctl binary. */
  journalctl?: string;
  /** For tests: the file follower's settings (poll interval, chunk size). */
  follow?: Omit<FileFollowerOptions, 'fromStart'>;
}

export interface PostfixOffence extends Offence {
  origin: 'postfix';
  at: number;
  detail: string;
}

export interface PostfixLogWatcherEvents {
  offence: [PostfixOffence];
  error: [Error];
}

export class PostfixLogWatcher extends EventEmitter<PostfixLogWatcherEvents> implements OffenceSource {
  readonly options: Readonly<PostfixLogWatcherOptions>;
  #patterns: readonly PostfixPattern[] = [];
  #file: FileFollower | undefined;
  #journal: JournalFollower | undefined;
  #lines = 0;
  #offences = 0;

  constructor(options: PostfixLogWatcherOptions) {
    super();
    this.options = { ...options };
  }

  /** Lines (or journal records) seen and offences emitted since start. */
  get counts(): { lines: number; offences: number } {
    return { lines: this.#lines, offences: this.#offences };
  }

  async start(): Promise<void> {
    if (this.#file !== undefined || this.#journal !== undefined) return;
    const o = this.options;
    if (o.source !== 'file' && o.source !== 'journal') throw new TypeError(`PostfixLogWatcher: source must be "file" or "journal", not ${JSON.stringify(o.source)}`);
    this.#patterns = await loadPatterns(o.patterns);
    if (o.source === 'file') {
      const f = new FileFollower(o.file ?? DEFAULT_MAIL_LOG, { ...o.follow, fromStart: o.fromStart ?? false });
      f.on('line', (line) => this.#line(line));
      f.on('error', (e) => this.emit('error', e));
      this.#file = f;
      await f.start();
    } else {
      const j = new JournalFollower({
        ...(o.unit === undefined ? {} : { units: [o.unit] }),
        ...(o.journalctl === undefined ? {} : { journalctl: o.journalctl }),
        fromStart: o.fromStart ?? false,
      });
      j.on('record', (r) => this.#record(r));
      j.on('error', (e) => this.emit('error', e));
      this.#journal = j;
      try {
        await j.start();
      } catch (err) {
        this.#journal = undefined;
        throw err;
      }
    }
  }

  async stop(): Promise<void> {
    const f = this.#file;
    const j = this.#journal;
    this.#file = undefined;
    this.#journal = undefined;
    await f?.stop();
    await j?.stop();
  }

  /** The file follower (tests poke it rather than wait for its poll). */
  get follower(): FileFollower | undefined {
    return this.#file;
  }

  #line(line: string): void {
    this.#lines++;
    const m = parsePostfixLine(line, this.#patterns);
    if (m === null) return;
    // A file's stamps are local time without a year (or zone): live lines
    // are stamped on arrival; read from the start, the line's own stamp.
    this.#emit(m.address, m.kind, m.detail, this.options.fromStart === true ? m.at : undefined);
  }

  #record(r: JournalRecord): void {
    this.#lines++;
    const m = matchPostfixMessage(r.identifier, r.message, this.#patterns);
    if (m === null) return;
    this.#emit(m.address, m.kind, m.detail, r.at);
  }

  #emit(address: string, kind: string, detail: string, at: number | undefined): void {
    this.#offences++;
    this.emit('offence', { address, kind, origin: 'postfix', at: at ?? Date.now(), detail });
  }
}
