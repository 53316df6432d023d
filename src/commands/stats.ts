// SPDX-License-Identifier: MIT
import { FfwallCommand } from '../cli/base.js';
import { bytes, keyValues, num, table } from '../cli/format.js';
import type { StatsResult } from '../lib/index.js';

export default class StatsCommand extends FfwallCommand {
  static override summary = 'Kernel counters (entries, capacity, memory, drops by reason, evictions, devices) and database records by state';
  static override examples = ['<%= config.bin %> stats', '<%= config.bin %> stats --json | jq .kernel.dropped'];

  async run(): Promise<StatsResult> {
    const { flags } = await this.parse(StatsCommand);
    const fw = await this.openFfwall(flags);
    const s = await fw.stats();
    const k = s.kernel;
    const pct = k.maxEntries > 0 ? ` (${((100 * k.entries) / k.maxEntries).toFixed(1)}%)` : '';
    this.log(`ffwall.ko ${s.moduleVersion} (ABI ${s.abiVersion}), mode ${s.config.mode} [${s.transport}]`);
    this.log('');
    this.log(
      keyValues([
        ['entries', `${num(k.entries)} of ${num(k.maxEntries)}${pct}, ${num(k.pinned)} pinned`],
        ['prefixes', num(k.prefixes)],
        ['allowlist', num(k.allowEntries)],
        ['memory', `${bytes(k.memory.total)} (exact ${bytes(k.memory.exact)}, prefixes ${bytes(k.memory.prefix)}, allowlist ${bytes(k.memory.allow)}, filter ${bytes(k.memory.filter)})`],
        ['packets seen', num(k.packetsSeen)],
        ['dropped', `${num(k.dropped.total)} (exact ${num(k.dropped.exact)}, ports ${num(k.dropped.ports)}, prefix ${num(k.dropped.prefix)})`],
        ['passed (allow)', num(k.passedAllow)],
        ['monitor hits', num(k.monitorHits)],
        ['inserted', num(k.inserted)],
        ['deleted', num(k.deleted)],
        ['evicted', num(k.evicted)],
        ['expired', num(k.expired)],
        ['events lost', num(k.eventsLost)],
      ]),
    );
    this.log('');
    this.log(s.devices.length === 0 ? 'devices: none attached (ffwall attach <dev>)' : deviceTable(s.devices));
    this.log('');
    const d = s.database;
    this.log(d === null ? 'database: none' : `database: ${num(d.total)} records: ${num(d.kernel)} in the kernel, ${num(d.cold)} cold, ${num(d.expired)} expired`);
    return s;
  }
}

export function deviceTable(devices: StatsResult['devices']): string {
  return table(
    ['DEVICE', 'IFINDEX', 'ATTACHED', 'HOOKED'],
    devices.map((d) => [d.name, d.ifindex === 0 ? '-' : String(d.ifindex), d.named ? 'yes' : 'no (via *)', d.hooked ? 'yes' : 'no (no such device)']),
  );
}
