// SPDX-License-Identifier: MIT
//
// The direct transport: normalized requests applied to a Kernel (the module
// through the addon, or the fake).  It turns the kernel's CLOCK_BOOTTIME
// seconds into wall-clock ISO times, and the kernel's bare errnos into
// messages an operator can act on.
import { IpPrefix, parseAddress, parsePrefix } from './addr.js';
import type {
  AllowResult,
  BanInfo,
  BatchProgress,
  BatchSummary,
  BlockRequest,
  BlockResult,
  CheckResult,
  FfwallEvent,
  StatusResult,
  Transport,
  UnblockResult,
} from './api.js';
import { FfwallError } from './errors.js';
import { isKernelError, type Kernel, type KernelEntry, type KernelEvent, type KernelRule } from './kernel.js';

/** Opens /dev/ffwall; a missing module or a missing privilege becomes an FfwallError that says what to do. */
export async function openDirectKernel(device: string, socket: string): Promise<Kernel> {
  // Loaded lazily: a client-only embedder never loads the native addon.
  const { NativeKernel } = await import('./kernel-native.js');
  try {
    return await NativeKernel.open(device);
  } catch (err) {
    if (isKernelError(err) && err.code === 'ENOENT') {
      throw new FfwallError(
        'ENOMODULE',
        `ffwall: ${device} does not exist: the ffwall module is not loaded (load it with \`modprobe ffwall\`, or \`ffwall module load\` from a source checkout)`,
        { cause: err },
      );
    }
    if (isKernelError(err) && (err.code === 'EPERM' || err.code === 'EACCES')) {
      const who = typeof process.getuid === 'function' ? `uid ${process.getuid()}` : 'this process';
      throw new FfwallError(
        'ENOTPRIVILEGED',
        `ffwall: ${device} needs CAP_NET_ADMIN, which ${who} lacks (${err.code}). ` +
          `Unprivileged programs such as mail servers go through the daemon instead: run \`ffwall daemon\` ` +
          `and add this user to the group that owns its control socket ${socket}, then open with { transport: 'client' }.`,
        { cause: err },
      );
    }
    throw err;
  }
}

/**
 * Wall clock minus the kernel's CLOCK_BOOTTIME, in whole seconds (the
 * kernel keeps whole seconds), so that two calls date one entry alike.
 */
function offsetFrom(kernelNow: number): number {
  return Math.round(Date.now() / 1000 - kernelNow) * 1000;
}

function iso(bootSeconds: number, offsetMs: number): string | null {
  return bootSeconds === 0 ? null : new Date(bootSeconds * 1000 + offsetMs).toISOString();
}

function banInfo(e: KernelEntry, offsetMs: number): BanInfo {
  return {
    target: e.prefix.toString(),
    kind: e.kind === 'exact' ? 'exact' : 'prefix',
    ports: [...e.ports],
    pinned: e.pinned,
    monitor: e.monitor,
    expiresAt: iso(e.expires, offsetMs),
    hits: e.hits,
    lastHitAt: iso(e.lastHit, offsetMs),
  };
}

export class DirectTransport implements Transport {
  readonly name = 'direct' as const;
  readonly #kernel: Kernel;

  /** Takes an open kernel; closing the transport closes it. */
  constructor(kernel: Kernel) {
    this.#kernel = kernel;
  }

