// SPDX-License-Identifier: MIT
//
// The traffic, the live view and the summary of `npm run demo` (run in the
// guest by scripts/demo-mail.sh, once the module, the peers, Postfix and
// the daemon are up).  Every peer is a network namespace with its own
// address; each one runs real SMTP sessions with swaks against the guest's
// Postfix:
//   - the good peers send a mail to a known user every few seconds;
//   - the bots send spam to unknown users, one session after the other.
// Every 5 s a line shows the bans in the kernel, the packets ffwall dropped
// and what the peers saw; the bots dropped most since the last line are
// named (the kernel's hit counters, as `ffwall top` samples them).  The
// summary at the end counts, per peer, the mails delivered, the RCPTs
// refused by Postfix, the sessions refused by ffwall's policy service and
// the connections that never got an answer (dropped by the kernel).
//
//   node scripts/demo-mail.mjs --good 3 --bots 7 --seconds 60 --socket PATH
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { HitSampler } from '../dist/src/commands/top.js';
import { openFfwall } from '../dist/src/lib/index.js';

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : dflt;
}

const GOOD = Number(arg('good', '3'));
const BOTS = Number(arg('bots', '7'));
const SECONDS = Number(arg('seconds', '60'));
const SOCKET = arg('socket', '/run/ffwall/ffwall.sock');
const SERVER = arg('server', '10.88.0.1');
const DOMAIN = arg('domain', 'mail.example.test');
const MBOX = arg('mbox', '/tmp/ffwall-mail/mbox');
const USERS = arg('users', 'alice bob').split(' ');
const PREFIX = arg('ns-prefix', 'ffwp');
/**
 * swaks waits this long for an answer: a bot's connection dropped by the kernel takes this long
 * to fail (its exit status 2 then says the SYN was never answered).  The good peers wait longer:
 * under emulation a busy Postfix can be slow, and slow is not refused.
 */
const BOT_TIMEOUT_S = 4;
const GOOD_TIMEOUT_S = 60;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const peerAddr = (i) => `10.88.0.${10 + i}`;

const peers = [];
for (let i = 1; i <= GOOD + BOTS; i++) {
  peers.push({
    i,
    ns: `${PREFIX}${i}`,
    addr: peerAddr(i),
    role: i <= GOOD ? 'good' : 'bot',
    sessions: 0,
    delivered: 0,
    unknownUser: 0,
    policy: 0,
    dropped: 0,
    other: 0,
    bannedAt: null,
    packets: 0,
  });
}

/** One swaks session from @p; resolves to what happened. */
function session(p, n) {
  const to = p.role === 'good' ? `${USERS[n % USERS.length]}@${DOMAIN}` : `${['info', 'sales', 'admin', 'office', 'jobs', 'hr', 'contact'][n % 7]}${n}@${DOMAIN}`;
  const args = ['netns', 'exec', p.ns, 'swaks', '--server', SERVER, '--to', to, '--from', p.role === 'good' ? `news@peer${p.i}.example` : `win@lottery${p.i}.example`, '--helo', `peer${p.i}.example`, '--timeout', `${p.role === 'good' ? GOOD_TIMEOUT_S : BOT_TIMEOUT_S}s`];
  if (p.role === 'bot') args.push('--quit-after', 'RCPT');
  else args.push('--header', `Subject: hello ${n} from peer ${p.i}`, '--body', 'A well-behaved message.');
  return new Promise((resolve) => {
    const c = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.stderr.on('data', (d) => (out += d));
    c.on('close', (code) => {
      // The server's first refusal line ("<** 550 ..."), if any.
      const refusal = /^<\*\* +(\d{3}.*)$/m.exec(out)?.[1] ?? '';
      if (code === 0) resolve('delivered');
      else if (/User unknown/.test(refusal)) resolve('unknownUser');
      else if (/^[45]\d\d/.test(refusal)) resolve('policy');
      else if (code === 2 || (code === 21 && !/^<-/m.test(out))) resolve('dropped');
      else resolve('other');
    });
  });
}

let stopping = false;

async function runPeer(p) {
  // Start staggered, so that the sessions interleave.
  await sleep(p.i * 300);
  for (let n = 0; !stopping; n++) {
    const r = await session(p, n);
    if (stopping && r === 'dropped') break; // cut off by the end, not by ffwall
    p.sessions++;
    p[r]++;
    await sleep(p.role === 'good' ? 2500 : 700);
  }
}

function mailboxCount() {
  let n = 0;
  for (const u of USERS) {
    const f = path.join(MBOX, u);
    if (existsSync(f)) n += (readFileSync(f, 'utf8').match(/^From /gm) ?? []).length;
  }
  return n;
}

const t0 = Date.now();
const secs = () => Math.round((Date.now() - t0) / 1000);
const fw = await openFfwall({ transport: 'client', socket: SOCKET });
const sampler = new HitSampler(fw);
await sampler.start();
const byAddr = new Map(peers.map((p) => [p.addr, p]));
const stats0 = await fw.stats();

