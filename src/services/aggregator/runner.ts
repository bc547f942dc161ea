import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Config } from '../../config/index.js';
import { MINUTE_MS, minuteOf } from '../../core/window/minute.js';
import {
  ClickAggregator,
  type AggregatorConfig,
  type SnapshotPiece,
} from '../../core/operator/aggregator.js';
import { isTallyError } from '../../core/errors.js';
import type { EventLog } from '../../ports/event-log.js';
import type { AggregateSink, CommitBatch } from '../../ports/aggregate-sink.js';
import { toLateRecord } from '../../ports/aggregates.js';
import type { Clock } from '../../ports/clock.js';
import type { HealthBoard } from '../observability/health-board.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';

/** The last snapshot piece this runner committed (status, metrics, the soak benchmark). */
export interface SnapshotInfo {
  kind: 'base' | 'delta';
  bytes: number;
  /** writing the piece and committing it with its cycle */
  ms: number;
  at: number;
  /** the stored chain after it: its base's bytes, its deltas' bytes and count */
  chain: { baseBytes: number; deltaBytes: number; deltas: number };
}

/** The last restore: snapshot + replay, and its parts. */
export interface RestoreInfo {
  replayedCycles: number;
  replayedRecords: number;
  ms: number;
  /** reading the checkpoint (the snapshot chain) from the store */
  loadMs: number;
  /** rebuilding the operator from it */
  stateMs: number;
  /** replaying the cycles committed after it */
  replayMs: number;
}

/**
 * The longest stretch the operator's stepped work (emission, snapshot encoding) holds the
 * event loop before letting it turn.
 */
const SLICE_MS = 10;

/** Runs `steps` to the end, with a turn of the event loop whenever they held it SLICE_MS. */
async function sliced<T>(steps: Generator<void, T>): Promise<T> {
  let slice = performance.now();
  for (;;) {
    const r = steps.next();
    if (r.done === true) return r.value;
    if (performance.now() - slice >= SLICE_MS) {
      await yieldToLoop();
      slice = performance.now();
    }
  }
}

/** the consumer name the aggregator commits under unless told otherwise */
export const DEFAULT_CONSUMER = 'aggregator';

export interface RunnerOptions {
  log: EventLog;
  store: AggregateSink;
  aggregation: Config['aggregation'];
  clock: Clock;
  logger: Logger;
  metrics?: Metrics | undefined;
  /** where a failing cycle is reported (readiness); one log line per change of state */
  health?: HealthBoard | undefined;
  consumer?: string;
  /** cap on records fed into one cycle before it commits */
  maxCycleRecords?: number;
  /** first wait after a failed cycle, doubled per failure up to maxRetryMs (default 100, 5 000) */
  minRetryMs?: number;
  maxRetryMs?: number;
}

function isFenced(err: unknown): boolean {
  return isTallyError(err) && err.details?.['reason'] === 'fenced';
}

export function operatorConfig(a: Config['aggregation']): AggregatorConfig {
  return {
    watermarkDelayMs: a.watermarkDelayMs,
    allowedLatenessMs: a.allowedLatenessMs,
    dedupHorizonMs: a.dedupHorizonMs,
    idleTimeoutMs: a.idleTimeoutMs,
    dimensions: [...a.dimensions],
    topN: a.topN,
    topWindows: [...a.topWindows],
  };
}

/**
 * Drives the pure operator over the log in CYCLES. A cycle feeds each partition's records
 * [from, to), applies one watermark, and commits rows + offsets (+ snapshot) in one store
 * transaction. The operator's output is a deterministic function of the cycles, so after a
 * crash the runner restores the last snapshot and replays the committed cycles after it,
 * with their recorded watermarks, reaching exactly the committed state: nothing is counted
 * twice and nothing is lost.
 */
export class AggregatorRunner {
  private op!: ClickAggregator;
  /** where the operator has read to (ahead of `committed` while a cycle is under way) */
  private offsets = new Map<number, number>();
  /** the offsets of the last commit that landed (or of the checkpoint restored) */
  private committed = new Map<number, number>();
  /**
   * The operator is ahead of the store: a cycle fed it, or a commit failed. The next cycle
   * first puts it back to the last committed checkpoint (snapshot + replay, as after kill -9),
   * so whatever the failed cycle fed, emitted or moved is done again, once, by a later commit.
   */
  private dirty = false;
  /** set when a fenced commit stopped the runner for good */
  private stoppedBy: unknown;
  /** seq of this consumer's latest commit: each commit expects it, so a second writer is fenced */
  private seq = 0;
  private lastSnapshotAt = 0;
  /** records fed since the last snapshot: what a restore would replay */
  private sinceSnapshot = 0;
  private lastCommitAt = 0;
  private running = false;
  private loopDone: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private cancelWait: (() => void) | undefined;
  private totals = { events: 0, duplicates: 0, late: 0 };
  readonly consumer: string;
  private readonly cfg: AggregatorConfig;
  private readonly maxCycleRecords: number;
  private lastArrivalToCommit = 0;
  private lastSnapshotInfo: SnapshotInfo | undefined;
  /** the state's size after the last cycle, and whether it is over the budget */
  private lastStateBytes = 0;
  private overBudget = false;
  private lastRestoreInfo: RestoreInfo | undefined;

