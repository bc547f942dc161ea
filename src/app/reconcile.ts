import { openSqliteStore } from '../adapters/store-sqlite/index.js';
import { DEFAULT_CONSUMER } from '../services/aggregator/runner.js';
import { parseIntParam, parseTime } from '../services/query/params.js';
import {
  Reconciler,
  type ReconcileProgress,
  type ReconcileReport,
} from '../services/reconcile/reconciler.js';
import type { AppContext } from './context.js';
import { openEmbedded } from './embedded.js';
import { dataPaths } from './paths.js';

/**
 * `tally reconcile [--from --to] [--repair]`. It takes the data dir for itself (a running
 * `tally start` owns it: stop it first): the recount reads the log's tail, and a repair must
 * not interleave with the aggregator's commits (the store fences it against them as well).
 */
export async function reconcile(
  ctx: AppContext,
  args: { from?: string | undefined; to?: string | undefined; repair: boolean; note?: string },
  onProgress?: (p: ReconcileProgress) => void,
): Promise<ReconcileReport> {
  const from = parseTime('from', args.from);
  const to = parseTime('to', args.to);
  const app = await openEmbedded(ctx.config, { logger: ctx.logger, restoreAggregator: false });
  try {
    const reconciler = new Reconciler({
      events: app.archive,
      tail: app.tail,
      gate: app.gate,
      store: app.store,
      partitions: app.log.partitions,
      aggregation: ctx.config.aggregation,
      maxRangeDays: ctx.config.archive.maxRawRangeDays,
      clock: app.clock,
      logger: ctx.logger,
      consumer: DEFAULT_CONSUMER,
    });
    return await reconciler.run({
      from,
      to,
      repair: args.repair,
      ...(args.note === undefined ? {} : { note: args.note }),
      ...(onProgress === undefined ? {} : { onProgress }),
    });
  } finally {
    await app.close();
  }
}

const iso = (t: number) => new Date(t).toISOString();
const isoOr = (t: number | undefined) => (t === undefined || !Number.isFinite(t) ? null : iso(t));

/** The report as JSON (snake_case, ISO times), as `tally reconcile` prints it. */
export function reportJson(r: ReconcileReport) {
  return {
    from: iso(r.from),
    to: iso(r.to),
    final_up_to: isoOr(r.finalUpTo),
    clamped: r.clamped,
    events_replayed: r.eventsReplayed,
    minutes_checked: r.minutesChecked,
    rows_checked: r.rowsChecked,
    tops_checked: r.topsChecked,
    totals: {
      rows_differing: r.differences.length,
      tops_differing: r.topDifferences.length,
      stored: r.totals.stored,
      recounted: r.totals.recounted,
      delta: r.totals.delta,
    },
    differences: r.differences.map((d) => ({
      minute: iso(d.minute),
      ad_id: d.adId,
      dim: d.dim,
      stored: d.stored,
      recounted: d.recounted,
      delta: d.recounted - d.stored,
      reason: d.reason,
    })),
    top_differences: r.topDifferences.map((t) => ({
      window: t.windowMinutes,
      end: iso(t.endMinute),
      dim: t.dim ?? '*',
      stored: t.stored?.map((a) => ({ ad_id: a.adId, count: a.count })) ?? null,
      recounted: t.recounted?.map((a) => ({ ad_id: a.adId, count: a.count })) ?? null,
    })),
    repair:
      r.repair === undefined
        ? null
        : {
            run_id: r.repair.runId,
            rows_changed: r.repair.rowsChanged,
            tops_changed: r.repair.topsChanged,
            late_folded: r.repair.lateFolded,
            started_at: iso(r.repair.startedAt),
            finished_at: isoOr(r.repair.finishedAt),
          },
  };
}

/** `tally repairs`: the audit trail, newest run first, each with its changed rows. */
export async function repairLines(
  ctx: AppContext,
  page: { limit?: string | undefined; run?: string | undefined },
) {
  const limit = parseIntParam('limit', page.limit, 100, 1, 1_000_000);
  const runId =
    page.run === undefined
      ? undefined
      : parseIntParam('run', page.run, 0, 1, Number.MAX_SAFE_INTEGER);
  const store = await openSqliteStore({
    file: dataPaths(ctx.config.dataDir).store,
    logger: ctx.logger,
  });
  try {
    const runs = (await store.repairRuns(runId === undefined ? limit : 1_000_000)).filter(
      (r) => runId === undefined || r.runId === runId,
    );
    const out = [];
    for (const r of runs) {
      const changes = await store.repairChanges(limit, r.runId);
      out.push({
        run_id: r.runId,
        status: r.status,
        started_at: iso(r.startedAt),
        finished_at: isoOr(r.finishedAt),
        from: iso(r.fromMinute),
        to: iso(r.toMinute),
        rows_changed: r.rowsChanged,
        tops_changed: r.topsChanged,
        late_folded: r.lateFolded,
        note: r.note,
        changes: changes.map((c) => ({
          minute: iso(c.minute),
          ad_id: c.adId,
          dim: c.dim,
          old: c.oldCount,
          new: c.newCount,
          reason: c.reason,
          at: iso(c.changedAt),
        })),
      });
    }
    return out;
  } finally {
    await store.close();
  }
}
