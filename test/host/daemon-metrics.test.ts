// SPDX-License-Identifier: MIT
//
// The metrics endpoint: scraped over HTTP on loopback, names and values from
// the fake kernel and from what the daemon counts; closed label sets; the
// loopback rule; stop closes the port.
import http from 'node:http';

import test from 'ava';

import { parseAddress, parsePrefix } from '../../src/lib/addr.js';
import { FakeKernel } from '../../src/lib/kernel-fake.js';
import { DaemonMetrics, MetricsServer } from '../../src/daemon/metrics.js';

function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The value of one sample line: name{labels} value. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

test('a scrape over HTTP shows the kernel, the database and the daemon counters', async (t) => {
  const kernel = new FakeKernel({ maxEntries: 1000 });
  t.teardown(() => kernel.close());
  await kernel.attach('*');
  await kernel.add([{ prefix: parseAddress('192.0.2.7') }, { prefix: parseAddress('192.0.2.8'), ports: [25], pinned: true }, { prefix: parsePrefix('198.51.100.0/24') }]);
  for (let i = 0; i < 3; i++) kernel.packet({ src: parseAddress('192.0.2.7'), proto: 'tcp', dport: 80 });
  kernel.packet({ src: parseAddress('192.0.2.8'), proto: 'tcp', dport: 25 });
  kernel.packet({ src: parseAddress('198.51.100.9'), proto: 'udp', dport: 53 });

  const m = new DaemonMetrics();
  m.setSources({
    kernel: async () => ({ stats: await kernel.stats(), config: await kernel.getConfig() }),
    database: () => ({ kernel: 3, cold: 5, expired: 40 }),
  });
  m.event('evicted', 0.0002);
  m.event('miss', 0.003);
  m.event('miss', 0.004);
  m.event('overflow', 0.5, 7);
  m.ban('policy', 2);
  m.ban('cli');
  m.unban('cli');
  m.controlRequest('block', 'ok');
  m.controlRequest('block', 'ok');
  m.controlRequest('check', 'EPROTO');
  m.controlRequest('drop-tables', 'EWHATEVER');

  const server = new MetricsServer(m, { host: '127.0.0.1', port: 0 });
  const addr = await server.start();
  t.teardown(() => server.stop());
  t.is(addr.host, '127.0.0.1');
  t.true(addr.port > 0);

  const r = await get(addr.port, '/metrics');
  t.is(r.status, 200);
  t.regex(r.type, /^text\/plain; version=0\.0\.4/);
  const x = r.body;
  t.is(sample(x, 'ffwall_kernel_entries'), 3);
  t.is(sample(x, 'ffwall_kernel_capacity'), 1000);
  t.is(sample(x, 'ffwall_kernel_pinned_entries'), 1);
  {
    const st = await kernel.stats();
    t.is(sample(x, 'ffwall_kernel_bytes'), st.bytes);
    t.is(sample(x, 'ffwall_kernel_memory_bytes{table="exact"}'), st.bytes);
    t.is(sample(x, 'ffwall_kernel_memory_bytes{table="prefix"}'), st.prefixBytes);
    t.is(sample(x, 'ffwall_kernel_memory_bytes{table="allow"}'), st.allowBytes);
    t.is(sample(x, 'ffwall_kernel_memory_bytes{table="filter"}'), 0, 'no filter loaded');
    t.true(st.prefixBytes > 0);
  }
  t.is(sample(x, 'ffwall_kernel_drops_total{reason="exact"}'), 3);
  t.is(sample(x, 'ffwall_kernel_drops_total{reason="ports"}'), 1);
  t.is(sample(x, 'ffwall_kernel_drops_total{reason="prefix"}'), 1);
  t.is(sample(x, 'ffwall_kernel_evictions_total'), 0);
  t.not(sample(x, 'ffwall_kernel_filter_probes_total'), undefined);
  t.not(sample(x, 'ffwall_kernel_filter_hits_total'), undefined);
  t.is(sample(x, 'ffwall_db_records{state="kernel"}'), 3);
  t.is(sample(x, 'ffwall_db_records{state="cold"}'), 5);
  t.is(sample(x, 'ffwall_db_records{state="expired"}'), 40);
  t.is(sample(x, 'ffwall_events_total{type="miss"}'), 2);
  t.is(sample(x, 'ffwall_events_total{type="evicted"}'), 1);
  t.is(sample(x, 'ffwall_events_total{type="expired"}'), 0, 'every type is present from the start');
  t.is(sample(x, 'ffwall_event_overflows_total'), 1);
  t.is(sample(x, 'ffwall_events_lost_total'), 7, "the daemon's own losses: the OVERFLOW's count");
  t.is(sample(x, 'ffwall_kernel_events_lost_total'), 0, 'STATS events_lost is mirrored apart');
  t.is(sample(x, 'ffwall_bans_total{source="policy"}'), 2);
  t.is(sample(x, 'ffwall_bans_total{source="feed"}'), 0);
  t.is(sample(x, 'ffwall_unbans_total{source="cli"}'), 1);
  t.is(sample(x, 'ffwall_control_requests_total{op="block",result="ok"}'), 2);
  t.is(sample(x, 'ffwall_control_requests_total{op="check",result="EPROTO"}'), 1);
  t.is(sample(x, 'ffwall_control_requests_total{op="invalid",result="error"}'), 1, 'unknown labels fold into a closed set');
  t.false(x.includes('drop-tables'));
  t.is(sample(x, 'ffwall_event_handling_seconds_count{type="miss"}'), 2);
  t.is(sample(x, 'ffwall_event_handling_seconds_bucket{le="0.005",type="miss"}'), 2);
  t.is(sample(x, 'ffwall_event_handling_seconds_bucket{le="0.001",type="miss"}'), 0);
  t.regex(x, /^process_resident_memory_bytes \d+/m);

  // The kernel totals are mirrored, not added up, on a second scrape.
  kernel.packet({ src: parseAddress('192.0.2.7'), proto: 'tcp', dport: 80 });
  const again = (await get(addr.port, '/metrics')).body;
  t.is(sample(again, 'ffwall_kernel_drops_total{reason="exact"}'), 4);
  t.is(sample(again, 'ffwall_events_total{type="miss"}'), 2);
});