  constructor(private readonly o: RunnerOptions) {
    this.consumer = o.consumer ?? DEFAULT_CONSUMER;
    this.cfg = operatorConfig(o.aggregation);
    this.maxCycleRecords = o.maxCycleRecords ?? 1_000_000;
  }

  get watermark(): number {
    return this.op.watermark;
  }

  get committedOffsets(): ReadonlyMap<number, number> {
    return this.committed;
  }

  /** the error that stopped the runner for good (a fenced commit), if one did */
  get fatal(): unknown {
    return this.stoppedBy;
  }

  get counters(): Readonly<{ events: number; duplicates: number; late: number }> {
    return this.totals;
  }

  /** records appended to the log and not yet committed by the aggregator */
  lag(): number {
    let lag = 0;
    for (let p = 0; p < this.o.log.partitions; p++) {
      lag += this.o.log.endOffset(p) - (this.committed.get(p) ?? 0);
    }
    return lag;
  }

  partitionStatus() {
    const now = this.o.clock.now();
    return this.op.partitionStatus(now).map((s) => ({
      ...s,
      committedOffset: this.committed.get(s.partition) ?? 0,
      endOffset: this.o.log.endOffset(s.partition),
      lag: this.o.log.endOffset(s.partition) - (this.committed.get(s.partition) ?? 0),
    }));
  }

  /** Restores the last snapshot and replays the committed cycles after it. */
  async init(): Promise<{ replayedCycles: number; replayedRecords: number; ms: number }> {
    return this.restore('aggregator restored');
  }

  /**
   * The operator as of the last commit: the latest snapshot, then the cycles committed after
   * it replayed with their recorded offsets and watermarks (their output was committed
   * already, so it is dropped). Used at start and after every failed cycle.
   */
  private async restore(
    what: string,
  ): Promise<{ replayedCycles: number; replayedRecords: number; ms: number }> {
    const started = Date.now();
    this.dirty = true;
    const { log, store, clock } = this.o;
    const cp = await store.loadCheckpoint(this.consumer);
    const loaded = Date.now();
    const now = clock.now();
    this.op =
      cp.snapshotChain.length > 0
        ? // the chain's chunks are this load's own (AggregateSink.loadCheckpoint)
          ClickAggregator.restoreChain(this.cfg, log.partitions, cp.snapshotChain, now, {}, true)
        : cp.snapshot
          ? ClickAggregator.restore(this.cfg, log.partitions, cp.snapshot, now)
          : new ClickAggregator(this.cfg, log.partitions, now);
    for (let p = 0; p < log.partitions; p++) {
      this.offsets.set(p, cp.snapshotOffsets.get(p) ?? log.startOffset(p));
    }
    const rebuilt = Date.now();
    let replayedRecords = 0;
    for (const cycle of cp.cycles) {
      for (let p = 0; p < log.partitions; p++) {
        const to = cycle.offsets.get(p) ?? this.offsets.get(p)!;
        replayedRecords += await this.feed(p, to, now);
      }
      this.op.onWatermark(cycle.watermark);
      this.op.takeOutput(); // already committed by the cycle being replayed
    }
    for (let p = 0; p < log.partitions; p++) {
      const expected = cp.offsets.get(p);
      if (expected !== undefined && expected !== this.offsets.get(p)) {
        throw new Error(
          `replay reached offset ${this.offsets.get(p)} of partition ${p}, the commit says ${expected}`,
        );
      }
    }
    this.totals = { ...cp.totals };
    this.seq = cp.seq;
    this.committed = new Map(this.offsets);
    this.lastSnapshotAt = clock.now();
    this.sinceSnapshot = replayedRecords;
    this.measureState();
    this.dirty = false;
    const ms = Date.now() - started;
    this.lastRestoreInfo = {
      replayedCycles: cp.cycles.length,
      replayedRecords,
      ms,
      loadMs: loaded - started,
      stateMs: rebuilt - loaded,
      replayMs: Date.now() - rebuilt,
    };
    this.o.metrics?.restoreSeconds.set(ms / 1000);
    this.o.logger.info(
      { replayedCycles: cp.cycles.length, replayedRecords, ms, watermark: this.op.watermark },
      what,
    );
    return { replayedCycles: cp.cycles.length, replayedRecords, ms };
  }

