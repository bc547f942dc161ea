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
 * - Output order: rows in no particular order within one onWatermark (they are upserts);
 *   top rows sorted by (end, window); late events in input order.
 *
 * Structure (the book's MapReduce DAG inside one operator): ads are routed to one
 * AggregateNode each (the partition they first arrived on: partitioning is by ad_id, so in
 * practice their partition); each node counts its ads per minute and keeps a bounded-heap
 * top N; the global top N is mergeTopLists of the nodes' lists (the reduce step), exact
 * because the nodes' ad sets are disjoint.
 *
 * State layout (no per-event objects; strings only at emission):
 * - ad ids interned to dense integers from the record bytes (ByteInterner); per-ad typed
 *   arrays: node, index within the node, corrected-mark, running window totals;
 * - dedup: DedupTable, 24-byte slots (f64 expiry + 4 × i32 key) in one ArrayBuffer;
 * - per node, per retained minute, a Pane: '*' counts (a DenseCounts array by node-local
 *   index while the minute is open and the node busy, a CountMap otherwise), (ad, dimension
 *   value) counts in a PairCountMap until the minute is final, dirty lists for corrections;
 *   panes are kept while a top window may still need them (minute + longest window +
 *   lateness > W);
 * - per node and window: WindowSums (running totals and the list of non-zero ads) and the
 *   top list of every end that can still be corrected.
 * The hot path works in passes over chunks of parsed records (see RecordChunk).
 */
import { TallyError } from '../errors.js';
import { RecordCursor, encodeEvents } from '../event/codec.js';
import type { ClickEvent } from '../event/types.js';
import { murmur3x86_32 } from '../event/hash.js';
import type { LateEvent, MinuteRow, RankedAd, TopRow } from '../aggregate/types.js';
import { ALL_DIMS } from '../aggregate/types.js';
import { ByteInterner } from '../aggregate/interner.js';
import { DimensionValues, dimensionTag } from '../aggregate/dimensions.js';
import { fieldNumber } from '../event/fields.js';
import { IdTopHeap, mergeTopLists } from '../aggregate/top-n.js';
import { SharedTotals } from '../aggregate/window-sums.js';
import { DedupTable } from '../dedup/dedup-table.js';
import type { PartitionProgress } from '../watermark/watermark.js';
import { isIdle, partitionWatermark, pipelineWatermark } from '../watermark/watermark.js';
import { MINUTE_MS, windowEnds } from '../window/minute.js';
import { ByteReader, ByteWriter, invalid } from './binary.js';
import type { AggregatorConfig } from './config.js';
import { normaliseAggregatorConfig } from './config.js';
import type { EngineTuning, Pane, TopList } from './node.js';
import { CHUNK, RecordChunk } from './chunk.js';
import { AggregateNode } from './node.js';
import {
  SNAPSHOT_MAGIC,
  SNAPSHOT_VERSION,
  checkConfig,
  readPane,
  readTopList,
  writeConfig,
  writePane,
  writeTopList,
} from './snapshot.js';

export type { AggregatorConfig } from './config.js';
export { DEFAULT_AGGREGATOR_CONFIG } from './config.js';
export type { EngineTuning } from './node.js';

export interface OperatorStats {
  /** non-duplicate events: counted + late */
  events: number;
  duplicates: number;
  late: number;
}

export interface OperatorOutput {
  rows: MinuteRow[];
  top: TopRow[];
  late: LateEvent[];
  /** since the last takeOutput */
  stats: OperatorStats;
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

interface Progress extends PartitionProgress {
  nextOffset: number;
}

export class ClickAggregator {
  private readonly cfg: AggregatorConfig;
  private readonly nodes: AggregateNode[];
  private readonly progress: Progress[];
  private W = -Infinity;

  private readonly dedup = new DedupTable(1024);
  private readonly ads: ByteInterner;
  /** ad id → node it is counted in, and its index there */
  private owner: Int32Array;
  private local: Int32Array;
  /** ad id → 1 while the ad is in its node's corrected list */
  private corrected: Uint8Array;
  private adTexts: (string | undefined)[] = [];
  private readonly dimValues = new DimensionValues();
  /** per configured window: totals by ad id, or null for a 1-minute window */
  private readonly shared: (SharedTotals | null)[];
  private readonly heap: IdTopHeap;
  private readonly cursor = new RecordCursor();
  private readonly lateCursor = new RecordCursor();
  private readonly chunk: RecordChunk;
  /** where the cache-warming reads go, so that they are not optimised away */
  protected sink = 0;
  private readonly longestWindowMs: number;
  /** the configured dimensions' tags (dimensionTag), in the chunk's order */
  private readonly dimTags: Int32Array;
  private readonly anyDims: boolean;

  private rows: MinuteRow[] = [];
  private top: TopRow[] = [];
  private late: LateEvent[] = [];
  private stats: OperatorStats = { events: 0, duplicates: 0, late: 0 };

  /** wall clock at construction; a restored operator keeps its original one (snapshot) */
  private startedAt: number;

  /** `tuning` changes memory layouts only, never results (the tests run both ways). */
  constructor(cfg: AggregatorConfig, partitions: number, now: number, tuning: EngineTuning = {}) {
    this.cfg = normaliseAggregatorConfig(cfg);
    if (!Number.isInteger(partitions) || partitions < 1 || partitions > 65_536)
      throw new TallyError('TALLY_CONFIG_INVALID', `partitions must be an integer in 1…65536`, {
        field: 'partitions',
      });
    // a new operator has heard nothing yet: the wall-clock rule waits idleTimeout from here
    this.startedAt = now;
    const ads = Math.max(1, tuning.initialAds ?? 4096);
    this.ads = new ByteInterner(ads);
    this.owner = new Int32Array(ads);
    this.local = new Int32Array(ads);
    this.corrected = new Uint8Array(ads);
    const windows = this.cfg.topWindows;
    // sized like the other per-ad arrays, and grown with them (newAd)
    this.shared = windows.map((m) => (m === 1 ? null : new SharedTotals(this.owner.length)));
    this.nodes = [];
    this.progress = [];
    for (let p = 0; p < partitions; p++) {
      this.nodes.push(new AggregateNode(p, windows, this.shared, tuning));
      this.progress.push({ maxEventTime: undefined, lastArrival: undefined, nextOffset: 0 });
    }
    this.heap = new IdTopHeap(this.cfg.topN, this.ads);
    this.longestWindowMs = Math.max(1, ...windows) * MINUTE_MS;
    // which fields are counted, and how their values are tagged: the field table's, for the
    // configured dimensions
    const dims = this.cfg.dimensions;
    this.dimTags = Int32Array.from(dims, dimensionTag);
    this.chunk = new RecordChunk(Int32Array.from(dims, (d) => fieldNumber(d)));
    this.anyDims = dims.length > 0;
  }

  get config(): Readonly<AggregatorConfig> {
    return this.cfg;
  }

  get partitions(): number {
    return this.nodes.length;
  }

  /** the pipeline watermark W (−Infinity before the first onWatermark) */
  get watermark(): number {
    return this.W;
  }

  /**
   * Feeds `data`, concatenated framed records of ONE partition, the first at `firstOffset`;
   * `now` is the wall clock at arrival. Returns the number of records consumed (all of them;
   * a corrupt record throws TALLY_LOG_CORRUPT after the records before it were applied).
   */
  onRecords(partition: number, data: Uint8Array, firstOffset: number, now: number): number {
    const prog = this.progressOf(partition);
    const c = this.cursor.reset(data);
    const chunk = this.chunk;
    let n = 0;
    try {
      while (true) {
        const k = chunk.fill(c);
        if (k > 0) {
          this.applyChunk(partition, prog, firstOffset + n);
          n += k;
        }
        if (chunk.error !== undefined) throw chunk.error;
        if (k < CHUNK) break;
      }
    } finally {
      if (n > 0) prog.lastArrival = now;
      prog.nextOffset = firstOffset + n;
    }
    return n;
  }

  /** Convenience for tests and tools: encodes the events with the log's codec, then onRecords. */
  onEvents(partition: number, events: ClickEvent[], firstOffset: number, now: number): void {
    this.onRecords(partition, encodeEvents(events), firstOffset, now);
  }

  /** The watermark the pipeline may advance to at wall time `now` (not applied). */
  computeWatermark(now: number): number {
    return pipelineWatermark(this.progress, now, this.cfg, this.W, this.startedAt);
  }

  /** Advances W to max(W, wm) and emits what closed, what was corrected, and the top lists. */
  onWatermark(wm: number): void {
    const before = this.W;
    if (wm > before) this.W = wm;
    const W = this.W;
    const L = this.cfg.allowedLatenessMs;
    for (const node of this.nodes) this.emitRows(node, W);
    this.emitTops(before, W);
    for (const node of this.nodes) node.retain(W, L, this.longestWindowMs);
    this.dedup.maintain(W);
  }

  /** What was emitted since the last call. */
  takeOutput(): OperatorOutput {
    const out: OperatorOutput = {
      rows: this.rows,
      top: this.top,
      late: this.late,
      stats: this.stats,
    };
    this.rows = [];
    this.top = [];
    this.late = [];
    this.stats = { events: 0, duplicates: 0, late: 0 };
    return out;
  }

  partitionStatus(now: number): PartitionStatus[] {
    return this.progress.map((p, partition) => ({
      partition,
      maxEventTime: p.maxEventTime ?? null,
      watermark: partitionWatermark(p, this.cfg) ?? null,
      idle: isIdle(p, now, this.cfg),
      lastArrival: p.lastArrival ?? null,
      nextOffset: p.nextOffset,
    }));
  }

  /** Sizes of the in-memory state, for status and benchmarks. */
  memoryStats(): {
    ads: number;
    dedupEntries: number;
    dedupBytes: number;
    dedupCapacity: number;
    panes: number;
  } {
    let panes = 0;
    for (const n of this.nodes) panes += n.panes.length;
    return {
      ads: this.ads.size,
      dedupEntries: this.dedup.size,
      dedupBytes: this.dedup.memoryBytes,
      dedupCapacity: this.dedup.capacity,
      panes,
    };
  }

  // ---- counting -------------------------------------------------------------------------

  private progressOf(partition: number): Progress {
    const p = this.progress[partition];
    if (p === undefined || !Number.isInteger(partition))
      throw new TallyError(
        'TALLY_INTERNAL',
        `partition ${partition} is out of range 0…${this.nodes.length - 1}`,
      );
    return p;
  }

  private newAd(id: number, partition: number): void {
    if (id >= this.owner.length) {
      let n = this.owner.length;
      while (n <= id) n *= 2;
      const owner = new Int32Array(n);
      owner.set(this.owner);
      this.owner = owner;
      const local = new Int32Array(n);
      local.set(this.local);
      this.local = local;
      const corrected = new Uint8Array(n);
      corrected.set(this.corrected);
      this.corrected = corrected;
      for (const s of this.shared) s?.ensure(n);
    }
    this.owner[id] = partition;
    this.local[id] = this.nodes[partition]!.addAd(id);
    this.adTexts.push(undefined);
  }

  /**
   * The semantics, per record in input order, in three passes over a parsed chunk: touch
   * the dedup and interner slots; dedup, lateness, intern, find the pane (and touch its
   * count slots); count. Only the first pass's touches and the second's are reordered
   * across records, and they have no effect but warming the caches.
   */
  private applyChunk(partition: number, prog: Progress, firstOffset: number): void {
    const ch = this.chunk;
    const k = ch.count;
    const buf = ch.buf;
    const dedup = this.dedup;
    const ads = this.ads;
    let sink = 0;
    for (let i = 0; i < k; i++) sink ^= dedup.hint(ch.k0[i]!, ch.k2[i]!) ^ ads.hint(ch.adHash[i]!);
    for (let i = 0; i < k; i++) sink ^= ads.hintBytes(ch.adHash[i]!);

    const W = this.W;
    const horizon = this.cfg.dedupHorizonMs;
    // late iff minute + 1 min + lateness ≤ W
    const lateLimit = W - this.cfg.allowedLatenessMs - MINUTE_MS;
    const anyDims = this.anyDims;
    const dimValues = this.dimValues;
    const dimTags = this.dimTags;
    const nd = dimTags.length;
    let maxTs = prog.maxEventTime ?? -Infinity;
    let events = 0;
    let dups = 0;
    for (let i = 0; i < k; i++) {
      const ts = ch.ts[i]!;
      if (dedup.seen(ch.k0[i]!, ch.k1[i]!, ch.k2[i]!, ch.k3[i]!, ts + horizon, W)) {
        dups++;
        ch.ad[i] = -1;
        continue;
      }
      events++;
      if (ts > maxTs) maxTs = ts;
      const m = Math.floor(ts / MINUTE_MS) * MINUTE_MS;
      if (m <= lateLimit) {
        ch.ad[i] = -2;
        this.emitLate(partition, firstOffset + i, buf, ch.recordStart[i]!, ch.recordEnd[i]!);
        continue;
      }
      const id = ads.internHashed(ch.adHash[i]!, buf, ch.adStart[i]!, ch.adEnd[i]!);
      if (id >= this.adTexts.length) this.newAd(id, partition);
      ch.ad[i] = id;
      const node = this.nodes[this.owner[id]!]!;
      const pane = node.pane(m, W, anyDims);
      ch.pane[i] = pane;
      if (pane.dense === null) {
        // an open pane created while its node was small becomes dense once it is busy
        if (!pane.closed) node.maybePromote(pane, this.local);
        if (pane.dense === null) sink ^= pane.star.hint(id);
      }
      if (!anyDims) continue;
      const dims = pane.dims!;
      for (let j = 0, at = i * nd; j < nd; j++, at++) {
        const s = ch.dimStart[at]!;
        let dv = -1;
        if (s >= 0) {
          dv = dimValues.id(dimTags[j]!, buf, s, ch.dimEnd[at]!);
          sink ^= dims.hint(id, dv);
        }
        ch.dimValue[at] = dv;
      }
    }
    if (maxTs > -Infinity) prog.maxEventTime = maxTs;
    this.stats.events += events;
    this.stats.duplicates += dups;

    for (let i = 0; i < k; i++) {
      const id = ch.ad[i]!;
      if (id < 0) continue;
      const pane = ch.pane[i]!;
      const closed = pane.closed;
      if (pane.dense !== null) {
        pane.dense.add(this.local[id]!, 1); // an open minute: no correction
      } else {
        const se = pane.star.add(id, 1);
        if (closed) this.correct(pane, se, id);
      }
      if (!anyDims) continue;
      const dims = pane.dims!;
      for (let j = 0, at = i * nd; j < nd; j++, at++) {
        const dv = ch.dimValue[at]!;
        if (dv >= 0) {
          const e = dims.add(id, dv, 1);
          if (closed) dims.dirty.add(e);
        }
      }
    }
    ch.release();
    this.sink = sink;
  }

  /** An event counted into an emitted minute: its rows and top windows must be re-emitted. */
  private correct(pane: Pane, entry: number, id: number): void {
    const node = this.nodes[this.owner[id]!]!;
    pane.star.dirty.add(entry);
    pane.dirty = true;
    node.noteCorrection(id, pane.minute, this.corrected);
    for (const w of node.windows) if (w !== null && w.contains(pane.minute)) w.apply(id, 1);
  }

  private emitLate(
    partition: number,
    offset: number,
    buf: Uint8Array,
    start: number,
    end: number,
  ): void {
    this.stats.late++;
    const c = this.lateCursor.reset(buf.subarray(start, end));
    c.next();
    this.late.push({ partition, offset, event: c.decode(), watermark: this.W });
  }

  // ---- emission ---------------------------------------------------------------------------

  private adText(id: number): string {
    let s = this.adTexts[id];
    if (s === undefined) {
      s = this.ads.text(id);
      this.adTexts[id] = s;
    }
    return s;
  }

  private emitRows(node: AggregateNode, W: number): void {
    for (const p of node.panes) {
      if (!p.closed) {
        if (p.minute + MINUTE_MS > W) break; // panes are ascending: the rest are open too
        node.settle(p);
        p.closed = true;
        this.emitAll(p);
      } else if (p.dirty) {
        this.emitDirty(p);
      }
      p.dirty = false;
      p.star.dirty.clear();
      p.dims?.dirty.clear();
    }
  }

  private emitAll(p: Pane): void {
    const rows = this.rows;
    const star = p.star;
    const { keys, size } = star;
    for (let e = 0; e < size; e++)
      rows.push({
        minute: p.minute,
        adId: this.adText(keys[e]!),
        dim: ALL_DIMS,
        count: star.countAt(e),
      });
    const d = p.dims;
    if (d === null) return;
    for (let e = 0; e < d.size; e++)
      rows.push({
        minute: p.minute,
        adId: this.adText(d.keysA[e]!),
        dim: this.dimValues.key(d.keysB[e]!),
        count: d.countAt(e),
      });
  }

  private emitDirty(p: Pane): void {
    const rows = this.rows;
    const s = p.star;
    for (let i = 0; i < s.dirty.count; i++) {
      const e = s.dirty.list[i]!;
      rows.push({
        minute: p.minute,
        adId: this.adText(s.keys[e]!),
        dim: ALL_DIMS,
        count: s.countAt(e),
      });
    }
    const d = p.dims;
    if (d === null) return;
    for (let i = 0; i < d.dirty.count; i++) {
      const e = d.dirty.list[i]!;
      rows.push({
        minute: p.minute,
        adId: this.adText(d.keysA[e]!),
        dim: this.dimValues.key(d.keysB[e]!),
        count: d.countAt(e),
      });
    }
  }

  /**
   * Top lists: first the windows closed before this call that a correction touched (each
   * node's list is corrected from its previous one), then the windows that close now (from
   * the running totals); then, per (window, end), the nodes' lists are merged.
   */
  private emitTops(before: number, W: number): void {
    const windows = this.cfg.topWindows;
    if (windows.length === 0) {
      for (const node of this.nodes) node.clearCorrections(this.corrected);
      return;
    }
    const touched: Set<number>[] = windows.map(() => new Set<number>());
    for (const node of this.nodes) {
      if (node.correctedMinutes.size === 0) continue;
      const minutes = [...node.correctedMinutes].sort((a, b) => a - b);
      for (let wi = 0; wi < windows.length; wi++) {
        for (const e of windowEnds(minutes, windows[wi]!, -Infinity, before)) {
          node.setTop(wi, e, node.correctTop(wi, e, this.heap, this.corrected));
          touched[wi]!.add(e);
        }
      }
      node.clearCorrections(this.corrected);
    }
    if (W > before) {
      const dataMinutes = this.dataMinutes();
      for (let wi = 0; wi < windows.length; wi++) {
        for (const e of windowEnds(dataMinutes, windows[wi]!, before, W)) {
          for (const node of this.nodes) node.setTop(wi, e, node.computeTop(wi, e, this.heap));
          touched[wi]!.add(e);
        }
      }
    }
    const out: TopRow[] = [];
    for (let wi = 0; wi < windows.length; wi++) {
      for (const e of touched[wi]!) {
        const lists: RankedAd[][] = [];
        for (const node of this.nodes) {
          const t = node.tops[wi]!.get(e);
          if (t !== undefined) lists.push(this.ranked(t));
        }
        out.push({
          windowMinutes: windows[wi]!,
          endMinute: e,
          ads: mergeTopLists(lists, this.cfg.topN),
        });
      }
    }
    out.sort((a, b) => a.endMinute - b.endMinute || a.windowMinutes - b.windowMinutes);
    for (const t of out) this.top.push(t);
  }

  private ranked(t: TopList): RankedAd[] {
    const out: RankedAd[] = [];
    for (let i = 0; i < t.ids.length; i++)
      out.push({ adId: this.adText(t.ids[i]!), count: t.counts[i]! });
    return out;
  }

  /** every minute some node holds a pane of, ascending */
  private dataMinutes(): number[] {
    const set = new Set<number>();
    for (const node of this.nodes) for (const p of node.panes) set.add(p.minute);
    return [...set].sort((a, b) => a - b);
  }

  // ---- snapshot ---------------------------------------------------------------------------

  /**
   * The complete state, compact and versioned. Output not yet taken is not part of it: take
   * it first (the runner commits a cycle's output together with the snapshot).
   *
   *   u32 magic "TLYA", u16 version, config fingerprint, u32 partitions, f64 W,
   *   f64 startedAt (wall clock of the first construction);
   *   per partition: f64 maxEventTime (NaN: none), f64 lastArrival (NaN: none), f64 nextOffset;
   *   u32 ads, per ad: u8 length, bytes, u32 node; u32 dimension values, per value: u16, bytes;
   *   per node: u32 panes, each: f64 minute, u8 flags, '*' map, [dimension map];
   *     per window: f64 lo, f64 hi (running totals are rebuilt from the panes);
   *     per window: u32 lists, each: f64 end, u32 n, n × (i32 ad, f64 count);
   *     u32 corrected ads + i32 each, u32 corrected minutes + f64 each;
   *   u32 dedup entries, each: i32 ×4 key, f64 expiry;  u32 murmur3 of everything before.
   */
  snapshot(): Uint8Array {
    let entries = 0;
    for (const node of this.nodes)
      for (const p of node.panes)
        entries += (p.dense?.size ?? p.star.size) * 12 + (p.dims?.size ?? 0) * 16;
    const w = new ByteWriter(4096 + this.dedup.size * 24 + this.ads.size * 24 + entries);
    w.u32(SNAPSHOT_MAGIC);
    w.u16(SNAPSHOT_VERSION);
    writeConfig(w, this.cfg);
    w.u32(this.nodes.length);
    w.f64(this.W);
    w.f64(this.startedAt);
    for (const p of this.progress) {
      w.f64(p.maxEventTime ?? NaN);
      w.f64(p.lastArrival ?? NaN);
      w.f64(p.nextOffset);
    }
    const nAds = this.ads.size;
    w.u32(nAds);
    for (let id = 0; id < nAds; id++) {
      const b = this.ads.bytesOf(id);
      w.u8(b.length);
      w.bytes(b);
      w.u32(this.owner[id]!);
    }
    w.u32(this.dimValues.size);
    for (let id = 0; id < this.dimValues.size; id++) {
      const b = this.dimValues.bytesOf(id);
      w.u16(b.length);
      w.bytes(b);
    }
    for (const node of this.nodes) {
      w.u32(node.panes.length);
      for (const p of node.panes) writePane(w, p, node.localIds);
      for (const win of node.windows) {
        w.f64(win?.lo ?? 0);
        w.f64(win?.hi ?? 0);
      }
      for (const tops of node.tops) {
        w.u32(tops.size);
        for (const [e, t] of tops) writeTopList(w, e, t);
      }
      w.u32(node.correctedCount);
      w.i32s(node.correctedAds, node.correctedCount);
      w.u32(node.correctedMinutes.size);
      for (const m of node.correctedMinutes) w.f64(m);
    }
    const at = w.pos;
    w.u32(0);
    let alive = 0;
    this.dedup.forEachAlive(this.W, (k0, k1, k2, k3, exp) => {
      w.i32(k0);
      w.i32(k1);
      w.i32(k2);
      w.i32(k3);
      w.f64(exp);
      alive++;
    });
    const bytes = w.view8();
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, alive, true);
    w.u32(murmur3x86_32(w.view8(), 0, w.pos));
    return w.view8().slice();
  }

  /** Rebuilds an operator from snapshot(); bad bytes throw TALLY_SNAPSHOT_INVALID. */
  static restore(
    cfg: AggregatorConfig,
    partitions: number,
    bytes: Uint8Array,
    now: number,
    tuning: EngineTuning = {},
  ): ClickAggregator {
    const agg = new ClickAggregator(cfg, partitions, now, tuning);
    try {
      agg.load(bytes);
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

  private load(bytes: Uint8Array): void {
    if (bytes.length < 10) invalid('too short');
    const body = bytes.length - 4;
    const sum = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(
      body,
      true,
    );
    const r = new ByteReader(bytes, body);
    if (r.u32() !== SNAPSHOT_MAGIC) invalid('not an operator snapshot (bad magic)');
    const version = r.u16();
    if (version !== SNAPSHOT_VERSION) invalid(`unsupported version ${version}`);
    if (murmur3x86_32(bytes, 0, body) !== sum) invalid('checksum mismatch (corrupt or truncated)');
    checkConfig(r, this.cfg);
    const parts = r.u32();
    if (parts !== this.nodes.length)
      invalid(`taken with ${parts} partitions, restoring with ${this.nodes.length}`);
    const W = r.f64();
    if (Number.isNaN(W)) invalid('bad watermark');
    this.W = W;
    this.startedAt = r.f64();
    for (const p of this.progress) {
      const max = r.f64();
      const arr = r.f64();
      p.maxEventTime = Number.isNaN(max) ? undefined : max;
      p.lastArrival = Number.isNaN(arr) ? undefined : arr;
      p.nextOffset = r.f64();
    }
    const nAds = r.count(5);
    for (let id = 0; id < nAds; id++) {
      const len = r.u8();
      const b = r.bytes(len);
      if (this.ads.intern(b, 0, len) !== id) invalid(`repeated ad at ${id}`);
      const owner = r.u32();
      if (owner >= parts) invalid(`ad ${id} routed to node ${owner}`);
      this.newAd(id, owner);
    }
    const nDims = r.count(2);
    for (let id = 0; id < nDims; id++) {
      const b = r.bytes(r.u16());
      if (this.dimValues.internTaggedBytes(b) !== id) invalid(`bad dimension value at ${id}`);
    }
    const windows = this.cfg.topWindows;
    for (const node of this.nodes) {
      const nPanes = r.count(17);
      let prev = -Infinity;
      for (let i = 0; i < nPanes; i++) {
        const p = readPane(r, nAds, nDims);
        if (p.minute <= prev) invalid('panes out of order');
        prev = p.minute;
        node.panes.push(p);
      }
      for (let wi = 0; wi < windows.length; wi++) {
        const lo = r.f64();
        const hi = r.f64();
        const win = node.windows[wi];
        if (win === null || win === undefined) continue;
        // tot = Σ retained panes in [lo, hi): rebuilt rather than stored
        win.moveTo(lo, hi, node.panes);
      }
      for (let wi = 0; wi < windows.length; wi++) {
        const n = r.count(12);
        for (let i = 0; i < n; i++) {
          const { end, list } = readTopList(r, nAds);
          node.tops[wi]!.set(end, list);
        }
      }
      const nc = r.count(4);
      for (let i = 0; i < nc; i++) {
        const id = r.i32();
        if (id < 0 || id >= nAds || this.owner[id] !== node.id) invalid('bad corrected ad');
        node.noteCorrectedAd(id, this.corrected);
      }
      const nm = r.count(8);
      for (let i = 0; i < nm; i++) node.correctedMinutes.add(r.f64());
    }
    const nDedup = r.count(24);
    for (let i = 0; i < nDedup; i++) {
      const k0 = r.i32();
      const k1 = r.i32();
      const k2 = r.i32();
      const k3 = r.i32();
      const exp = r.f64();
      if (!(exp > W)) invalid('dead dedup entry');
      if (this.dedup.seen(k0, k1, k2, k3, exp, W)) invalid('repeated dedup key');
    }
    if (r.pos !== body) invalid(`${body - r.pos} stray bytes`);
  }
}
