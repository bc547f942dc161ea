/**
 * The cold archive end to end, in one real embedded app (log, SQLite, DuckDB, Parquet files):
 * archiving and retention, raw-attribute filters against an oracle (duplicates, ids reused
 * beyond the horizon, very late events, events in the archive and in the tail), the maximum
 * range, and reconcile: very late events and deliberately corrupted stored counts are found
 * exactly, repaired with an audit trail, a rerun finds nothing, and the aggregator's later
 * work does not undo the repair. A second Parquet reader (hyparquet) reads the files.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { DEFAULT_CONSUMER } from '../../src/services/aggregator/runner.js';
import { reconcile, reportJson } from '../../src/app/reconcile.js';
import { lateLines } from '../../src/app/readers.js';
import { loadConfig, type Config, type DeepPartial } from '../../src/config/index.js';
import { silentLogger } from '../../src/services/observability/logger.js';
import { MINUTE_MS, minuteOf } from '../../src/core/window/minute.js';
import type { FastifyInstance } from 'fastify';
import { openEmbedded, type EmbeddedApp } from '../../src/app/embedded.js';
import { httpDepsFromEmbedded } from '../../src/app/http.js';
import { buildHttpServer } from '../../src/services/http/server.js';
import { createMetrics } from '../../src/services/observability/metrics.js';
import { tally, tempDir } from '../helpers/cli.js';
import { countedEvents, rowCounts, topOf, type OracleEvent } from '../helpers/reconciled-oracle.js';

const H = 10 * MINUTE_MS;
const LATENESS = MINUTE_MS;
const OVERRIDES: DeepPartial<Config> = {
  log: { partitions: 2, segmentBytes: 4096, durability: 'none' },
  aggregation: {
    allowedLatenessMs: LATENESS,
    dedupHorizonMs: H,
    topWindows: [1, 5],
    topN: 3,
    dimensions: ['country'],
  },
  archive: { retainLogMs: 0, maxRawRangeDays: 2 },
};

interface TestServer {
  app: EmbeddedApp;
  server: FastifyInstance;
  dataDir: string;
  close(): Promise<void>;
}

/** The real embedded app on `dataDir` behind the real HTTP server (its loop not started). */
async function openApp(dataDir: string): Promise<TestServer> {
  const config = loadConfig({ env: {}, overrides: { ...fresh(), dataDir } });
  const app = await openEmbedded(config, {
    logger: silentLogger(),
    metrics: createMetrics({ defaults: false }),
  });
  const server = buildHttpServer(httpDepsFromEmbedded(app), {
    bodyLimitBytes: config.http.bodyLimitBytes,
    logger: silentLogger(),
  });
  return {
    app,
    server,
    dataDir,
    async close() {
      await server.close();
      await app.close();
    },
  };
}

/** loadConfig freezes what it is given: a fresh copy each time */
const fresh = (): DeepPartial<Config> =>
  JSON.parse(JSON.stringify(OVERRIDES)) as DeepPartial<Config>;

const ADS = ['a0', 'a1', 'a2', 'a3', 'a4', 'a5'];
const ndjson = (evs: readonly OracleEvent[]) => evs.map((e) => JSON.stringify(e)).join('\n') + '\n';