  /** Feeds partition p from its current offset up to (not including) `to`. */
  private async feed(p: number, to: number, now: number): Promise<number> {
    let fed = 0;
    let from = this.offsets.get(p)!;
    while (from < to) {
      const r = await this.o.log.read(
        p,
        from,
        Math.min(to - from, this.o.aggregation.maxBatchRecords),
      );
      // a broker's read may return only transaction markers or aborted records: it moves on
      if (r.nextOffset <= from)
        throw new Error(`log partition ${p} ends at ${from}, expected ${to}`);
      if (r.count > 0) this.op.onRecords(p, r.data, r.fromOffset, now);
      if (r.lastAppendTime > this.lastArrivalToCommit) this.lastArrivalToCommit = r.lastAppendTime;
      from = r.nextOffset;
      fed += r.count;
    }
    this.offsets.set(p, from);
    return fed;
  }

  /**
   * One cycle: read what is there (up to the cap), advance the watermark, commit.
   * `finalWatermark` forces the watermark (drain). Returns the records fed.
   */
  async cycle(opts: { finalWatermark?: number; snapshot?: boolean } = {}): Promise<number> {
    if (this.stoppedBy !== undefined) throw this.stoppedBy;
    if (this.dirty) {
      this.o.metrics?.aggregatorRestores.inc();
      await this.restore('aggregator back at its last committed checkpoint after a failed cycle');
    }
    // from the first record fed until the commit lands, a failure leaves the operator ahead
    // of the store: `dirty` makes the next cycle restore first
    this.dirty = true;
    const fed = await this.cycleFromCheckpoint(opts);
    this.dirty = false;
    this.o.health?.ok('aggregator');
    return fed;
  }

  private async cycleFromCheckpoint(opts: {
    finalWatermark?: number;
    snapshot?: boolean;
  }): Promise<number> {
    const { log, clock } = this.o;
    // a shared log (a broker): learn where the other writers' appends end
    await log.refresh?.();
    const now = clock.now();
    const before = this.op.watermark;
    let fed = 0;
    const perPartition = Math.max(1, Math.floor(this.maxCycleRecords / log.partitions));
    for (let p = 0; p < log.partitions; p++) {
      const end = Math.min(log.endOffset(p), this.offsets.get(p)! + perPartition);
      fed += await this.feed(p, end, now);
    }
    const wm = Math.max(opts.finalWatermark ?? -Infinity, this.op.computeWatermark(clock.now()));
    await sliced(this.op.onWatermarkSteps(wm));
    const out = this.op.takeOutput();
    // due by the clock, or by the records a restore would replay (catching up a backlog runs
    // through many records per second: the clock alone would let the replay grow with them)
    const snapshotDue =
      opts.snapshot === true ||
      clock.now() - this.lastSnapshotAt >= this.o.aggregation.snapshotIntervalMs ||
      this.sinceSnapshot + fed >= this.o.aggregation.snapshotMaxRecords;
    const changed =
      fed > 0 ||
      out.rows.length > 0 ||
      out.top.length > 0 ||
      out.late.length > 0 ||
      this.op.watermark !== before;
    if (!changed && !opts.snapshot) return 0; // nothing moved: the operator is as committed
    const t0 = performance.now();
    const piece = snapshotDue ? await this.encodeSnapshot() : undefined;
    const batch: CommitBatch = {
      consumer: this.consumer,
      rows: out.rows,
      top: out.top,
      late: out.late.map(toLateRecord),
      offsets: new Map(this.offsets),
      watermark: this.op.watermark,
      stats: out.stats,
      expectedSeq: this.seq,
      ...(piece === undefined ? {} : { snapshotPiece: piece }),
    };
    const t1 = performance.now();
    try {
      await this.o.store.commit(batch);
    } catch (err) {
      if (isFenced(err)) this.stoppedBy = err;
      throw err;
    }
    const done = performance.now();
    const commitMs = done - t1;
    if (piece !== undefined) this.noteSnapshot(piece, done - t0, clock.now());
    this.measureState();
    this.seq++;
    this.committed = batch.offsets;
    const committedAt = clock.now();
    if (snapshotDue) {
      this.lastSnapshotAt = committedAt;
      this.sinceSnapshot = 0;
    } else this.sinceSnapshot += fed;
    this.lastCommitAt = committedAt;
    this.totals.events += out.stats.events;
    this.totals.duplicates += out.stats.duplicates;
    this.totals.late += out.stats.late;
    this.observe(batch, out.stats, commitMs, committedAt, fed);
    return fed;
  }

