/**
 * An unreachable database, at start-up and while running, through a TCP proxy in front of
 * PostgreSQL that the test cuts and restores: start-up waits, saying what it waits for, and
 * goes on by itself; while the database is gone, ingest still answers 200 (the records are
 * durable on the broker), readiness names the failing writer and why, and once the
 * database is back the writer resumes from its last commit with nothing lost or doubled.
 * (The broker cannot be cut the same way: clients reconnect to the address it advertises.)
 */
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { pino } from 'pino';
import { dropPgSchema } from '../../../src/adapters/store-pg/index.js';
import { openDistributed, waitFor } from '../../../src/app/distributed.js';
import { loadConfig } from '../../../src/config/index.js';
import { admin, BROKERS, DATABASE_URL, deleteNamespaceTopics, uniqueNamespace } from './support.js';

const MINUTE = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A TCP proxy to PostgreSQL that refuses (resets) connections while `up` is false. */
async function pgProxy(): Promise<{
  port: number;
  set(up: boolean): void;
  close(): Promise<void>;
}> {
  const target = new URL(DATABASE_URL);
  let up = false;
  const live = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (!up) return void client.destroy();
    const upstream = connect(Number(target.port || 5432), target.hostname);
    live.add(client).add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      live.delete(client);
      live.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    set(v) {
      up = v;
      if (!v) for (const s of live) s.destroy();
    },
    close: () => {
      for (const s of live) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

describe('the database unreachable', () => {
  const ns = uniqueNamespace('outage');
  const a = admin();
  after(async () => {
    await deleteNamespaceTopics(a, ns);
    await a.close();
    await dropPgSchema(DATABASE_URL, ns);
  });

  it('start-up gives up after its timeout when asked to, naming what it waited for', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }),
    );
    await assert.rejects(
      waitFor('PostgreSQL at 127.0.0.1:1/x', () => Promise.reject(new Error('ECONNREFUSED')), {
        logger,
        timeoutMs: 700,
      }),
      (e: { code?: string; message?: string }) =>
        e.code === 'TALLY_UNAVAILABLE' &&
        /PostgreSQL at 127\.0\.0\.1:1\/x: still unreachable/.test(e.message ?? ''),
    );
    assert.ok(lines.some((l) => l.includes('waiting for PostgreSQL at 127.0.0.1:1/x')));
  });

  it(
    'waits at start-up, then survives an outage while running: exact counts after',
    { timeout: 120_000 },
    async () => {
      const proxy = await pgProxy();
      const url = new URL(DATABASE_URL);
      url.host = `127.0.0.1:${proxy.port}`;
      const lines: string[] = [];
      const logger = pino(
        { level: 'info' },
        new Writable({ write: (c: Buffer, _e, cb) => (lines.push(c.toString()), cb()) }),
      );
      const config = loadConfig({
        env: {},
        overrides: {
          log: { partitions: 2 },
          aggregation: {
            idleTimeoutMs: 1_000,
            commitIntervalMs: 100,
            allowedLatenessMs: 3_600_000,
          },
        },
      });
      const t0 = Date.now();
      setTimeout(() => proxy.set(true), 1_500);
      const app = await openDistributed(
        config,
        {
          brokers: BROKERS,
          databaseUrl: url.toString(),
          namespace: ns,
          roles: ['all'],
        },
        { logger },
      );
      try {
        assert.ok(Date.now() - t0 >= 1_400, 'it waited for the database');
        assert.ok(
          lines.some((l) => l.includes(`waiting for PostgreSQL at 127.0.0.1:${proxy.port}`)),
          lines.join(''),
        );
        app.start();

        const minute = Math.floor((Date.now() - 10 * MINUTE) / MINUTE) * MINUTE;
        const send = async (from: number, n: number) => {
          const body = Array.from({ length: n }, (_, i) =>
            JSON.stringify({
              ad_id: 'ad-x',
              timestamp: new Date(minute + ((from + i) % 60) * 1000).toISOString(),
              event_id: `e-${from + i}`,
            }),
          ).join('\n');
          const r = await app.ingest!.ingestBody(Buffer.from(body), 'application/x-ndjson', 'test');
          assert.equal(r.accepted, n);
        };
        const countNow = () => app.store.count('ad-x', minute, minute + MINUTE);
        const until = async (what: string, cond: () => Promise<boolean> | boolean, ms = 30_000) => {
          const deadline = Date.now() + ms;
          while (!(await cond())) {
            assert.ok(Date.now() < deadline, `${what} within ${ms} ms`);
            await sleep(50);
          }
        };

        await send(0, 100);
        await until('the first 100 counted', async () => (await countNow()) === 100);

        proxy.set(false);
        await send(100, 50); // the broker has them: accepted while the database is away
        await until('readiness names the failing writer', () =>
          app.health
            .list()
            .some((p) => p.component === 'writer' && p.code === 'TALLY_STORE_FAILURE'),
        );
        proxy.set(true);
        await send(150, 50);
        // the pool reconnects on its own; the writer reads its position again and goes on
        await until('all 200 counted once the database is back', async () => {
          try {
            return (await countNow()) === 200;
          } catch {
            return false;
          }
        });
        await until('readiness clears', () => app.health.list().length === 0);
        const st = (await app.store.status()).consumers.find((c) => c.consumer === 'writer')!;
        assert.equal(st.totals.events, 200);
        assert.equal(st.totals.duplicates, 0);
      } finally {
        await app.close();
        await proxy.close();
      }
    },
  );
});
