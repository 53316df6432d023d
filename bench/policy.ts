// SPDX-License-Identifier: MIT
//
// Policy service benchmark (issue 11, item 6), on the host:
//
//   node dist/bench/policy.js [--quick] [--bans N] [--seconds S] [--clients 1,4,16,64]
//                             [--rate 20000] [--paced-clients 16,64] [--out FILE]
//
// A daemon over FakeKernel and a temporary LMDB database holding --bans
// IPv4 host bans (default 100,000) serves the Postfix policy protocol on a
// unix socket and on loopback TCP.  A separate client process (so the
// server's core is its own: run the whole thing under `taskset -c 1`; the
// clients move themselves to another core when the machine has one) opens N
// connections (1, 4, 16, 64), each kept open and sending, one after another,
// full RCPT-state requests with every attribute Postfix 3.x sends; half the
// queried addresses are banned.  Each configuration runs --seconds (default
// 5; --quick: 1 s, 2,000 bans) after a warm-up, and reports requests/s and
// the client-side latency percentiles p50/p90/p99/p99.9, with the answers
// counted (REJECT vs DUNNO, so a broken judge shows).  Those closed-loop runs
// find the saturation throughput; the paced runs then offer --rate requests/s
// (default 20,000, the target) over 16 and 64 connections, each connection
// sending on a schedule with at most one request outstanding, for the latency
// at the target rate rather than at saturation.  The daemon's own
// listener of the 'policy' event (metrics) is attached as in production.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os, { cpus, loadavg, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Daemon } from '../src/daemon/daemon.js';
import { DaemonMetrics } from '../src/daemon/metrics.js';
import { BanStore, type BanInput } from '../src/lib/db/index.js';
import { FakeKernel } from '../src/lib/kernel-fake.js';

interface Args {
  quick: boolean;
  bans: number;
  seconds: number;
  clients: number[];
  /** Paced runs: requests/s offered (0: none) over each of pacedClients connections. */
  rate: number;
  pacedClients: number[];
  out: string | undefined;
  /** Internal: this process is the client side. */
  client: string | undefined;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { quick: false, bans: 100_000, seconds: 5, clients: [1, 4, 16, 64], rate: 20_000, pacedClients: [16, 64], out: undefined, client: undefined };
  let bansSet = false;
  let secondsSet = false;
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === '--quick') a.quick = true;
    else if (argv[i] === '--bans' && v !== undefined && /^\d+$/.test(v)) (a.bans = Number(v)), (bansSet = true), i++;
    else if (argv[i] === '--seconds' && v !== undefined && Number(v) > 0) (a.seconds = Number(v)), (secondsSet = true), i++;
    else if (argv[i] === '--clients' && v !== undefined && /^\d+(,\d+)*$/.test(v)) (a.clients = v.split(',').map(Number)), i++;
    else if (argv[i] === '--rate' && v !== undefined && /^\d+$/.test(v)) (a.rate = Number(v)), i++;
    else if (argv[i] === '--paced-clients' && v !== undefined && /^\d+(,\d+)*$/.test(v)) (a.pacedClients = v.split(',').map(Number)), i++;
    else if (argv[i] === '--out' && v !== undefined) (a.out = v), i++;
    else if (argv[i] === '--client' && v !== undefined) (a.client = v), i++;
    else throw new Error(`bench/policy: unknown argument '${argv[i]}'`);
  }
  if (a.quick) {
    if (!bansSet) a.bans = 2000;
    if (!secondsSet) a.seconds = 1;
  }
  return a;
}

/** The i-th banned address (10.0.0.0/8) and the i-th clean one (172.16.0.0/12); never routed: FakeKernel only. */
const bannedAddr = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const cleanAddr = (i: number): string => `172.${16 + ((i >> 16) & 15)}.${(i >> 8) & 255}.${i & 255}`;

