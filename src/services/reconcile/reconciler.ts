/**
 * Reconciliation (the book's daily batch check, kappa style): the per-minute counts and top
 * lists are recomputed from the raw events (archive + log tail) by the SAME operator that
 * counts the stream, ClickAggregator, and compared with the store, row by row; `repair`
 * writes the recount over what differs, with an audit trail.
 *
 * How the operator is fed (one path, no second counting implementation): every event of
 * [from − history, to), in (event time, partition, offset) order, minute by minute; before a
 * minute's events the watermark is moved to the minute's start. So no event is ever behind
 * the watermark (lateness admits everything: the very late events recorded by the stream are
 * counted in their minute), each minute closes as soon as the next one starts, and dedup
 * expires entries one horizon of event time after they were counted. `history` (dedup horizon
 * + the longest top window) is fed but not compared: it tells the operator which events were
 * already counted, and it fills the top windows that start before `from`.
 *
 * Only FINAL minutes are compared and repaired: those whose end + allowed lateness is at or
 * below the aggregator's committed watermark. The stream never emits a final minute again (a
 * later event for it is late, recorded, and left to the next reconcile), so nothing the
 * aggregator does can undo a repair. Top lists are compared for the windows that end in
 * (from, to]; a window ending after `to` is checked by a reconcile whose range includes its end.
 */
import { ClickAggregator } from '../../core/operator/aggregator.js';
import type { MinuteRow, TopRow, RankedAd } from '../../core/aggregate/types.js';
import { ALL_DIMS } from '../../core/aggregate/types.js';
import { dimensionKey } from '../../core/aggregate/dimensions.js';
import { TallyError } from '../../core/errors.js';
import { MINUTE_MS, minuteOf } from '../../core/window/minute.js';
import type { Config } from '../../config/index.js';
import type { AggregateReader } from '../../ports/aggregate-reader.js';
import type {
  AggregateRepair,
  RepairReason,
  RepairRun,
  RowChange,
  TopChange,
} from '../../ports/aggregate-repair.js';
import type { Clock } from '../../ports/clock.js';
import type { AggregateRetention } from '../../ports/aggregate-retention.js';
import type { RawEvents, RawTail } from '../../ports/raw-archive.js';
import { operatorConfig } from '../aggregator/runner.js';
import type { TailGate } from '../archive/gate.js';
import type { Logger } from '../observability/logger.js';

export interface ReconcilerOptions {
  events: RawEvents;
  tail: () => RawTail;
  gate: TailGate;
  store: AggregateRepair &
    Pick<AggregateReader, 'status' | 'storedTop'> &
    Pick<AggregateRetention, 'retentionPosition'>;
  partitions: number;
  aggregation: Config['aggregation'];
  maxRangeDays: number;
  clock: Clock;
  logger: Logger;
  /** the consumer whose output is reconciled */
  consumer: string;
}

export interface ReconcileRequest {
  from?: number | undefined;
  to?: number | undefined;
  repair: boolean;
  /** what the audit trail says this run was (e.g. the command line) */
  note?: string;
  onProgress?: (p: ReconcileProgress) => void;
}

export interface ReconcileProgress {
  minutesDone: number;
  minutesTotal: number;
  events: number;
}

export interface RowDifference {
  minute: number;
  adId: string;
  dim: string;
  stored: number;
  recounted: number;
  reason: RepairReason;
}

export interface TopDifference {
  windowMinutes: number;
  endMinute: number;
  /** the list of one dimension value (`country=US`); absent: of every event */
  dim?: string;
  stored: RankedAd[] | undefined;
  recounted: RankedAd[] | undefined;
}

export interface ReconcileReport {
  from: number;
  to: number;
  /** the end of the final minutes when the run started (minutes below it are final) */
  finalUpTo: number;
  /** whether `to` was lowered to finalUpTo */
  clamped: boolean;
  eventsReplayed: number;
  minutesChecked: number;
  rowsChecked: number;
  topsChecked: number;
  differences: RowDifference[];
  topDifferences: TopDifference[];
  totals: { stored: number; recounted: number; delta: number };
  repair: RepairRun | undefined;
}

/** how many changes one repair transaction carries */
const REPAIR_CHUNK = 2_000;
const DAY_MS = 86_400_000;

const rowKey = (minute: number, dim: string, adId: string) => `${minute}\u0000${dim}\u0000${adId}`;

function sameAds(a: readonly RankedAd[] | undefined, b: readonly RankedAd[] | undefined): boolean {
  const x = a ?? [];
  const y = b ?? [];
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) {
    if (x[i]!.adId !== y[i]!.adId || x[i]!.count !== y[i]!.count) return false;
  }
  return true;
}

export class Reconciler {
  constructor(private readonly o: ReconcilerOptions) {}

