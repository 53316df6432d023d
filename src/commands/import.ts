// SPDX-License-Identifier: MIT
import { Args, Flags } from '@oclif/core';

import { FfwallCommand } from '../cli/base.js';
import { num, Progress } from '../cli/format.js';

import {
  allowlistCheck,
  FeedError,
  firstAllowlistOverlap,
  IMPORT_FORMATS,
  packPlainFile,
  readFeed,
  spool,
  validateFeed,
  type BlockOptions,
  type FeedEntry,
  type ImportFormat,
  type PackedFeed,
} from '../lib/index.js';

/** Bans per blockMany() call of the second pass. */
const BATCH = 10_000;

export interface ImportResult {
  transport: string;
  name: string;
  format: ImportFormat;
  lines: number;
  entries: number;
  /** New bans (the others refreshed or revived an existing one). */
  created: number;
  applied: number;
}

export default class ImportCommand extends FfwallCommand {
  static override summary = "Import a blocklist feed (a file, or - for standard input); every ban carries the feed's name";
  static override description =
    'The whole feed is checked in a first streaming pass (syntax, normalized CIDRs, the allowlist): a bad line is named with its number and the fix, and nothing changes. The second pass applies it in batches of 10,000. Standard input is spooled to a temporary file first. The bans have source "feed" and the feed\'s name as their tag: `ffwall unblock --source NAME` removes them all. Formats: plain (one address or CIDR per line, # and ; comments), drop (Spamhaus DROP/EDROP), ipset (`ipset save` output; timeouts become TTLs).';
  static override examples = [
    '<%= config.bin %> import drop.txt --format drop --name spamhaus-drop --ttl 2d',
    'curl -s https://www.spamhaus.org/drop/drop.txt | <%= config.bin %> import - --format drop --name spamhaus-drop',
    'ipset save blacklist | <%= config.bin %> import - --format ipset --name old-ipset',
    '<%= config.bin %> import bad-hosts.txt --name local --permanent --json',
  ];
  static override args = { file: Args.string({ description: 'the feed file, or - for standard input', required: true }) };
  static override flags = {
    format: Flags.option({ options: IMPORT_FORMATS, default: 'plain' as const, summary: 'The feed format.' })(),
    name: Flags.string({ summary: "The feed's name: the tag of every ban (default: the file's name)." }),
    ttl: Flags.string({ summary: 'How long each ban lasts (default: the escalation rule, 24h at first).', exclusive: ['permanent'] }),
    permanent: Flags.boolean({ summary: 'The bans never expire.', exclusive: ['ttl'] }),
    port: Flags.string({ summary: 'Block only these ports, comma-separated.' }),
    reason: Flags.string({ summary: "Reason of the bans without a note of their own (default: 'feed NAME')." }),
  };

  async run(): Promise<ImportResult> {
    const { args, flags } = await this.parse(ImportCommand);
    const name = flags.name ?? (args.file === '-' ? undefined : args.file.replace(/^.*\//, '').replace(/\.[a-z0-9]+$/i, ''));
    if (name === undefined || !/^[A-Za-z0-9_.:-]{1,64}$/.test(name)) {
      throw new TypeError(`--name: a feed name of 1..64 letters, digits, '_', '.', ':' or '-' is needed${name === undefined ? ' (standard input has no file name)' : `, got ${JSON.stringify(name)}`}`);
    }
    const base: BlockOptions = { source: 'feed', sourceTag: name, permanent: flags.permanent };
    if (flags.ttl !== undefined) base.ttl = flags.ttl;
    if (flags.port !== undefined) base.ports = (await import('./block.js')).parsePortList(flags.port);
    const reason = flags.reason ?? `feed ${name}`;
    const json = this.jsonEnabled();
    let file = args.file;
    let cleanup: (() => Promise<void>) | undefined;
    if (file === '-') {
      const s = await spool(process.stdin);
      file = s.path;
      cleanup = s.cleanup;
    }
    try {
      const fw = await this.openFfwall(flags);
      const allow = (await fw.allowList()).map((a) => a.target);
      // A plain feed: parsed in one pass over its bytes (packPlainFile(), no
      // string or object per line), checked against the allowlist, then
      // applied by blockFeed() (batches of 10,000 in the database's key
      // order).  A bad or allowlisted line falls back to the streaming check
      // below, which names up to ten of them.
      const packed = flags.format === 'plain' ? await packedIfClean(file, allow) : undefined;
      if (packed !== undefined) {
        const bar = new Progress(`importing ${name}`, packed.count, !json);
        const r = await fw.blockFeed(packed, { ...base, reason, onProgress: (p) => bar.update(p.done) });
        bar.stop();
        this.log(`imported ${num(r.applied)} ${r.applied === 1 ? 'entry' : 'entries'} of ${name} (${num(r.changed)} new) from ${num(packed.lines)} lines [${fw.transport}]`);
        return { transport: fw.transport, name, format: flags.format, lines: packed.lines, entries: packed.count, created: r.changed, applied: r.applied };
      }
      // Pass 1: the whole feed, nothing changes.
      const v = await validateFeed(file, flags.format, { check: allowlistCheck(allow) });
      if (v.errors.length > 0) {
        const first = v.errors[0] as FeedError;
        const more = v.errors.length > 1 ? `\n${v.errors.slice(1).map((e) => `  ${e.message}`).join('\n')}` : '';
        throw Object.assign(new FeedError(first.line, first.text, first.reason, first.suggestion), {
          message: `${args.file === '-' ? 'stdin' : args.file}: ${first.message}; nothing was imported${more}`,
        });
      }
      // Pass 2: in batches.
      const bar = new Progress(`importing ${name}`, v.entries, !json);
      let applied = 0;
      let created = 0;
      let batch: FeedEntry[] = [];
      const apply = async (): Promise<void> => {
        if (batch.length === 0) return;
        const items = batch.map((e) => {
          const o: { target: string } & BlockOptions = { target: e.target, reason: e.note === '' ? reason : e.note };
          if (e.ttl !== undefined && flags.ttl === undefined && !flags.permanent) {
            if (e.ttl === 0) o.permanent = true;
            else o.ttl = e.ttl;
          }
          return o;
        });
        const r = await fw.blockMany(items, base);
        applied += r.applied;
        created += r.changed;
        batch = [];
        bar.update(applied);
      };
      for await (const e of readFeed(file, flags.format)) {
        batch.push(e);
        if (batch.length >= BATCH) await apply();
      }
      await apply();
      bar.stop();
      this.log(`imported ${num(applied)} ${applied === 1 ? 'entry' : 'entries'} of ${name} (${num(created)} new) from ${num(v.lines)} lines [${fw.transport}]`);
      return { transport: fw.transport, name, format: flags.format, lines: v.lines, entries: v.entries, created, applied };
    } finally {
      await cleanup?.();
    }
  }
}

/**
 * The plain feed @file packed (packPlainFile(): read in pieces while the
 * pieces before are parsed), when every line is good and no entry
 * touches the allowlist @allow (firstAllowlistOverlap(): inside an entry,
 * or covering one); else undefined, and the streaming check names the
 * lines.
 */
async function packedIfClean(file: string, allow: readonly string[]): Promise<PackedFeed | undefined> {
  let packed: PackedFeed;
  try {
    packed = await packPlainFile(file);
  } catch (err) {
    if (err instanceof FeedError) return undefined;
    throw err;
  }
  return firstAllowlistOverlap(packed, allow) < 0 ? packed : undefined;
}
