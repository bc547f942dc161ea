/**
 * The aggregation operator: binary click records in, per-minute counts, top-N lists and late
 * events out. A run is a deterministic function of its input batches and its onWatermark
 * calls, which is what makes exactly-once replay possible: the runner records each cycle's
 * watermark and, after a crash, restores the last snapshot and replays the same calls.
 *
 * Semantics (the test oracle, test/unit/engine/oracle.ts, implements exactly this):
 * - Windows: tumbling event-time UTC minutes [m, m + 60 000); minute(ts) = floor(ts/60 000)·60 000.
 * - Partition watermark: maxEventTime(p) − watermarkDelay; none before p's first event.
 * - Idleness: p is idle if no record arrived on it for idleTimeout of wall time (never: idle);
 *   an arrival is an onRecords call on p with at least one record (duplicates and late ones
 *   included), at that call's `now`.
 *   computeWatermark(now) = max(W, min over non-idle partitions' watermarks), or
 *   max(W, now − watermarkDelay) when all are idle; a non-idle partition without a watermark
 *   (it received only duplicates) holds W where it is. It does not apply the value.
 * - The pipeline watermark W changes ONLY in onWatermark(wm): W = max(W, wm). Events are
 *   judged against the current W.
 * - Each event, in input order:
 *   1. dedup key = the record's 128-bit key (hash of ad_id, event_id). Remembered with
 *      expiry > W → duplicate (stats.duplicates), ignored. Otherwise remembered with
 *      expiry = timestamp + dedupHorizon (an entry with expiry ≤ W is as good as absent).
 *   2. the arrival partition's max event time is updated.
 *   3. minute(ts) + 60 000 + allowedLateness ≤ W → LATE: output as a LateEvent (partition,
 *      offset, decoded event, W), stats.late, counted in no minute.
 *   4. otherwise +1 for (minute, ad, '*') and for (minute, ad, 'dim=value') for each
 *      configured dimension the event has. A closed (already emitted) minute is corrected.
 * - onWatermark(wm): W = max(W, wm); every minute with data whose end ≤ W is emitted once as
 *   absolute MinuteRows; closed minutes that received events since are re-emitted, only the
 *   changed (ad, dim) rows, with absolute counts. A minute is final (dropped) once
 *   end + allowedLateness ≤ W; dedup entries with expiry ≤ W are dropped.
 * - Top N, for each window of M minutes (topWindows) and each end e (a multiple of 60 000)
 *   with e ≤ W whose minutes [e − M·60 000, e) hold data: the exact top N ads by '*' total,
 *   ties by ad_id ascending (JS string order). A TopRow is emitted when (M, e) first closes
 *   and again at every onWatermark after a correction changed a minute inside it. Ends are
 *   derived from the minutes that hold data, so W = +Infinity (drain) is bounded.
 * - Top N per dimension value, for each such (M, e) and each value v of a configured
 *   dimension with events in [e − M·60 000, e): the same list over the (ad, v) totals, as a
 *   TopRow with dim 'd=v'; emitted with every value when (M, e) first closes, and again at an
 *   onWatermark after events counted into closed minutes, for the values of those events
 *   (the list as it then is, if the value has events in the window). Sorted after '*' by dim.
 * - Output order: rows in no particular order within one onWatermark (they are upserts);
 *   top rows sorted by (end, window); late events in input order.
 *
 * Structure (the book's MapReduce DAG inside one operator): ads are routed to one
 * AggregateNode each (the partition they first arrived on: partitioning is by ad_id, so in
 * practice their partition); each node counts its ads per minute and keeps a bounded-heap
 * top N; the global top N is mergeTopLists of the nodes' lists (the reduce step), exact
 * because the nodes' ad sets are disjoint.
 *
 * The state and its layout are state.ts's; counting is counting.ts, emission emission.ts,
 * the snapshot format snapshot.ts. This class is their lifecycle: onRecords, onWatermark,
 * takeOutput, snapshot and restore.
 */
import { TallyError } from '../errors.js';
import { encodeEvents } from '../event/codec.js';
import type { ClickEvent } from '../event/types.js';
import { isIdle, partitionWatermark, pipelineWatermark } from '../watermark/watermark.js';
import type { AggregatorConfig } from './config.js';
import { normaliseAggregatorConfig } from './config.js';
import { Counter } from './counting.js';
import { Emitter } from './emission.js';
import type { EngineTuning } from './node.js';
import { OutputBuffer, type OperatorOutput } from './output.js';
import { readSnapshot, writeSnapshot } from './snapshot.js';
import { pieceSteps, readChain, writePiece, type SnapshotPiece } from './incremental.js';
import { OperatorState } from './state.js';
import { MINUTE_MS } from '../window/minute.js';

export type { AggregatorConfig } from './config.js';
export { DEFAULT_AGGREGATOR_CONFIG } from './config.js';
export type { EngineTuning } from './node.js';
export type { OperatorOutput, OperatorStats } from './output.js';
export type { SnapshotPiece } from './incremental.js';

