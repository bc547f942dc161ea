import type { Config } from '../config/index.js';
import { DemoFeeder } from '../services/demo/demo-feeder.js';
import type { HttpDeps } from '../services/http/deps.js';
import { Lifecycle } from '../services/http/lifecycle.js';
import type { StatusBody } from '../services/http/schemas.js';
import { buildHttpServer } from '../services/http/server.js';
import type { Logger } from '../services/observability/logger.js';
import type { EmbeddedApp } from './embedded.js';
import { openEmbedded } from './embedded.js';

const iso = (t: number) => new Date(t).toISOString();
const isoOrNull = (t: number | null | undefined) =>
  typeof t === 'number' && Number.isFinite(t) ? iso(t) : null;

/** The config as /v1/status shows it: what an operator needs to read the numbers. */
function configSummary(config: Readonly<Config>, partitions: number): StatusBody['config'] {
  const a = config.aggregation;
  return {
    mode: config.mode,
    partitions,
    durability: config.log.durability,
    watermark_delay_ms: a.watermarkDelayMs,
    allowed_lateness_ms: a.allowedLatenessMs,
    idle_timeout_ms: a.idleTimeoutMs,
    dedup_horizon_ms: a.dedupHorizonMs,
    dimensions: [...a.dimensions],
    top_n: a.topN,
    top_windows: [...a.topWindows],
    filters: { ...config.filters },
  };
}

/**
 * HttpDeps of the embedded default: services from the app, status from its runner, log and
 * dead-letter store. Pass a Lifecycle to control readiness; without one the app counts as
 * ready (it is restored by the time openEmbedded resolves).
 */
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
    health: () => ({
      status: lifecycle.state,
      live: true,
      ready: lifecycle.state === 'ready',
      uptime_seconds: Math.max(0, (app.clock.now() - app.startedAt) / 1000),
    }),
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
