#!/usr/bin/env node
// Overload against a running `tally start`: many clients post large NDJSON batches at once,
// for a while, without waiting between refusals, so that more arrives than the disk can make
// durable. Prints the answers by status, whether every refusal carried Retry-After, and the
// events acknowledged. Measure the server's peak RSS meanwhile, e.g.:
//
//   /usr/bin/time -v node bin/tally.js start --data-dir /tmp/ov --port 18091 &
//   node scripts/overload.mjs http://127.0.0.1:18091 64 4 20   # clients, MiB per body, seconds
//   kill <the node pid>        # /usr/bin/time prints "Maximum resident set size"
import { Buffer } from 'node:buffer';
import { request } from 'node:http';

const [base = 'http://127.0.0.1:18091', clientsArg = '64', mibArg = '4', secondsArg = '20'] =
  process.argv.slice(2);
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
    req.end(payload);
  });
}

const statuses = new Map();
let acked = 0;
let refusedWithoutRetryAfter = 0;
await Promise.all(
  Array.from({ length: clients }, async (_, c) => {
    for (let n = 0; Date.now() < until; n++) {
      const a = await post(body(c, n));
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
    eventsAcknowledged: acked,
  }),
);