export interface StateStats {
  ads: number;
  /** occupied dedup slots (entries dead but not yet swept included) */
  dedupEntries: number;
  dedupBytes: number;
  dedupCapacity: number;
  panes: number;
  /** panes whose rows can still change (open, or closed within the lateness) */
  openPanes: number;
  /** (ad, minute) and (ad, minute, dimension value) counts in those panes */
  openRows: number;
  /** the same counts in every retained pane */
  paneEntries: number;
  /** interned ad ids and the per-ad arrays (routing, running window totals) */
  adsBytes: number;
  /** the retained panes' count maps */
  paneBytes: number;
  /** top lists ('*' and per dimension value) and the running pair totals of the latter */
  topBytes: number;
  stateBytes: number;
}

export interface PartitionStatus {
  partition: number;
  /** largest event time seen; null before the first event */
  maxEventTime: number | null;
  /** maxEventTime − watermarkDelay; null before the first event */
  watermark: number | null;
  idle: boolean;
  /** wall-clock ms of the last arrival; null if nothing arrived */
  lastArrival: number | null;
  /** the offset to read next (firstOffset + records of the last batch) */
  nextOffset: number;
}

export class ClickAggregator {
  private readonly st: OperatorState;
  private readonly out = new OutputBuffer();
  private readonly counter: Counter;
  private readonly emitter: Emitter;