describe('archive, raw filters and reconcile (embedded)', () => {
  const base = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - 180 * MINUTE_MS;
  const at = (minute: number, s = 0) => base + minute * MINUTE_MS + s;
  /** every accepted event, in ingest order */
  const all: OracleEvent[] = [];
  const tmp = tempDir('archive');
  const dataDir = join(tmp.dir, 'data');
  const configFile = join(tmp.dir, 'config.json');
  let ts: TestServer;

  const ingest = async (evs: OracleEvent[]) => {
    const r = await ts.app.ingest.ingestBody(ndjson(evs), 'application/x-ndjson', 'test');
    assert.equal(r.accepted, evs.length, JSON.stringify(r.rejected));
    all.push(...evs);
  };

  before(async () => {
    ts = await openApp(dataDir);
    writeFileSync(configFile, JSON.stringify(OVERRIDES));
    // batch A: minutes 0–39, on time, with exact duplicates, ids without event_id and their
    // copies, and one id reused 20 minutes later (beyond the 10-minute horizon: counts twice)
    const a: OracleEvent[] = [];
    let n = 0;
    for (let m = 0; m < 40; m++) {
      for (let i = 0; i < 25; i++) {
        const e: OracleEvent = {
          ad_id: ADS[(m * 7 + i * 3) % ADS.length]!,
          timestamp: at(m, (i * 2311) % 60_000),
          user_id: `u${(m + i) % 5}`,
          ip: `10.0.0.${i % 4}`,
          country: i % 3 === 0 ? 'CA' : 'US',
        };
        if (i % 6 !== 0) e.event_id = `e-${n}`;
        n++;
        a.push(e);
        if (i % 7 === 0) a.push({ ...e });
      }
    }
    a.push({
      ad_id: 'a1',
      timestamp: at(2, 5_000),
      event_id: 'reused',
      ip: '10.0.0.1',
      user_id: 'u1',
      country: 'US',
    });
    a.push({
      ad_id: 'a1',
      timestamp: at(25, 5_000),
      event_id: 'reused',
      ip: '10.0.0.1',
      user_id: 'u1',
      country: 'US',
    });
    await ingest(a);
    await ts.app.runner.drain();
    // batch B: very late events (minutes 3–8: behind watermark − lateness), a late copy of an
    // early event whose dedup entry has expired (recorded late, never counted), and on-time
    // events of minutes 40–44
    const b: OracleEvent[] = [];
    for (let m = 3; m <= 8; m++) {
      b.push({
        ad_id: 'a2',
        timestamp: at(m, 30_000),
        event_id: `late-${m}`,
        ip: '10.0.0.1',
        user_id: 'u2',
        country: 'US',
      });
    }
    b.push({ ...a[1]! });
    for (let m = 40; m < 45; m++) {
      for (let i = 0; i < 10; i++) {
        b.push({
          ad_id: ADS[i % ADS.length]!,
          timestamp: at(m, i * 5000),
          event_id: `b-${m}-${i}`,
          ip: `10.0.0.${i % 4}`,
          user_id: `u${i % 5}`,
          country: 'US',
        });
      }
    }
    await ingest(b);
    await ts.app.runner.drain();
  });

  after(async () => {
    await ts?.close();
    tmp.cleanup();
  });

  it('archives closed segments once, as Parquet a second reader reads, and retention frees the log', async () => {
    const app = ts.app;
    const summary = await app.archiver.runOnce();
    assert.ok(summary.ranges > 0 && summary.records > 0, 'something was archived');
    // everything archived is below the snapshot the drain committed: retention deleted it
    assert.ok(summary.deletedSegments > 0, 'retention deleted archived segments');
    for (let p = 0; p < app.log.partitions; p++) {
      assert.equal(
        app.log.startOffset(p),
        app.archive.archivedUpTo(p),
        `partition ${p} starts where its archive ends`,
      );
      if (app.log.startOffset(p) > 0) {
        await assert.rejects(
          app.log.read(p, 0, 1),
          (e: Error & { code?: string }) => e.code === 'TALLY_OFFSET_ARCHIVED',
        );
      }
    }
    // a rerun archives nothing twice
    const again = await app.archiver.runOnce();
    assert.equal(again.ranges, 0);
    const ranges = app.archive.ranges();
    const records = ranges.reduce((s, r) => s + r.records, 0);
    assert.equal(
      records,
      ranges.reduce((s, r) => s + r.toOffset - r.fromOffset, 0),
    );
    // every file: Hive-style path, ZSTD, the stated columns, rows as the manifest says
    let rows = 0;
    for (const r of ranges) {
      for (const f of r.files) {
        assert.match(f.path, /^date=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/p\d{3}-\d{20}-\d{20}\.parquet$/);
        const file = await asyncBufferFromFile(join(app.archive.dir, f.path));
        const meta = await parquetMetadataAsync(file);
        assert.equal(Number(meta.num_rows), f.rows);
        const names = meta.schema.slice(1).map((s) => s.name);
        assert.deepEqual(names, [
          'log_partition',
          'log_offset',
          'ad_id',
          'event_time',
          'event_id',
          'user_id',
          'ip',
          'country',
          'extra',
          'dedup_key',
        ]);
        for (const rg of meta.row_groups)
          for (const c of rg.columns) assert.equal(c.meta_data?.codec, 'ZSTD');
        const objs = (await parquetReadObjects({ file, compressors, utf8: false })) as Array<
          Record<string, unknown>
        >;
        rows += objs.length;
        for (const o of objs) {
          assert.equal(o.log_partition, r.partition);
          const off = Number(o.log_offset);
          assert.ok(off >= r.fromOffset && off < r.toOffset);
          const t = (o.event_time as Date).getTime();
          assert.equal(
            new Date(t).toISOString().slice(0, 13),
            `${f.date}T${String(f.hour).padStart(2, '0')}`,
          );
          assert.equal((o.dedup_key as Uint8Array).length, 16);
        }
      }
    }
    assert.equal(rows, records);
  });

  it('answers raw-attribute filters exactly, as the oracle, from archive + tail, over HTTP and the CLI', async () => {
    // batch C lands in the tail only: on-time minutes 45–47 and one very late event (minute 12)
    const c: OracleEvent[] = [
      {
        ad_id: 'a1',
        timestamp: at(12, 1_000),
        event_id: 'late-tail',
        ip: '10.0.0.1',
        user_id: 'u1',
        country: 'CA',
      },
    ];
    for (let m = 45; m < 48; m++) {
      for (let i = 0; i < 6; i++) {
        c.push({
          ad_id: ADS[i]!,
          timestamp: at(m, i * 7000),
          event_id: `c-${m}-${i}`,
          ip: '10.0.0.1',
          user_id: `u${i % 2}`,
          country: 'US',
        });
      }
    }
    c.push({ ...c[3]! }); // a duplicate in the tail
    await ingest(c);
    await ts.app.runner.drain();
    const tail = ts.app.tail();
    assert.ok(tail.ranges.length > 0, 'the tail is not empty');

    const from = new Date(at(0)).toISOString();
    const to = new Date(at(48)).toISOString();
    const byIp = (ip: string) => (e: OracleEvent) => e.ip === ip;
    const counted = countedEvents(all, H, byIp('10.0.0.1'));
    const answers: Record<string, unknown> = {};
    for (const ad of ['a1', 'a2']) {
      const expect = counted.filter((e) => e.ad_id === ad).length;
      const res = await ts.server.inject({
        url: `/v1/ads/${ad}/aggregated_count?from=${from}&to=${to}&filter=ip=10.0.0.1`,
      });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().count, expect, `count of ${ad}`);
      answers[`count-${ad}`] = res.json();
    }
    // the oracle is not trivial: reuse, late and duplicate events are in it
    assert.ok(
      counted.some((e) => e.event_id === 'late-tail') &&
        counted.filter((e) => e.event_id === 'reused').length === 2,
    );

    const series = countedEvents(all, H, (e) => e.user_id === 'u2').filter((e) => e.ad_id === 'a2');
    const ts1 = await ts.server.inject({
      url: `/v1/ads/a2/timeseries?from=${from}&to=${to}&filter=user_id=u2`,
    });
    assert.equal(ts1.statusCode, 200, ts1.body);
    for (const p of ts1.json().points as Array<{ minute: string; count: number }>) {
      const m = Date.parse(p.minute);
      assert.equal(p.count, series.filter((e) => minuteOf(e.timestamp) === m).length, p.minute);
    }
    answers.series = ts1.json();

    const topCounted = countedEvents(all, H, (e) => e.user_id === 'u1');
    const rows = rowCounts(topCounted, []);
    const expectTop = topOf(rows, 48, at(48), 4);
    const top = await ts.server.inject({
      url: `/v1/ads/popular_ads?count=4&window=48&to=${to}&filter=user_id=u1`,
    });
    assert.equal(top.statusCode, 200, top.body);
    assert.deepEqual(
      top.json().ads,
      expectTop.map((a) => ({ ad_id: a.adId, count: a.count })),
    );
    answers.top = top.json();

    // beyond archive.maxRawRangeDays (2 here): a 400 naming the parameter
    const far = new Date(at(0) - 3 * 86_400_000).toISOString();
    const tooLong = await ts.server.inject({
      url: `/v1/ads/a1/aggregated_count?from=${far}&to=${to}&filter=ip=10.0.0.1`,
    });
    assert.equal(tooLong.statusCode, 400);
    assert.equal(tooLong.json().parameter, 'from');
    assert.match(tooLong.json().error, /maxRawRangeDays/);
    const wide = await ts.server.inject({
      url: `/v1/ads/popular_ads?window=${3 * 1440}&filter=ip=10.0.0.1`,
    });
    assert.equal(wide.statusCode, 400);
    assert.equal(wide.json().parameter, 'window');

    // the CLI gives the same answers (it opens the log and archive itself: the app must close)
    await ts.close();
    const cli = (args: string[]) => {
      const r = tally(['--data-dir', dataDir, '--config', configFile, ...args]);
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as unknown;
    };
    assert.deepEqual(
      cli(['query', 'count', 'a1', '--from', from, '--to', to, '--filter', 'ip=10.0.0.1']),
      answers['count-a1'],
    );
    assert.deepEqual(
      cli(['query', 'timeseries', 'a2', '--from', from, '--to', to, '--filter', 'user_id=u2']),
      answers.series,
    );
    assert.deepEqual(
      cli(['query', 'top', '--count', '4', '--window', '48', '--to', to, '--filter', 'user_id=u1']),
      answers.top,
    );
    const bad = tally([
      '--data-dir',
      dataDir,
      '--config',
      configFile,
      'query',
      'count',
      'a1',
      '--from',
      far,
      '--to',
      to,
      '--filter',
      'ip=10.0.0.1',
    ]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /from: .*maxRawRangeDays/);
    ts = await openApp(dataDir);
  });
});