  /**
   * The next snapshot piece, encoded in steps with a turn of the event loop whenever a step
   * has held it for SLICE_MS: at millions of ads the encoding takes seconds, which
   * in one task would stall HTTP and queries as long. The operator is not fed meanwhile (the
   * cycle awaits this), so the piece is the state as of this cycle.
   */
  private encodeSnapshot(): Promise<SnapshotPiece> {
    return sliced(this.op.snapshotPieceSteps(this.o.aggregation.snapshotCompactRatio));
  }

  /**
   * Why ingest should refuse new records now: the state was over aggregation.memoryBudgetMiB
   * after the last cycle. The state is bounded by the dedup horizon and the lateness (the
   * watermark expires it), so over the budget means the load is more than the budget was
   * sized for: refusing more keeps the process alive (never an OOM kill) while the watermark
   * frees what expires.
   */
  overMemoryBudget(): string | undefined {
    if (!this.overBudget) return undefined;
    const mib = (b: number) => Math.round(b / 2 ** 20);
    return (
      `the aggregator's state is ${mib(this.lastStateBytes)} MiB, over its budget of ` +
      `${this.o.aggregation.memoryBudgetMiB} MiB (aggregation.memoryBudgetMiB); retry later`
    );
  }

  /** Measures the state after a cycle: budget, metrics. */
  private measureState(): void {
    const s = this.op.memoryStats();
    this.lastStateBytes = s.stateBytes;
    const over = s.stateBytes > this.o.aggregation.memoryBudgetMiB * 2 ** 20;
    if (over !== this.overBudget) {
      this.overBudget = over;
      if (over)
        this.o.logger.warn(
          { code: 'TALLY_MEMORY_BUDGET', stateBytes: s.stateBytes, dedupEntries: s.dedupEntries },
          this.overMemoryBudget() ?? '',
        );
      else this.o.logger.info({ stateBytes: s.stateBytes }, 'aggregator state back within budget');
    }
    const m = this.o.metrics;
    if (!m) return;
    m.stateBytes.set({ part: 'dedup' }, s.dedupBytes);
    m.stateBytes.set({ part: 'ads' }, s.adsBytes);
    m.stateBytes.set({ part: 'panes' }, s.paneBytes);
    m.stateBytes.set({ part: 'tops' }, s.topBytes);
    m.stateBudgetBytes.set(this.o.aggregation.memoryBudgetMiB * 2 ** 20);
    m.stateDedupEntries.set(s.dedupEntries);
    m.stateOpenRows.set(s.openRows);
  }

  private noteSnapshot(piece: { base: boolean; bytes: number }, ms: number, at: number): void {
    const chain = this.op.snapshotChain ?? { baseBytes: piece.bytes, deltaBytes: 0, deltas: 0 };
    const kind = piece.base ? 'base' : 'delta';
    this.lastSnapshotInfo = { kind, bytes: piece.bytes, ms, at, chain: { ...chain } };
    const m = this.o.metrics;
    if (!m) return;
    m.snapshotWrittenBytes.inc({ kind }, piece.bytes);
    m.snapshotLastBytes.set({ kind }, piece.bytes);
    m.snapshotSeconds.observe({ kind }, ms / 1000);
    m.snapshotChainBytes.set({ part: 'base' }, chain.baseBytes);
    m.snapshotChainBytes.set({ part: 'deltas' }, chain.deltaBytes);
  }

  /** records fed since the last snapshot: what a restore would replay now */
  get recordsSinceSnapshot(): number {
    return this.sinceSnapshot;
  }

  /** the last snapshot piece committed by this runner, if any */
  get lastSnapshot(): SnapshotInfo | undefined {
    return this.lastSnapshotInfo;
  }

  /** the last restore (start, or back to the checkpoint after a failed cycle) */
  get lastRestore(): RestoreInfo | undefined {
    return this.lastRestoreInfo;
  }

  /** sizes of the operator's state (status, metrics, benchmarks) and its budget */
  stateStats() {
    return {
      ...this.op.memoryStats(),
      budgetBytes: this.o.aggregation.memoryBudgetMiB * 2 ** 20,
      overBudget: this.overBudget,
    };
  }

