/**
 * The feed of the tests that take the broker away mid-stream: clicks over HTTP to the ingest
 * process and from a plain producer into `<ns>.clicks.in`, each retrying as a real client
 * would (HTTP on 503, after Retry-After capped at 1 s, and on a failed connection; the
 * producer after a failed send), and the dead-letter check that such retries call for.
 */
import assert from 'node:assert/strict';
import { Producer } from '@platformatic/kafka';
import { transactionalRetryDelay } from './support.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RetryingFeed {
  /** POSTs one chunk (round `round`) until it is accepted; resolves with `accepted` */
  post(body: string, round: number): Promise<number>;
  /** sends one chunk into clicks.in until the broker acknowledges it */
  produce(lines: string[]): Promise<void>;
  /** the rounds sent again after a failed attempt, and how often */
  readonly resent: ReadonlyMap<number, number>;
  retries(): number;
  /** what the attempts met: statuses, slow answers, errors */
  summary(): string;
  close(): Promise<void>;
}

export function retryingFeed(o: {
  ingestBase: string;
  brokers: string;
  clientId: string;
  clicksIn: string;
}): RetryingFeed {
  let retries = 0;
  const statuses = new Map<string, number>();
  const note = (what: string) => statuses.set(what, (statuses.get(what) ?? 0) + 1);
  // a 503 says only "not acknowledged in time": the first attempt's records may still land
  // once the broker is back, so a resent round's invalid records may be dead letters twice
  const resent = new Map<number, number>();
  const producer = new Producer({
    clientId: o.clientId,
    bootstrapBrokers: [o.brokers],
    idempotent: true,
    acks: -1,
    retryDelay: transactionalRetryDelay,
  });
  return {
    resent,
    retries: () => retries,
    summary: () => [...statuses].map(([k, v]) => `${k}: ${v}`).join(', '),
    async post(body, round) {
      const deadline = Date.now() + 120_000;
      for (;;) {
        let wait = 250;
        const t0 = Date.now();
        try {
          const res = await fetch(`${o.ingestBase}/v1/clicks`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-ndjson' },
            body,
            signal: AbortSignal.timeout(10_000),
          });
          note(String(res.status));
          if (Date.now() - t0 > 2_000) note(`${res.status} after ${Date.now() - t0} ms`);
          if (res.status === 200) return ((await res.json()) as { accepted: number }).accepted;
          const text = await res.text();
          assert.equal(res.status, 503, text);
          wait = Math.min(1_000, 1_000 * Number(res.headers.get('retry-after') ?? '0.25'));
        } catch (e) {
          if (e instanceof assert.AssertionError) throw e;
          note((e as Error).name);
        }
        retries++;
        resent.set(round, (resent.get(round) ?? 0) + 1);
        assert.ok(Date.now() < deadline, 'ingest did not accept a batch in 120 s');
        await sleep(wait);
      }
    },
    async produce(lines) {
      const deadline = Date.now() + 120_000;
      for (;;) {
        try {
          await producer.send({
            messages: lines.map((line) => ({ topic: o.clicksIn, value: Buffer.from(line) })),
          });
          return;
        } catch (e) {
          retries++;
          note('produce failed');
          if (Date.now() > deadline) throw e;
          await sleep(500);
        }
      }
    },
    close: () => producer.close(),
  };
}

/**
 * Each invalid record of `lines` is a dead letter exactly as often as it was sent, up to once
 * more per resend of its HTTP round (`chunk` lines a round); nothing else is. Returns how many
 * are there more often than sent.
 */
export function assertDeadLettersWithResends(
  lines: readonly string[],
  invalid: readonly string[],
  letters: ReadonlyMap<string, number>,
  resent: ReadonlyMap<number, number>,
  chunk: number,
): number {
  const isInvalid = new Set(invalid);
  const least = new Map<string, number>();
  const most = new Map<string, number>();
  lines.forEach((line, i) => {
    if (!isInvalid.has(line)) return;
    least.set(line, (least.get(line) ?? 0) + 1);
    const extra = resent.get(Math.floor(i / chunk)) ?? 0;
    most.set(line, (most.get(line) ?? 0) + 1 + extra);
  });
  const wrong = [...new Set([...letters.keys(), ...least.keys()])]
    .map((line) => ({
      line,
      got: letters.get(line) ?? 0,
      least: least.get(line) ?? 0,
      most: most.get(line) ?? 0,
    }))
    .filter((x) => x.got < x.least || x.got > x.most);
  assert.deepEqual(wrong, [], `${wrong.length} invalid records not dead letters as often as sent`);
  return [...letters].filter(([l, c]) => c > (least.get(l) ?? 0)).length;
}