describe('reconcile and repair (embedded)', () => {
  const base = Math.floor(Date.now() / MINUTE_MS) * MINUTE_MS - 240 * MINUTE_MS;
  const at = (minute: number, s = 0) => base + minute * MINUTE_MS + s;
  const all: OracleEvent[] = [];
  const tmp = tempDir('reconcile');
  const dataDir = join(tmp.dir, 'data');
  const config = loadConfig({ env: {}, overrides: { ...fresh(), dataDir } });
  let ts: TestServer;
  const ctx = () => ({ config, logger: silentLogger() });

  const ingestAndDrain = async (evs: OracleEvent[]) => {
    const r = await ts.app.ingest.ingestBody(ndjson(evs), 'application/x-ndjson', 'test');
    assert.equal(r.accepted, evs.length, JSON.stringify(r.rejected));
    all.push(...evs);
    await ts.app.runner.drain();
  };
  /** stored rows of minutes [from, to), `minute|dim|ad` → count, straight from SQLite */
  const storedRows = (from: number, to: number) => {
    const db = new Database(join(dataDir, 'tally.sqlite'), { readonly: true });
    try {
      const out = new Map<string, number>();
      const rows = db
        .prepare(
          'SELECT minute, dim, ad_id, count FROM minute_counts WHERE minute >= ? AND minute < ?',
        )
        .all(from, to) as Array<{ minute: number; dim: string; ad_id: string; count: number }>;
      for (const r of rows) out.set(`${r.minute}|${r.dim}|${r.ad_id}`, r.count);
      return out;
    } finally {
      db.close();
    }
  };

  before(async () => {
    ts = await openApp(dataDir);
    const a: OracleEvent[] = [];
    for (let m = 0; m < 30; m++) {
      for (let i = 0; i < 12; i++) {
        const e: OracleEvent = {
          ad_id: ADS[(m + i) % ADS.length]!,
          timestamp: at(m, i * 4000),
          event_id: `r-${m}-${i}`,
          country: i % 2 ? 'US' : 'DE',
          ip: `10.1.0.${i % 3}`,
        };
        a.push(e);
        if (i % 5 === 0) a.push({ ...e });
      }
    }
    await ingestAndDrain(a);
    // very late: beyond the watermark − allowed lateness, recorded late and not counted
    await ingestAndDrain([
      { ad_id: 'a4', timestamp: at(4, 10_000), event_id: 'vl-1', country: 'US' },
      { ad_id: 'a4', timestamp: at(4, 20_000), event_id: 'vl-2', country: 'US' },
      { ad_id: 'a0', timestamp: at(9, 1_000), event_id: 'vl-3', country: 'DE' },
      { ...a[0]! }, // a late copy: recorded late, but the recount knows it as a duplicate
      // minutes 30–34 on time, so that minutes up to 33 become final
      ...Array.from({ length: 20 }, (_, i) => ({
        ad_id: ADS[i % 6]!,
        timestamp: at(30 + (i % 5), i * 1000),
        event_id: `t-${i}`,
      })),
    ]);
    await ts.app.archiver.runOnce();
  });

  after(async () => {
    await ts?.close();
    tmp.cleanup();
  });

  it('finds exactly the late events and the corrupted rows, repairs them, and a rerun finds nothing', async () => {
    const late = await lateLines(ctx(), {});
    assert.equal(late.length, 4);
    assert.ok(late.every((l) => l.repaired_by === null && l.arrived_at !== null));
    // deliberately corrupt the store, behind its back (the app closed, as an operator would)
    await ts.close();
    const db = new Database(join(dataDir, 'tally.sqlite'));
    const bumped = db
      .prepare(
        "UPDATE minute_counts SET count = count + 3 WHERE minute = ? AND dim = '*' AND ad_id = ?",
      )
      .run(at(20), ADS[20 % 6]!);
    const dropped = db
      .prepare("DELETE FROM minute_counts WHERE minute = ? AND dim = 'country=US' AND ad_id = ?")
      .run(at(21), ADS[(21 + 1) % 6]!);
    db.prepare(
      "INSERT INTO minute_counts (minute, dim, ad_id, count) VALUES (?, '*', 'ghost', 7)",
    ).run(at(22));
    db.prepare(
      'UPDATE most_clicked_ads SET ads = \'[["ghost",99]]\' WHERE window_minutes = 5 AND end_minute = ?',
    ).run(at(25));
    db.close();
    assert.equal(bumped.changes, 1);
    assert.equal(dropped.changes, 1);
    ts = await openApp(dataDir);

    const status = (await ts.app.store.status()).consumers.find(
      (c) => c.consumer === DEFAULT_CONSUMER,
    )!;
    const finalUpTo = minuteOf(status.watermark - LATENESS);
    const from = at(0);
    const counted = countedEvents(all, H);
    const oracle = rowCounts(counted, ['country']);
    const stored = storedRows(from, finalUpTo);
    const expected = new Set<string>();
    for (const k of new Set([...oracle.keys(), ...stored.keys()])) {
      const m = Number(k.split('|')[0]);
      if (m < from || m >= finalUpTo) continue;
      if ((oracle.get(k) ?? 0) !== (stored.get(k) ?? 0)) expected.add(k);
    }
    // the differences are the late events' rows and the three corruptions, nothing else
    assert.ok(expected.has(`${at(4)}|*|a4`) && expected.has(`${at(9)}|country=DE|a0`));
    assert.ok(expected.has(`${at(22)}|*|ghost`) && expected.has(`${at(20)}|*|${ADS[20 % 6]}`));

    await ts.close();
    const report = reportJson(await reconcile(ctx(), { from: String(from), repair: false }));
    const found = new Set(
      report.differences.map((d) => `${Date.parse(d.minute)}|${d.dim}|${d.ad_id}`),
    );
    assert.deepEqual([...found].sort(), [...expected].sort());
    for (const d of report.differences) {
      const k = `${Date.parse(d.minute)}|${d.dim}|${d.ad_id}`;
      assert.equal(d.stored, stored.get(k) ?? 0, k);
      assert.equal(d.recounted, oracle.get(k) ?? 0, k);
      const isLate = Date.parse(d.minute) === at(4) || Date.parse(d.minute) === at(9);
      assert.equal(d.reason, isLate ? 'late events' : 'store mismatch', k);
    }
    assert.ok(report.top_differences.some((t) => t.window === 5 && Date.parse(t.end) === at(25)));
    assert.equal(report.repair, null);

    const repaired = reportJson(await reconcile(ctx(), { from: String(from), repair: true }));
    assert.equal(repaired.differences.length, expected.size);
    assert.equal(repaired.repair?.rows_changed, expected.size);
    assert.equal(repaired.repair?.late_folded, 4);
    const rerun = reportJson(await reconcile(ctx(), { from: String(from), repair: false }));
    assert.equal(rerun.totals.rows_differing, 0);
    assert.equal(rerun.totals.tops_differing, 0);
    assert.ok(rerun.rows_checked > 0 && rerun.events_replayed >= counted.length);

    // the store now holds the oracle's rows, and top lists made from them
    ts = await openApp(dataDir);
    const after = storedRows(from, finalUpTo);
    for (const [k, v] of oracle)
      if (Number(k.split('|')[0]) < finalUpTo) assert.equal(after.get(k), v, k);
    for (const [k, v] of after) assert.equal(oracle.get(k), v, k);
    for (const w of [1, 5]) {
      for (let e = from + MINUTE_MS; e <= finalUpTo; e += MINUTE_MS) {
        const want = topOf(oracle, w, e, 3);
        const got = (await ts.app.store.storedTop(w, e))?.ads ?? [];
        assert.deepEqual(got, want, `top ${w} ending ${new Date(e).toISOString()}`);
        // and per country, the corrupted lists of (5, 25) included
        for (const dim of ['country=US', 'country=DE']) {
          const wantOf = topOf(oracle, w, e, 3, dim);
          const gotOf = (await ts.app.store.storedTop(w, e, dim))?.ads ?? [];
          assert.deepEqual(gotOf, wantOf, `top ${w} of ${dim} ending ${new Date(e).toISOString()}`);
        }
      }
    }
    // the audit trail: when, which key, old and new value, why
    const audit = await ts.app.store.repairChanges(1000, repaired.repair!.run_id);
    assert.equal(audit.length, expected.size);
    const ghost = audit.find((c) => c.adId === 'ghost')!;
    assert.deepEqual([ghost.oldCount, ghost.newCount, ghost.reason], [7, 0, 'store mismatch']);
    // the late events show the repair that folded them in
    await ts.close();
    const lateAfter = await lateLines(ctx(), {});
    assert.ok(lateAfter.every((l) => l.repaired_by?.run_id === repaired.repair!.run_id));

    // the aggregator's later work never undoes a repaired final minute: one more very late
    // event for minute 4 is recorded late, the repaired row stays, and the next reconcile
    // finds just it
    ts = await openApp(dataDir);
    const row4 = (await ts.app.store.minuteRows(at(4))).find(
      (r) => r.dim === '*' && r.adId === 'a4',
    )!.count;
    await ingestAndDrain([
      { ad_id: 'a4', timestamp: at(4, 40_000), event_id: 'vl-4', country: 'US' },
    ]);
    assert.equal(
      (await ts.app.store.minuteRows(at(4))).find((r) => r.dim === '*' && r.adId === 'a4')!.count,
      row4,
    );
    await ts.close();
    const next = reportJson(await reconcile(ctx(), { from: String(from), repair: false }));
    assert.deepEqual(
      next.differences.map((d) => [d.dim, d.ad_id, d.recounted - d.stored, d.reason]).sort(),
      [
        ['*', 'a4', 1, 'late events'],
        ['country=US', 'a4', 1, 'late events'],
      ],
    );
    assert.equal(next.differences.find((d) => d.dim === '*')!.stored, row4);
    ts = await openApp(dataDir);
  });
});
