// SPDX-License-Identifier: MIT
import { createWriteStream } from 'node:fs';
import type { Writable } from 'node:stream';

import { Flags } from '@oclif/core';

import { FfwallCommand } from '../cli/base.js';
import { chunkOptions, Progress, writeOut } from '../cli/format.js';
import { BAN_SOURCES } from '../lib/db/types.js';
import { EXPORT_FORMATS, writeExport, type BanRecordInfo, type BanSource, type ExportOptions, type Ffwall, type ListRequest } from '../lib/index.js';

export default class ExportCommand extends FfwallCommand {
  static override summary = 'Export the active bans as a feed: plain, Spamhaus DROP, ipset restore input, or an rbldnsd zone';
  static override description =
    'Streamed with flat memory. rbldnsd: a combined dataset (an ip4set for IPv4, an ip6trie for IPv6), served with `rbldnsd -b 127.0.0.1/5353 bl.example.org:combined:FILE`. With --json the output is NDJSON, one BanRecordInfo per line, whatever the format.';
  static override examples = [
    '<%= config.bin %> export > bans.txt',
    '<%= config.bin %> export --format drop --source feed --tag spamhaus-drop',
    '<%= config.bin %> export --format ipset --name ffwall | ipset restore',
    '<%= config.bin %> export --format rbldnsd --output /var/lib/rbldns/ffwall.zone',
  ];
  static override flags = {
    format: Flags.option({ options: EXPORT_FORMATS, default: 'plain' as const, summary: 'The output format.' })(),
    output: Flags.string({ char: 'o', summary: 'Write to this file instead of standard output.' }),
    name: Flags.string({ summary: "ipset: the set name (-v4 and -v6 are added); rbldnsd: the dataset name. Default 'ffwall'." }),
    source: Flags.option({ options: BAN_SOURCES, summary: 'Only bans of this source.' })(),
    tag: Flags.string({ summary: 'Only bans of this source tag (a feed name).' }),
    answer: Flags.string({ summary: 'rbldnsd: the A record of a listed address (default 127.0.0.2).' }),
    text: Flags.string({ summary: 'rbldnsd: the TXT answer; $ is the address (default "Listed by ffwall: $").' }),
    threads: Flags.integer({ summary: 'The plain format and --json: threads that read the database (default one per core, up to 4, from 200,000 bans). The output is the same.', min: 1, max: 64 }),
  };

  async run(): Promise<{ transport: string; format: string; count: number } | undefined> {
    const { flags } = await this.parse(ExportCommand);
    const filter: ListRequest = { state: ['kernel', 'cold'] };
    if (flags.source !== undefined) filter.source = flags.source as BanSource;
    if (flags.tag !== undefined) filter.tag = flags.tag;
    const opts: ExportOptions = {};
    if (flags.name !== undefined) opts.name = flags.name;
    if (flags.answer !== undefined) opts.answer = flags.answer;
    if (flags.text !== undefined) opts.text = flags.text;
    // The database alone: with no daemon, the module need not be loaded.
    const fw = await this.openFfwall(flags, true);
    const out: Writable = flags.output === undefined ? process.stdout : createWriteStream(flags.output, { mode: 0o644 });
    let count = 0;
    try {
      if (this.jsonEnabled()) {
        for await (const chunk of fw.listNdjson(filter, chunkOptions(flags.threads))) await writeOut(out, chunk);
      } else {
        // A bar on a terminal when the export goes to a file (rbldnsd reads the table twice).
        const passes = flags.format === 'rbldnsd' ? 2 : 1;
        const counts = flags.output === undefined ? null : await fw.databaseCounts();
        const total = passes * ((counts?.kernel ?? 0) + (counts?.cold ?? 0));
        const bar = new Progress('exporting', total, flags.output !== undefined && total >= 10_000);
        let seen = 0;
        if (flags.format === 'plain' && flags.name === undefined) {
          // The plain format is the targets alone: written from the stored keys, in chunks (Ffwall.listTargets).
          await writeOut(out, `# ffwall export, ${new Date().toISOString()}\n`);
          for await (const chunk of fw.listTargets(filter, chunkOptions(flags.threads))) {
            count += lineCount(chunk);
            bar.update(count);
            await writeOut(out, chunk);
          }
        } else count = await writeExport(flags.format, () => counted(fw, filter, () => bar.update(++seen)), (c) => writeOut(out, c), opts);
        bar.stop();
      }
    } finally {
      if (out !== process.stdout) await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    }
    if (this.jsonEnabled()) return undefined;
    if (flags.output !== undefined) this.log(`exported ${count} ${count === 1 ? 'ban' : 'bans'} to ${flags.output} (${flags.format}) [${fw.transport}]`);
    return { transport: fw.transport, format: flags.format, count };
  }
}

/** The lines (newlines) of a chunk. */
function lineCount(chunk: Uint8Array): number {
  const b = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  let n = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  return n;
}

async function* counted(fw: Ffwall, filter: ListRequest, tick: () => void): AsyncGenerator<BanRecordInfo> {
  for await (const r of fw.list(filter)) {
    tick();
    yield r;
  }
}
