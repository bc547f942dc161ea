/**
 * What the CLI's read commands open: the store and the dead letters for reading, the log only
 * when a filter needs raw events. SQLite serves readers beside a running `tally start`, so
 * queries work while it runs; the log and the dead letters belong to their owning process.
 */
import { systemClock } from '../adapters/clock/system-clock.js';
import { openFileDeadLetters } from '../adapters/deadletters-file/index.js';
import { openEmbeddedLog } from '../adapters/log-embedded/index.js';
import { openSqliteStore } from '../adapters/store-sqlite/index.js';
import { TallyError } from '../core/errors.js';
import { minuteOf } from '../core/window/minute.js';
import { DEFAULT_CONSUMER } from '../services/aggregator/runner.js';
import { parseIntParam } from '../services/query/params.js';
import type { QueryService } from '../services/query/query-service.js';
import { TailGate } from '../services/archive/gate.js';
import { RawQueryService } from '../services/query/raw-query.js';
import { openArchive, tailOf } from './archive-access.js';
import type { AppContext } from './context.js';
import { dataPaths } from './paths.js';
import { queryService } from './query.js';

/**
 * Runs `fn` with a query service over the data dir's store. The default `to` of `top` comes
 * from the aggregator's last committed watermark.
 */
export async function withQuery<T>(
  ctx: AppContext,
  fn: (q: QueryService) => Promise<T>,
): Promise<T> {
  const { config, logger } = ctx;
  const paths = dataPaths(config.dataDir);
  const store = await openSqliteStore({ file: paths.store, logger });
  // filters on attributes that are not pre-aggregated read raw events: the log is opened
  // only then, and only when no running process owns it
  const raw = new RawQueryService({
    dedupHorizonMs: config.aggregation.dedupHorizonMs,
    access: async () => {
      const log = await openEmbeddedLog({ dir: paths.log, logger }).catch((e: unknown) => {
        throw new TallyError(
          'TALLY_UNAVAILABLE',
          `this filter reads raw events, and the log cannot be opened (${(e as Error).message}); ask the running server's HTTP API instead`,
          { field: 'filter', cause: e },
        );
      });
      try {
        // the archive belongs to the log's owner: opened only once the log's lock is ours
        const archive = await openArchive(config, logger);
        return {
          events: archive,
          tail: tailOf(log, archive),
          gate: new TailGate(),
          async close() {
            await archive.close();
            await log.close();
          },
        };
      } catch (e) {
        await log.close();
        throw e;
      }
    },
  });
  try {
    const aggregator = (await store.status()).consumers.find(
      (c) => c.consumer === DEFAULT_CONSUMER,
    );
    const watermark = aggregator?.watermark ?? -Infinity;
    const q = queryService(config, {
      reader: store,
      clock: systemClock,
      watermark: () => watermark,
      raw,
    });
    return await fn(q);
  } finally {
    await raw.close();
    await store.close();
  }
}

const iso = (t: number) => new Date(t).toISOString();

/** `tally deadletters`: rejected records with reason and payload, oldest first, as JSON lines. */
export async function deadLetterLines(
  ctx: AppContext,
  page: { limit?: string | undefined; offset?: string | undefined },
) {
  const limit = parseIntParam('limit', page.limit, 1000, 1, 10_000_000);
  const offset = parseIntParam('offset', page.offset, 0, 0, Number.MAX_SAFE_INTEGER);
  const dl = await openFileDeadLetters(dataPaths(ctx.config.dataDir).deadLetters);
  try {
    return (await dl.list(limit, offset)).map((l) => ({
      source: l.source,
      index: l.index,
      code: l.code,
      ...(l.field === undefined ? {} : { field: l.field }),
      error: l.reason,
      payload: l.payload,
      received_at: iso(l.receivedAt),
    }));
  } finally {
    await dl.close();
  }
}

/** `tally late`: events that came beyond the allowed lateness, in (partition, offset) order. */
export async function lateLines(ctx: AppContext, page: { limit?: string | undefined }) {
  const limit = parseIntParam('limit', page.limit, 1000, 1, 10_000_000);
  const store = await openSqliteStore({
    file: dataPaths(ctx.config.dataDir).store,
    logger: ctx.logger,
  });
  try {
    return (await store.late(limit)).map((l) => ({
      partition: l.partition,
      offset: l.offset,
      ad_id: l.adId,
      minute: iso(minuteOf(l.timestamp)),
      timestamp: iso(l.timestamp),
      event_id: l.eventId,
      // when the aggregator read it, and the watermark it was behind
      arrived_at: l.arrivedAt === undefined ? null : iso(l.arrivedAt),
      watermark: Number.isFinite(l.watermark) ? iso(l.watermark) : null,
      // the repair that recounted it into its minute (null: not yet; run tally reconcile --repair)
      repaired_by:
        l.foldedBy === undefined ? null : { run_id: l.foldedBy.runId, at: iso(l.foldedBy.at) },
      event: JSON.parse(l.raw) as unknown,
    }));
  } finally {
    await store.close();
  }
}