test('other paths are 404, other methods 405, HEAD has no body', async (t) => {
  const server = new MetricsServer(new DaemonMetrics({ defaultMetrics: false }), { host: '127.0.0.1', port: 0 });
  const { port } = await server.start();
  t.teardown(() => server.stop());
  t.is((await get(port, '/')).status, 404);
  t.is((await get(port, '/metrics', 'POST')).status, 405);
  const head = await get(port, '/metrics', 'HEAD');
  t.is(head.status, 200);
  t.is(head.body, '');
});

test('a failing kernel source is counted, the scrape still answers', async (t) => {
  const m = new DaemonMetrics({ defaultMetrics: false });
  m.setSources({
    kernel: async () => {
      throw new Error('ENODEV');
    },
  });
  const text = await m.scrape();
  t.is(sample(text, 'ffwall_kernel_scrape_errors_total'), 1);
});

test('a non-loopback address is refused unless allowed; stop frees the port', async (t) => {
  await t.throwsAsync(() => new MetricsServer(new DaemonMetrics({ defaultMetrics: false }), { host: '0.0.0.0', port: 0 }).start(), {
    message: /0\.0\.0\.0 is not a loopback address; set metrics\.allowRemote: true/,
  });
  const server = new MetricsServer(new DaemonMetrics({ defaultMetrics: false }), { host: '127.0.0.1', port: 0 });
  const { port } = await server.start();
  await server.stop();
  await t.throwsAsync(() => get(port, '/metrics'), { code: 'ECONNREFUSED' });
  const again = new MetricsServer(new DaemonMetrics({ defaultMetrics: false }), { host: '127.0.0.1', port });
  await again.start();
  await again.stop();
});