  /** `tuning` changes memory layouts only, never results (the tests run both ways). */
  constructor(cfg: AggregatorConfig, partitions: number, now: number, tuning: EngineTuning = {}) {
    const normal = normaliseAggregatorConfig(cfg);
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > 65_536)
      throw new TallyError('TALLY_CONFIG_INVALID', `partitions must be an integer in 1…65536`, {
        field: 'partitions',
      });
    this.st = new OperatorState(normal, partitions, now, tuning);
    this.counter = new Counter(this.st, this.out);
    this.emitter = new Emitter(this.st, this.out);
  }

  get config(): Readonly<AggregatorConfig> {
    return this.st.cfg;
  }

  get partitions(): number {
    return this.st.nodes.length;
  }

  /** the pipeline watermark W (−Infinity before the first onWatermark) */
  get watermark(): number {
    return this.st.W;
  }

  /**
   * Feeds `data`, concatenated framed records of ONE partition, the first at `firstOffset`;
   * `now` is the wall clock at arrival. Returns the number of records consumed (all of them;
   * a corrupt record throws TALLY_LOG_CORRUPT after the records before it were applied).
   */
  onRecords(partition: number, data: Uint8Array, firstOffset: number, now: number): number {
    return this.counter.onRecords(partition, data, firstOffset, now);
  }

  /** Convenience for tests and tools: encodes the events with the log's codec, then onRecords. */
  onEvents(partition: number, events: ClickEvent[], firstOffset: number, now: number): void {
    this.onRecords(partition, encodeEvents(events), firstOffset, now);
  }

  /** The watermark the pipeline may advance to at wall time `now` (not applied). */
  computeWatermark(now: number): number {
    const st = this.st;
    return pipelineWatermark(st.progress, now, st.cfg, st.W, st.startedAt);
  }

  /** Advances W to max(W, wm) and emits what closed, what was corrected, and the top lists. */
  onWatermark(wm: number): void {
    const steps = this.onWatermarkSteps(wm);
    while (steps.next().done !== true);
  }

  /**
   * onWatermark in steps (the emission of a closing minute of millions of ads takes seconds):
   * a caller may let other work run between them, but must not feed the operator, take its
   * output or snapshot it until the last step.
   */
  *onWatermarkSteps(wm: number): Generator<void, void> {
    const st = this.st;
    const before = st.W;
    if (wm > before) st.W = wm;
    const W = st.W;
    yield* this.emitter.emit(before, W);
    st.dimTops.retain(W);
    yield;
    for (const node of st.nodes) {
      // dropping a pane subtracts its counts from the running totals: millions at 2M ads
      node.retain(W, st.cfg.allowedLatenessMs, st.longestWindowMs, st.dimTops.keepDims);
      yield;
    }
    st.dedup.maintain(W);
  }

  /** What was emitted since the last call. */
  takeOutput(): OperatorOutput {
    return this.out.take();
  }

  partitionStatus(now: number): PartitionStatus[] {
    const cfg = this.st.cfg;
    return this.st.progress.map((p, partition) => ({
      partition,
      maxEventTime: p.maxEventTime ?? null,
      watermark: partitionWatermark(p, cfg) ?? null,
      idle: isIdle(p, now, cfg),
      lastArrival: p.lastArrival ?? null,
      nextOffset: p.nextOffset,
    }));
  }

  /**
   * Sizes of the in-memory state, for status, metrics, the memory budget and benchmarks.
   * Bytes are those of the typed arrays that hold the state (capacity, not only what is
   * used), which is nearly all of it; `stateBytes` is their sum.
   */
  memoryStats(): StateStats {
    const st = this.st;
    let panes = 0;
    let paneBytes = 0;
    let openRows = 0;
    let openPanes = 0;
    let paneEntries = 0;
    let topBytes = 0;
    const finalBefore = st.W - st.cfg.allowedLatenessMs - MINUTE_MS;
    for (const n of st.nodes) {
      panes += n.panes.length;
      paneBytes += n.localIds.byteLength + n.correctedAds.byteLength;
      for (const p of n.panes) {
        paneEntries += (p.dense?.size ?? p.star.size) + (p.dims?.size ?? 0);
        paneBytes += p.star.memoryBytes + (p.dense?.memoryBytes ?? 0) + (p.dims?.memoryBytes ?? 0);
        // open: its rows can still change (not yet final)
        if (p.minute > finalBefore || p.dense !== null) {
          openPanes++;
          openRows += (p.dense?.size ?? p.star.size) + (p.dims?.size ?? 0);
        }
      }
      for (const tops of n.tops) for (const t of tops.values()) topBytes += t.ids.byteLength * 3;
    }
    topBytes += st.dimTops.memoryBytes;
    let adsBytes =
      st.ads.memoryBytes +
      st.owner.byteLength +
      st.local.byteLength +
      st.corrected.byteLength +
      st.adTexts.length * 8;
    for (const s of st.shared) if (s !== null) adsBytes += s.memoryBytes;
    const dedupBytes = st.dedup.memoryBytes;
    return {
      ads: st.ads.size,
      dedupEntries: st.dedup.size,
      dedupBytes,
      dedupCapacity: st.dedup.capacity,
      panes,
      openPanes,
      openRows,
      paneEntries,
      adsBytes,
      paneBytes,
      topBytes,
      stateBytes: dedupBytes + adsBytes + paneBytes + topBytes,
    };
  }

  /**
   * The complete state, compact and versioned (snapshot.ts). Output not yet taken is not
   * part of it: take it first (the runner commits a cycle's output with the snapshot).
   */
  snapshot(): Uint8Array {
    return writeSnapshot(this.st);
  }

  /**
   * The next piece of the incremental snapshot chain (incremental.ts): a delta holding what
   * changed since the last piece, or a base holding everything when there is no chain yet,
   * the dedup table was rebuilt, or the deltas add up to more than `compactRatio` × the base.
   * Its chunks may be views of the live state: store them before the operator is fed again.
   * Output not yet taken is not part of it (as for snapshot()).
   */
  snapshotPiece(compactRatio: number, forceBase = false): SnapshotPiece {
    return writePiece(this.st, this.nextIsBase(compactRatio, forceBase));
  }

  /**
   * snapshotPiece in steps (pieceSteps): a caller may let other work run between them, but
   * must not feed the operator, move its watermark or take its output until the last step.
   */
  snapshotPieceSteps(compactRatio: number, forceBase = false): Generator<void, SnapshotPiece> {
    return pieceSteps(this.st, this.nextIsBase(compactRatio, forceBase));
  }

  private nextIsBase(compactRatio: number, forceBase: boolean): boolean {
    const st = this.st;
    return (
      forceBase ||
      st.chain === null ||
      st.dedup.relocated ||
      st.chain.deltaBytes > compactRatio * st.chain.baseBytes
    );
  }

  /** The chain the next snapshotPiece extends: sizes of its base and deltas; null if none. */
  get snapshotChain(): Readonly<{ baseBytes: number; deltaBytes: number; deltas: number }> | null {
    return this.st.chain;
  }

  /**
   * Rebuilds an operator from a chain of snapshotPiece() pieces, base first. `own`: the
   * chunks are the caller's to give away (a store's fresh read, used once): the base's dedup
   * slots become the table as they are, instead of being copied.
   */
  static restoreChain(
    cfg: AggregatorConfig,
    partitions: number,
    pieces: readonly (readonly Uint8Array[])[],
    now: number,
    tuning: EngineTuning = {},
    own = false,
  ): ClickAggregator {
    return ClickAggregator.loading(cfg, partitions, now, tuning, (st) =>
      readChain(st, pieces, own),
    );
  }

  /** Rebuilds an operator from snapshot(); bad bytes throw TALLY_SNAPSHOT_INVALID. */
  static restore(
    cfg: AggregatorConfig,
    partitions: number,
    bytes: Uint8Array,
    now: number,
    tuning: EngineTuning = {},
  ): ClickAggregator {
    return ClickAggregator.loading(cfg, partitions, now, tuning, (st) => readSnapshot(st, bytes));
  }

  private static loading(
    cfg: AggregatorConfig,
    partitions: number,
    now: number,
    tuning: EngineTuning,
    load: (st: OperatorState) => void,
  ): ClickAggregator {
    const agg = new ClickAggregator(cfg, partitions, now, tuning);
    try {
      load(agg.st);
      // the per-value lists and their running totals are a function of the panes
      agg.st.dimTops.rebuild(agg.emitter.dataMinutes());
    } catch (e) {
      if (e instanceof TallyError && e.code === 'TALLY_SNAPSHOT_INVALID') throw e;
      throw new TallyError(
        'TALLY_SNAPSHOT_INVALID',
        `operator snapshot: unreadable (${String(e)})`,
        {
          cause: e,
        },
      );
    }
    return agg;
  }
}