  private observe(
    batch: CommitBatch,
    stats: { events: number; duplicates: number; late: number },
    commitMs: number,
    committedAt: number,
    fed: number,
  ): void {
    const m = this.o.metrics;
    if (!m) return;
    m.commitSeconds.observe(commitMs / 1000);
    m.aggregatedEvents.inc(stats.events);
    m.duplicates.inc(stats.duplicates);
    m.lateEvents.inc(stats.late);
    if (Number.isFinite(batch.watermark)) m.watermark.set(batch.watermark / 1000);
    if (fed > 0 && this.lastArrivalToCommit > 0) {
      m.arrivalToCommit.observe(Math.max(0, committedAt - this.lastArrivalToCommit) / 1000);
    }
    const minutes = new Set<number>();
    for (const r of batch.rows) minutes.add(r.minute);
    for (const minute of minutes) {
      m.eventTimeToCommit.observe(Math.max(0, committedAt - (minute + MINUTE_MS)) / 1000);
    }
    for (const s of this.partitionStatus()) {
      m.partitionLag.set({ partition: String(s.partition) }, s.lag);
      if (s.watermark !== null)
        m.partitionWatermark.set({ partition: String(s.partition) }, s.watermark / 1000);
    }
  }

  /** Consumes everything appended so far, closes every minute that holds data, commits. */
  async drain(): Promise<void> {
    const { log } = this.o;
    await log.refresh?.();
    const target = new Map<number, number>();
    for (let p = 0; p < log.partitions; p++) target.set(p, log.endOffset(p));
    const behind = () => [...target].some(([p, end]) => this.offsets.get(p)! < end);
    while (behind()) await this.cycle();
    // the input is complete: every minute with data closes now. State within the lateness is
    // kept, so events ingested later still correct their minutes exactly.
    let maxEventTime = -Infinity;
    for (const s of this.op.partitionStatus(this.o.clock.now())) {
      if (s.maxEventTime !== null && s.maxEventTime > maxEventTime) maxEventTime = s.maxEventTime;
    }
    const closeAll = Number.isFinite(maxEventTime) ? minuteOf(maxEventTime) + MINUTE_MS : -Infinity;
    await this.cycle({ finalWatermark: closeAll, snapshot: true });
  }

  /** Runs cycles until stop(): immediately while behind, every commitIntervalMs when caught up. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  /** Nudges a waiting loop (after an append) so commits follow ingest closely. */
  notify(): void {
    this.wakeUp?.();
  }

  /**
   * Failure semantics: a failed cycle (a read of the log, the snapshot, the commit: a full
   * disk, an I/O error, a busy database) is retried after a backoff (minRetryMs doubling to
   * maxRetryMs), and the retry starts from the last committed checkpoint (see `dirty`), so
   * the next good commit carries everything. The health board hears of the first failure
   * and of the recovery, not of every retry. A fenced commit is not retried: another writer
   * owns this consumer's offsets, so this runner stops for good (`fatal`).
   */
  private async loop(): Promise<void> {
    const interval = this.o.aggregation.commitIntervalMs;
    const minRetry = this.o.minRetryMs ?? 100;
    const maxRetry = this.o.maxRetryMs ?? 5_000;
    let failures = 0;
    while (this.running) {
      let wait: number;
      try {
        const fed = await this.cycle();
        failures = 0;
        if (fed >= this.maxCycleRecords / 2) continue; // behind: go again at once
        wait = Math.max(10, interval - (this.o.clock.now() - this.lastCommitAt));
      } catch (err) {
        if (isFenced(err)) {
          // another aggregator committed for this consumer: it owns the offsets now
          this.o.logger.error({ err }, 'aggregator fenced by another writer; stopping');
          this.o.health?.fail('aggregator', err);
          this.running = false;
          break;
        }
        failures++;
        if (this.o.health !== undefined) this.o.health.fail('aggregator', err);
        else if (failures === 1) this.o.logger.error({ err }, 'aggregator cycle failed; retrying');
        wait = Math.min(maxRetry, minRetry * 2 ** Math.min(failures - 1, 20));
      }
      const failing = failures > 0;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, wait);
        this.cancelWait = () => {
          clearTimeout(t);
          resolve();
        };
        // appends cut a wait short, never a backoff
        this.wakeUp = () => {
          if (!failing && this.lag() >= this.maxCycleRecords / 2) this.cancelWait?.();
        };
      });
      this.wakeUp = undefined;
      this.cancelWait = undefined;
    }
  }

  /** Stops the loop after its current cycle and commits a final snapshot. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.cancelWait?.();
    await this.loopDone;
    await this.cycle({ snapshot: true });
  }
}
