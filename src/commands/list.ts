// SPDX-License-Identifier: MIT
import { Flags } from '@oclif/core';

import { FfwallCommand } from '../cli/base.js';
import { chunkOptions, date, expiry, num, portList, Progress, table, writeOut } from '../cli/format.js';
import { BAN_SOURCES } from '../lib/db/types.js';
import type { BanInfo, BanRecordInfo, BanSource, Ffwall, ListRequest } from '../lib/index.js';

/** Rows of a human table gathered before they are printed (columns are aligned per page). */
const PAGE = 1000;

export default class ListCommand extends FfwallCommand {
  static override summary = 'List the bans of the database, streamed (a million records in seconds, flat memory)';
  static override description =
    'With --json the output is NDJSON: one BanRecordInfo object per line (docs/cli-json/README.md), nothing else, so it pipes into jq -c or a file of any size. The human table is aligned per page of 1000 rows.';
  static override examples = [
    '<%= config.bin %> list',
    '<%= config.bin %> list --state kernel --state cold --port 25 --limit 50',
    '<%= config.bin %> list --source feed --tag spamhaus-drop --json | wc -l',
    '<%= config.bin %> list --reason "unknown users"',
    '<%= config.bin %> list --kernel --limit 20',
  ];
  static override flags = {
    state: Flags.option({ options: ['kernel', 'cold', 'expired', 'active'] as const, multiple: true, summary: 'Only these states (active = kernel and cold).' })(),
    source: Flags.option({ options: BAN_SOURCES, summary: 'Only bans of this source.' })(),
    tag: Flags.string({ summary: "Only bans of this source tag (a feed's name, a jail)." }),
    port: Flags.integer({ summary: 'Only bans that block this port.', min: 1, max: 65535 }),
    reason: Flags.string({ summary: 'Only bans whose reason contains this text.' }),
    limit: Flags.integer({ summary: 'At most this many.', min: 1 }),
    threads: Flags.integer({ summary: 'With --json: threads that read the database (default one per core, up to 4, from 200,000 bans). The output is the same.', min: 1, max: 64 }),
    kernel: Flags.boolean({
      summary: 'The kernel table itself, what the module holds now (exact entries, then prefixes), not the database.',
      exclusive: ['state', 'source', 'tag', 'port', 'reason'],
    }),
  };

  async run(): Promise<{ transport: string; count: number } | undefined> {
    const { flags } = await this.parse(ListCommand);
    if (flags.kernel) return this.#kernel(await this.openFfwall(flags), flags.limit);
    const filter: ListRequest = {};
    if (flags.state !== undefined) filter.state = [...new Set(flags.state.flatMap((s) => (s === 'active' ? (['kernel', 'cold'] as const) : [s])))];
    if (flags.source !== undefined) filter.source = flags.source as BanSource;
    if (flags.tag !== undefined) filter.tag = flags.tag;
    if (flags.port !== undefined) filter.port = flags.port;
    if (flags.reason !== undefined) filter.reason = flags.reason;
    if (flags.limit !== undefined) filter.limit = flags.limit;
    // The database alone: with no daemon, the module need not be loaded.
    const fw = await this.openFfwall(flags, true);
    const json = this.jsonEnabled();
    let count = 0;
    if (json) {
      // Serialized where the database is (the daemon, or here), written chunk by chunk with back-pressure.
      // reuse: each chunk is written (and drained) before the next is asked for.
      for await (const chunk of fw.listNdjson(filter, chunkOptions(flags.threads))) await writeOut(process.stdout, chunk);
      return undefined;
    }
    const total = filter.limit ?? (await fw.databaseCounts())?.total ?? 0;
    const bar = new Progress('listing', total, total >= 100_000 && process.stdout.isTTY !== true);
    let page: BanRecordInfo[] = [];
    const flush = async (): Promise<void> => {
      if (page.length === 0) return;
      await writeOut(process.stdout, `${rows(page)}\n`);
      page = [];
    };
    for await (const r of fw.list(filter)) {
      page.push(r);
      count++;
      if (page.length >= PAGE) {
        await flush();
        bar.update(count);
      }
    }
    await flush();
    bar.stop();
    this.log(`${num(count)} ${count === 1 ? 'ban' : 'bans'} [${fw.transport}]`);
    return { transport: fw.transport, count };
  }

  /** `list --kernel`: the module's table, streamed (NDJSON with --json), in pages of PAGE rows. */
  async #kernel(fw: Ffwall, limit: number | undefined): Promise<{ transport: string; count: number } | undefined> {
    const opts = limit === undefined ? {} : { limit };
    if (this.jsonEnabled()) {
      for await (const chunk of fw.kernelNdjson(opts)) await writeOut(process.stdout, chunk);
      return undefined;
    }
    let count = 0;
    let page: BanInfo[] = [];
    for await (const e of fw.kernelList(opts)) {
      page.push(e);
      count++;
      if (page.length >= PAGE) {
        await writeOut(process.stdout, `${kernelRows(page)}\n`);
        page = [];
      }
    }
    if (page.length > 0) await writeOut(process.stdout, `${kernelRows(page)}\n`);
    this.log(`${num(count)} kernel ${count === 1 ? 'entry' : 'entries'} [${fw.transport}]`);
    return { transport: fw.transport, count };
  }
}

/** The table of one page of kernel entries (`list --kernel`). */
export function kernelRows(entries: readonly BanInfo[]): string {
  return table(
    ['TARGET', 'KIND', 'PORTS', 'EXPIRES', 'HITS', 'LAST HIT', 'FLAGS'],
    entries.map((e) => [
      e.target,
      e.kind,
      portList(e.ports),
      expiry(e.expiresAt),
      num(e.hits),
      e.lastHitAt === null ? 'never' : date(e.lastHitAt),
      [e.pinned ? 'pinned' : '', e.monitor ? 'monitor' : ''].filter((f) => f !== '').join(','),
    ]),
    [4],
  );
}

/** The table of one page of records. */
export function rows(records: readonly BanRecordInfo[]): string {
  return table(
    ['TARGET', 'STATE', 'PORTS', 'EXPIRES', 'HITS', 'SOURCE', 'REASON'],
    records.map((r) => [
      r.target,
      r.state,
      portList(r.ports),
      r.state === 'expired' ? 'expired' : expiry(r.expiresAt),
      num(r.hitCount),
      r.sourceTag === '' ? r.source : `${r.source}/${r.sourceTag}`,
      r.reason,
    ]),
    [4],
  );
}