/** A full RCPT-state request as Postfix 3.x sends it (every attribute, in Postfix's order). */
function request(address: string, n: number): Buffer {
  const attrs: [string, string][] = [
    ['request', 'smtpd_access_policy'],
    ['protocol_state', 'RCPT'],
    ['protocol_name', 'ESMTP'],
    ['client_address', address],
    ['client_name', 'unknown'],
    ['client_port', String(40000 + (n % 20000))],
    ['reverse_client_name', `host-${address.replace(/\./g, '-')}.example.net`],
    ['server_address', '192.0.2.25'],
    ['server_port', '25'],
    ['helo_name', `mail${n % 97}.example.org`],
    ['sender', `bounce-${n}@lists.example.org`],
    ['recipient', `user${n % 1000}@example.com`],
    ['recipient_count', '0'],
    ['queue_id', ''],
    ['instance', `${(n * 2654435761) >>> 0}.${n}`.slice(0, 22)],
    ['size', String(1000 + (n % 90000))],
    ['etrn_domain', ''],
    ['stress', ''],
    ['sasl_method', ''],
    ['sasl_username', ''],
    ['sasl_sender', ''],
    ['ccert_subject', ''],
    ['ccert_issuer', ''],
    ['ccert_fingerprint', ''],
    ['ccert_pubkey_fingerprint', ''],
    ['encryption_protocol', 'TLSv1.3'],
    ['encryption_cipher', 'TLS_AES_256_GCM_SHA384'],
    ['encryption_keysize', '256'],
    ['policy_context', ''],
    ['server_hostname', 'mx.example.com'],
    ['compatibility_level', '3.6'],
    ['mail_version', '3.7.11'],
  ];
  return Buffer.from(`${attrs.map(([k, v]) => `${k}=${v}`).join('\n')}\n\n`);
}

/** What the client process reports for one configuration. */
interface ClientReport {
  requests: number;
  seconds: number;
  reject: number;
  dunno: number;
  other: number;
  /** Latencies in microseconds, every request of the measured window. */
  latUs: number[];
  /** Requests completed in each 100 ms of the measured window. */
  perTick: number[];
}

interface ClientJob {
  where: string | { host: string; port: number };
  connections: number;
  seconds: number;
  warmup: number;
  /** The request mix is built by the client from these (the argument list must stay short). */
  bans: number;
  mix: number;
  /** 0: closed loop (the next request right after the answer); else requests/s offered over all connections, each connection paced. */
  rate: number;
}

/** The request mix: half banned, half clean, spread over the whole table. */
function requestMix(bans: number, mix: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < mix; i++) {
    const j = Math.floor(((i * 2654435761) >>> 0) % bans);
    out.push(request(i % 2 === 0 ? bannedAddr(j) : cleanAddr(j), i));
  }
  return out;
}

/** The client side: N connections, each closed-loop (send, await the answer, send the next). */
async function runClients(job: ClientJob): Promise<ClientReport> {
  const reqs = requestMix(job.bans, job.mix);
  const rep: ClientReport = { requests: 0, seconds: 0, reject: 0, dunno: 0, other: 0, latUs: [], perTick: [] };
  let measuring = false;
  let stopping = false;
  let tickCount = 0;
  const socks: net.Socket[] = [];
  const done: Promise<void>[] = [];
  for (let c = 0; c < job.connections; c++) {
    const s = typeof job.where === 'string' ? net.createConnection(job.where) : net.createConnection(job.where.port, job.where.host);
    s.setNoDelay(true);
    socks.push(s);
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('error', reject);
    });
    let next = c * 7919;
    let sentAt = 0n;
    let pending = '';
    const send = (): void => {
      sentAt = process.hrtime.bigint();
      s.write(reqs[next++ % reqs.length] as Buffer);
    };
    // Paced: this connection's next request is due every `interval` ms (one outstanding at most, as a Postfix smtpd process).
    const interval = job.rate > 0 ? (1000 * job.connections) / job.rate : 0;
    let due = performance.now() + (interval * c) / job.connections;
    const sendNext = (): void => {
      if (interval === 0) return send();
      due += interval;
      const wait = due - performance.now();
      if (wait <= 0.5) send();
      else setTimeout(send, wait);
    };
    done.push(
      new Promise<void>((resolve) => {
        s.on('data', (chunk: Buffer) => {
          pending += chunk.toString('latin1');
          let end: number;
          while ((end = pending.indexOf('\n\n')) >= 0) {
            const answer = pending.slice(0, end);
            pending = pending.slice(end + 2);
            if (measuring) {
              rep.latUs.push(Number(process.hrtime.bigint() - sentAt) / 1000);
              rep.requests++;
              tickCount++;
              if (answer.startsWith('action=REJECT')) rep.reject++;
              else if (answer === 'action=DUNNO') rep.dunno++;
              else rep.other++;
            }
            if (stopping) {
              s.end();
              resolve();
              return;
            }
            sendNext();
          }
        });
        s.on('close', () => resolve());
      }),
    );
    if (interval === 0) send();
    else setTimeout(send, Math.max(0, due - performance.now()));
  }
  await new Promise((r) => setTimeout(r, job.warmup * 1000));
  measuring = true;
  const t0 = process.hrtime.bigint();
  const ticker = setInterval(() => {
    rep.perTick.push(tickCount);
    tickCount = 0;
  }, 100);
  await new Promise((r) => setTimeout(r, job.seconds * 1000));
  measuring = false;
  clearInterval(ticker);
  rep.seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  stopping = true;
  await Promise.all(done);
  for (const s of socks) s.destroy();
  return rep;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