  async run(req: ReconcileRequest): Promise<ReconcileReport> {
    const { store, aggregation, clock } = this.o;
    const status = await store.status();
    const consumer = status.consumers.find((c) => c.consumer === this.o.consumer);
    const W = consumer?.watermark ?? -Infinity;
    const finalUpTo = Number.isFinite(W) ? minuteOf(W - aggregation.allowedLatenessMs) : -Infinity;
    const to = req.to === undefined ? finalUpTo : Math.ceil(req.to / MINUTE_MS) * MINUTE_MS;
    const clampedTo = Math.min(to, finalUpTo);
    const from =
      req.from === undefined ? clampedTo - DAY_MS : Math.ceil(req.from / MINUTE_MS) * MINUTE_MS;
    if (req.from !== undefined && req.to !== undefined && req.from > req.to) {
      throw new TallyError('TALLY_BAD_PARAMETER', 'from: must not be after to', { field: 'from' });
    }
    if (Number.isFinite(clampedTo) && clampedTo - from > this.o.maxRangeDays * DAY_MS) {
      throw new TallyError(
        'TALLY_BAD_PARAMETER',
        `from: a reconcile reads at most ${this.o.maxRangeDays} days (archive.maxRawRangeDays)`,
        { field: 'from', details: { maxRawRangeDays: this.o.maxRangeDays } },
      );
    }
    // reconcile and repair compare and write minute rows: a range whose minutes were rolled up
    // to hourly totals (retention) has none left to compare or repair
    const { minutesFrom } = await store.retentionPosition();
    if (from < minutesFrom)
      throw new TallyError(
        'TALLY_BAD_PARAMETER',
        `from: minutes before ${new Date(minutesFrom).toISOString()} are rolled up to hourly ` +
          'totals (retention.minuteDays): reconcile and repair cover the minutes kept',
        { field: 'from', details: { minutesFrom } },
      );
    const report: ReconcileReport = {
      from,
      to: Number.isFinite(clampedTo) ? Math.max(from, clampedTo) : from,
      finalUpTo,
      clamped: clampedTo < to,
      eventsReplayed: 0,
      minutesChecked: 0,
      rowsChecked: 0,
      topsChecked: 0,
      differences: [],
      topDifferences: [],
      totals: { stored: 0, recounted: 0, delta: 0 },
      repair: undefined,
    };
    if (!(report.to > from)) return report;

    const runId = req.repair
      ? await store.beginRepair({
          fromMinute: from,
          toMinute: report.to,
          startedAt: clock.now(),
          note: req.note ?? 'tally reconcile --repair',
        })
      : undefined;
    const fence = { consumer: this.o.consumer, seq: consumer?.seq ?? 0 };
    const pendingRows: RowChange[] = [];
    const pendingTops: TopChange[] = [];
    const flush = async (force: boolean) => {
      if (runId === undefined) return;
      if (!force && pendingRows.length + pendingTops.length < REPAIR_CHUNK) return;
      if (pendingRows.length + pendingTops.length === 0) return;
      await store.applyRepair({
        runId,
        rows: pendingRows.splice(0),
        tops: pendingTops.splice(0),
        at: clock.now(),
        fence,
      });
    };

    await this.o.gate.shared(() =>
      this.recount(from, report, pendingRows, pendingTops, flush, req),
    );
    await flush(true);
    if (runId !== undefined) {
      report.repair = await store.finishRepair(runId, {
        finishedAt: clock.now(),
        lateFromTime: from,
        lateToTime: report.to,
      });
      this.o.logger.info(
        { runId, rows: report.repair.rowsChanged, tops: report.repair.topsChanged },
        'reconcile: repair done',
      );
    }
    return report;
  }

  private async recount(
    from: number,
    report: ReconcileReport,
    pendingRows: RowChange[],
    pendingTops: TopChange[],
    flush: (force: boolean) => Promise<void>,
    req: ReconcileRequest,
  ): Promise<void> {
    const { store, aggregation, clock } = this.o;
    const to = report.to;
    const cfg = operatorConfig(aggregation);
    const longestWindow = Math.max(1, ...cfg.topWindows) * MINUTE_MS;
    const history = cfg.dedupHorizonMs + longestWindow;
    const start = minuteOf(from - history);
    const op = new ClickAggregator(cfg, this.o.partitions, clock.now());
    const lateCounts = await this.lateCounts(from, to);
    const minutesTotal = (to - from) / MINUTE_MS;
    // rows the recount emitted, by minute, until that minute is compared
    const recounted = new Map<number, MinuteRow[]>();
    // (window, end) of the lists the recount made
    const recountedTops = new Set<string>();
    let nextMinute = from;
    let events = 0;
    const progress = () =>
      req.onProgress?.({
        minutesDone: Math.max(0, (Math.min(nextMinute, to) - from) / MINUTE_MS),
        minutesTotal,
        events,
      });

    const compareUpTo = async (closedEnd: number) => {
      const upTo = Math.min(closedEnd, to);
      for (; nextMinute < upTo; nextMinute += MINUTE_MS) {
        await this.compareMinute(
          nextMinute,
          recounted.get(nextMinute) ?? [],
          lateCounts,
          report,
          pendingRows,
        );
        recounted.delete(nextMinute);
        await flush(false);
      }
      progress();
    };
    const take = async () => {
      const out = op.takeOutput();
      if (out.late.length > 0) {
        // cannot happen: every minute is fed with the watermark at its start
        throw new TallyError(
          'TALLY_INTERNAL',
          `reconcile: ${out.late.length} events judged late in a replay`,
        );
      }
      for (const r of out.rows) {
        if (r.minute < from || r.minute >= to) continue;
        let list = recounted.get(r.minute);
        if (list === undefined) recounted.set(r.minute, (list = []));
        list.push(r);
      }
      for (const t of out.top) {
        if (t.endMinute <= from || t.endMinute > to) continue;
        await this.compareTop(t, report, pendingTops);
        recountedTops.add(topKey(t));
      }
      await compareUpTo(op.watermark);
    };

    progress();
    report.eventsReplayed = await this.o.events.replay(
      start,
      to,
      this.o.tail(),
      cfg.dimensions,
      async (m) => {
        op.onWatermark(m.minute);
        await take();
        const now = clock.now();
        for (const b of m.batches) {
          op.onRecords(b.partition, b.data, 0, now);
          events += b.count;
        }
      },
    );
    op.onWatermark(to);
    await take();
    await compareUpTo(to);
    // lists the store holds for windows the recount has none for (no events in them)
    for (const t of await store.topRows(from, to)) {
      if (recountedTops.has(topKey(t))) continue;
      report.topsChecked++;
      if (t.ads.length === 0) continue;
      this.noteTop(t, t.ads, undefined, report, pendingTops);
    }
  }

