import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { MINUTE, floorMinute, startLiveServer } from './http-support.js';

/** What SIGTERM handling relies on: close() lets in-flight requests finish, then stops. */
test('server.close(): an in-flight POST is answered (durably) before close resolves', async () => {
  const s = await startLiveServer();
  try {
    const t0 = floorMinute(Date.now()) - 5 * MINUTE;
    const body = Array.from({ length: 2000 }, (_, i) =>
      JSON.stringify({ ad_id: `ad-${i % 7}`, timestamp: t0 + i, event_id: `c-${i}` }),
    ).join('\n');
    const half = Math.floor(body.length / 2);
    const url = new URL('/v1/clicks', s.base);
    const req = request(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-ndjson',
        'content-length': Buffer.byteLength(body),
      },
    });
    const answer = new Promise<{ status: number; text: string; connection: string | undefined }>(
      (resolve, reject) => {
        req.on('error', reject);
        req.on('response', (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, text, connection: res.headers.connection }),
          );
        });
      },
    );
    req.write(body.slice(0, half));
    await sleep(150); // the request has reached its handler's body parsing

    let closed = false;
    const closing = s.server.close().then(() => (closed = true));
    await sleep(150);
    assert.equal(closed, false, 'close() waits for the request in flight');

    req.end(body.slice(half));
    const r = await answer;
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(JSON.parse(r.text), { accepted: 2000, rejected: [] });
    assert.equal(r.connection, 'close', 'the answer closes its keep-alive connection');
    await closing;
    let appended = 0;
    for (let p = 0; p < s.app.log.partitions; p++) appended += s.app.log.endOffset(p);
    assert.equal(appended, 2000);

    await assert.rejects(fetch(`${s.base}/healthz`), 'no new connections once closed');
  } finally {
    await s.close();
  }
});
