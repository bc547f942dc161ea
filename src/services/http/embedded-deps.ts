import type { EmbeddedApp } from '../../app/embedded.js';
import type { HttpDeps } from './deps.js';
import { Lifecycle } from './lifecycle.js';
import type { StatusBody } from './schemas.js';

const iso = (t: number) => new Date(t).toISOString();
const isoOrNull = (t: number | null | undefined) =>
  typeof t === 'number' && Number.isFinite(t) ? iso(t) : null;

/** The config as /v1/status shows it: what an operator needs to read the numbers. */
function configSummary(app: EmbeddedApp): StatusBody['config'] {
  const c = app.config;
  const a = c.aggregation;
  return {
    mode: c.mode,
    partitions: app.log.partitions,
    durability: c.log.durability,
    watermark_delay_ms: a.watermarkDelayMs,
    allowed_lateness_ms: a.allowedLatenessMs,
    idle_timeout_ms: a.idleTimeoutMs,
    dedup_horizon_ms: a.dedupHorizonMs,
    dimensions: [...a.dimensions],
    top_n: a.topN,
    top_windows: [...a.topWindows],
    filters: { ...c.filters },
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
  const config = configSummary(app);
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