  /** Wall clock minus the kernel's clock, in ms: adds to a CLOCK_BOOTTIME time to date it. */
  async #offsetMs(): Promise<number> {
    const s = await this.#kernel.stats();
    return offsetFrom(s.now);
  }

  #rule(r: BlockRequest): KernelRule {
    return { prefix: parsePrefix(r.target), ports: r.ports, ttl: r.permanent ? 0 : r.ttl, pinned: r.pin, monitor: r.monitor };
  }

  async #allowlisted(err: unknown, targets: readonly string[]): Promise<never> {
    if (isKernelError(err) && err.code === 'EEXIST') {
      const target = targets[err.badIndex ?? 0] ?? targets[0] ?? '?';
      const p = parsePrefix(target);
      const probe = new IpPrefix(p.bytes, 128);
      const res = await this.#kernel.lookup(probe).catch(() => undefined);
      const by = res?.match === 'allow' && res.entry !== undefined ? res.entry.prefix.toString() : undefined;
      const where = err.badIndex !== undefined && targets.length > 1 ? ` (item ${err.badIndex})` : '';
      throw Object.assign(
        new FfwallError(
          'EALLOWLISTED',
          `ffwall: ${target}${where} is on the allowlist${by === undefined || by === target ? '' : ` (by ${by})`}; ` +
            `remove it from the allowlist first (ffwall allow remove ${by ?? target}); nothing was blocked`,
          { cause: err },
        ),
        { applied: err.applied ?? 0, ...(err.badIndex === undefined ? {} : { badIndex: err.badIndex }) },
      );
    }
    throw err;
  }

  async block(r: BlockRequest): Promise<BlockResult> {
    let res;
    try {
      res = await this.#kernel.add([this.#rule(r)]);
    } catch (err) {
      return this.#allowlisted(err, [r.target]);
    }
    return {
      target: r.target,
      created: res.changed === 1,
      ports: r.ports,
      expiresAt: r.permanent ? null : new Date((Math.round(Date.now() / 1000) + r.ttl) * 1000).toISOString(),
      pinned: r.pin,
      monitor: r.monitor,
    };
  }

  async blockMany(requests: BlockRequest[], onProgress?: (p: BatchProgress) => void): Promise<BatchSummary> {
    const rules = requests.map((r) => this.#rule(r));
    try {
      const res = await this.#kernel.add(rules, onProgress === undefined ? {} : { onProgress: (done, total) => onProgress({ done, total }) });
      return { total: requests.length, applied: res.applied, changed: res.changed };
    } catch (err) {
      return this.#allowlisted(
        err,
        requests.map((r) => r.target),
      );
    }
  }

  async unblock(target: string): Promise<UnblockResult> {
    const res = await this.#kernel.del([parsePrefix(target)]);
    return { target, removed: res.changed === 1 };
  }

  async unblockMany(targets: string[], onProgress?: (p: BatchProgress) => void): Promise<BatchSummary> {
    const res = await this.#kernel.del(
      targets.map((t) => parsePrefix(t)),
      onProgress === undefined ? {} : { onProgress: (done, total) => onProgress({ done, total }) },
    );
    return { total: targets.length, applied: res.applied, changed: res.changed };
  }

  async check(address: string, port: number | null): Promise<CheckResult> {
    const res = await this.#kernel.lookup(parseAddress(address), port ?? undefined);
    const offsetMs = offsetFrom(res.now);
    return {
      address,
      port,
      blocked: res.verdict === 'drop' || res.verdict === 'ports',
      verdict: res.verdict,
      match: res.match,
      rule: res.entry === undefined ? null : banInfo(res.entry, offsetMs),
    };
  }

  async allow(targets: string[], _reason: string): Promise<AllowResult[]> {
    // The kernel keeps no reason; the database (issue 7) will.
    const out: AllowResult[] = [];
    for (const target of targets) {
      const res = await this.#kernel.allowAdd([parsePrefix(target)]);
      out.push({ target, changed: res.changed === 1 });
    }
    return out;
  }

  async disallow(targets: string[]): Promise<AllowResult[]> {
    const out: AllowResult[] = [];
    for (const target of targets) {
      const res = await this.#kernel.allowDel([parsePrefix(target)]);
      out.push({ target, changed: res.changed === 1 });
    }
    return out;
  }

  async status(): Promise<StatusResult> {
    const [v, c, s] = await Promise.all([this.#kernel.version(), this.#kernel.getConfig(), this.#kernel.stats()]);
    return {
      transport: 'direct',
      moduleVersion: v.moduleVersion,
      abiVersion: v.abiVersion,
      mode: c.mode,
      entries: s.entries,
      maxEntries: c.maxEntries,
      prefixes: s.prefixes,
      allowEntries: s.allowEntries,
      dropped: s.droppedExact + s.droppedPorts + s.droppedPrefix,
    };
  }

  async subscribe(listener: (event: FfwallEvent) => void, onError: (err: Error) => void): Promise<() => void> {
    const offsetMs = await this.#offsetMs();
    const stream = this.#kernel.events();
    const convert = (e: KernelEvent): FfwallEvent => ({
      type: e.type,
      target: e.prefix === undefined ? null : e.prefix.toString(),
      value: e.value,
      at: new Date(e.time * 1000 + offsetMs).toISOString(),
    });
    void (async () => {
      try {
        for await (const e of stream) listener(convert(e));
      } catch (err) {
        if (!stream.closed) onError(err instanceof Error ? err : new Error(String(err)));
      }
    })();
    return () => stream.close();
  }

  async close(): Promise<void> {
    await this.#kernel.close();
  }
}