console.log(`demo: ${GOOD} good peers (${peerAddr(1)}..${peerAddr(GOOD)}) send mail to ${USERS.join(', ')}; ${BOTS} bots (${peerAddr(GOOD + 1)}..${peerAddr(GOOD + BOTS)}) spam unknown users; ${SECONDS} s`);
const workers = peers.map((p) => runPeer(p));

async function live() {
  // A peer is banned once the kernel holds its ban (checked on port 25: the bans are the SMTP ports').
  for (const p of peers) {
    if (p.bannedAt !== null) continue;
    const c = await fw.check(p.addr, { port: 25 });
    if (!c.inKernel) continue;
    p.bannedAt = secs();
    const r = c.rule;
    console.log(`demo: ${String(p.bannedAt).padStart(3)}s  BANNED ${p.addr} (${p.role}) on ports ${r?.ports.join(',') || 'all'} until ${r?.expiresAt?.slice(0, 19) ?? 'forever'}`);
  }
  const s = await sampler.sample(3);
  for (const r of s.rows) {
    const p = byAddr.get(r.target);
    if (p !== undefined) p.packets = r.hits;
  }
  const st = await fw.stats();
  const good = peers.filter((p) => p.role === 'good');
  const bots = peers.filter((p) => p.role === 'bot');
  const sum = (ps, k) => ps.reduce((a, p) => a + p[k], 0);
  const top = s.rows.map((r) => `${r.target} ${r.delta}`).join(', ');
  console.log(
    `demo: ${String(secs()).padStart(3)}s  bans in kernel ${st.kernel.entries}, packets dropped ${st.kernel.dropped.total - stats0.kernel.dropped.total}` +
      ` | good: ${sum(good, 'delivered')} delivered, ${sum(good, 'dropped') + sum(good, 'policy') + sum(good, 'unknownUser')} refused` +
      ` | bots: ${sum(bots, 'unknownUser')} rejected by Postfix, ${sum(bots, 'policy')} by policy, ${sum(bots, 'dropped')} connections dropped` +
      (top === '' ? '' : ` | dropped most: ${top}`),
  );
}

while (secs() < SECONDS) {
  await sleep(5000);
  await live();
}
stopping = true;
await Promise.all(workers);
await live();
// The packets each ban dropped: the kernel's counter of the entry.
for (const p of peers) {
  const c = await fw.check(p.addr, { port: 25 });
  if (c.inKernel && c.rule !== null) p.packets = c.rule.hits;
}
await fw.close();

const pad = (s, n) => String(s).padStart(n);
console.log('');
console.log('demo: summary, per peer');
console.log('demo:   sessions: SMTP sessions tried; delivered: mail accepted (to a known user); unknown user: refused at RCPT by Postfix;');
console.log('demo:   policy: refused at RCPT by ffwall\'s policy service; dropped: the SYN never answered (ffwall dropped it in the kernel);');
console.log('demo:   cut: a session cut off half-way (its ban landed during it); packets: what the kernel dropped for the peer\'s ban');
console.log('demo:');
console.log('demo:   peer         role  sessions  delivered  unknown user  policy  dropped  cut  banned at  packets');
for (const p of peers) {
  console.log(
    `demo:   ${p.addr.padEnd(11)}  ${p.role.padEnd(4)}  ${pad(p.sessions, 8)}  ${pad(p.delivered, 9)}  ${pad(p.unknownUser, 12)}  ${pad(p.policy, 6)}  ${pad(p.dropped, 7)}  ${pad(p.other, 3)}  ${pad(p.bannedAt === null ? '-' : `${p.bannedAt}s`, 9)}  ${pad(p.packets, 7)}`,
  );
}
const good = peers.filter((p) => p.role === 'good');
const bots = peers.filter((p) => p.role === 'bot');
const banned = bots.filter((p) => p.bannedAt !== null).length;
const goodSent = good.reduce((a, p) => a + p.sessions, 0);
const goodOk = good.reduce((a, p) => a + p.delivered, 0);
const botAfter = bots.reduce((a, p) => a + p.dropped, 0);
const botSessions = bots.reduce((a, p) => a + p.sessions, 0);
console.log('');
console.log(`demo: bots: ${banned} of ${BOTS} banned; ${botAfter} of their ${botSessions} connection attempts were dropped by the kernel (no SYN-ACK: Postfix never saw them)`);
console.log(`demo: good peers: ${goodOk} of ${goodSent} mails delivered; ${good.filter((p) => p.bannedAt !== null).length} banned; mailboxes hold ${mailboxCount()} messages`);
const ok = banned === BOTS && goodOk === goodSent && goodSent > 0 && good.every((p) => p.bannedAt === null);
console.log(`demo: ${ok ? 'as expected: the bots are cut off at the packet level, the good peers unaffected' : 'NOT as expected (see the table)'}`);
process.exit(ok ? 0 : 1);
