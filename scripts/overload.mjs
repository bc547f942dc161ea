#!/usr/bin/env node
// Overload against a running `tally start`: many clients post large NDJSON batches at once,
// for a while, without waiting between refusals, so that more arrives than the disk can make
// durable. Prints the answers by status, whether every refusal carried Retry-After, and the
// records acknowledged. With `stall` as the fifth argument, each client sends one body but
// its last byte and holds it until the time is up (slow clients: bodies being read).
// Measure the server's peak RSS meanwhile, e.g.:
//
//   /usr/bin/time -v node bin/tally.js start --data-dir /tmp/ov --port 18091 &
//   node scripts/overload.mjs http://127.0.0.1:18091 64 4 20   # clients, MiB per body, seconds
//   kill <the node pid>        # /usr/bin/time prints "Maximum resident set size"
import { Buffer } from 'node:buffer';
import { request } from 'node:http';

const [
  base = 'http://127.0.0.1:18091',
  clientsArg = '64',
  mibArg = '4',
  secondsArg = '20',
  mode = 'spam',
] = process.argv.slice(2);
const clients = Number(clientsArg);
const bodyBytes = Number(mibArg) * 1024 * 1024;
const until = Date.now() + Number(secondsArg) * 1000;
const url = new URL('/v1/clicks', base);

function body(client, n) {
  const now = Date.now();
  const lines = [];
  let size = 0;
  for (let i = 0; size < bodyBytes - 200; i++) {
    const line = `{"ad_id":"ad-${i % 997}","timestamp":${now - 60_000},"event_id":"c${client}-${n}-${i}","user_id":"u${i % 5000}","country":"US"}\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join(''));
}

function post(payload) {
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson', 'content-length': payload.length },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () =>
          resolve({ status: res.statusCode, retryAfter: res.headers['retry-after'], text }),
        );
      },
    );
    req.on('error', (e) => resolve({ status: 0, error: e.code ?? e.message }));
    if (mode !== 'stall') {
      req.end(payload);
      return;
    }
    // a slow client: all but the last byte, then nothing until the time is up
    req.write(payload.subarray(0, payload.length - 1));
    setTimeout(() => req.end(payload.subarray(payload.length - 1)), until - Date.now());
  });
}

// one body for every client, sent again and again: the clients cost little memory, and what is
// in the log already counts once
const payload = body(0, 0);
const statuses = new Map();
let acked = 0;
let refusedWithoutRetryAfter = 0;
await Promise.all(
  Array.from({ length: clients }, async () => {
    // stall: one request each, held open until the time is up
    for (let n = 0; mode === 'stall' ? n < 1 : Date.now() < until; n++) {
      const a = await post(payload);
      const key = a.status === 0 ? `error ${a.error}` : String(a.status);
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
      if (a.status === 200) acked += JSON.parse(a.text).accepted;
      else if (a.status >= 400 && a.retryAfter === undefined) refusedWithoutRetryAfter++;
    }
  }),
);
console.log(
  JSON.stringify({
    clients,
    bodyBytes,
    answers: Object.fromEntries(statuses),
    refusedWithoutRetryAfter,
    recordsAcknowledged: acked,
  }),
);
