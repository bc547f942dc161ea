import type { Config } from '../config/index.js';
import type { Clock } from '../ports/clock.js';
import { operatorConfig, type AggregatorRunner } from '../services/aggregator/runner.js';
import { DemoFeeder } from '../services/demo/demo-feeder.js';
import type { HttpDeps } from '../services/http/deps.js';
import { Lifecycle } from '../services/http/lifecycle.js';
import type { HealthBody, StatusBody } from '../services/http/schemas.js';
import type { HealthBoard } from '../services/observability/health-board.js';
import { buildHttpServer } from '../services/http/server.js';
import type { Logger } from '../services/observability/logger.js';
import type { EmbeddedApp } from './embedded.js';
import { openEmbedded } from './embedded.js';

export const iso = (t: number) => new Date(t).toISOString();
export const isoOrNull = (t: number | null | undefined) =>
  typeof t === 'number' && Number.isFinite(t) ? iso(t) : null;

/**
 * /v1/health of either composition: ready once started and nothing fails; started with
 * problems is degraded.
 */
export function healthBody(
  app: { health: HealthBoard; clock: Clock; startedAt: number },
  lifecycle: Lifecycle,
): HealthBody {
  const problems = app.health.list().map((p) => ({
    component: p.component,
    code: p.code,
    reason: p.reason,
    since: iso(p.since),
  }));
  const ready = lifecycle.state === 'ready' && problems.length === 0;
  return {
    status: lifecycle.state === 'ready' && !ready ? 'degraded' : lifecycle.state,
    live: true,
    ready,
    uptime_seconds: Math.max(0, (app.clock.now() - app.startedAt) / 1000),
    problems,
  };
}

/** `watermarkDelayMs` → `watermark_delay_ms`: the API's case for the config's keys */
type SnakeCase<S extends string> = S extends `${infer C}${infer Rest}`
  ? `${C extends Lowercase<C> ? C : `_${Lowercase<C>}`}${SnakeCase<Rest>}`
  : S;

function snakeCaseKeys<T extends object>(o: T): { [K in keyof T as SnakeCase<K & string>]: T[K] } {
  return Object.fromEntries(
    Object.entries(o).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), v]),
  ) as { [K in keyof T as SnakeCase<K & string>]: T[K] };
}

/** The config as /v1/status shows it: what an operator needs to read the numbers. */
export function configSummary(
  config: Readonly<Config>,
  partitions: number,
  mode: string = config.mode,
): StatusBody['config'] {
  return {
    mode,
    partitions,
    durability: config.log.durability,
    // every setting of the operator, as the runner hands them to it
    ...snakeCaseKeys(operatorConfig(config.aggregation)),
    filters: { ...config.filters },
  };
}

/**
 * HttpDeps of the embedded default: services from the app, status from its runner, log and
 * dead-letter store. Pass a Lifecycle to control readiness; without one the app counts as
 * ready (it is restored by the time openEmbedded resolves).
 */
/** The aggregator's state and its snapshots, for /v1/status (embedded and distributed). */
export function stateStatus(runner: AggregatorRunner): StatusBody['state'] {
  const st = runner.stateStats();
  const snap = runner.lastSnapshot;
  const restore = runner.lastRestore;
  const per = (bytes: number, n: number) => (n > 0 ? Math.round((bytes / n) * 10) / 10 : 0);
  return {
    bytes: st.stateBytes,
    budget_bytes: st.budgetBytes,
    over_budget: st.overBudget,
    dedup_entries: st.dedupEntries,
    dedup_bytes: st.dedupBytes,
    bytes_per_dedup_entry: per(st.dedupBytes, st.dedupEntries),
    ads: st.ads,
    ads_bytes: st.adsBytes,
    panes: st.panes,
    pane_entries: st.paneEntries,
    pane_bytes: st.paneBytes,
    bytes_per_pane_entry: per(st.paneBytes, st.paneEntries),
    open_rows: st.openRows,
    snapshot:
      snap === undefined
        ? null
        : {
            kind: snap.kind,
            bytes: snap.bytes,
            seconds: snap.ms / 1000,
            at: iso(snap.at),
            chain_base_bytes: snap.chain.baseBytes,
            chain_delta_bytes: snap.chain.deltaBytes,
            chain_deltas: snap.chain.deltas,
          },
    restore:
      restore === undefined
        ? null
        : {
            seconds: restore.ms / 1000,
            replayed_cycles: restore.replayedCycles,
            replayed_records: restore.replayedRecords,
          },
  };
}

