// SPDX-License-Identifier: MIT
//
// talk.mjs HOST PORT STEP...: a scripted raw SMTP client, for what swaks
// will not do (talk before the greeting, pipeline without PIPELINING, hang
// up in the middle).  Steps, in order:
//   wait:REGEX   wait until what the server sent since the last wait matches
//                (a JavaScript regex; multiline); fails after 20 s
//   send:TEXT    send TEXT; \r and \n escapes are decoded
//   sleep:MS     wait MS milliseconds
//   close        close the connection (the end of the steps closes too)
// Prints the server's side of the conversation; exits 0 when every step
// ran, 1 otherwise (the connection closed or timed out before a wait
// was satisfied, a connection error).
import net from 'node:net';

const [host, port, ...steps] = process.argv.slice(2);
if (host === undefined || port === undefined) {
  console.error('usage: talk.mjs HOST PORT STEP...');
  process.exit(2);
}
// TALK_FROM: the local address to connect from (default: the system's choice).
const sock = net.connect({ host, port: Number(port), ...(process.env.TALK_FROM ? { localAddress: process.env.TALK_FROM } : {}) });
let buf = '';
let closed = false;
let wake = () => {};
sock.setEncoding('utf8');
sock.on('data', (d) => {
  process.stdout.write(d);
  buf += d;
  wake();
});
sock.on('close', () => {
  closed = true;
  wake();
});
sock.on('error', (e) => {
  console.error(`talk: ${e.message}`);
  closed = true;
  wake();
});
await new Promise((resolve, reject) => {
  sock.once('connect', resolve);
  sock.once('error', reject);
}).catch(() => process.exit(1));

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const unescape = (s) => s.replace(/\\r/g, '\r').replace(/\\n/g, '\n');

for (const step of steps) {
  const i = step.indexOf(':');
  const op = i < 0 ? step : step.slice(0, i);
  const arg = i < 0 ? '' : step.slice(i + 1);
  if (op === 'wait') {
    const re = new RegExp(arg, 'm');
    const end = Date.now() + 20_000;
    while (!re.test(buf)) {
      if (closed || Date.now() > end) {
        console.error(`talk: no ${re} (${closed ? 'closed' : 'timeout'})`);
        process.exit(1);
      }
      await new Promise((r) => {
        wake = r;
        setTimeout(r, 200);
      });
    }
    buf = '';
  } else if (op === 'send') sock.write(unescape(arg));
  else if (op === 'sleep') await sleep(Number(arg));
  else if (op === 'close') break;
  else {
    console.error(`talk: unknown step ${step}`);
    process.exit(2);
  }
}
sock.end();
sock.destroy();