async function clientProcess(spec: string): Promise<void> {
  const job = JSON.parse(spec) as ClientJob;
  const rep = await runClients(job);
  process.stdout.write(JSON.stringify(rep));
}

/** Runs one configuration's clients in a child process, on another core when there is one. */
async function clientsInChild(job: ClientJob): Promise<ClientReport> {
  const self = fileURLToPath(import.meta.url);
  const otherCore = cpus().length > 1 ? '0' : undefined;
  const [cmd, argv] = otherCore !== undefined && process.platform === 'linux' ? ['taskset', ['-c', otherCore, process.execPath, self, '--client', JSON.stringify(job)]] : [process.execPath, [self, '--client', JSON.stringify(job)]];
  return new Promise((resolve, reject) => {
    const ch = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    ch.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    ch.on('error', reject);
    ch.on('close', (code) => {
      if (code !== 0) reject(new Error(`client process exited ${code}`));
      else resolve(JSON.parse(out) as ClientReport);
    });
  });
}

export interface PolicyRow {
  transport: 'unix' | 'tcp';
  clients: number;
  /** closed: each connection sends its next request as soon as the answer is in (saturation); paced: offered_rps spread over the connections. */
  mode: 'closed' | 'paced';
  offered_rps: number | null;
  requests: number;
  seconds: number;
  rps: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  /** The server process's CPU time (user + system, setup excluded) over the requests it answered, warm-up included. */
  server_cpu_us_per_request: number;
  /** What one core would serve at that cost: 1 s / server_cpu_us_per_request. */
  cpu_bound_rps: number;
  reject: number;
  dunno: number;
  other: number;
  /** Requests/s in each 100 ms of the window (raw samples). */
  rps_per_100ms: number[];
  /** Latency quantiles at 1%, 2%, ... 99%, 99.9% (ms), the raw distribution in brief. */
  latency_quantiles_ms: number[];
  load_average: number[];
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.client !== undefined) return clientProcess(args.client);

  const dir = mkdtempSync(path.join(os.tmpdir(), 'ffwall-bench-policy-'));
  const started = Date.now();
  try {
    const store = BanStore.open({ path: path.join(dir, 'db'), noSync: true });
    const inputs = function* (): Generator<BanInput> {
      for (let i = 0; i < args.bans; i++) yield { prefix: bannedAddr(i), source: 'cli', ttl: 30 * 86400, reason: 'bench' };
    };
    await store.bulkBan(inputs(), { history: false });
    const kernel = new FakeKernel({ maxEntries: Math.max(1024, args.bans * 2) });
    const sock = path.join(dir, 'policy.sock');
    const d = new Daemon({
      kernel,
      store,
      window: { filterBuilder: 'ts' },
      intervals: { sync: 0, sweep: 0, prune: 0, safety: 0 },
      policy: { listen: { type: 'unix', path: sock }, action: 'reject', text: 'Banned by ffwall', maxConnections: 1024 },
    });
    const metrics = new DaemonMetrics({ defaultMetrics: false });
    let served = 0;
    d.on('policy', (ev) => {
      served++;
      metrics.policyRequest(ev.result);
    });
    await d.start();
    // A second listener on loopback TCP, same judge (a reload would replace the first).
    const unixServer = d.policy;
    if (unixServer === undefined) throw new Error('no policy server');
    await d.reload({ policy: { listen: { type: 'inet', host: '127.0.0.1', port: 0 }, action: 'reject', text: 'Banned by ffwall', maxConnections: 1024 } });
    const tcp = d.policy?.address;
    if (tcp === undefined) throw new Error('no tcp address');
    const rows: PolicyRow[] = [];
    for (const transport of ['tcp', 'unix'] as const) {
      if (transport === 'unix') {
        await d.reload({ policy: { listen: { type: 'unix', path: sock }, action: 'reject', text: 'Banned by ffwall', maxConnections: 1024 } });
      }
      const where = transport === 'unix' ? sock : tcp;
      const configs = [...args.clients.map((n) => ({ n, rate: 0 })), ...(args.rate > 0 ? args.pacedClients.map((n) => ({ n, rate: args.rate })) : [])];
      for (const { n, rate } of configs) {
        const cpu0 = process.cpuUsage();
        const served0 = served;
        const rep = await clientsInChild({ where, connections: n, seconds: args.seconds, warmup: args.quick ? 0.3 : 1, bans: args.bans, mix: 4096, rate });
        const cpu = process.cpuUsage(cpu0);
        const cpuUs = (cpu.user + cpu.system) / Math.max(1, served - served0);
        const lat = Float64Array.from(rep.latUs).sort();
        const ms = (q: number): number => Number((quantile(lat, q) / 1000).toFixed(3));
        const row: PolicyRow = {
          transport,
          clients: n,
          mode: rate === 0 ? 'closed' : 'paced',
          offered_rps: rate === 0 ? null : rate,
          requests: rep.requests,
          seconds: Number(rep.seconds.toFixed(3)),
          rps: Math.round(rep.requests / rep.seconds),
          p50_ms: ms(0.5),
          p90_ms: ms(0.9),
          p99_ms: ms(0.99),
          p999_ms: ms(0.999),
          max_ms: Number(((lat[lat.length - 1] ?? NaN) / 1000).toFixed(3)),
          server_cpu_us_per_request: Number(cpuUs.toFixed(1)),
          cpu_bound_rps: Math.round(1e6 / cpuUs),
          reject: rep.reject,
          dunno: rep.dunno,
          other: rep.other,
          rps_per_100ms: rep.perTick.map((c) => c * 10),
          latency_quantiles_ms: [...Array.from({ length: 99 }, (_, k) => ms((k + 1) / 100)), ms(0.999)],
          load_average: loadavg().map((x) => Number(x.toFixed(2))),
        };
        rows.push(row);
        const { rps_per_100ms: _a, latency_quantiles_ms: _b, ...brief } = row;
        console.log(JSON.stringify(brief));
      }
    }
    await d.stop();
    await kernel.close();
    await store.close();
    const doc = {
      bench: 'policy',
      kernel: os.release(),
      machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, memoryBytes: totalmem(), node: process.version, emulation: 'none (host, FakeKernel)' },
      date: new Date(started).toISOString(),
      method:
        'Daemon over FakeKernel and a temporary LMDB database (noSync) holding the bans as IPv4 /32s; the policy service on a unix socket and on 127.0.0.1 TCP; ' +
        'a separate client process (on another core) keeps N connections open, each closed-loop, sending full Postfix RCPT-state requests (32 attributes, ~640 bytes), half for banned addresses; ' +
        'latency is measured by the client from write to the complete answer. Server pinned with taskset when run as documented; load average of the shared machine recorded per row.',
      bans: args.bans,
      seconds: args.seconds,
      quick: args.quick,
      targets: { rps: 20000, p99_ms: 2 },
      results: rows,
    };
    if (args.out !== undefined) writeFileSync(args.out, `${JSON.stringify(doc, null, 2)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