export function httpDepsFromEmbedded(
  app: EmbeddedApp,
  opts: { lifecycle?: Lifecycle } = {},
): HttpDeps {
  const lifecycle = opts.lifecycle ?? new Lifecycle('ready');
  const config = configSummary(app.config, app.log.partitions);
  return {
    ingest: app.ingest,
    query: app.query,
    metrics: app.metrics,
    health: () => healthBody(app, lifecycle),
    async status(): Promise<StatusBody> {
      const now = app.clock.now();
      const partitions = app.runner.partitionStatus().map((p) => ({
        partition: p.partition,
        end_offset: p.endOffset,
        committed_offset: p.committedOffset,
        lag: p.lag,
        watermark: isoOrNull(p.watermark),
        max_event_time: isoOrNull(p.maxEventTime),
        idle: p.idle,
      }));
      const counters = app.runner.counters;
      const position = await app.store.retentionPosition();
      let appended = 0;
      for (let p = 0; p < app.log.partitions; p++) appended += app.log.endOffset(p);
      return {
        now: iso(now),
        started_at: iso(app.startedAt),
        uptime_seconds: Math.max(0, (now - app.startedAt) / 1000),
        watermark: isoOrNull(app.runner.watermark),
        closed_up_to: iso(app.query.closedUpTo()),
        lag: app.runner.lag(),
        partitions,
        state: stateStatus(app.runner),
        retention: {
          minutes_from: isoOrNull(position.minutesFrom),
          hours_from: isoOrNull(position.hoursFrom),
          minute_days: app.config.retention.minuteDays,
          hour_days: app.config.retention.hourDays,
        },
        totals: {
          appended,
          events: counters.events,
          duplicates: counters.duplicates,
          late: counters.late,
          dead_letters: await app.deadLetters.count(),
        },
        config,
      };
    },
  };
}

export interface Serving {
  /** the address the HTTP server listens on */
  address: string;
  dataDir: string;
  demo: boolean;
  /** drains (healthz 503), stops the demo, closes the server, then commits and closes the app */
  stop(): Promise<void>;
}

/**
 * `tally start`: the embedded app with its aggregator running, the HTTP API and dashboard
 * listening, and with `demo` synthetic clicks through the same ingest path.
 */
export async function serve(
  ctx: { config: Readonly<Config>; logger: Logger },
  opts: { demo: boolean },
): Promise<Serving> {
  const { config, logger } = ctx;
  const app = await openEmbedded(config, { logger });
  app.runner.start();
  // closed segments move to Parquet, and retention frees the log, by themselves
  if (config.archive.enabled) app.archiver.start(config.archive.intervalMs);
  // old minute rows roll up to hours and days by themselves
  if (config.retention.enabled) app.retention.start(config.retention.intervalMs);
  const lifecycle = new Lifecycle('starting');
  const server = buildHttpServer(httpDepsFromEmbedded(app, { lifecycle }), {
    bodyLimitBytes: config.http.bodyLimitBytes,
    logger,
  });
  let address: string;
  try {
    address = await server.listen({ host: config.http.host, port: config.http.port });
  } catch (err) {
    await server.close();
    await app.close();
    throw err;
  }
  const demo = opts.demo ? new DemoFeeder(app.ingest, config.demo, app.clock, logger) : undefined;
  demo?.start();
  lifecycle.ready();
  logger.info({ address, dataDir: config.dataDir, demo: Boolean(demo) }, 'tally is serving');
  return {
    address,
    dataDir: config.dataDir,
    demo: Boolean(demo),
    async stop() {
      lifecycle.stopping(); // /healthz answers 503: balancers drain this instance
      await demo?.stop();
      await server.close(); // stop accepting; in-flight requests finish (their appends are durable)
      await app.close(); // final cycle: commit and snapshot
    },
  };
}