  private async compareMinute(
    minute: number,
    rows: MinuteRow[],
    lateCounts: Map<string, number>,
    report: ReconcileReport,
    pending: RowChange[],
  ): Promise<void> {
    const stored = new Map<string, MinuteRow>();
    for (const r of await this.o.store.minuteRows(minute))
      stored.set(rowKey(r.minute, r.dim, r.adId), r);
    report.minutesChecked++;
    const seen = new Set<string>();
    const diff = (adId: string, dim: string, before: number, after: number) => {
      report.rowsChecked++;
      if (dim === ALL_DIMS) {
        report.totals.stored += before;
        report.totals.recounted += after;
        report.totals.delta += after - before;
      }
      if (before === after) return;
      const late = lateCounts.get(rowKey(minute, dim, adId)) ?? 0;
      const reason: RepairReason =
        after > before && late >= after - before ? 'late events' : 'store mismatch';
      report.differences.push({ minute, adId, dim, stored: before, recounted: after, reason });
      pending.push({ minute, dim, adId, oldCount: before, newCount: after, reason });
    };
    for (const r of rows) {
      const k = rowKey(minute, r.dim, r.adId);
      seen.add(k);
      diff(r.adId, r.dim, stored.get(k)?.count ?? 0, r.count);
    }
    for (const [k, r] of stored) if (!seen.has(k)) diff(r.adId, r.dim, r.count, 0);
  }

  private async compareTop(
    t: TopRow,
    report: ReconcileReport,
    pending: TopChange[],
  ): Promise<void> {
    report.topsChecked++;
    const stored = await this.o.store.storedTop(t.windowMinutes, t.endMinute, t.dim);
    if (sameAds(stored?.ads, t.ads)) return;
    this.noteTop(t, stored?.ads, t.ads, report, pending);
  }

  /** `at`: the list's window, end and dimension value (absent: every event) */
  private noteTop(
    at: Pick<TopRow, 'windowMinutes' | 'endMinute' | 'dim'>,
    stored: RankedAd[] | undefined,
    recounted: RankedAd[] | undefined,
    report: ReconcileReport,
    pending: TopChange[],
  ): void {
    const { windowMinutes, endMinute } = at;
    const dim = at.dim === undefined ? {} : { dim: at.dim };
    report.topDifferences.push({ windowMinutes, endMinute, ...dim, stored, recounted });
    pending.push({ windowMinutes, endMinute, ...dim, oldAds: stored, newAds: recounted });
  }

  /** late records per (minute, dim, ad): how far late events explain a difference */
  private async lateCounts(from: number, to: number): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const bump = (k: string) => out.set(k, (out.get(k) ?? 0) + 1);
    const dims = this.o.aggregation.dimensions;
    for (const l of await this.o.store.lateBetween(from, to)) {
      const minute = minuteOf(l.timestamp);
      bump(rowKey(minute, ALL_DIMS, l.adId));
      let ev: Record<string, unknown> = {};
      try {
        ev = JSON.parse(l.raw) as Record<string, unknown>;
      } catch {
        // a record the aggregator wrote: JSON always; a bad one only loses its dimension rows
      }
      for (const d of dims) {
        const v = ev[d];
        if (typeof v === 'string') bump(rowKey(minute, dimensionKey(d, v), l.adId));
      }
    }
    return out;
  }
}

/** a most-clicked list's identity: window, end, dimension value ('*': every event) */
function topKey(t: Pick<TopRow, 'windowMinutes' | 'endMinute' | 'dim'>): string {
  return `${t.windowMinutes}/${t.endMinute}/${t.dim ?? ALL_DIMS}`;
}
